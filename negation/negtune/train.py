"""The training loop of ``negtune``: AdamW, linear warm-up then cosine decay per step, a
checkpoint after every epoch (resumable after a kill), and the NaN / divergence guard of
``mlrtrain fit``.

- Order: images are shuffled per epoch by ``(seed, epoch)``; their captions are drawn by
  ``(seed, epoch, image)`` (:class:`negation.negtune.data.CaptionBuilder`), so a resumed run draws
  what the uninterrupted one would have.
- Optimiser: AdamW; weight decay on weight matrices only (not on gains, biases, embeddings'
  positions or the temperature: open_clip's own rule). LR: linear warm-up from 0 over
  ``warmup_steps`` (default 10 % of the steps), then ``½(1 + cos(π·t))`` decay to 0 over the rest.
  The temperature ``logit_scale`` is clamped to ``[0, ln 100]`` after each step, as CLIP's
  training does.
- Checkpoints: ``checkpoints/last.pt`` (epoch, the trained tensors, optimiser state, history,
  wall time), written atomically, the one it replaces kept as ``prev.pt``
  (:mod:`backbone.runstate`).
- Guard: a non-finite loss, or trained weights whose L2 norm is non-finite or above
  :data:`backbone.training.DIVERGED_NORM_RATIO` × max(1, their norm at the start) after a step,
  stops the run with :class:`backbone.training.TrainingDiverged` (the last good checkpoint stays).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from backbone.features import image_batches
from backbone.runstate import atomic_torch_save, resume_checkpoint
from backbone.training import DIVERGED_NORM_RATIO, Reporter, TrainingDiverged
from negation.negtune.config import TuneConfig
from negation.negtune.data import CaptionBuilder
from negation.negtune.objective import objective
from negation.negtune.towers import TrainMode, select_trainable, set_train_mode

MAX_LOGIT_SCALE = math.log(100.0)
WARMUP_SHARE = 0.1


@dataclass
class Trained:
    history: list[dict[str, Any]]
    wall_seconds: float
    steps: int


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps (step 0 at ``base / warmup``), then cosine to 0."""
    if step < warmup:
        return base * (step + 1) / warmup
    rest = max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / rest))


def encode_captions(backbone, texts: list[str]) -> torch.Tensor:
    """Normalised text features of ``texts``, with gradients: the EOT-truncated text tower
    (:func:`backbone.text.encode_token_embeddings`, exact under the causal mask)."""
    tokens = backbone.tokenize(texts).to(backbone.device)
    feats = backbone.encode_token_embeddings(
        backbone.token_embedding(tokens), backbone.eot_index(tokens)
    )
    return F.normalize(feats, dim=-1)


def _decays(name: str, p: torch.nn.Parameter) -> bool:
    return p.ndim >= 2 and not any(k in name for k in ("bn", "ln", "bias", "logit_scale"))


def _norm(params: list[torch.nn.Parameter]) -> float:
    return math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in params))


def saved_state(model, mode: TrainMode) -> dict[str, torch.Tensor]:
    """What a checkpoint holds: everything with ``all`` (batch-norm statistics included), else
    the trained tensors."""
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    return {
        k: v.detach().cpu()
        for k, v in model.state_dict().items()
        if mode.image_tower or k in trained
    }


def load_state(model, state: dict[str, torch.Tensor], path: Path) -> None:
    from backbone.runstate import CheckpointError

    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: its tensors do not fit this model ({err})") from None
    if result.unexpected_keys:
        raise CheckpointError(
            f"{path}: not a checkpoint of this model ({result.unexpected_keys[0]} is not one of "
            "its tensors)"
        )


def _diverged(ckpt_dir: Path, what: str) -> TrainingDiverged:
    last = ckpt_dir / "last.pt"
    return TrainingDiverged(
        f"{what}; stopped. The last good checkpoint is "
        f"{last if last.exists() else '(none yet)'}; try a lower --lr"
    )


