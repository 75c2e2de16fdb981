"""Training and evaluation of the four heads on frozen CLIP features (docs/METHODS.md §1.4, §3).

:func:`fit` is a pure function of a :class:`FitConfig` (a sweep calls it directly); it never prints
— progress goes to an optional :class:`Reporter`.

Protocol:
- ``holdout`` (default): a seeded ``val_fraction`` of the training split is held out, with its
  *partial* (masked) labels, to choose the best epoch; the test split is evaluated once, at the end,
  with the best checkpoint.
- ``anchors``: the test split doubles as validation every epoch and the best test epoch is reported
  (what the DualCoOp/PositiveCoOp code does; optimistic by construction). ``metrics.json`` says so.

``metrics.json`` reports the test mAP of the selected epoch (``map_selected``) and of the last
epoch (``map_last``); ``select`` (``best`` by default, or ``last``) says which one is the headline
``map``, so the noise of selecting on a small held-out split stays visible. Every score is the
logit difference ``l₊ − l₋`` (:func:`predict`), never the saturating fp32 ``σ``.

Refused before training: a mask that leaves no training label known, or (``select`` ``best``,
``holdout``) no known positive among the held-out images; a ``--mask`` whose known proportion
does not match an explicit ``--partial`` (:func:`mlr.masks.check_mask_proportion`). Without
``--partial`` the mask's own proportion is recorded.

Stopped during training (:class:`backbone.training.TrainingDiverged`, the same message, its
epoch counted from 1 as in all printed text): a non-finite loss, or trainable weights whose L2
norm is non-finite or above :data:`backbone.training.DIVERGED_NORM_RATIO` × max(1, their norm at
initialisation) after a step.

Optimisation: SGD (momentum 0.9); per-method groups and LR multipliers (baseline linear 0.01·LR;
DualCoOp prompts LR; Positive/NegativeCoOp prompts 0.01·LR, embeddings LR); weight decay 5e-4 for
DualCoOp, 0 otherwise; epoch 0 runs every group at the constant warm-up LR (1e-5 DualCoOp, 5e-3
others), epoch k ≥ 1 at ``base·½(1 + cos(π(k−1)/E))``. Checkpoints (:mod:`backbone.runstate`):
``last.pt`` is written atomically and the one it replaces is kept as ``prev.pt`` (resume falls back
to it when a kill came between the two, and a damaged ``last.pt`` is one line naming both).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backbone import weights_id
from backbone.features import FeatureSource
from backbone.runstate import (
    atomic_torch_save,
    load_checkpoint,
    load_params,
    resume_checkpoint,
)
from backbone.training import DIVERGED_NORM_RATIO, TrainingDiverged
from corpora.labels import epoch_label
from corpora.runio import atomic_write_json, run_info, write_run_json
from corpora.schema import C
from mlr.config import DEFAULT_PARTIAL, FitConfig
from mlr.heads import Head
from mlr.inputs import (
    Reporter,
    dataset_info,
    feature_sources,
    head_for,
    load_backbone_for,
    load_splits,
)
from mlr.losses import get_loss, logit_difference
from mlr.masks import (
    apply_mask,
    check_mask_proportion,
    draw_mask,
    known_fraction,
    load_mask,
    save_mask,
)
from mlr.metrics import evaluate, mean_average_precision

# Divergence guard: a step whose loss is not finite, or after which the trainable weights' L2 norm
# is not finite or above DIVERGED_NORM_RATIO × max(1, their norm at initialisation), stops the run
# (backbone.training).


@dataclass
class FitResult:
    run_dir: Path
    metrics: dict


# Written out, not torch's SequentialLR(ConstantLR, CosineAnnealingLR): ConstantLR scales every
# group by one factor ≤ 1, but the warm-up is one LR for all groups (5e-3 is above Baseline's
# 0.01·LR base), and CosineAnnealingLR's recursive update drifts from this closed form by ~1e-16
# (results would change in the last bits). A function of the epoch index also needs no scheduler
# state to resume. Tests check it equals SequentialLR(LambdaLR, CosineAnnealingLR).
def lr_at(epoch: int, base: float, epochs: int, warmup_lr: float) -> float:
    """Epoch 0: the constant warm-up LR; epoch k ≥ 1: ``base·½(1 + cos(π(k−1)/epochs))``."""
    if epoch == 0:
        return warmup_lr
    return base * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))


def make_optimizer(head: Head, cfg: FitConfig) -> torch.optim.SGD:
    groups = []
    for g in head.param_groups():
        groups.append(
            {
                "params": g["params"],
                "name": g["name"],
                "base_lr": cfg.lr * g["lr_mult"],
                "lr": cfg.lr * g["lr_mult"],
            }
        )
    return torch.optim.SGD(
        groups,
        lr=cfg.lr,
        momentum=0.9,
        dampening=0,
        nesterov=False,
        weight_decay=cfg.resolved_weight_decay(),
    )


_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _autocast(backbone, precision: str):
    dev = torch.device(backbone.device).type
    dtype = _AUTOCAST.get(precision, torch.bfloat16)
    return torch.autocast(dev, dtype=dtype, enabled=precision in _AUTOCAST)


def predict(
    head: Head, source: FeatureSource, indices: np.ndarray, batch_size: int, precision: str = "fp32"
) -> np.ndarray:
    """Scores ``l₊ − l₋`` ``(len(indices), C)`` (float64) on clean features: the logit difference,
    monotone in ``σ(l₊ − l₋)`` but never saturating (:func:`mlr.losses.logit_difference`)."""
    head.eval()
    out = []
    with torch.no_grad(), _autocast(source.backbone, precision):
        cls = head.classifiers()
        for s in range(0, len(indices), batch_size):
            feats = source.batch(indices[s : s + batch_size], epoch=None)
            out.append(logit_difference(head.logits(feats, cls).double()).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, val) index arrays, both sorted; val has ``round(fraction·n)`` ≥ 1 images."""
    perm = np.random.default_rng([seed, 1]).permutation(n)
    n_val = max(1, round(fraction * n))
    if n_val >= n:
        raise ValueError(f"--val-fraction {fraction} leaves no training image ({n} images)")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _check_labels_known(targets: np.ndarray, train_idx, val_idx, cfg: FitConfig, p: float) -> None:
    """Refuse, before any training, a mask that leaves nothing to learn from or to select on."""
    if not (targets[train_idx] >= 0).any():
        raise ValueError(
            f"--partial {p:g}: no label of the {len(train_idx)} training images is known "
            "(the loss would be 0); raise --partial"
        )
    if val_idx is not None and cfg.select == "best" and not (targets[val_idx] == 1).any():
        raise ValueError(
            f"--partial {p:g}: no positive label of the {len(val_idx)} held-out images is known, "
            "so no epoch can be selected; raise --partial or --val-fraction, or use --select last"
        )


