"""The mlrtrain command line (typer CliRunner, tiny models, generated data)."""

from __future__ import annotations

import json
import re
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
    assert res.stderr.count("RANDOM WEIGHTS") == 2  # before training and under the numbers
    # the last epoch's test mAP beside the selected one, epochs counted from 1 as in the progress
    assert re.search(r"selected epoch [12]/2 \S+, last epoch 2/2 ", res.stderr), res.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["protocol"] == "anchors" and m["complete"]
    assert m["n_classes_evaluated"] == 5  # 4 quadrant classes + dog; 15 VOC classes never occur
    res = runner.invoke(app, ["eval", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "RANDOM WEIGHTS" in res.stderr
    ev = json.loads((out / "eval.json").read_text())
    assert ev["map"] == m["map"] and ev["dataset"] == "voc"
    assert ev["model"] == tiny_models[1] and ev["random_weights"] is True
    (out / "checkpoints" / "last.pt").write_bytes(b"")  # empty: click used to say "Aborted!"
    res = runner.invoke(app, ["eval", str(out), "--checkpoint", "last", "--quiet"])
    assert res.exit_code == 1 and "last.pt: unreadable checkpoint (empty file)" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["eval", str(root), "--quiet"])
    assert res.exit_code == 1 and "not an mlrtrain run directory" in res.output


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
    res = runner.invoke(
        app, ["fit", "--root", str(tmp_path), "--out", str(tmp_path / "o"), "--partial", "50"]
    )
    assert res.exit_code != 0 and "--partial must be in (0, 1]" in res.output
    root = write_voc(tmp_path / "voc", n_trainval=4, n_test=2)
    (tmp_path / "afile").write_text("")
    res = runner.invoke(
        app,
        [
            "fit",
            "--dataset",
            "voc",
            "--root",
            str(root),
            "--out",
            str(tmp_path / "o"),
            "--model",
            tiny_models[1],
            "--pretrained",
            "none",
            "--device",
            "cpu",
            "--feature-cache",
            str(tmp_path / "afile"),  # a file, not a directory
        ],
    )
    assert res.exit_code == 1 and "Not a directory" in res.output
    assert "Traceback" not in res.output


def test_config_preset_is_overridden_by_flags(tmp_path, tiny_models):
    root = write_voc(tmp_path / "voc", n_trainval=8, n_test=4)
    preset = {
        "dataset": "voc",
        "root": str(root),
        "method": "baseline",
        "epochs": 1,
        "lr": 0.1,
        "model": tiny_models[0],
        "pretrained": "none",
        "image_size": 64,
        "device": "cpu",
        "batch_size": 4,
        "feature_cache": str(tmp_path / "fc"),
        "val_fraction": 0.25,
    }
    (tmp_path / "preset.json").write_text(json.dumps(preset))
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "fit",
            "--config",
            str(tmp_path / "preset.json"),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "run.json").read_text())["config"]
    assert cfg["epochs"] == 2 and cfg["method"] == "baseline" and cfg["lr"] == 0.1
    assert cfg["model"] == tiny_models[0]  # the ResNet tower end to end (2×2+1 regions)
    # a run.json is a preset too
    res = runner.invoke(
        app, ["fit", "--config", str(out / "run.json"), "--out", str(tmp_path / "again"), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["map"] == json.loads((out / "metrics.json").read_text())["map"]
    (tmp_path / "bad.json").write_text(json.dumps({"epochz": 3}))
    res = runner.invoke(app, ["fit", "--config", str(tmp_path / "bad.json")])
    assert res.exit_code != 0 and "epochz" in res.output


def test_fit_config_paper_augments_online_and_prompts_the_anchors_voc_names(
    tmp_path, tiny_models, monkeypatch
):
    import mlr.inputs

    prompted = []
    real = mlr.inputs.build_head

    def spy(method, backbone, class_names, **kw):
        prompted.append(tuple(class_names))
        return real(method, backbone, class_names, **kw)

    monkeypatch.setattr(mlr.inputs, "build_head", spy)
    root = write_voc(tmp_path / "voc", n_trainval=8, n_test=4)
    tiny = ["--model", tiny_models[1], "--pretrained", "none", "--image-size", "32"]
    common = [
        *("fit", "--config", "paper", "--dataset", "voc", "--root", str(root), *tiny),
        *("--method", "positivecoop", "--epochs", "1", "--batch-size", "4", "--device", "cpu"),
        *("--val-fraction", "0.25", "--feature-cache", str(tmp_path / "fc"), "--quiet"),
    ]
    res = runner.invoke(app, [*common, "--out", str(tmp_path / "paper")])
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "paper" / "run.json").read_text())
    names = info["dataset"]["prompt_names"]
    assert {"diningtable", "pottedplant", "tvmonitor"} <= set(names) and prompted[-1] == tuple(
        names
    )
    assert info["config"]["class_names"] == "anchors" and info["augmentation"] == "online"
    metrics = json.loads((tmp_path / "paper" / "metrics.json").read_text())
    assert metrics["augmentation"] == "online" and not (tmp_path / "fc").exists()  # no cache
    # the fast path under the same preset: cached clean features, readable names
    flags = ["--cache", "--class-names", "readable", "--out", str(tmp_path / "fast")]
    res = runner.invoke(app, [*common, *flags])
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "fast" / "run.json").read_text())
    assert {"dining table", "potted plant", "tv monitor"} <= set(info["dataset"]["prompt_names"])
    assert prompted[-1] == tuple(info["dataset"]["prompt_names"])
    metrics = json.loads((tmp_path / "fast" / "metrics.json").read_text())
    assert metrics["augmentation"] == "none" and (tmp_path / "fc").is_dir()
