"""What mlrtrain's commands share: the error policy (:func:`run_errors`) and the options of one
run, declared once: one option per
:class:`mlr.config.FitConfig` field, named as the field (``cache_dir`` ↔ ``--cache-dir``).

:func:`run_options` adds them to a command (``fit``, ``sweep``, ``cache``), so ``sweep --help``
lists every option a run accepts. Their defaults are None (not given) and the config's own
defaults are shown in ``--help``: :func:`mlr.config.make_config` layers defaults < ``--config``
preset < the options given.
"""

from __future__ import annotations

import copy
import functools
import inspect
import typing
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from backbone.config import UnknownModelError, backbone_hints
from corpora import cli as dialect
from mlr.config import (
    DEFAULT_FEATURE_CACHE,
    FEATURE_CACHE_ENV,
    GROUPS,
    METHODS,
    FitConfig,
    make_config,
)

# field → the dialect's option (declared once for every command) or (extra flags, help)
_DIALECT = {
    "model": dialect.ModelOpt,
    "pretrained": dialect.PretrainedOpt,
    "cache_dir": dialect.CacheDirOpt,
    "offline": dialect.OfflineOpt,
    "device": dialect.DeviceOpt,
    "precision": dialect.PrecisionOpt,
    "classes": dialect.DataClassesOpt,
    "seed": Annotated[
        int,
        dialect.seed_param(
            "the mask, the held-out split, the head's init, the batch order, the augmentation "
            "and the random backbone of --pretrained none"
        ),
    ],
    "out": dialect.OutOpt,
}
_OWN: dict[str, tuple[tuple[str, ...], str]] = {
    "dataset": ((), "coco | voc | nuswide | generic | hf (layouts: see README)."),
    "root": ((), "Dataset root directory."),
    "class_names": (
        (),
        "Class names in prompts: readable ('dining table', 'potted plant', 'tv monitor') | "
        "anchors (the dataset's keys, as the anchors' VOC loader: 'diningtable', "
        "'pottedplant', 'tvmonitor'; COCO's names are the same either way).",
    ),
    "voc_difficult": (
        (),
        "VOC difficult-only classes: ignore (official) | negative (the anchors).",
    ),
    "skip_bad_images": ((), "Leave out unreadable images (recorded in run.json)."),
    "image_size": (
        (),
        "Square input size; default the model's own (RN101: 224 → 7×7+1 regions). The paper "
        "uses 448 (14×14+1): --config paper.",
    ),
    "preprocess": (
        (),
        "Image transform: squash = the whole image resized to a square, no crop (the anchors' "
        "dense features) | crop = the model's own open_clip eval transform (shortest side "
        "resized, centre crop). Cached features of the two are kept apart.",
    ),
    "precision": ((), "fp32 | bf16 | fp16 (autocast for the heads; fp16 with loss scaling)."),
    "method": ((), " | ".join(METHODS) + "."),
    "n_ctx": ((), "Context tokens per prompt."),
    "csc": (("--csc/--generic-context",), "Class-specific context."),
    "residual": (
        ("--residual/--no-residual",),
        "Positive/NegativeCoOp: learned residual on the prompt feature (as the anchors' code).",
    ),
    "partial": (
        (),
        "Known-label proportion p (1 = all labels); default 0.5, or with --mask the mask's own "
        "(a --partial that the mask does not match is refused).",
    ),
    "mask": ((), "Reuse a saved (N_train, C) keep-mask .npy."),
    "protocol": (
        (),
        "holdout: a held-out part of train picks the epoch, test touched once | anchors: "
        "test-as-validation.",
    ),
    "val_fraction": ((), "Held-out fraction of the training split."),
    "select": (
        (),
        "Headline test mAP: best (the epoch chosen on the held-out split) | last (the last "
        "epoch); metrics.json holds both.",
    ),
    "epochs": ((), "Epochs, the first one a constant-LR warm-up."),
    "batch_size": ((), "Training batch size."),
    "eval_batch_size": ((), "Evaluation / feature batch size."),
    "lr": ((), "Base LR (per-method multipliers apply)."),
    "loss": ((), "asl | bce | partial-bce."),
    "loss_w": ((), "Weight on the sum-reduced loss."),
    "weight_decay": ((), "Default: 5e-4 DualCoOp, 0 others."),
    "warmup_lr": ((), "Default: 1e-5 DualCoOp, 5e-3 others."),
    "cache": (
        ("--cache/--no-cache",),
        "Use (and build) the feature cache (fast: clean features, or --aug-views K cached "
        "augmented views); --no-cache computes features online every step, with --augment a "
        "fresh augmentation each epoch as the anchors (slow; what --config paper sets).",
    ),
    "aug_views": ((), "Cached augmented views per training image (0: clean only)."),
    "augment": (
        ("--augment/--no-augment",),
        "With --no-cache: a fresh CutoutPIL + RandAugment view every epoch (the anchors).",
    ),
    "out": ((), "Run directory (run.json, metrics.json, mask.npy, checkpoints/)."),
    "resume": ((), "Continue a killed run in --out."),
    "feature_cache": ((), f"Feature cache directory (env {FEATURE_CACHE_ENV})."),
    "workers": ((), "Image decoding/augmentation threads (0: in the main thread)."),
}
PRESET_HELP = (
    "Preset of fit options: 'paper' (the anchors' recipe: RN101, openai weights, 448 px, 50 "
    "epochs, online augmentation every epoch, their VOC class names, …; --cache trains on "
    "cached clean features instead), or a JSON file (FitConfig keys, or a run.json: its "
    "'config' is used); options given on the command line override it."
)
_TYPES = typing.get_type_hints(FitConfig)
# --help shows the options of a run by group (mlr.config's option groups)
PANELS = {f.name: f"{group.TITLE} options" for group in GROUPS for f in fields(group)}


