"""The four commands speak one dialect (corpora/cli.py): the current option names with the older
spellings still accepted but not shown, one --format vocabulary, bad input as one line and exit 1,
Ctrl-C as exit 130, results on stdout, and a --help that imports nothing heavy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from figures.cli import app as paperfigs
from negation.negscan.cli import app as negscan
from negation.promptsim.cli import app as promptsim

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner(env={"COLUMNS": "200"})


def _flat(text: str) -> str:
    return " ".join(text.split())


def _broken_shards(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    pl.DataFrame({"TEXT": ["no dog", "a cat"]}).write_parquet(folder / "part-0.parquet")
    (folder / "part-1.parquet").write_bytes(b"PAR1 truncated")
    return folder


def test_negscan_skip_bad_shards_and_its_older_spelling(tmp_path):
    folder = _broken_shards(tmp_path)
    bodies = []
    for flag in ("--skip-bad-shards", "--skip-bad"):
        result = runner.invoke(negscan, ["laion", str(folder), flag, "--format", "json", "-q"])
        assert result.exit_code == 0, result.output
        bodies.append(json.loads(result.stdout))
    assert bodies[0]["n_rows"] == bodies[1]["n_rows"] == 2
    assert [b["shard"] for b in bodies[0]["bad_shards"]] == [str(folder / "part-1.parquet")]
    shown = runner.invoke(negscan, ["laion", "--help"]).output
    assert "--skip-bad-shards" in shown and not re.search(r"--skip-bad(?!-)", shown)


def test_negscan_out_must_be_a_directory_and_formats_are_checked(tmp_path):
    (tmp_path / "file").write_text("x")
    result = runner.invoke(negscan, ["laion", "--out", str(tmp_path / "file"), "-q"])
    assert result.exit_code == 2 and "is an existing file, not a directory" in result.output
    result = runner.invoke(negscan, ["laion", "--format", "csv", "-q"])
    assert result.exit_code == 2 and "use one of table, json" in _flat(result.output)


def _fake_backbone(monkeypatch, table=None):
    """promptsim without a model: the backbone loader and (optionally) the table runner."""
    monkeypatch.setattr("negation.promptsim.inputs.load_backbone", lambda *a, **k: object())
    if table is not None:
        monkeypatch.setattr("negation.promptsim.runs.table", table)


def test_promptsim_format_table_and_its_older_spelling_rich(monkeypatch):
    seen = []

    def table(config, backbone, progress):
        seen.append(config.classes)
        raise ValueError("stop here")  # enough: the format was accepted

    _fake_backbone(monkeypatch, table)
    for fmt in ("table", "rich"):
        result = runner.invoke(promptsim, ["table", "--classes", "cat,dog", "--format", fmt])
        assert result.exit_code == 1 and "stop here" in result.output
    assert seen == ["cat,dog", "cat,dog"]
    shown = runner.invoke(promptsim, ["table", "--help"]).output
    assert "rich" not in shown and "table | json | csv | markdown | latex" in _flat(shown)


def test_promptsim_bad_input_is_one_line_exit_1_and_ctrl_c_exits_130(monkeypatch, tmp_path):
    def bad(config, backbone, progress):
        raise ValueError(f"{tmp_path}/a.png: cannot read image")

    _fake_backbone(monkeypatch, bad)
    result = runner.invoke(promptsim, ["table", "--classes", "cat,dog"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path}/a.png: cannot read image"

    def interrupted(config, backbone, progress):
        raise KeyboardInterrupt

    _fake_backbone(monkeypatch, interrupted)
    result = runner.invoke(promptsim, ["table", "--classes", "cat,dog"])
    assert result.exit_code == 130 and "interrupted" in result.stderr


def test_paperfigs_top_k_and_the_older_spellings_top_and_o(monkeypatch, tmp_path):
    calls = []

    def word_counts(dirs, out, *, top, dpi, labels):
        calls.append((top, out))
        return []

    monkeypatch.setattr("figures.negscan.word_counts", word_counts)
    d = tmp_path / "n"
    for args in (
        ["--top-k", "7", "--out", str(tmp_path / "f")],
        ["--top", "7", "-o", str(tmp_path / "f")],
    ):
        result = runner.invoke(paperfigs, ["negscan-words", str(d), *args])
        assert result.exit_code == 0, result.output
    assert calls == [(7, tmp_path / "f")] * 2
    shown = runner.invoke(paperfigs, ["negscan-words", "--help"]).output
    assert "--top-k" in shown and not re.search(r"--top(?!-)", shown) and "-o " not in shown


@pytest.mark.parametrize("module", ["negation.promptsim.cli", "figures.cli"])
def test_help_imports_no_data_model_or_plotting_library(module):
    """`--help` stays fast: polars, numpy, torch, open_clip and matplotlib are imported when a
    command runs."""
    script = (
        f"import sys; import {module} as m\n"
        "heavy = [n for n in ('polars', 'numpy', 'torch', 'open_clip', 'matplotlib')"
        " if n in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)


def test_negscan_quiet_silences_stderr_never_the_report_on_stdout(tmp_path):
    """-q without --out: the report still goes to stdout; only progress and notes go."""
    folder = _broken_shards(tmp_path)
    loud = runner.invoke(negscan, ["laion", str(folder / "part-0.parquet")])
    quiet = runner.invoke(negscan, ["laion", str(folder / "part-0.parquet"), "-q"])
    assert loud.exit_code == quiet.exit_code == 0, quiet.output
    assert "captions with a negation" in quiet.stdout and "per word" in quiet.stdout
    assert quiet.stdout == loud.stdout
    assert quiet.stderr == ""


@pytest.mark.parametrize(
    ("app_name", "command", "seeds"),
    [
        ("negscan", "laion", "which example captions are kept per word"),
        ("promptsim", "table", "the random init of --pretrained none"),
        ("promptsim", "maps", "the random init of --pretrained none"),
        ("promptsim", "absence", "the random init of --pretrained none"),
        ("promptsim", "negbench", "the questions, the answer positions, the bootstrap"),
        ("mlrtrain", "fit", "the mask, the held-out split, the head's init"),
    ],
)
def test_seed_help_says_what_it_seeds_in_each_command(app_name, command, seeds):
    from mlr.cli import app as mlrtrain

    app = {"negscan": negscan, "promptsim": promptsim, "mlrtrain": mlrtrain}[app_name]
    shown = _flat(runner.invoke(app, [command, "--help"]).output)
    assert f"Random seed, 0 to 2**64 - 1: seeds {seeds}" in shown.replace("│ ", "")
    assert "see the description" not in shown
