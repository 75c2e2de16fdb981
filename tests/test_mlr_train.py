"""mlrtrain end to end on a tiny random ViT and a generated COCO-layout dataset (CPU, seconds)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from mlr_data import write_coco

import mlr.train as train_mod
from mlr.features import FeatureSource, cache_entry
from mlr.heads import METHODS, build_head
from mlr.metrics import mean_average_precision
from mlr.train import (
    FitConfig,
    TrainingDiverged,
    feature_sources,
    fit,
    load_backbone_for,
    load_checkpoint,
    load_splits,
    lr_at,
    predict,
)

LR = {"baseline": 0.1, "dualcoop": 1.0, "positivecoop": 1.0, "negativecoop": 1.0}


@pytest.fixture(scope="module")
def base_cfg(tmp_path_factory, tiny_models):
    root = write_coco(tmp_path_factory.mktemp("coco"), n_train=64, n_test=32)
    cache = tmp_path_factory.mktemp("features")
    return FitConfig(
        dataset="coco",
        root=str(root),
        model=tiny_models[1],
        pretrained="none",
        image_size=None,
        device="cpu",
        epochs=5,
        batch_size=8,
        loss_w=0.03,
        partial=0.5,
        val_fraction=0.25,
        feature_cache=str(cache),
        out="unused",
    )


@pytest.fixture(scope="module")
def runs(base_cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {m: fit(replace(base_cfg, method=m, lr=LR[m], out=str(out / m))) for m in METHODS}


def _untrained_map(cfg: FitConfig) -> float:
    train, test = load_splits(cfg)
    backbone = load_backbone_for(cfg)
    _, test_src = feature_sources(cfg, backbone, train, test, train_mod.Reporter())
    head = build_head(cfg.method, backbone, train.classes.names, seed=cfg.seed)
    scores = predict(head, test_src, np.arange(len(test)), 100)
    return mean_average_precision(scores, test.labels)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_learns_beyond_the_untrained_head(runs, base_cfg, method):
    m = runs[method].metrics
    before = _untrained_map(replace(base_cfg, method=method, lr=LR[method]))
    assert m["complete"] and m["map"] > before + 5, (before, m["map"])


def test_run_directory_follows_the_schema(runs):
    run = runs["positivecoop"]
    d = run.run_dir
    m = json.loads((d / "metrics.json").read_text())
    for key in (
        "dataset",
        "method",
        "partial",
        "seed",
        "model",
        "pretrained",
        "map",
        "cf1_mean_of_f1",
        "cf1_harmonic",
        "of1",
        "best_epoch",
        "n_params",
        "wall_seconds",
        "device",
        "history",
        "per_class_ap",
        "complete",
        "protocol",
    ):
        assert key in m, key
    assert m["protocol"] == "holdout" and "held-out" in m["selection"]
    assert [h["epoch"] for h in m["history"]] == [0, 1, 2, 3, 4]
    info = json.loads((d / "run.json").read_text())
    assert info["dataset"]["n_train"] == 48 and info["dataset"]["n_val"] == 16
    assert info["dataset"]["n_test"] == 32
    assert 0.35 < info["mask"]["known_fraction"] < 0.65
    assert info["model"]["random_weights"] is True
    ck = load_checkpoint(d / "checkpoints" / "last.pt")  # weights_only=True
    assert set(ck["params"]) == {"prompt.ctx", "embedding", "residual"}
    assert load_checkpoint(d / "checkpoints" / "best.pt")["epoch"] == m["best_epoch"]


def test_mask_is_byte_identical_for_every_method(runs):
    masks = {m: (r.run_dir / "mask.npy").read_bytes() for m, r in runs.items()}
    assert len(set(masks.values())) == 1
    assert np.load(runs["baseline"].run_dir / "mask.npy").shape == (64, 4)


def test_lr_schedule_warmup_then_cosine_per_epoch(runs):
    assert lr_at(0, 0.002, 50, 1e-5) == 1e-5
    assert lr_at(1, 0.002, 50, 1e-5) == pytest.approx(0.002)
    assert lr_at(26, 0.002, 50, 1e-5) == pytest.approx(0.001)
    hist = runs["positivecoop"].metrics["history"]
    assert hist[0]["lr"] == [5e-3, 5e-3]  # the warm-up overrides the groups' split
    assert hist[1]["lr"] == pytest.approx([0.01, 1.0])  # prompts at 0.01·LR, embeddings at LR


def test_resume_after_a_kill_reproduces_the_uninterrupted_run(runs, base_cfg, tmp_path):
    cfg = replace(base_cfg, method="positivecoop", lr=LR["positivecoop"], out=str(tmp_path / "r"))

    def kill(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, on_epoch_end=kill)
    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")["epoch"] == 2
    with pytest.raises(FileExistsError, match="--resume"):
        fit(cfg)
    with pytest.raises(ValueError, match="lr"):
        fit(replace(cfg, resume=True, lr=0.5))
    resumed = fit(replace(cfg, resume=True)).metrics
    full = runs["positivecoop"].metrics
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in full["history"]]
    assert resumed["map"] == full["map"] and resumed["best_epoch"] == full["best_epoch"]


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(
    base_cfg, tmp_path, monkeypatch
):
    real = train_mod.get_loss("asl")
    calls = {"n": 0}

    def flaky(logits, targets):
        calls["n"] += 1
        out = real(logits, targets)
        return out * float("nan") if calls["n"] == 8 else out  # 6 steps an epoch: epoch 2

    monkeypatch.setattr(train_mod, "get_loss", lambda name: flaky)
    cfg = replace(base_cfg, method="baseline", lr=0.1, out=str(tmp_path / "nan"))
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 2"):
        fit(cfg)
    assert load_checkpoint(tmp_path / "nan" / "checkpoints" / "last.pt")["epoch"] == 0
    m = json.loads((tmp_path / "nan" / "metrics.json").read_text())
    assert m["complete"] is False and "last good checkpoint" in m["error"]


def test_anchors_protocol_says_it_selects_on_test(base_cfg, tmp_path):
    cfg = replace(
        base_cfg, method="baseline", lr=0.1, epochs=2, protocol="anchors", out=str(tmp_path / "a")
    )
    m = fit(cfg).metrics
    assert m["protocol"] == "anchors" and "test split" in m["selection"]
    info = json.loads((tmp_path / "a" / "run.json").read_text())
    assert info["dataset"]["n_train"] == 64 and info["dataset"]["n_val"] == 0


def test_mask_file_is_reused_and_checked(runs, base_cfg, tmp_path):
    src = runs["baseline"].run_dir / "mask.npy"
    cfg = replace(
        base_cfg,
        method="baseline",
        lr=0.1,
        epochs=1,
        partial=0.9,
        mask=str(src),
        out=str(tmp_path / "m"),
    )
    fit(cfg)
    assert (tmp_path / "m" / "mask.npy").read_bytes() == src.read_bytes()
    np.save(tmp_path / "bad.npy", np.ones((3, 4), np.int8))
    with pytest.raises(ValueError, match=r"bad\.npy.*64 images × 4 classes"):
        fit(replace(cfg, mask=str(tmp_path / "bad.npy"), out=str(tmp_path / "m2")))


def test_cached_and_online_logits_agree_within_fp16(runs, base_cfg):
    cfg = replace(base_cfg, method="positivecoop")
    train, test = load_splits(cfg)
    backbone = load_backbone_for(cfg)
    _, cached = feature_sources(cfg, backbone, train, test, train_mod.Reporter())
    online = FeatureSource(backbone, test, backbone.image_size, cfg.seed, None, 0, False, workers=2)
    idx = np.arange(8)
    a, b = cached.batch(idx), online.batch(idx)
    torch.testing.assert_close(a, b, atol=0.02, rtol=2**-10)
    for method in ("baseline", "positivecoop"):
        head = build_head(method, backbone, train.classes.names)
        with torch.no_grad():
            la, lb = head(a), head(b)
        torch.testing.assert_close(la, lb, atol=0.1, rtol=1e-2)


def test_augmented_views_are_cached_seeded_and_drawn_per_epoch(base_cfg, tmp_path):
    cfg = replace(base_cfg, aug_views=2, feature_cache=str(tmp_path / "fc"))
    train, test = load_splits(cfg)
    backbone = load_backbone_for(cfg)
    src, _ = feature_sources(cfg, backbone, train, test, train_mod.Reporter())
    clean, v1, v2 = src.cached
    assert not np.allclose(clean[:4], v1[:4]) and not np.allclose(v1[:4], v2[:4])
    idx = np.arange(len(train))
    e0, e1 = src.views_for(idx, 0), src.views_for(idx, 1)
    assert set(e0) <= {1, 2} and not np.array_equal(e0, e1)
    np.testing.assert_array_equal(e0, src.views_for(idx, 0))
    online = FeatureSource(backbone, train, backbone.image_size, cfg.seed, None, 0, True)
    torch.testing.assert_close(  # online epoch 0 uses the augmentation cached as view 1
        online.batch(np.arange(4), epoch=0),
        torch.from_numpy(np.asarray(v1[:4], np.float32)),
        atol=0.02,
        rtol=2**-10,
    )
    entry, meta = cache_entry(tmp_path / "fc2", backbone.info(), backbone.image_size, train, 1, 0)
    again = entry.build(backbone, train, 1, backbone.image_size, 0, meta)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(v1))  # same seed, same view


def test_interrupted_cache_build_resumes(base_cfg, tmp_path):
    train, _ = load_splits(base_cfg)
    backbone = load_backbone_for(base_cfg)
    entry, meta = cache_entry(tmp_path, backbone.info(), backbone.image_size, train, 0, 0)

    def stop(done, n):
        if done < n:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        entry.build(
            backbone, train, 0, backbone.image_size, 0, meta, batch_size=2, on_progress=stop
        )
    assert entry.index["done"] == 16 and not entry.complete
    seen = []
    full = entry.build(
        backbone,
        train,
        0,
        backbone.image_size,
        0,
        meta,
        batch_size=2,
        on_progress=lambda d, n: seen.append(d),
    )
    assert seen[0] == 32 and entry.complete  # continued after the first chunk
    ref, _ = cache_entry(tmp_path / "ref", backbone.info(), backbone.image_size, train, 0, 0)
    np.testing.assert_array_equal(
        np.asarray(full), np.asarray(ref.build(backbone, train, 0, backbone.image_size, 0, meta))
    )


def test_bf16_autocast_runs(base_cfg, tmp_path):
    m = fit(
        replace(
            base_cfg,
            method="dualcoop",
            lr=1.0,
            epochs=1,
            precision="bf16",
            out=str(tmp_path / "bf"),
        )
    ).metrics
    assert m["complete"] and not math.isnan(m["map"])


def test_no_cache_trains_online_with_fresh_augmentation(base_cfg, tmp_path):
    cfg = replace(
        base_cfg,
        method="baseline",
        lr=0.1,
        epochs=1,
        use_cache=False,
        feature_cache=str(tmp_path / "never"),
        out=str(tmp_path / "online"),
    )
    m = fit(cfg).metrics
    assert m["complete"] and not (tmp_path / "never").exists()
