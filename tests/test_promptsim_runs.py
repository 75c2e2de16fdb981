"""The promptsim runners called from Python (one import, one call): the same result files as the
command, progress through the callback, nothing printed."""

from __future__ import annotations

import json

import pytest
from mlr_data import write_voc
from PIL import Image
from typer.testing import CliRunner

from backbone import BackboneConfig, load_backbone
from corpora import schema as S
from corpora.schema import C
from negation.promptsim import inputs, runs
from negation.promptsim.cli import app

runner = CliRunner()
MODEL = ["--pretrained", "none", "--device", "cpu", "--no-text-cache", "-q"]


def _backbone(name, image_size=None):
    cfg = BackboneConfig(model=name, pretrained="none", device="cpu", image_size=image_size)
    return load_backbone(cfg)


def _same_files(a, b, names):
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    run_a, run_b = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert run_a["command"] == run_b["command"]
    assert run_a["config"] == run_b["config"]


def _progress_log():
    log: list[tuple[str, int, int | None]] = []
    return log, lambda stage, advance, total: log.append((stage, advance, total))


def test_table_runner_writes_what_the_command_writes(tiny_models, tmp_path, capsys):
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    args = ["table", "--classes", "cat,dog", "--model", tiny_models[0], *MODEL]
    res = runner.invoke(app, [*args, "--out", str(cli_out)])
    assert res.exit_code == 0, res.output
    log, progress = _progress_log()
    config = runs.TableConfig(classes="cat,dog", out=py_out)
    result = runs.table(config, _backbone(tiny_models[0]), progress)
    assert capsys.readouterr().out == ""
    assert result.summary == json.loads((cli_out / "summary.json").read_text())
    # the schema's keys in its order (random weights: with a warning; not a control: no note)
    assert list(result.summary) == [k for k in S.PROMPTSIM_SUMMARY if k != C.poster_reference_note]
    assert {r["pair"] for r in result.result.rows} == {"P1-N1", "P1-P2"}
    _same_files(cli_out, py_out, ["per_class.parquet", "summary.json"])
    assert log and {stage for stage, _, _ in log} == {"encoding prompts"}
    assert sum(advance for _, advance, _ in log) == sum(t for _, _, t in log if t)


def test_table_config_names_the_bad_option():
    with pytest.raises(inputs.OptionError, match="unknown style") as err:
        runs.TableConfig(classes="cat,dog", style="never")
    assert err.value.option == "--style"


def test_maps_runner_writes_what_the_command_writes(tiny_models, tmp_path, capsys):
    images = []
    for i in range(2):
        images.append(tmp_path / f"im{i}.png")
        Image.new("RGB", (40, 30), (60 * i, 90, 120)).save(images[-1])
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    args = ["maps", *map(str, images), "--classes", "cat,dog", "--model", tiny_models[0], *MODEL]
    res = runner.invoke(app, [*args, "--out", str(cli_out)])
    assert res.exit_code == 0, res.output
    log, progress = _progress_log()
    config = runs.MapsConfig(images=tuple(images), classes="cat,dog", out=py_out)
    result = runs.maps(config, _backbone(tiny_models[0]), progress)
    assert capsys.readouterr().out == ""
    assert result.index.height == 2 * 2 * 2
    _same_files(cli_out, py_out, ["maps.parquet", "im0/cat.negative.npy"])
    assert log[0] == ("images", 0, 2) and sum(a for _, a, _ in log) == 2


def test_absence_runner_writes_what_the_command_writes(tiny_models, tmp_path, capsys):
    root = write_voc(tmp_path / "voc", n_trainval=2, n_test=6)
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    args = ["absence", "--dataset", "voc", "--root", str(root), "--model", tiny_models[0]]
    res = runner.invoke(app, [*args, *MODEL, "--out", str(cli_out)])
    assert res.exit_code == 0, res.output
    log, progress = _progress_log()
    config = runs.AbsenceConfig(dataset="voc", root=str(root), out=str(py_out))  # a notebook
    result = runs.absence(config, _backbone(tiny_models[0]), progress)
    assert capsys.readouterr().out == ""
    assert result.out == py_out and result.n_images == 6 and result.rows == result.summary["rows"]
    assert list(result.summary) == list(S.ABSENCE_SUMMARY)  # random weights: with the warning
    _same_files(cli_out, py_out, ["per_class.parquet", "summary.json"])
    assert log[0] == ("scoring test images", 0, 6) and sum(a for _, a, _ in log) == 6