def train(
    cfg: TuneConfig,
    backbone,
    split,
    mode: TrainMode,
    captions: CaptionBuilder,
    out: Path,
    reporter: Reporter,
    embeddings: np.ndarray | None,
) -> Trained:
    """Train ``backbone.model`` in place on ``split`` (``embeddings``: the frozen image tower's,
    for the text modes) and return the history; resumes from ``out/checkpoints`` when
    ``cfg.resume``."""
    model, device = backbone.model, backbone.device
    params = select_trainable(model, mode)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if _decays(n, p)], "weight_decay": cfg.weight_decay},
            {"params": [p for n, p in named if not _decays(n, p)], "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    n = len(split)
    per_epoch = math.ceil(n / cfg.batch_size)
    total = per_epoch * cfg.epochs
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else round(WARMUP_SHARE * total)
    ckpt_dir = out / "checkpoints"
    start, history, elapsed = 0, [], 0.0
    resumed = resume_checkpoint(ckpt_dir) if cfg.resume else None
    if resumed is not None:
        path, ck = resumed
        load_state(model, ck["params"], path)
        opt.load_state_dict(ck["optimizer"])
        start, history = int(ck["epoch"]) + 1, list(ck["history"])
        elapsed = float(ck.get("wall_seconds", 0.0))
        reporter.message(f"resuming after epoch {start}")
    limit = DIVERGED_NORM_RATIO * max(1.0, _norm(params))
    t_start = time.perf_counter() - elapsed
    feats = None if embeddings is None else torch.from_numpy(embeddings).to(device)
    for epoch in range(start, cfg.epochs):
        set_train_mode(model, mode)
        order = np.random.default_rng([cfg.seed, 2, epoch]).permutation(n)
        reporter.task(f"epoch {epoch + 1}/{cfg.epochs}", per_epoch)
        t0, sums, n_img = (
            time.perf_counter(),
            {"loss": 0.0, "contrastive": 0.0, "hard_negative": 0.0},
            0,
        )
        for b, s in enumerate(range(0, n, cfg.batch_size)):
            step = epoch * per_epoch + b
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, cfg.lr, warmup)
            idx = order[s : s + cfg.batch_size]
            batch = captions.batch(idx, epoch)
            text = encode_captions(backbone, batch.texts)
            if feats is not None:
                image = feats[torch.from_numpy(idx).to(device)]
            else:
                x = next(
                    image_batches(
                        backbone,
                        split,
                        idx,
                        [0] * len(idx),
                        backbone.image_size,
                        cfg.seed,
                        len(idx),
                        cfg.workers,
                    )
                )
                image = F.normalize(model.encode_image(x.to(device)), dim=-1)
            loss, parts = objective(
                image,
                text,
                torch.from_numpy(batch.true).to(device),
                torch.from_numpy(batch.options).to(device),
                torch.from_numpy(batch.truth).to(device),
                model.logit_scale.exp(),
                clip_weight=cfg.clip_weight,
                hard_negative_weight=cfg.hard_negative_weight,
            )
            at = f"at epoch {epoch + 1}, step {b + 1} of {per_epoch}"
            if not torch.isfinite(loss):
                raise _diverged(ckpt_dir, f"the loss became {loss.item()} {at}")
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:  # a batch with no usable caption has nothing to learn
                loss.backward()
                opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            norm = _norm(params)
            if not norm <= limit:  # also NaN
                raise _diverged(
                    ckpt_dir,
                    f"the trained weights' norm became {norm:.3g} {at} (limit "
                    f"{DIVERGED_NORM_RATIO:g} × max(1, its initial norm) = {limit:.3g})",
                )
            sums["loss"] += float(loss.detach()) * len(idx)
            for k, v in parts.items():
                sums[k] += v * len(idx)
            n_img += len(idx)
            dt = time.perf_counter() - t0
            reporter.advance(1, loss=sums["loss"] / n_img, img_s=n_img / dt if dt > 0 else 0.0)
        reporter.done()
        record = {
            "epoch": epoch,
            **{k: v / max(1, n_img) for k, v in sums.items()},
            "lr": opt.param_groups[0]["lr"],
            "logit_scale": float(model.logit_scale.detach().exp()),
            "seconds": time.perf_counter() - t0,
        }
        history.append(record)
        atomic_torch_save(
            {
                "epoch": epoch,
                "params": saved_state(model, mode),
                "optimizer": opt.state_dict(),
                "history": history,
                "wall_seconds": time.perf_counter() - t_start,
            },
            ckpt_dir / "last.pt",
            keep_previous=ckpt_dir / "prev.pt",
        )
        reporter.message(
            f"epoch {epoch + 1}: loss {record['loss']:.4f} (contrastive "
            f"{record['contrastive']:.4f}, hard negatives {record['hard_negative']:.4f})"
        )
    model.eval()
    return Trained(history, time.perf_counter() - t_start, total)
