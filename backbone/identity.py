"""What is loaded (:class:`Weights`) and its content identity (:attr:`Backbone.weights_id`),
which keys every cache (text embeddings, dense features): the SHA-256 of every weight file (with a
``local-dir:``'s config) and the architecture config, or for random weights that config and the
seed; never their path. A file's hash is computed once and remembered with its size, times and
inode (:func:`corpora.identity.file_identities`). :func:`arch_differences` says where two
architecture configs differ."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpora.identity import file_identities

EXPORT_CONFIG = "open_clip_config.json"  # an open_clip export's config: model_cfg + preprocess_cfg
REGISTERED: set[str] = set()  # model config files' names (modelspec.register_config): this run only


@dataclass(frozen=True)
class Weights:
    kind: str  # tag | file | local-dir | hf | none
    path: str | None
    tag_cfg: dict[str, Any]  # a tag's (hf: the folder's quick_gelu, mean, std)
    files: tuple[str, ...] = ()  # what is loaded: the checkpoint (local-dir: config, checkpoint)


def file_identity(path: str | Path) -> dict[str, Any]:
    """``{path, size, mtime_ns, ctime_ns, inode, sha256}`` of a weights file (its real path):
    :func:`corpora.identity.file_identities`."""
    return file_identities([Path(path).resolve()])[0]


def content_identity(
    weights: Weights, model_cfg: dict[str, Any] | None, *, quick_gelu: bool, seed: int
) -> tuple[str, list[dict[str, Any]]]:
    """The weights' content identity (``sha256:…``, or ``random:…`` for random weights, see the
    module docstring) and the :func:`file_identity` of each weight file."""
    files = [file_identity(f) for f in weights.files]
    identity = {
        "architecture": model_cfg if weights.kind != "local-dir" else "open_clip_config.json",
        "quick_gelu": quick_gelu,
        "sha256": [f["sha256"] for f in files],
        **({"seed": seed} if weights.kind == "none" else {}),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
    return f"{'random' if weights.kind == 'none' else 'sha256'}:{digest}", files


def arch_differences(model_cfg: dict[str, Any], weights_cfg: dict[str, Any]) -> list[str]:
    """Where the architecture of ``weights_cfg`` differs from ``model_cfg`` (keys set in both)."""
    out = []
    for key in ("embed_dim", "vision_cfg", "text_cfg", "custom_text"):
        ours, theirs = model_cfg.get(key), weights_cfg.get(key)
        if isinstance(ours, dict) and isinstance(theirs, dict):
            for k in sorted(ours.keys() & theirs.keys()):
                if ours[k] != theirs[k]:
                    out.append(f"{key}.{k} is {theirs[k]!r}, not {ours[k]!r}")
        elif bool(ours) != bool(theirs) or (ours and ours != theirs):
            out.append(f"{key} is {theirs!r}, not {ours!r}")
    if model_cfg.get("quick_gelu") and not weights_cfg.get("quick_gelu"):
        out.append("quick_gelu is false (GELU), not true")
    return out
