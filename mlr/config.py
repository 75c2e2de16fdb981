"""The configuration of one ``mlrtrain fit`` run: :class:`FitConfig`, made of five option groups.

Each field is named as its command-line option (``cache_dir`` is ``--cache-dir``, ``csc`` is
``--csc/--generic-context``); every value is checked once, when the config is made (a
``ValueError``), so no invalid config exists. The groups, by concern:

- :class:`DataOptions`: which images and labels (dataset, root, classes, the class names in
  prompts, VOC difficult, bad images);
- :class:`ModelOptions`: the frozen backbone and the head trained on it (also ``precision``);
- :class:`ProtocolOptions`: the partial-label protocol (proportion, mask, seed, epoch selection);
- :class:`OptimOptions`: the optimisation (epochs, batches, LR, loss, augmentation, cache use);
- :class:`RuntimeOptions`: where and how a run runs; the only options that never change its
  numbers, so a run may be resumed (or a finished sweep run skipped) with other values of them.

Stand-alone, imports no torch (the CLI's ``--help`` reads it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from backbone.config import DEFAULT_FEATURE_CACHE as DEFAULT_FEATURE_CACHE
from backbone.config import FEATURE_CACHE_ENV as FEATURE_CACHE_ENV
from backbone.config import PREPROCESS
from backbone.config import default_feature_cache as default_feature_cache

METHODS = ("baseline", "dualcoop", "positivecoop", "negativecoop")
# per-method defaults of --weight-decay and --warmup-lr (docs/METHODS.md §1.4)
METHOD_DEFAULTS = {
    "baseline": {"weight_decay": 0.0, "warmup_lr": 5e-3},
    "dualcoop": {"weight_decay": 5e-4, "warmup_lr": 1e-5},
    "positivecoop": {"weight_decay": 0.0, "warmup_lr": 5e-3},
    "negativecoop": {"weight_decay": 0.0, "warmup_lr": 5e-3},
}
LOSSES = ("asl", "bce", "partial-bce")
PROTOCOLS = ("holdout", "anchors")
VOC_DIFFICULT = ("ignore", "negative")
# the class names in prompts: the class list's readable names ("dining table") or the dataset's
# own keys, as the anchors prompt them ("diningtable"; COCO's and NUS-WIDE's are the same)
CLASS_NAMES = ("readable", "anchors")
SELECT = ("best", "last")


DEFAULT_PARTIAL = 0.5
# a sweep's run directories below its --out (mlr.sweep)
DEFAULT_TEMPLATE = "{dataset}/{method}/p{partial:.1f}/seed{seed}"
# a sweep over several backbones: one folder per backbone (model and weights), then the above
BACKBONE_TEMPLATE = "{backbone}/" + DEFAULT_TEMPLATE
PRESETS = Path(__file__).parent / "data" / "presets"  # --config NAME: PRESETS/NAME.json
# run.json / preset keys of earlier versions → today's names (read only, when loading)
LEGACY_KEYS = {
    "model_cache_dir": "cache_dir",
    "class_specific": "csc",
    "use_cache": "cache",
    "augment_online": "augment",
}


def check_partial(p: float) -> bool:
    """True for a known-label proportion in (0, 1]; else a ``ValueError`` (a percentage given by
    mistake, or 0)."""
    if not 0 < p <= 1:
        raise ValueError(f"--partial must be in (0, 1] (the known-label proportion), got {p}")
    return True


def _one_of(value: str, allowed: tuple[str, ...], option: str) -> tuple[bool, str]:
    return value in allowed, f"--{option} must be one of {', '.join(allowed)}"


@dataclass(frozen=True)
class DataOptions:
    """Which images and labels."""

    TITLE: ClassVar[str] = "Data"

    dataset: str = "coco"
    root: str = "."
    classes: str | None = None
    class_names: str = "readable"
    voc_difficult: str = "ignore"
    skip_bad_images: bool = False

    def _checks(self) -> list[tuple[bool, str]]:
        from corpora.multilabel import DATASETS

        return [
            _one_of(self.dataset, DATASETS, "dataset"),
            _one_of(self.class_names, CLASS_NAMES, "class-names"),
            (self.voc_difficult in VOC_DIFFICULT, "--voc-difficult must be ignore or negative"),
        ]


@dataclass(frozen=True)
class ModelOptions:
    """The frozen backbone (``precision``: autocast of the heads) and the head trained on it."""

    TITLE: ClassVar[str] = "Model"

    model: str = "RN101"
    pretrained: str = "openai"
    image_size: int | None = None  # None: the model's native size (the paper preset: 448)
    preprocess: str = "squash"  # the image transform (PREPROCESS)
    precision: str = "fp32"
    method: str = "positivecoop"
    n_ctx: int = 16
    csc: bool = True  # class-specific context (else one generic context)
    residual: bool = True

    def _checks(self) -> list[tuple[bool, str]]:
        return [
            _one_of(self.method, METHODS, "method"),
            _one_of(self.preprocess, PREPROCESS, "preprocess"),
            (self.precision in ("fp32", "bf16", "fp16"), "--precision must be fp32, bf16 or fp16"),
            (self.n_ctx >= 1, "--n-ctx must be >= 1"),
        ]


@dataclass(frozen=True)
class ProtocolOptions:
    """The partial-label protocol and the choice of the reported epoch."""

    TITLE: ClassVar[str] = "Protocol"

    partial: float | None = None  # None: DEFAULT_PARTIAL, or with ``mask`` the mask's own
    mask: str | None = None
    seed: int = 0
    protocol: str = "holdout"
    val_fraction: float = 0.1
    select: str = "best"

    def _checks(self) -> list[tuple[bool, str]]:
        return [
            (self.partial is None or check_partial(self.partial), ""),
            _one_of(self.protocol, PROTOCOLS, "protocol"),
            (0 < self.val_fraction < 1, "--val-fraction must be in (0, 1)"),
            _one_of(self.select, SELECT, "select"),
        ]


@dataclass(frozen=True)
class OptimOptions:
    """The optimisation: schedule, batches, loss, augmentation and how features are fed."""

    TITLE: ClassVar[str] = "Optimisation"

    epochs: int = 50
    batch_size: int = 32
    eval_batch_size: int = 100
    lr: float = 0.002
    loss: str = "asl"
    loss_w: float = 0.03
    weight_decay: float | None = None  # None: the method's default (METHOD_DEFAULTS)
    warmup_lr: float | None = None  # None: the method's default
    cache: bool = True  # False: features computed online every step
    aug_views: int = 0
    augment: bool = True  # without the cache: a fresh augmented view every epoch

    def _checks(self) -> list[tuple[bool, str]]:
        return [
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.eval_batch_size >= 1, "--eval-batch-size must be >= 1"),
            (self.lr > 0, "--lr must be > 0"),
            _one_of(self.loss, LOSSES, "loss"),
            (self.loss_w > 0, "--loss-w must be > 0"),
            (self.aug_views >= 0, "--aug-views must be >= 0"),
            (
                self.cache or self.aug_views == 0,
                "--aug-views K caches K augmented views: it needs --cache (--no-cache, which "
                "--config paper sets, augments a fresh view online every epoch)",
            ),
        ]

    def augmentation(self) -> str:
        """How training images are augmented: ``online`` (a fresh view every epoch, the
        anchors'), ``cached`` (one of ``aug_views`` cached views per epoch) or ``none``."""
        if not self.cache:
            return "online" if self.augment else "none"
        return "cached" if self.aug_views else "none"


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how a run runs; none of these changes its numbers."""

    TITLE: ClassVar[str] = "Runtime"

    out: str = "runs/mlr"
    resume: bool = False
    device: str = "auto"
    cache_dir: str | None = None  # model weights
    offline: bool = False
    feature_cache: str = field(default_factory=default_feature_cache)
    workers: int = 0

    def _checks(self) -> list[tuple[bool, str]]:
        return [(self.workers >= 0, "--workers must be >= 0")]


GROUPS = (DataOptions, ModelOptions, ProtocolOptions, OptimOptions, RuntimeOptions)
FREE = frozenset(f.name for f in fields(RuntimeOptions))  # may differ on resume / sweep skip


@dataclass(frozen=True)
class FitConfig(RuntimeOptions, OptimOptions, ProtocolOptions, ModelOptions, DataOptions):
    """Everything that defines a run (dumped into ``run.json``; ``eval`` rebuilds it from there):
    the fields of the five groups, flat (``cfg.epochs``)."""

    def __post_init__(self) -> None:
        for group in GROUPS:
            for ok, msg in group._checks(self):
                if not ok:
                    raise ValueError(msg)

    def resolved_weight_decay(self) -> float:
        d = METHOD_DEFAULTS[self.method]["weight_decay"]
        return d if self.weight_decay is None else self.weight_decay

    def resolved_warmup_lr(self) -> float:
        d = METHOD_DEFAULTS[self.method]["warmup_lr"]
        return d if self.warmup_lr is None else self.warmup_lr

    def differences(self, other: FitConfig) -> list[str]:
        """The options (other than :data:`FREE`) whose values differ from ``other``'s."""
        return [
            f.name
            for f in fields(FitConfig)
            if f.name not in FREE and getattr(self, f.name) != getattr(other, f.name)
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FitConfig:
        """A config from a ``run.json``'s ``config`` (also of an earlier version: its keys go
        through :data:`LEGACY_KEYS`; keys no longer known are left out)."""
        names = {f.name for f in fields(cls)}
        d = {k: v for k, v in upgrade_keys(d).items() if k in names}
        if d.get("cache") is False:  # earlier versions took --aug-views here and ignored it
            d["aug_views"] = 0
        return cls(**d)


def check_weights(cfg: FitConfig) -> None:
    """Weights that cannot be had (offline, or their host does not answer) are said now, before a
    dataset is read or PyTorch imported (:func:`backbone.weights.preflight`)."""
    from backbone.weights import preflight

    preflight(cfg.model, cfg.pretrained, cfg.cache_dir, offline=cfg.offline)


def upgrade_keys(d: dict) -> dict:
    """``d`` with the keys of earlier versions renamed (:data:`LEGACY_KEYS`)."""
    return {LEGACY_KEYS.get(k, k): v for k, v in d.items()}


def load_preset(spec: str) -> dict:
    """The options of ``--config SPEC``: a preset name (:data:`PRESETS`) or a JSON file of
    FitConfig keys (or a run.json: its ``config``); ``resume`` is dropped. A ``ValueError``
    naming the file for anything else."""
    path = PRESETS / f"{spec}.json" if (PRESETS / f"{spec}.json").is_file() else Path(spec)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in PRESETS.glob("*.json")))
        raise ValueError(f"--config {spec}: neither a preset ({names}) nor a file")
    try:
        preset = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"--config {path}: not a JSON file ({exc})") from exc
    if isinstance(preset.get("config"), dict):  # a run.json
        preset = preset["config"]
    preset = upgrade_keys(preset)
    unknown = sorted(set(preset) - {f.name for f in fields(FitConfig)})
    if unknown:
        raise ValueError(f"--config {path}: unknown option(s) {', '.join(unknown)}")
    preset.pop("resume", None)
    return preset


def make_config(
    given: dict[str, Any], preset: str | None = None, required: tuple[str, ...] = ()
) -> FitConfig:
    """The defaults < the ``preset`` (:func:`load_preset`) < ``given`` (options given, None for
    those not given); each of ``required`` must come from the preset or ``given``."""
    options = {} if preset is None else load_preset(preset)
    options |= {k: v for k, v in given.items() if v is not None}
    for name in required:
        if options.get(name) is None:
            raise ValueError(f"--{name} is required (on the command line or in --config)")
    return FitConfig(**options)
