"""The console scripts name the extra to install when its packages are missing (make demo installs
only the light core)."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from corpora import launch

ROOT = Path(__file__).resolve().parents[1]


def test_missing_extra_names_the_extra_and_the_install_command(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    with pytest.raises(SystemExit) as exit_info:
        launch.promptsim()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "promptsim needs the 'clip' extra (torch not installed)" in err
    assert "pip install 'notclip[clip]'" in err
    assert len(err.strip().splitlines()) == 1


def test_installed_extras_launch_the_command(monkeypatch):
    called = []
    monkeypatch.setattr("figures.cli.main", lambda: called.append("paperfigs"))
    assert launch.missing_extra("paperfigs") is None
    launch.paperfigs()
    assert called == ["paperfigs"]


@pytest.mark.parametrize(
    "module",
    [
        "negation.negscan.cli",
        "negation.promptsim.cli",
        "mlr.cli",
        "figures.cli",
        "negation.negtune.cli",
    ],
)
def test_every_command_prints_its_version(module):
    from importlib.metadata import version

    from typer.testing import CliRunner

    app = importlib.import_module(module).app
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"notclip {version('notclip')}\n"


def test_version_imports_nothing_heavy_and_needs_no_extra(tmp_path):
    """The console scripts answer --version before importing torch (or needing the extra)."""
    script = """
import importlib.util, sys
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "torch" else real(name, *a)
from corpora import launch
from negation.negscan.cli import main
for command in (launch.promptsim, launch.mlrtrain, launch.paperfigs, launch.negtune, main):
    sys.argv = ["x", "--version"]
    try:
        command()
    except SystemExit as exc:
        assert exc.code == 0, exc.code
print(sorted(m for m in ("torch", "open_clip", "matplotlib") if m in sys.modules))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    lines = out.splitlines()
    assert len(lines) == 6 and len(set(lines[:5])) == 1 and lines[0].startswith("notclip ")
    assert lines[5] == "[]"
