"""Which model ``--model`` names (:func:`resolve_model`): an open_clip model name, an open_clip
model config FILE, a folder holding ``open_clip_config.json``, or a Hugging Face CLIP folder. A
config is registered with open_clip under ``<stem>-<8 hex of its content hash>``: two files with
one content share a name, caches and weights id. Nothing is built or fetched here."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backbone.hf import HF_CONFIG, is_hf_folder, open_clip_config
from backbone.identity import EXPORT_CONFIG, REGISTERED
from backbone.weights import looks_like_path


@dataclass(frozen=True)
class ModelSpec:
    """What ``--model`` names: the open_clip model ``name``; for a config file, the file, its
    content hash and the export's ``preprocess_cfg`` (mean/std), if any."""

    name: str
    config_file: str | None = None
    config_sha256: str | None = None
    preprocess: dict[str, Any] | None = None


def resolve_model(model: str) -> ModelSpec:
    """``--model`` → :class:`ModelSpec`. A model config file (an open_clip model config, or an
    export's ``open_clip_config.json`` with a ``model_cfg``) or a folder holding
    ``open_clip_config.json`` is registered with open_clip under ``<stem>-<hash>``, the hash being
    that of the config's content (two files with one content share a name, caches and weights id);
    anything else is an open_clip model name, returned as is."""
    spec = model.strip()
    path = Path(spec).expanduser()
    if is_hf_folder(path):  # a Hugging Face CLIP folder: the open_clip config of its config.json
        derived, preprocess = open_clip_config(path)
        name, digest = register_config(path.resolve().name, derived)
        return ModelSpec(name, str((path / HF_CONFIG).resolve()), digest, preprocess)
    if path.is_dir() and (looks_like_path(spec) or (path / EXPORT_CONFIG).is_file()):
        file, stem = path / EXPORT_CONFIG, path.resolve().name
        if not file.is_file():
            raise ValueError(f"model {spec}: the folder holds no {EXPORT_CONFIG}")
    elif spec.lower().endswith(".json"):
        file, stem = path, path.stem
        if not file.is_file():
            raise ValueError(f"model {spec}: no such model config file")
    else:
        return ModelSpec(spec)
    try:
        data = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"model config {file}: not a JSON file ({err})") from None
    cfg = data.get("model_cfg", data) if isinstance(data, dict) else None
    need = ("embed_dim", "vision_cfg", "text_cfg")
    if not isinstance(cfg, dict) or not all(k in cfg for k in need):
        raise ValueError(
            f"model config {file}: not an open_clip model config (it needs {', '.join(need)})"
        )
    name, digest = register_config(stem, cfg)
    preprocess = data.get("preprocess_cfg") if "model_cfg" in data else None
    return ModelSpec(name, str(file.resolve()), digest, preprocess or None)


def register_config(stem: str, cfg: dict[str, Any]) -> tuple[str, str]:
    """Register the open_clip model config ``cfg`` as ``<stem>-<8 hex of its content hash>``;
    returns that name and the hash (``sha256:…``)."""
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()
    name = f"{stem}-{digest[:8]}"
    from open_clip import factory

    # open_clip's add_model_config registers a file under its stem only; the name here carries
    # the content hash, so another config with the same stem never replaces this one
    factory._MODEL_CONFIGS[name] = cfg
    REGISTERED.add(name)
    return name, f"sha256:{digest}"