def _trainable_norm(opt: torch.optim.Optimizer) -> float:
    """The L2 norm of every trainable tensor together (float64: no overflow; one device sync)."""
    sq = [p.detach().double().pow(2).sum() for g in opt.param_groups for p in g["params"]]
    return math.sqrt(torch.stack(sq).sum().item())


def _diverged(out: Path, partial_metrics: dict, what: str) -> TrainingDiverged:
    """The NaN / explosion guard's error (also written into ``metrics.json``, ``complete: false``);
    the last good checkpoint stays."""
    last = out / "checkpoints" / "last.pt"
    msg = (
        f"{what}; stopped. The last good checkpoint is "
        f"{last if last.exists() else '(none yet)'}; try a lower --lr or --loss-w, or "
        "--precision fp32"
    )
    atomic_write_json(out / "metrics.json", {**partial_metrics, C.complete: False, C.error: msg})
    return TrainingDiverged(msg)


def fit(cfg: FitConfig, reporter: Reporter | None = None, on_epoch_end=None) -> FitResult:
    """Train ``cfg.method`` and evaluate it; returns the run directory and ``metrics.json``.

    ``on_epoch_end(epoch, record)`` is called after each epoch's checkpoint is written."""
    rep = reporter or Reporter()
    out = Path(cfg.out).expanduser()
    ckpt_dir = out / "checkpoints"
    last_path, prev_path, best_path = (ckpt_dir / f"{n}.pt" for n in ("last", "prev", "best"))
    if (last_path.exists() or prev_path.exists()) and not cfg.resume:
        raise FileExistsError(
            f"{out} already holds a run; pass --resume to continue it, or choose another --out"
        )
    if cfg.resume and (out / "run.json").is_file():
        old = FitConfig.from_dict(json.loads((out / "run.json").read_text())["config"])
        diff = cfg.differences(old)
        if diff:
            raise ValueError(f"--resume: options differ from the run in {out}: {', '.join(diff)}")
    t_start = time.perf_counter()

    train, test = load_splits(cfg, weights=True)
    n, c = train.labels.shape
    if cfg.mask:
        mask = load_mask(Path(cfg.mask), n, c)
    elif cfg.resume and (out / "mask.npy").is_file():
        mask = load_mask(out / "mask.npy", n, c)
    else:
        mask = draw_mask(n, c, cfg.partial or DEFAULT_PARTIAL, cfg.seed)
    known = known_fraction(mask)
    if cfg.mask and cfg.partial is not None:
        check_mask_proportion(mask, cfg.partial, f"--mask {cfg.mask}")
    partial = cfg.partial or (known if cfg.mask else DEFAULT_PARTIAL)
    targets_all = apply_mask(train.labels, mask)
    if cfg.protocol == "holdout":
        train_idx, val_idx = holdout_split(n, cfg.val_fraction, cfg.seed)
    else:
        train_idx, val_idx = np.arange(n), None
    _check_labels_known(targets_all, train_idx, val_idx, cfg, partial)
    backbone = load_backbone_for(cfg)  # (a model or weights it refuses leaves nothing written)
    save_mask(out / "mask.npy", mask)
    rep.message(f"known labels: {known:.4f} of {n}×{c} (partial {partial:g})")
    if val_idx is None:
        rep.message("protocol 'anchors': the TEST split is used as validation (optimistic)")

    model_info = backbone.info()
    if backbone.random_weights:
        rep.random_weights(model_info)
    t_cache = time.perf_counter()
    train_src, test_src = feature_sources(cfg, backbone, train, test, rep)
    # hashing the images and building (or opening) the feature cache: part of wall_seconds, kept
    # apart so that training time compares across runs that did or did not build the cache
    cache_seconds: float | None = time.perf_counter() - t_cache
    head = head_for(cfg, backbone, train.classes)
    opt = make_optimizer(head, cfg)
    loss_fn = get_loss(cfg.loss)
    norm_limit = DIVERGED_NORM_RATIO * max(1.0, _trainable_norm(opt))  # of the seeded init

    info = run_info(
        "mlrtrain fit",
        cfg.to_dict(),
        seed=cfg.seed,
        model=model_info,
        dataset=dataset_info(cfg, train, test, 0 if val_idx is None else len(val_idx)),
        mask={
            "path": str(out / "mask.npy"),
            "source": cfg.mask or "drawn",
            "known_fraction": known,
            "partial": partial,
        },
        protocol=cfg.protocol,
        augmentation=cfg.augmentation(),
        n_params=head.n_params(),
    )
    write_run_json(out, info)

    start, history, best_map, best_epoch, elapsed = 0, [], -math.inf, -1, 0.0
    resumed = resume_checkpoint(ckpt_dir) if cfg.resume else None
    if resumed is not None:
        path, ck = resumed
        load_params(head, ck, path, f"this run's {cfg.method} head", opt)
        start, history = int(ck["epoch"]) + 1, list(ck["history"])
        best_map, best_epoch = float(ck["best_map"]), int(ck["best_epoch"])
        elapsed = float(ck.get("wall_seconds", 0.0))
        before = ck.get(C.cache_seconds)  # checkpoints of earlier versions do not record it
        cache_seconds = None if before is None or cache_seconds is None else before + cache_seconds
        rep.message(f"resuming after epoch {epoch_label(start - 1, cfg.epochs)}")
    t_start -= elapsed

    base = {
        C.dataset: cfg.dataset,
        C.method: cfg.method,
        C.partial: partial,
        C.known_fraction: known,
        C.seed: cfg.seed,
        C.model: cfg.model,
        C.pretrained: cfg.pretrained,
        C.image_size: backbone.image_size,
        C.preprocess: cfg.preprocess,
        C.weights_id: weights_id(backbone),
        C.random_weights: backbone.random_weights,
        C.protocol: cfg.protocol,
        C.select: cfg.select,
        C.augmentation: cfg.augmentation(),
        C.n_params: head.n_params(),
        C.device: str(backbone.device),
    }
    warm = cfg.resolved_warmup_lr()
    scaler = torch.amp.GradScaler(
        torch.device(backbone.device).type, enabled=cfg.precision == "fp16"
    )
    for epoch in range(start, cfg.epochs):
        for g in opt.param_groups:
            g["lr"] = lr_at(epoch, g["base_lr"], cfg.epochs, warm)
        order = np.random.default_rng([cfg.seed, 2, epoch]).permutation(train_idx)
        n_steps = math.ceil(len(order) / cfg.batch_size)
        rep.task(f"epoch {epoch_label(epoch, cfg.epochs)}", n_steps)
        head.train()
        t0, total, n_img = time.perf_counter(), 0.0, 0

        for step, s in enumerate(range(0, len(order), cfg.batch_size), start=1):
            idx = order[s : s + cfg.batch_size]
            feats = train_src.batch(idx, epoch)
            y = torch.from_numpy(targets_all[idx]).to(feats.device)
            with _autocast(backbone, cfg.precision):
                logits = head(feats)
            loss = cfg.loss_w * loss_fn(logits.float(), y)
            at = f"at epoch {epoch_label(epoch, cfg.epochs)}, step {step} of {n_steps}"
            if not torch.isfinite(loss):
                what = f"loss became {loss.item()} {at}"
                raise _diverged(out, {**base, C.history: history}, what)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # fp16: loss scaling, a step with inf/NaN grads skipped
            scaler.step(opt)
            scaler.update()
            norm = _trainable_norm(opt)
            if not norm <= norm_limit:  # also NaN
                raise _diverged(
                    out,
                    {**base, C.history: history},
                    f"the trainable weights' norm became {norm:.3g} {at} (limit "
                    f"{DIVERGED_NORM_RATIO:g} × max(1, its initial norm) = {norm_limit:.3g})",
                )
            total += loss.item()
            n_img += len(idx)
            dt = time.perf_counter() - t0
            rep.advance(1, loss=total / max(1, n_img), img_s=n_img / dt if dt > 0 else 0.0)
        rep.done()
        if val_idx is not None:
            val_scores = predict(head, train_src, val_idx, cfg.eval_batch_size, cfg.precision)
            val_map = mean_average_precision(val_scores, targets_all[val_idx])
        else:
            test_scores = predict(
                head, test_src, np.arange(len(test)), cfg.eval_batch_size, cfg.precision
            )
            val_map = mean_average_precision(test_scores, test.labels)
        record = {
            "epoch": epoch,
            "loss": total / max(1, n_img),
            "val_map": val_map,
            "lr": [g["lr"] for g in opt.param_groups],
            "seconds": time.perf_counter() - t0,
        }
        history.append(record)
        params = {k: v.detach().cpu() for k, v in head.state_dict().items()}
        if not math.isnan(val_map) and val_map > best_map:
            best_map, best_epoch = val_map, epoch
            atomic_torch_save({"epoch": epoch, "params": params}, best_path)
        atomic_torch_save(
            {
                "epoch": epoch,
                "params": params,
                "optimizer": opt.state_dict(),
                "scheduler": {"epoch": epoch, "warmup_lr": warm, "epochs": cfg.epochs},
                "history": history,
                "best_map": best_map,
                "best_epoch": best_epoch,
                "wall_seconds": time.perf_counter() - t_start,
                C.cache_seconds: cache_seconds,
            },
            last_path,
            keep_previous=prev_path,
        )
        atomic_write_json(
            out / "metrics.json",
            {**base, C.complete: False, C.best_epoch: best_epoch, C.history: history},
        )
        rep.message(
            f"epoch {epoch_label(epoch, cfg.epochs)}: loss {record['loss']:.4f}  "
            f"val mAP {val_map:.2f}"
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    test_idx = np.arange(len(test))
    last_scores = predict(head, test_src, test_idx, cfg.eval_batch_size, cfg.precision)
    last = evaluate(last_scores, test.labels, train.classes.keys)
    if not best_path.exists():  # no epoch gave a defined validation mAP: use the last one
        params = {k: v.detach().cpu() for k, v in head.state_dict().items()}
        atomic_torch_save({"epoch": cfg.epochs - 1, "params": params}, best_path)
        best_epoch = cfg.epochs - 1
    load_params(head, load_checkpoint(best_path), best_path, f"this run's {cfg.method} head")
    scores = predict(head, test_src, test_idx, cfg.eval_batch_size, cfg.precision)
    selected = evaluate(scores, test.labels, train.classes.keys)
    m = selected if cfg.select == "best" else last
    metrics = {
        **base,
        **{k: m[k] for k in m if k != C.per_class_ap},
        C.map_selected: selected[C.map],
        C.map_last: last[C.map],
        C.best_epoch: best_epoch,
        C.last_epoch: cfg.epochs - 1,
        C.selection: (
            "test split (anchors protocol: optimistic)"
            if cfg.protocol == "anchors"
            else f"held-out {cfg.val_fraction:.0%} of train (partial labels)"
        ),
        C.wall_seconds: time.perf_counter() - t_start,
        C.cache_seconds: cache_seconds,
        C.history: history,
        C.per_class_ap: m[C.per_class_ap],
        C.complete: True,
    }
    atomic_write_json(out / "metrics.json", metrics)
    return FitResult(out, metrics)
