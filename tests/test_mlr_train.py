"""mlrtrain end to end on a tiny random ViT and a generated COCO-layout dataset (CPU, seconds)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from mlr_data import write_coco

import mlr.train as train_mod
from backbone.features import FeatureSource, cache_entry
from backbone.metrics import mean_average_precision
from backbone.runstate import CheckpointError
from backbone.training import TrainingDiverged
from corpora.schema import FIT_METRICS
from mlr.evaluation import evaluate_run
from mlr.heads import METHODS, build_head
from mlr.train import (
    FitConfig,
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
    assert list(m) == [k for k in FIT_METRICS if k != "error"]  # the schema's, in its order
    # building the feature cache is recorded apart, as part of the run's wall-clock
    assert 0 <= m["cache_seconds"] <= m["wall_seconds"]
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


@pytest.mark.parametrize("epochs", [1, 2, 7, 50])
def test_lr_schedule_is_torchs_warmup_then_cosine_annealing(epochs):
    # per-group bases as PositiveCoOp's (prompts 0.01·LR, embeddings LR): the warm-up LR is above
    # one base and below the other, which torch's ConstantLR (one factor ≤ 1) cannot express
    from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, SequentialLR

    warm, bases = 5e-3, [2e-5, 0.002]
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in bases]
    opt = torch.optim.SGD([{"params": [p], "lr": b} for p, b in zip(params, bases, strict=True)])
    warmup = LambdaLR(opt, [lambda _, b=b: warm / b for b in bases])
    sched = SequentialLR(opt, [warmup, CosineAnnealingLR(opt, T_max=epochs)], milestones=[1])
    for epoch in range(epochs):
        ours = [lr_at(epoch, b, epochs, warm) for b in bases]
        assert ours == pytest.approx([g["lr"] for g in opt.param_groups], rel=1e-14, abs=0)
        opt.step()
        sched.step()


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
    # epochs counted from 1 in printed text (history entries from 0): the second epoch is 2/E
    at = rf"at epoch 2/{cfg.epochs}, step 2 of 6"
    with pytest.raises(TrainingDiverged, match=rf"loss became nan {at}"):
        fit(cfg)
    assert load_checkpoint(tmp_path / "nan" / "checkpoints" / "last.pt")["epoch"] == 0
    m = json.loads((tmp_path / "nan" / "metrics.json").read_text())
    assert m["complete"] is False and "last good checkpoint" in m["error"]
    assert [h["epoch"] for h in m["history"]] == [0]  # the failing epoch is the next one, 1


def test_exploding_weights_stop_like_a_nan_loss(base_cfg, tmp_path):
    # lr 1e30: the weights reach ~1e28 without a NaN (ASL clamps its logs); the run must not be
    # reported complete. The first epoch is the warm-up at 5e-3, so it explodes in the second
    # (printed 2/3, counted from 1), step 1.
    cfg = replace(base_cfg, method="baseline", lr=1e30, epochs=3, out=str(tmp_path / "boom"))
    with pytest.raises(TrainingDiverged, match=r"weights' norm became .* at epoch 2/3, step 1 "):
        fit(cfg)
    m = json.loads((tmp_path / "boom" / "metrics.json").read_text())
    assert m["complete"] is False and "try a lower --lr" in m["error"]
    assert load_checkpoint(tmp_path / "boom" / "checkpoints" / "last.pt")["epoch"] == 0


def test_a_mask_with_no_known_label_is_refused_before_training(base_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(train_mod, "load_backbone_for", lambda cfg: pytest.fail("loaded"))
    cfg = replace(base_cfg, method="baseline", partial=1e-4, out=str(tmp_path / "tiny"))
    with pytest.raises(ValueError, match=r"--partial 0.0001: no label of the 48 training images"):
        fit(cfg)
    # known training labels, but no known positive among the held-out images: nothing to select on
    mask = np.ones((64, 4), np.int8)
    _, val_idx = train_mod.holdout_split(64, base_cfg.val_fraction, base_cfg.seed)
    mask[val_idx] = 0
    np.save(tmp_path / "noval.npy", mask)
    cfg = replace(cfg, partial=None, mask=str(tmp_path / "noval.npy"))
    with pytest.raises(ValueError, match=r"no positive label of the 16 held-out .*--select last"):
        fit(cfg)
    assert not (tmp_path / "tiny" / "checkpoints").exists()


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
    known = float(np.load(src).mean())
    cfg = replace(
        base_cfg,
        method="baseline",
        lr=0.1,
        epochs=1,
        partial=None,
        mask=str(src),
        out=str(tmp_path / "m"),
    )
    m = fit(cfg).metrics
    assert (tmp_path / "m" / "mask.npy").read_bytes() == src.read_bytes()
    # a p = 0.5 mask is filed under its own proportion, never under another --partial
    assert m["partial"] == m["known_fraction"] == known and 0.35 < known < 0.65
    with pytest.raises(ValueError, match=rf"keeps {known:.4f} of the labels, not --partial 0.9"):
        fit(replace(cfg, partial=0.9, out=str(tmp_path / "m09")))
    assert fit(replace(cfg, partial=0.5, out=str(tmp_path / "m05"))).metrics["partial"] == 0.5
    np.save(tmp_path / "bad.npy", np.ones((3, 4), np.int8))
    with pytest.raises(ValueError, match=r"bad\.npy.*64 images × 4 classes"):
        fit(replace(cfg, mask=str(tmp_path / "bad.npy"), out=str(tmp_path / "m2")))


def test_cached_and_online_logits_agree_within_fp16(runs, base_cfg):
    cfg = replace(base_cfg, method="positivecoop")
    train, test = load_splits(cfg)
    backbone = load_backbone_for(cfg)
    _, cached = feature_sources(cfg, backbone, train, test, train_mod.Reporter())
    online = FeatureSource(
        backbone, test, backbone.image_size, cfg.seed, None, 0, augment_online=False, workers=2
    )
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
    online = FeatureSource(
        backbone, train, backbone.image_size, cfg.seed, None, 0, augment_online=True
    )
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


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_autocast_trains(base_cfg, tmp_path, precision):
    """Every command takes the same --precision values; mlrtrain's fp16 uses loss scaling."""
    m = fit(
        replace(
            base_cfg,
            method="dualcoop",
            lr=1.0,
            epochs=1,
            precision=precision,
            out=str(tmp_path / precision),
        )
    ).metrics
    assert m["complete"] and not math.isnan(m["map"])