def _default(name: str) -> Any:
    f = next(f for f in fields(FitConfig) if f.name == name)
    return DEFAULT_FEATURE_CACHE if f.default is MISSING else f.default


def _option(name: str, *, hidden: bool = False) -> inspect.Parameter:
    """``--name`` as a keyword parameter whose default None means 'not given'."""
    decls, help_ = _OWN.get(name, ((), ""))
    flags = decls or ("--" + name.replace("_", "-"),)
    if name in _DIALECT:
        base, info = typing.get_args(_DIALECT[name])
        info = copy.copy(info)
        info.help = help_ or info.help  # what the option means for a run
    else:
        base, info = _TYPES[name], typer.Option(*flags, help=help_)
    default = _default(name)
    if isinstance(default, bool):  # the flag in effect when none is given
        info.show_default = default and flags[0].split("/")[0].lstrip("-")
    elif default is not None and name not in ("root", "out"):  # those two are required
        info.show_default = str(default)
    info.hidden = hidden
    info.rich_help_panel = PANELS[name]
    ann = Annotated[base | None, info]  # type: ignore[valid-type]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)


def run_options(
    *,
    exclude: tuple[str, ...] = (),
    only: tuple[str, ...] | None = None,
    owned: tuple[str, ...] = (),
    preset: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the run's options to a typer command: the command receives ``options`` (the options
    given, by field name) and, with ``preset``, ``config`` (``--config``). ``owned``: options the
    command sets itself (hidden; giving one is a usage error)."""
    names = [f.name for f in fields(FitConfig) if only is None or f.name in only]
    names = [n for n in names if n not in exclude and n not in owned]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p
            for p in inspect.signature(command, eval_str=True).parameters.values()
            if p.name not in ("options", "config")
        ]
        extra = [_option(n) for n in names] + [_option(n, hidden=True) for n in owned]
        if preset:
            extra.append(
                inspect.Parameter(
                    "config",
                    inspect.Parameter.KEYWORD_ONLY,
                    default=None,
                    annotation=Annotated[str | None, typer.Option("--config", help=PRESET_HELP)],
                )
            )

        @functools.wraps(command)
        def wrapper(**kw: Any) -> Any:
            given = [n for n in owned if kw.pop(n) is not None]
            if given:
                raise typer.BadParameter(
                    "is set by the sweep itself (use --methods, --partial, --seeds, --out)",
                    param_hint="--" + given[0].replace("_", "-"),
                )
            options = {n: kw.pop(n) for n in names}
            options = {n: str(v) if isinstance(v, Path) else v for n, v in options.items()}
            return command(**kw, options=options)

        wrapper.__signature__ = inspect.Signature(own + extra)  # type: ignore[attr-defined]
        return wrapper

    return decorate


def config_from(
    options: dict[str, Any], preset: str | None = None, required: tuple[str, ...] = ("root", "out")
) -> FitConfig:
    """The run's validated config (a bad value or preset → a usage error, exit 2); each of
    ``required`` must come from the command line or the preset."""
    try:
        return make_config(options, preset, required)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def run_errors() -> AbstractContextManager[None]:
    """mlrtrain's error policy (:func:`corpora.cli.input_errors`): bad input, a missing weights
    file, a text-only model and a diverged run are one line (the backbone's errors followed by the
    flags that address them); an unknown --model is a usage error; anything else keeps its
    traceback."""
    from backbone import TextOnlyError
    from backbone.training import TrainingDiverged

    return dialect.input_errors(
        TrainingDiverged, TextOnlyError, hints=backbone_hints(), usage=(UnknownModelError,)
    )
