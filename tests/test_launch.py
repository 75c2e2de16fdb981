"""The console scripts name the extra to install when its packages are missing (make demo installs
only the light core)."""

from __future__ import annotations

import importlib.util

import pytest

from corpora import launch


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
