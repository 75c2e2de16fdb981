"""The open_clip model: building it (QuickGELU, TorchScript checkpoints),
freezing it, and :class:`Backbone`, the frozen model with the operations notclip needs.

QuickGELU follows the tag's pretrained config (OpenAI and LAION-400M weights need it); open_clip's
QuickGELU-mismatch warning is turned into an error, and the activation actually built is recorded
in :meth:`Backbone.info`. Which model ``--model`` names is :mod:`backbone.modelspec`'s. The
model is always in eval mode with every parameter frozen
(``requires_grad=False``). Text encoding is :mod:`backbone.text`'s, dense features
:mod:`backbone.dense`'s.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from backbone import dense, text
from backbone.checkpoints import wrapped_state_dict
from backbone.config import RANDOM_WEIGHTS_WARNING, BackboneConfig, Progress, unknown_model
from backbone.devices import PRECISIONS, resolve_device
from backbone.hf import load_hf_weights
from backbone.identity import Weights, content_identity
from backbone.modelspec import ModelSpec, resolve_model
from backbone.text import TextEncoder
from backbone.weights import (
    LOCAL_DIR_PREFIX,
    hub_offline,
    is_torchscript,
    resolve_weights,
    unusable_weights,
)
from corpora.schema import C

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _load_torchscript_weights(model: torch.nn.Module, path: str) -> None:
    """Copy the weights of an OpenAI TorchScript checkpoint into ``model`` (same architecture)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated")
        state = torch.jit.load(path, map_location="cpu").state_dict()
    for key in ("input_resolution", "context_length", "vocab_size", "attn_mask"):
        state.pop(key, None)  # metadata, and a buffer open_clip does not save
    model.load_state_dict(state, strict=True)