def test_no_cache_trains_online_with_fresh_augmentation(base_cfg, tmp_path):
    cfg = replace(
        base_cfg,
        method="baseline",
        lr=0.1,
        epochs=1,
        cache=False,
        feature_cache=str(tmp_path / "never"),
        out=str(tmp_path / "online"),
    )
    m = fit(cfg).metrics
    assert m["complete"] and not (tmp_path / "never").exists()


def test_scores_rank_on_the_logit_difference_not_a_saturated_sigmoid():
    # l₊ − l₋ of 30 (positive) and 20 (negative): σ is 1.0 for both in fp32, a tie that scored a
    # perfect ranking AP 0.5; ranked on the difference it is 1.0
    class Head:
        def eval(self): ...
        def classifiers(self): ...
        def logits(self, feats, cls):
            return torch.stack([torch.zeros_like(feats), feats], dim=1)  # [B, 2, C]

    class Source:
        backbone = type("B", (), {"device": "cpu"})()

        def batch(self, idx, epoch=None):
            return torch.tensor([[30.0], [20.0]])[idx]

    scores = predict(Head(), Source(), np.arange(2), 2)
    labels = np.array([[1], [0]], np.int8)
    assert mean_average_precision(scores, labels) == 100.0
    assert scores[0, 0] > scores[1, 0]
    m = train_mod.evaluate(scores, labels)  # the thresholded metrics: l₊ − l₋ ≥ 0 ≡ σ ≥ 0.5
    assert (m["op"], m["or"]) == (50.0, 100.0)


def test_last_epoch_map_is_reported_beside_the_selected_one(runs, base_cfg, tmp_path):
    m = runs["baseline"].metrics
    assert m["select"] == "best" and m["map"] == m["map_selected"]
    assert m["last_epoch"] == 4 and not math.isnan(m["map_last"])
    last = evaluate_run(runs["baseline"].run_dir, "last")
    assert last["map"] == pytest.approx(m["map_last"])
    cfg = replace(base_cfg, method="baseline", lr=LR["baseline"], select="last")
    m2 = fit(replace(cfg, out=str(tmp_path / "last"))).metrics
    assert m2["select"] == "last" and m2["map"] == m2["map_last"] == pytest.approx(m["map_last"])
    assert m2["map_selected"] == pytest.approx(m["map_selected"])
    with pytest.raises(ValueError, match="--select"):
        replace(cfg, select="first")


def test_damaged_checkpoints_are_one_line_errors(runs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["positivecoop"].run_dir, run)
    best = run / "checkpoints" / "best.pt"
    for content, why in [
        (b"", "empty file"),
        (b"not a checkpoint at all", "truncated or not a PyTorch checkpoint"),
        (best.read_bytes()[:300], "truncated or not a PyTorch checkpoint"),
    ]:
        best.write_bytes(content)
        with pytest.raises(CheckpointError, match=rf"best\.pt: unreadable .*\({why}\)"):
            evaluate_run(run)
    torch.save({"anything": object()}, best)  # a pickle that weights_only refuses
    with pytest.raises(CheckpointError) as err:
        evaluate_run(run)
    assert "weights_only" not in str(err.value)
    torch.save({"epoch": 1, "other": 2}, best)
    with pytest.raises(CheckpointError, match="not an mlrtrain checkpoint"):
        evaluate_run(run)
    shutil.copy(runs["baseline"].run_dir / "checkpoints" / "best.pt", best)  # another head's
    with pytest.raises(CheckpointError, match="do not fit the run's positivecoop head"):
        evaluate_run(run)


def test_truncated_last_checkpoint_on_resume_says_what_to_do(runs, base_cfg, tmp_path):
    cfg = replace(base_cfg, method="positivecoop", lr=LR["positivecoop"], out=str(tmp_path / "r"))

    def kill(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, on_epoch_end=kill)
    ckpt = tmp_path / "r" / "checkpoints"
    assert load_checkpoint(ckpt / "prev.pt")["epoch"] == 1  # the epoch before last.pt's
    (ckpt / "last.pt").write_bytes((ckpt / "last.pt").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"last\.pt: unreadable .*mv .*prev\.pt"):
        fit(replace(cfg, resume=True))
    (ckpt / "prev.pt").replace(ckpt / "last.pt")  # what the message says
    resumed = fit(replace(cfg, resume=True)).metrics
    full = runs["positivecoop"].metrics
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in full["history"]]
    assert resumed["map"] == full["map"]


def test_a_failed_checkpoint_write_names_the_file(base_cfg, tmp_path, monkeypatch):
    def disk_full(obj, path):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 64 vs 0")

    monkeypatch.setattr(train_mod.torch, "save", disk_full)
    cfg = replace(base_cfg, method="baseline", lr=0.1, epochs=1, out=str(tmp_path / "full"))
    with pytest.raises(OSError, match=r"could not write checkpoint .*checkpoints/best\.pt"):
        fit(cfg)
    assert not list((tmp_path / "full" / "checkpoints").iterdir())  # no temporary file left
