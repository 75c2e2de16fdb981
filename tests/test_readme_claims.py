"""What the README promises a new user, checked as written: its "Try it" block pasted into a shell,
one exit status per kind of error, missing weights said before the heavy imports, and the links
of its contents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlr.cli import app as mlrtrain
from negation.cli_promptsim import app as promptsim

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text("utf-8")
runner = CliRunner(env={"COLUMNS": "200"})


def _try_block() -> list[str]:
    """The "Try it" block's commands, one a line (continuations joined), comments dropped."""
    block = README.split("### Try it in 2 minutes", 1)[1].split("```bash\n", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    return [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip()]


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


# ---- missing weights are said before the heavy imports ---------------------------------------
_BEFORE_TORCH = textwrap.dedent(
    """
    import json, sys
    import mlr.backbone.weights as weights

    weights.reachable = lambda url, *a, **k: False  # no network, and nothing to wait for
    from negation.cli_promptsim import app

    results = {}
    for name, extra in (("unreachable", []), ("offline", ["--offline"])):
        try:
            app(["table", "--classes", "cat,dog", "--cache-dir", sys.argv[1], *extra])
        except SystemExit as done:
            results[name] = done.code
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
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    done = subprocess.run(
        [sys.executable, "-c", _BEFORE_TORCH, str(tmp_path / "weights")],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])
    assert results["unreachable"] == 1 and results["offline"] == 1
    assert "cannot be reached" in done.stderr and "offline mode is on" in done.stderr
    assert results["torch"] is False  # neither PyTorch nor open_clip was imported for that
    assert results["light"] == results["open_clip"]  # open_clip's own table
    assert all(results["light"])


def test_mlrtrain_says_missing_weights_before_reading_the_dataset(tmp_path):
    args = ["fit", "--dataset", "voc", "--root", str(tmp_path / "no-such-root")]
    args += ["--pretrained", "openai", "--cache-dir", str(tmp_path), "--offline"]
    res = runner.invoke(mlrtrain, [*args, "--out", str(tmp_path / "run")])
    assert res.exit_code == 1
    assert "offline mode is on" in res.output and "VOC" not in res.output