@contextlib.contextmanager
def _copied_in(*, copied: bool) -> Iterator[None]:
    """When ``copied``, drop open_clip's "No pretrained weights loaded … initialized randomly"
    log line: untrue of a model whose weights are copied in after building (TorchScript, hf:)."""
    root = logging.getLogger()  # where open_clip logs

    def keep(record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()

    if copied:
        root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def load_clip(cfg: BackboneConfig) -> Backbone:
    """Build the frozen open_clip backbone described by ``cfg`` (see :mod:`backbone`)."""
    import open_clip
    from open_clip.transformer import QuickGELU

    device = resolve_device(cfg.device)
    spec = resolve_model(cfg.model)
    model_name = spec.name
    model_cfg = open_clip.get_model_config(model_name)
    if model_cfg is None:  # before the weights: a misspelt name is not a weights problem
        raise unknown_model(model_name, "or st:NAME_OR_DIR, a sentence-transformers text encoder")
    weights = resolve_weights(cfg.pretrained, model_name, cfg.cache_dir, offline=cfg.offline)

    force_quick_gelu = False
    # OpenAI's TorchScript checkpoints (their URL downloads, `clip.load`'s ~/.cache/clip/*.pt):
    # open_clip cannot read them with weights_only=True, so their weights are copied in after
    # building; every OpenAI CLIP was trained with QuickGELU.
    torchscript = weights.kind in ("tag", "file") and is_torchscript(weights.path)
    # a {"model": state_dict, …} training checkpoint (CoN-CLIP's): open_clip does not unwrap it
    wrapped = None if weights.kind != "file" or torchscript else wrapped_state_dict(weights.path)
    converted = torchscript or weights.kind == "hf" or wrapped is not None  # copied in after
    if weights.kind == "local-dir":  # the export's own config (it matches model_cfg)
        create_name, create_pretrained = f"{LOCAL_DIR_PREFIX}{weights.path}", None
    else:
        create_name = model_name
        create_pretrained = None if converted else weights.path
        if torchscript:
            force_quick_gelu = not model_cfg.get("quick_gelu", False)
        if weights.kind in ("tag", "hf"):  # an hf folder's quick_gelu is its hidden_act's
            tag_qg = bool(weights.tag_cfg.get("quick_gelu", False))
            model_qg = bool(model_cfg.get("quick_gelu", False))
            if model_qg and not tag_qg:
                raise ValueError(
                    f"model {model_name!r} uses QuickGELU but the weights {cfg.pretrained!r} were "
                    "trained with GELU; use the model name without '-quickgelu'"
                )
            force_quick_gelu = tag_qg and not model_qg

    def create() -> torch.nn.Module:
        with (
            warnings.catch_warnings(),
            hub_offline(offline=cfg.offline),
            _copied_in(copied=converted),
        ):
            warnings.filterwarnings("error", message=".*QuickGELU mismatch.*")
            return open_clip.create_model(
                create_name,
                pretrained=create_pretrained,
                precision=cfg.precision,
                device=device,
                force_quick_gelu=force_quick_gelu,
                cache_dir=cfg.cache_dir,
                require_pretrained=weights.kind != "none" and not converted,
                weights_only=True,
            )

    try:
        if weights.kind == "none":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                model = create()
        else:
            model = create()
            if torchscript:
                _load_torchscript_weights(model, str(weights.path))
            elif weights.kind == "hf":
                load_hf_weights(model, weights)
            elif wrapped is not None:
                model.load_state_dict(wrapped, strict=True)
    except UserWarning as warning:  # open_clip's QuickGELU mismatch, turned into an error
        raise ValueError(str(warning)) from None
    except Exception as err:
        problem = (
            None
            if weights.kind == "none"
            else unusable_weights(err, weights, model_name, torchscript=torchscript)
        )
        if problem is None:
            raise
        raise problem from err

    if not isinstance(model, open_clip.CLIP) or getattr(model, "text_pool_type", "") != "argmax":
        raise ValueError(
            f"{model_name!r}: notclip's backbone supports open_clip CLIP models with a CLIP-BPE "
            "text tower pooled at the EOT token (argmax); this model is "
            f"{type(model).__name__} with text pooling {getattr(model, 'text_pool_type', '?')!r}"
        )
    model.eval()
    model.requires_grad_(False)
    quick_gelu = any(isinstance(m, QuickGELU) for m in model.modules())
    if weights.kind in ("tag", "hf") and quick_gelu != bool(weights.tag_cfg.get("quick_gelu")):
        raise RuntimeError(f"QuickGELU mismatch for {model_name!r} with {cfg.pretrained!r}")
    preprocess = getattr(model.visual, "preprocess_cfg", {}) or {}
    exported = spec.preprocess or {}
    # the weights' own preprocessing first (a tag's, an export's), then the model's
    sources = (weights.tag_cfg, exported, preprocess)

    def pick(key: str, default: Any) -> Any:
        return next((s[key] for s in sources if s.get(key)), default)

    mean, std = tuple(pick("mean", OPENAI_MEAN)), tuple(pick("std", OPENAI_STD))
    with hub_offline(offline=cfg.offline):
        tokenizer = open_clip.get_tokenizer(create_name)
    weights_id, files = content_identity(weights, model_cfg, quick_gelu=quick_gelu, seed=cfg.seed)
    return Backbone(
        config=cfg,
        spec=spec,
        model=model,
        tokenizer=tokenizer,
        device=device,
        weights=weights,
        weights_id=weights_id,
        weights_files=files,
        quick_gelu=quick_gelu,
        mean=mean,
        std=std,
        interpolation=str(pick("interpolation", "bicubic")),
        resize_mode=str(pick("resize_mode", "shortest")),
    )


class Backbone(TextEncoder):
    """A frozen open_clip CLIP model with the operations notclip needs."""

    def __init__(
        self,
        *,
        config: BackboneConfig,
        spec: ModelSpec,
        model: Any,  # an open_clip CLIP (torch types its towers' attributes loosely)
        tokenizer: Any,
        device: torch.device,
        weights: Weights,
        weights_id: str,
        weights_files: list[dict[str, Any]],
        quick_gelu: bool,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        interpolation: str = "bicubic",  # of the model's own eval transform (open_clip's)
        resize_mode: str = "shortest",
    ):
        self.config = config
        self.spec = spec
        self.model = model
        self.device = device
        self.dtype = PRECISIONS[config.precision]
        self._tokenizer = tokenizer
        self._weights = weights
        self.weights_id = weights_id  # content identity of the weights (see the module docstring)
        self.weights_files = weights_files
        self.random_weights = weights.kind == "none"
        self.quick_gelu = quick_gelu
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.interpolation, self.resize_mode = interpolation, resize_mode
        self.embed_dim = int(self.model.text_projection.shape[1])
        self.text_width = int(self.model.token_embedding.weight.shape[1])
        self.context_length = int(self.model.positional_embedding.shape[0])
        native = self.model.visual.image_size
        self.native_image_size = int(native[0] if isinstance(native, tuple | list) else native)
        self.image_size = int(config.image_size or self.native_image_size)
        self._pos_cache: dict[tuple[int, int], torch.Tensor] = {}

    # ---- description -------------------------------------------------------------------------
    def cache_namespace(self) -> str:
        return f"open_clip|{self.spec.name}|{self.weights_id}|{self.config.precision}"

    def info(self) -> dict[str, Any]:
        """The ``model`` section of ``run.json``."""
        out = {
            "backend": "open_clip",
            "name": self.spec.name,  # a config file's: <stem>-<content hash>
            "config_file": self.spec.config_file,
            "config_sha256": self.spec.config_sha256,
            C.pretrained: self.config.pretrained,
            "weights": self._weights.kind,
            "checkpoint": self._weights.path,
            C.weights_id: self.weights_id,
            "weights_files": self.weights_files,
            C.random_weights: self.random_weights,
            "seed": self.config.seed if self.random_weights else None,
            "quick_gelu": self.quick_gelu,
            "precision": self.config.precision,
            C.device: str(self.device),
            "embed_dim": self.embed_dim,
            "text_width": self.text_width,
            "context_length": self.context_length,
            "visual": type(self.model.visual).__name__,
            "native_image_size": self.native_image_size,
            C.preprocessing: self.preprocessing(),
            "config": asdict(self.config),
        }
        if self.random_weights:
            out[C.warning] = RANDOM_WEIGHTS_WARNING
        return out

    # ---- text --------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str] | str) -> torch.Tensor:
        """CLIP-BPE token ids ``[N, context_length]`` (long, CPU)."""
        if isinstance(texts, str):
            texts = [texts]
        return self._tokenizer(list(texts)).long()

    @staticmethod
    def eot_index(tokens: torch.Tensor) -> torch.Tensor:
        """Position of the EOT token in each row: the argmax of the ids (CLIP BPE)."""
        return text.eot_index(tokens)

    def token_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """Word embeddings ``[N, T, W]`` of ``tokens`` (on the backbone's device)."""
        return self.model.token_embedding(tokens.to(self.device))

    def encode_token_embeddings(
        self, embeddings: torch.Tensor, eot_index: torch.Tensor
    ) -> torch.Tensor:
        """Text features ``[N, D]`` from word embeddings (CoOp path; NOT normalised): see
        :func:`backbone.text.encode_token_embeddings`."""
        return text.encode_token_embeddings(self.model, embeddings, eot_index)

    def _encode_uncached(
        self, texts: list[str], batch_size: int, *, truncate: bool, progress: Progress | None
    ) -> np.ndarray:
        tokens = self.tokenize(texts)
        return text.encode_tokens(
            self.model,
            tokens,
            self.embed_dim,
            self.device,
            batch_size,
            truncate=truncate,
            progress=progress,
        )

    # ---- images ------------------------------------------------------------------------------
    def image_transform(
        self, image_size: int | None = None, preprocess: str | None = None
    ) -> Callable[[Any], torch.Tensor]:
        """Eval transform for PIL images at ``image_size`` (default the backbone's): RGB,
        ``preprocess`` (default the backbone's ``config.preprocess``: ``squash``, a square resize
        with no crop, or ``crop``, the model's own open_clip eval transform; see
        :func:`backbone.dense.image_transform`), ToTensor, Normalize(mean, std)."""
        return self._transform(image_size, preprocess, self.mean, self.std)

    def with_preprocess(self, preprocess: str) -> Backbone:
        """This backbone (the same model, shared) with ``preprocess`` as its image transform: what
        a runner whose config names the transform scores with (``info()`` then says so)."""
        if preprocess == self.config.preprocess:
            return self
        other = copy.copy(self)
        other.config = replace(self.config, preprocess=preprocess)  # checked there
        return other

    def view_image(self, image: Any, image_size: int | None = None, preprocess: str | None = None):
        """The PIL image as :meth:`image_transform` feeds it to the model (resized and cropped,
        not normalised)."""
        transform = self._transform(image_size, preprocess, (0.0,) * 3, (1.0,) * 3)
        return dense.view_image(image, transform)

    def _transform(
        self, image_size: int | None, preprocess: str | None, mean: tuple, std: tuple
    ) -> Callable[[Any], torch.Tensor]:
        size, mode = int(image_size or self.image_size), preprocess or self.config.preprocess
        return dense.image_transform(size, mean, std, mode, self.interpolation, self.resize_mode)

    def preprocessing(
        self, image_size: int | None = None, preprocess: str | None = None
    ) -> dict[str, Any]:
        """What :meth:`image_transform` does with these arguments (the ``preprocessing`` section of
        ``run.json``'s model): the mode, the geometry in words, the size, mean and std."""
        size, mode = int(image_size or self.image_size), preprocess or self.config.preprocess
        crop = mode == "crop"
        return {
            C.preprocess: mode,
            "resize": dense.describe_transform(size, mode, self.interpolation, self.resize_mode),
            C.image_size: size,
            "interpolation": self.interpolation if crop else "bicubic",
            "resize_mode": self.resize_mode if crop else "squash",
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def dense_features(self, images: torch.Tensor) -> torch.Tensor:
        """Dense features ``[B, 1 + h*w, D]`` (float32, unnormalised, no grad); index 0 = global.

        ``images``: normalised ``[B, 3, H, W]``. See :mod:`backbone.dense` for the maths."""
        x = images.to(self.device, self.dtype)
        return dense.dense_features(self.model.visual, x, self._pos_cache, self.config.model)
