"""The mlrtrain command line (typer CliRunner, tiny models, generated data)."""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
from mlr_data import write_voc
from typer.testing import CliRunner

from mlr.cli import app

runner = CliRunner()


def test_fit_then_eval_on_voc_layout(tmp_path, tiny_models):
    root = write_voc(tmp_path / "voc", n_trainval=16, n_test=8)
    out = tmp_path / "run"
    common = [
        "--dataset",
        "voc",
        "--root",
        str(root),
        "--model",
        tiny_models[1],
        "--pretrained",
        "none",
        "--image-size",
        "32",
        "--device",
        "cpu",
        "--feature-cache",
        str(tmp_path / "fc"),
        "--quiet",
    ]
    res = runner.invoke(app, ["cache", *common])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "fit",
            *common,
            "--method",
            "baseline",
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--lr",
            "0.1",
            "--out",
            str(out),
            "--protocol",
            "anchors",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "optimistic" in res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["protocol"] == "anchors" and m["complete"]
    assert m["n_classes_evaluated"] == 5  # 4 quadrant classes + dog; 15 VOC classes never occur
    res = runner.invoke(app, ["eval", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "eval.json").read_text())["map"] == m["map"]


def test_params_prints_the_paper_counts():
    open_clip.add_model_config(Path(__file__).parent / "mlr_model_configs")
    res = runner.invoke(
        app,
        [
            "params",
            "--classes",
            "coco",
            "--model",
            "notclip-tiny-RN-w512",
            "--pretrained",
            "none",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = {r["method"]: r["n_params"] for r in json.loads(res.output)["rows"]}
    assert rows["baseline"] == 82_080 and rows["dualcoop"] == 1_310_720
    assert rows["positivecoop"] == 737_280 and rows["positivecoop --no-residual"] == 696_320


def test_bad_input_is_a_one_line_error(tmp_path, tiny_models):
    res = runner.invoke(
        app,
        [
            "fit",
            "--root",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "o"),
            "--model",
            tiny_models[1],
            "--pretrained",
            "none",
        ],
    )
    assert res.exit_code == 1 and "no such directory" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(
        app,
        ["fit", "--root", str(tmp_path), "--out", str(tmp_path / "o"), "--method", "triplecoop"],
    )
    assert res.exit_code != 0 and "--method" in res.output
