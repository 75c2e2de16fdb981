"""--quiet silences the libraries' noise on stderr too (open_clip's "No pretrained weights loaded"
log line, Hugging Face and transformers bars: tests/test_promptsim.py), only for the command, and
never the result on stdout (negscan: tests/test_cli_commands.py)."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from corpora import noise
from negation.promptsim.cli import app

runner = CliRunner()
OPEN_CLIP_LINE = "No pretrained weights loaded"


def _table(model: str, tmp_path, *extra: str):
    args = ["table", "--classes", "cat,dog", "--templates", "single", "--model", model]
    args += ["--pretrained", "none", "--device", "cpu", "--text-cache", str(tmp_path / "c")]
    return runner.invoke(app, [*args, *extra])


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_drops_open_clips_random_init_log_line(tiny_models, tmp_path, caplog, quiet):
    caplog.set_level(logging.WARNING)
    result = _table(tiny_models[0], tmp_path, *(["-q"] if quiet else []))
    assert result.exit_code == 0, result.output
    logged = [r for r in caplog.records if OPEN_CLIP_LINE in r.getMessage()]
    assert len(logged) == (0 if quiet else 1)
    assert "RANDOM WEIGHTS" in result.output  # ours stays: random weights are flagged everywhere
    assert "mean ± std" in result.stdout  # the result is printed either way
    assert noise.QUIET is False  # only for the command


def test_quiet_never_drops_a_librarys_errors(tiny_models, caplog):
    caplog.set_level(logging.WARNING)
    noise.QUIET = True
    try:
        with noise.loaders():
            library = "/x/site-packages/open_clip/factory.py"
            for level, path, msg in [
                (logging.WARNING, library, "warned"),
                (logging.ERROR, library, "failed"),
                (logging.WARNING, __file__, "ours"),
            ]:
                record = logging.LogRecord("root", level, path, 1, msg, (), None)
                logging.getLogger().handle(record)
    finally:
        noise.QUIET = False
    assert [r.getMessage() for r in caplog.records] == ["failed", "ours"]
