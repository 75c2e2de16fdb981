"""A result directory belongs to the command that wrote it: the others refuse to write into it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mlr.cli import app as mlrtrain
from negation.negscan.cli import app as negscan
from negation.promptsim.cli import app as promptsim

runner = CliRunner()


def _negscan_dir(tmp_path):
    captions = tmp_path / "captions.txt"
    captions.write_text("no dog here\na cat\n", "utf-8")
    out = tmp_path / "scan"
    result = runner.invoke(negscan, ["text", str(captions), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out, captions


def test_promptsim_and_mlrtrain_refuse_a_negscan_directory(tiny_models, tmp_path):
    out, _ = _negscan_dir(tmp_path)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    model = ["--model", tiny_models[0], "--pretrained", "none", "--device", "cpu"]
    table = runner.invoke(
        promptsim, ["table", *model, "--classes", "cat,dog", "--no-text-cache", "--out", str(out)]
    )
    assert table.exit_code != 0
    assert f"{out} holds results of `negscan text`" in table.output
    assert "Traceback" not in table.output and "RANDOM WEIGHTS" not in table.output  # no model
    fit = runner.invoke(
        mlrtrain,
        ["fit", "--root", str(tmp_path / "nowhere"), "--out", str(out), "--pretrained", "none"],
    )
    assert fit.exit_code == 1 and "holds results of `negscan text`" in fit.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_negscan_refuses_a_promptsim_directory_unless_overwrite(tiny_models, tmp_path):
    out, captions = _negscan_dir(tmp_path)
    run = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**run, "command": "promptsim table"}))
    again = runner.invoke(negscan, ["text", str(captions), "--out", str(out), "--quiet"])
    assert again.exit_code == 1 and "holds results of `promptsim table`" in again.output
    assert "--overwrite" in again.output
    merge = runner.invoke(negscan, ["merge", str(out), "--out", str(out), "--quiet"])
    assert merge.exit_code == 1 and "holds results of `promptsim table`" in merge.output
    forced = runner.invoke(
        negscan, ["text", str(captions), "--out", str(out), "--overwrite", "--quiet"]
    )
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "run.json").read_text())["command"] == "negscan text"
    rerun = runner.invoke(negscan, ["text", str(captions), "--out", str(out), "--quiet"])
    assert rerun.exit_code == 0, rerun.output  # its own directory


def test_a_second_fit_into_the_same_out_fails_at_once(tmp_path):
    """One mlrtrain fit writes a --out at a time (the advisory lock negscan takes): the second
    of two at once says so and writes nothing, whatever its seed."""
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    args = ["fit", "--root", str(tmp_path / "nowhere"), "--out", str(out), "--pretrained", "none"]
    with open(out / ".lock", "a") as held:  # another fit writing there
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = runner.invoke(mlrtrain, [*args, "--seed", "1"])
    assert busy.exit_code == 1
    assert busy.output.strip() == f"error: another mlrtrain fit is writing {out}"
    assert [p.name for p in out.iterdir()] == [".lock"]
    free = runner.invoke(mlrtrain, [*args, "--seed", "1"])  # released: it gets to the data
    assert free.exit_code == 1 and "another mlrtrain fit" not in free.output


def test_a_directory_with_someones_own_report_but_no_run_json_is_not_replaced(
    tiny_models, tmp_path
):
    captions = tmp_path / "captions.txt"
    captions.write_text("no dog here\n", "utf-8")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text('{"my": "numbers"}')
    scan = runner.invoke(negscan, ["text", str(captions), "--out", str(mine), "--quiet"])
    assert scan.exit_code == 1, scan.output
    assert f"{mine} holds a summary.json but no run.json" in " ".join(scan.output.split())
    model = ["--model", tiny_models[0], "--pretrained", "none", "--device", "cpu"]
    options = ["--classes", "cat,dog", "--templates", "single", "--no-text-cache"]
    table = runner.invoke(promptsim, ["table", *model, *options, "--out", str(mine)])
    assert table.exit_code == 1 and "holds a summary.json but no run.json" in table.output
    (mine / "metrics.json").write_text('{"map": 99.0}')
    fit = runner.invoke(mlrtrain, ["fit", "--root", str(tmp_path), "--out", str(mine)])
    assert fit.exit_code == 1 and "but no run.json" in fit.output
    assert (mine / "summary.json").read_text() == '{"my": "numbers"}'
    assert (mine / "metrics.json").read_text() == '{"map": 99.0}'
    forced = runner.invoke(
        negscan, ["text", str(captions), "--out", str(mine), "--overwrite", "--quiet"]
    )
    assert forced.exit_code == 0, forced.output  # asked for
    assert json.loads((mine / "run.json").read_text())["command"] == "negscan text"
