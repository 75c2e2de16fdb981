"""``negtune``'s options as one config (:class:`TuneConfig`), checked as a whole, and what a
resumed run must share with the run it continues."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from backbone.config import PREPROCESS, default_feature_cache
from negation.negbench.families import TRAINING, load_families
from negation.negbench.questions import parse_tasks
from negation.negtune.data import NEGATIONS
from negation.negtune.towers import parse_train

DEFAULT_TEMPLATES = TRAINING  # training captions; evaluation: negbench's own
# options that do not change what a run computes (a resumed run may change them)
RUNTIME = ("device", "resume", "workers", "feature_cache", "cache_dir", "offline")


@dataclass(frozen=True)
class TuneConfig:
    dataset: str
    root: str
    out: str
    classes: str | None = None
    voc_difficult: str = "ignore"
    skip_bad_images: bool = False
    model: str = "ViT-B-32"
    pretrained: str = "openai"
    cache_dir: str | None = None
    offline: bool = False
    device: str = "auto"
    preprocess: str = "crop"
    train: str = "text"
    negations: str = "labels"
    templates: str = DEFAULT_TEMPLATES
    captions: str | None = None
    epochs: int = 5
    lr: float = 1e-5
    batch_size: int = 128
    weight_decay: float = 0.1
    warmup_steps: int | None = None  # None: 10 % of the steps
    clip_weight: float = 1.0
    hard_negative_weight: float = 1.0
    seed: int = 0
    resume: bool = False
    feature_cache: str | None = None  # None: mlrtrain's feature cache directory
    cache: bool = True
    workers: int = 0
    eval: bool = True
    eval_tasks: str = "mcq,existence,retrieval"
    eval_templates: str = "negbench"
    eval_max_images: int | None = None
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        parse_train(self.train)
        load_families(self.templates)
        load_families(self.eval_templates)
        parse_tasks(self.eval_tasks)
        checks = {
            "--negations": (self.negations in NEGATIONS, "use labels or none"),
            "--preprocess": (self.preprocess in PREPROCESS, f"use {' or '.join(PREPROCESS)}"),
            "--epochs": (self.epochs >= 1, "must be at least 1"),
            "--lr": (self.lr > 0, "must be positive"),
            "--batch-size": (self.batch_size >= 2, "must be at least 2 (a contrastive batch)"),
            "--weight-decay": (self.weight_decay >= 0, "must not be negative"),
            "--warmup-steps": ((self.warmup_steps or 0) >= 0, "must not be negative"),
            "--clip-weight": (self.clip_weight >= 0, "must not be negative"),
            "--hard-negative-weight": (self.hard_negative_weight >= 0, "must not be negative"),
            "--eval-max-images": ((self.eval_max_images or 1) >= 1, "must be at least 1"),
            "--bootstrap": (self.bootstrap >= 0, "must not be negative"),
        }
        for option, (ok, why) in checks.items():
            if not ok:
                raise ValueError(f"{option}: {why}")
        if self.clip_weight == 0 and self.hard_negative_weight == 0:
            raise ValueError(
                "--clip-weight and --hard-negative-weight are both 0: nothing to train"
            )

    @property
    def cache_root(self) -> str | None:
        """Where frozen image embeddings are cached (None: not cached)."""
        return (self.feature_cache or default_feature_cache()) if self.cache else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, old: dict[str, Any]) -> list[str]:
        """Options (not :data:`RUNTIME`) whose value differs from ``old`` (a run.json config)."""
        names = [f.name for f in fields(self) if f.name not in RUNTIME]
        mine = self.to_dict()
        return [f"--{n.replace('_', '-')}" for n in names if old.get(n) != mine[n]]
