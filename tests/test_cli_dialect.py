"""The commands' shared dialect (corpora/cli.py): hidden aliases, one --format vocabulary, --out a
directory, one error policy (usage 2, bad input 1 in one line, Ctrl-C 130, else the traceback),
results on stdout and messages on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from typer.testing import CliRunner

from corpora import cli

runner = CliRunner(env={"COLUMNS": "200"})  # usage errors in one unwrapped box line


class WeightsGone(RuntimeError):
    pass


class BadKnob(ValueError):
    def __init__(self, message: str, option: str):
        super().__init__(message)
        self.option = option


def _app(raise_: BaseException | None = None):
    app = cli.make_app("demo", "A demo command.")

    @app.command(cls=cli.hidden_aliases({"--top": "--top-k", "--json": ("--format", "json")}))
    def show(
        top_k: int = 3,
        fmt: Annotated[str, cli.format_param(("table", "json"))] = "table",
        out: cli.OutOpt = None,
        quiet: cli.QuietOpt = False,
    ) -> None:
        """Show things."""
        with cli.input_errors(hints={WeightsGone: "--pretrained"}, usage=(BadKnob,)):
            if raise_ is not None:
                raise raise_
            cli.stderr.print("working")
            cli.stdout.print(f"{fmt} {top_k} {out}", highlight=False)

    @app.command()
    def other() -> None:
        """Another one (so that `show` is a subcommand)."""

    return app


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--top-k", "5"], "table 5 None"),
        (["--top", "5"], "table 5 None"),
        (["--top=6"], "table 6 None"),
        (["--json"], "json 3 None"),
        (["--format", "rich"], "table 3 None"),
    ],
)
def test_old_spellings_are_accepted_and_results_go_to_stdout(args, shown):
    result = runner.invoke(_app(), ["show", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == shown
    assert result.stderr.strip() == "working"


def test_old_spellings_are_hidden_from_help():
    text = runner.invoke(_app(), ["show", "--help"]).output
    assert "--top-k" in text and "--format" in text
    assert "--top " not in text and "--json" not in text and "rich" not in text


def test_a_format_the_command_does_not_offer_is_a_usage_error():
    result = runner.invoke(_app(), ["show", "--format", "latex"])
    assert result.exit_code == 2
    assert "use one of table, json" in result.output


def test_out_must_be_a_directory(tmp_path: Path):
    (tmp_path / "f").write_text("x")
    result = runner.invoke(_app(), ["show", "--out", str(tmp_path / "f" / "sub")])
    assert result.exit_code == 2 and "is an existing file, not a directory" in result.output
    fine = runner.invoke(_app(), ["show", "--out", str(tmp_path / "new")])
    assert fine.exit_code == 0, fine.output


def test_a_url_out_is_refused_never_made_a_local_folder(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(_app(), ["show", "--out", "s3://bucket/dir"])
    assert result.exit_code == 2 and "s3://bucket/dir is a URL" in result.output
    assert not (tmp_path / "s3:").exists()


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (ValueError("row 3 of a.csv: no caption"), "error: row 3 of a.csv: no caption"),
        (FileNotFoundError("a.parquet not found"), "error: a.parquet not found"),
        (
            WeightsGone("weights file w.pt not found"),
            "error: weights file w.pt not found (--pretrained)",
        ),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_1(exc, line):
    result = runner.invoke(_app(exc), ["show"])
    assert result.exit_code == 1
    assert result.stderr.strip() == line and result.stdout == ""
    assert "Traceback" not in result.output


def test_shard_errors_are_bad_input():
    from corpora.captions import CorruptShardError

    result = runner.invoke(_app(CorruptShardError("part-0.parquet", "cannot be read")), ["show"])
    assert result.exit_code == 1 and "part-0.parquet: cannot be read" in result.stderr


def test_an_error_of_one_option_is_a_usage_error_naming_it():
    result = runner.invoke(_app(BadKnob("unknown lexicon 'x'", "lexicon")), ["show"])
    assert result.exit_code == 2
    assert "--lexicon" in result.output and "unknown lexicon 'x'" in result.output


def test_unexpected_errors_keep_their_traceback():
    result = runner.invoke(_app(RuntimeError("CUDA out of memory")), ["show"])
    assert isinstance(result.exception, RuntimeError)
    assert "error:" not in result.output


def test_ctrl_c_exits_130():
    result = runner.invoke(_app(KeyboardInterrupt()), ["show"])
    assert result.exit_code == 130 and "interrupted" in result.stderr
