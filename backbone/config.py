"""Which model, which weights, where and how to run it (:class:`BackboneConfig`); the image
transforms (:class:`Preprocess`); the backbone's errors and the command-line flags that address
them (:func:`backbone_hints`). Importing it imports neither torch nor polars (command-line
options use it); :mod:`backbone.devices` holds what needs torch."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Preprocess(StrEnum):
    """``--preprocess``: the image transform (:func:`backbone.dense.image_transform`)."""

    crop = "crop"  # the model's own open_clip eval transform: shortest side, centre crop
    squash = "squash"  # the whole image resized to a square, no crop (the anchors' dense work)


PREPROCESS = tuple(p.value for p in Preprocess)
PRECISION_NAMES = ("fp32", "bf16", "fp16")  # torch dtypes: backbone.devices.PRECISIONS
DEVICES = ("auto", "cpu", "cuda")
ST_PREFIX = "st:"
RANDOM_WEIGHTS_WARNING = (
    "RANDOM WEIGHTS: pretrained='none' — this model was never trained; its numbers mean nothing "
    "about CLIP. Use it only to try the pipeline."
)

Progress = Callable[[int], None]


def random_weights_banner(model_info: dict) -> str | None:
    """The red RANDOM WEIGHTS banner (rich markup) every command prints to stderr when
    ``model_info`` (:meth:`Backbone.info`, or a result row) says ``random_weights``, else None."""
    from corpora.schema import C  # lazily: importing this module stays light

    if not model_info.get(C.random_weights):
        return None
    return f"[bold white on red] WARNING [/] [bold red]{RANDOM_WEIGHTS_WARNING}[/]"


@dataclass(frozen=True)
class BackboneConfig:
    """Which model, which weights, where and how to run it."""

    model: str = "RN101"  # open_clip name | config FILE or folder | "st:NAME_OR_DIR"
    pretrained: str = "openai"  # TAG | FILE | "local-dir:PATH" | "none" (random weights)
    cache_dir: str | None = None
    offline: bool = False  # never download: cached weights or MissingWeightsError
    device: str = "auto"  # auto|cpu|cuda
    precision: str = "fp32"  # fp32|bf16|fp16
    image_size: int | None = None  # input size for dense features; None → the model's own
    # the image transform: "crop" (the model's own open_clip eval transform: shortest side
    # resized, centre crop) | "squash" (the whole image resized to a square, no crop)
    preprocess: str = "squash"
    seed: int = 0  # seeds the random init of pretrained="none"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.precision not in PRECISION_NAMES:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISION_NAMES)}, not {self.precision!r}"
            )
        if self.preprocess not in PREPROCESS:
            raise ValueError(
                f"preprocess must be one of {', '.join(PREPROCESS)}, not {self.preprocess!r}"
            )
        if self.image_size is not None and self.image_size <= 0:
            raise ValueError(f"image_size must be positive, not {self.image_size}")
        if not self.model.strip():
            raise ValueError("model name is empty")


class MissingWeightsError(RuntimeError):
    """The requested weights are not available locally (and may not be downloaded). The message
    names the problem and the ways out, never a command-line flag (the CLI adds those)."""


class MissingTextModelError(MissingWeightsError):
    """A sentence-transformers model (``st:``) that is not available locally."""


class TextOnlyError(RuntimeError):
    """An image or token-level operation was asked of a text-only backend (``st:``)."""


def backbone_hints() -> dict[type[BaseException], str]:
    """The flags that address the backbone's errors (the library's messages name none), for
    :func:`corpora.cli.input_errors`: every command that loads a backbone shows them."""
    return {
        MissingWeightsError: "--pretrained FILE, local-dir:PATH or hf:DIR, --cache-dir, --offline",
        MissingTextModelError: "--model st:FOLDER, --cache-dir, --offline",
    }


class UnknownModelError(ValueError):
    """A model name open_clip does not know: in the CLIs a usage error of ``--model`` (exit 2,
    :func:`corpora.cli.input_errors`); a ``ValueError`` for library callers."""

    option = "model"


def unknown_model(name: str, also: str = "") -> UnknownModelError:
    """The error for a model name open_clip does not know, with the closest of its names and of
    the configs registered here (``RN-101``: did you mean 'RN101'?); ``also``: another way out."""
    import difflib

    import open_clip

    known = {n.casefold(): n for n in open_clip.list_models()}  # (registered configs included)
    near = difflib.get_close_matches(name.casefold(), list(known), n=3, cutoff=0.8)
    guess = f": did you mean {' or '.join(repr(known[n]) for n in near)}?" if near else ""
    ways = "; ".join(["all: open_clip.list_models()", *([also] if also else [])])
    return UnknownModelError(f"unknown open_clip model {name!r}{guess} ({ways})")


# the dense-feature cache (backbone.features) that mlrtrain and negtune share
DEFAULT_FEATURE_CACHE = "~/.cache/notclip/mlr-features"
FEATURE_CACHE_ENV = "NOTCLIP_FEATURE_CACHE"  # overrides DEFAULT_FEATURE_CACHE


def default_feature_cache() -> str:
    """The feature cache directory: ``$NOTCLIP_FEATURE_CACHE``, else DEFAULT_FEATURE_CACHE."""
    return os.environ.get(FEATURE_CACHE_ENV) or DEFAULT_FEATURE_CACHE
