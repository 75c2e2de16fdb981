"""What the README promises a new user, checked as written: its "Try it" block pasted into a shell,
one exit status per kind of error, missing weights said before the heavy imports, and the links
of its contents."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from mlr_data import write_voc
from typer.testing import CliRunner

from mlr.cli import app as mlrtrain
from negation.promptsim.cli import app as promptsim

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text("utf-8")
runner = CliRunner(env={"COLUMNS": "200"})


def _try_block() -> list[str]:
    """The "Try it" block's commands, one a line (continuations joined), comments dropped."""
    block = README.split("### Try it in 2 minutes", 1)[1].split("```bash\n", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    return [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip()]


# ---- the "Try it" block, the way a user pastes it --------------------------------------------
def test_the_try_block_sets_up_and_activates_the_environment_first():
    lines = _try_block()
    assert lines[:2] == ["make env", "source .venv/bin/activate"]
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"^VENV\s*\?=\s*\.venv$", makefile, re.M)  # the folder it activates
    assert re.search(r"^env: \$\(FULL\)$", makefile, re.M)  # every extra, as make test
    assert re.search(r"^\$\(FULL\):.*\n\t.*pip install .*'\.\[all,dev\]'", makefile, re.M)
    dry = subprocess.run(["make", "-n", "env"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr


@pytest.mark.slow
def test_the_try_block_runs_as_pasted_in_the_activated_environment(tmp_path):
    """Every line after the setup runs in a plain bash with the project's environment first on
    PATH (what `source .venv/bin/activate` does), in a fresh folder."""
    commands = "\n".join(_try_block()[2:])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["NOTCLIP_FEATURE_CACHE"] = str(tmp_path / "unused")
    done = subprocess.run(
        ["bash", "-e", "-c", commands], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = pl.read_parquet(tmp_path / "toy/results/sweeps/generic/results.parquet")
    assert results["image_size"].to_list() == [64, 64]  # the model's own size, recorded
    assert results["random_weights"].all()
    assert (tmp_path / "toy/figures/map_vs_partial_generic.png").is_file()
    assert "RANDOM WEIGHTS" in done.stderr
    assert not (tmp_path / "unused").exists()  # the block's own --feature-cache was used


def test_the_readme_output_folder_is_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text("utf-8").split()
    assert "/toy/" in ignored
    assert all(line.split()[-1].startswith("toy/") for line in _try_block()[4:] if "--out" in line)


# ---- one exit status per kind of error -------------------------------------------------------
@pytest.mark.parametrize(
    ("app", "args"),
    [
        (mlrtrain, ["fit", "--dataset", "vocc", "--root", "R", "--out", "O"]),
        (
            mlrtrain,
            ["fit", "--dataset", "voc", "--method", "positivcoop", "--root", "R", "--out", "O"],
        ),
        (mlrtrain, ["sweep", "--dataset", "vocc", "--root", "R", "--out", "O"]),
        (mlrtrain, ["cache", "--dataset", "vocc", "--root", "R"]),
        (promptsim, ["absence", "--dataset", "vocc", "--root", "R"]),
        (promptsim, ["negbench", "--dataset", "vocc", "--root", "R", "--out", "O"]),
    ],
)
def test_a_bad_option_value_is_a_usage_error(app, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    bad = "--method" if "positivcoop" in args else "--dataset"
    assert res.exit_code == 2, res.output
    assert bad in res.output and "Traceback" not in res.output
    assert not (tmp_path / "O").exists()


@pytest.mark.parametrize(
    ("app", "args"),
    [
        (promptsim, ["table", "--classes", "cat,dog", "--out", "O"]),
        (promptsim, ["absence", "--dataset", "voc", "--root", "{voc}", "--out", "O"]),
        (mlrtrain, ["params", "--classes", "cat,dog"]),
        (mlrtrain, ["cache", "--dataset", "voc", "--root", "{voc}", "--dry-run"]),
        (mlrtrain, ["fit", "--dataset", "voc", "--root", "{voc}", "--out", "O"]),
    ],
)
def test_an_unknown_model_is_a_usage_error_with_the_name_meant(app, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    voc = str(write_voc(tmp_path / "voc", n_trainval=4, n_test=2))
    args = [a.replace("{voc}", voc) for a in args]
    res = runner.invoke(app, [*args, "--model", "RN-101", "--pretrained", "none"])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "--model" in text and "did you mean 'RN101'?" in text and "Traceback" not in text
    if args[0] != "fit":  # (fit learns it when it loads the backbone, in its run directory)
        assert not (tmp_path / "O").exists()


# ---- missing weights are said before the heavy imports ---------------------------------------
_BEFORE_TORCH = textwrap.dedent(
    """
    import json, sys
    import backbone.weights as weights

    weights.reachable = lambda url, *a, **k: False  # no network, and nothing to wait for
    import urllib.request

    def no_download(*a, **k):  # open_clip downloads with urlopen: a regression must not reach out
        raise AssertionError("a download was attempted")

    urllib.request.urlopen = no_download
    from mlr.cli import app as mlrtrain
    from negation.promptsim.cli import app as promptsim

    where = ["--cache-dir", sys.argv[1]]
    data = ["--dataset", "voc", "--root", sys.argv[2], "--pretrained", "openai", *where]
    commands = {
        "promptsim table": (promptsim, ["table", "--classes", "cat,dog", *where]),
        "mlrtrain fit": (mlrtrain, ["fit", *data, "--out", sys.argv[3]]),
        "mlrtrain cache": (mlrtrain, ["cache", *data]),
    }
    results = {}
    for command, (app, args) in commands.items():
        for name, extra in (("unreachable", []), ("offline", ["--offline"])):
            try:
                app([*args, *extra])
            except SystemExit as done:
                results[f"{command} {name}"] = done.code
    results["torch"] = "torch" in sys.modules or "open_clip" in sys.modules
    light = weights._tag_table()
    pairs = [("RN101", "openai"), ("ViT-B-32", "laion2b_s34b_b79k"), ("RN50-quickgelu", "openai")]
    results["light"] = [light(m, t) for m, t in pairs]
    import open_clip

    results["open_clip"] = [open_clip.get_pretrained_cfg(m, t) for m, t in pairs]
    print(json.dumps(results))
    """
)


def test_missing_weights_are_said_before_pytorch_is_imported(tmp_path):
    """promptsim, mlrtrain fit and mlrtrain cache: no PyTorch, no dataset, no run directory."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    env["HF_HUB_OFFLINE"] = "1"  # nothing in it may reach the Hugging Face hub
    paths = [str(tmp_path / p) for p in ("weights", "no-such-root", "run")]
    done = subprocess.run(
        [sys.executable, "-c", _BEFORE_TORCH, *paths],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])
    for command in ("promptsim table", "mlrtrain fit", "mlrtrain cache"):
        assert results[f"{command} unreachable"] == 1 and results[f"{command} offline"] == 1
    assert done.stderr.count("cannot be reached") == 3, done.stderr
    assert done.stderr.count("offline mode is on") == 3, done.stderr
    assert "VOC" not in done.stderr and not (tmp_path / "run").exists()
    assert results["torch"] is False  # neither PyTorch nor open_clip was imported for that
    assert results["light"] == results["open_clip"]  # open_clip's own table
    assert all(results["light"])


# ---- the README's own links ------------------------------------------------------------------
def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_link_of_the_readme_and_the_docs_leads_somewhere():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text("utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name}: {target}"
            if anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text("utf-8"), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.name}: {target}"


def test_the_readme_starts_with_the_two_commands_and_speaks_to_users_only():
    quickstart = README.split("## Quickstart", 1)[1].split("```bash\n", 1)[1].split("```")[0]
    assert [ln.split()[:2] for ln in quickstart.splitlines()] == [
        ["make", "demo"],
        ["make", "test"],
    ]
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text("utf-8").lower()
        for word in ("../shared", "issue #", "tracker"):
            assert word not in text, f"{page.name}: {word}"
