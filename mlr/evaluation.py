"""``mlrtrain eval``: a finished run's checkpoint evaluated again on its test split
(:func:`evaluate_run`, written to ``eval.json``), with the scores of :func:`mlr.train.predict`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from backbone import weights_id
from backbone.runstate import load_checkpoint, load_params
from corpora.runio import atomic_write_json
from corpora.schema import C
from mlr.config import FitConfig
from mlr.inputs import Reporter, feature_sources, head_for, load_backbone_for, load_splits
from mlr.metrics import evaluate
from mlr.train import predict


def evaluate_run(
    run_dir: Path,
    checkpoint: str = "best",
    device: str | None = None,
    reporter: Reporter | None = None,
) -> dict:
    """Re-evaluate a run's checkpoint on its test split (writes ``eval.json`` in the run dir)."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not an mlrtrain run directory (no run.json)")
    info = json.loads((run_dir / "run.json").read_text("utf-8"))
    cfg = FitConfig.from_dict(info["config"])
    if device:
        cfg = replace(cfg, device=device)
    ck_path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    if not ck_path.is_file():
        raise FileNotFoundError(f"no checkpoint {ck_path}")
    ck = load_checkpoint(ck_path)  # a damaged file fails before minutes of feature extraction
    rep = reporter or Reporter()
    train, test = load_splits(cfg, weights=True)
    backbone = load_backbone_for(cfg)
    if backbone.random_weights:
        rep.random_weights(backbone.info())
    _, test_src = feature_sources(cfg, backbone, train, test, rep, need_aug=False)
    head = head_for(cfg, backbone, train.classes)
    load_params(head, ck, ck_path, f"the run's {cfg.method} head ({cfg.model})")
    scores = predict(head, test_src, np.arange(len(test)), cfg.eval_batch_size, cfg.precision)
    m = evaluate(scores, test.labels, train.classes.keys)
    out = {
        C.run_dir: str(run_dir),
        "checkpoint": checkpoint,
        "epoch": int(ck["epoch"]),
        C.dataset: cfg.dataset,
        C.method: cfg.method,
        C.model: cfg.model,
        C.pretrained: cfg.pretrained,
        C.image_size: backbone.image_size,
        C.preprocess: cfg.preprocess,
        C.weights_id: weights_id(backbone),
        C.random_weights: backbone.random_weights,
        C.protocol: cfg.protocol,
        **m,
    }
    atomic_write_json(run_dir / "eval.json", out)
    return out
