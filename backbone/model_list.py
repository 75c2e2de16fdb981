"""Several backbones in one command: CLIP_benchmark's model-list file (``--models-file``, one
``model,pretrained`` a line), the weights as results record them, and one folder name per
backbone identity — what ``promptsim negbench --models-file`` and ``mlrtrain sweep
--models-file`` share.

A backbone's identity is its model name and its weights as :func:`weights_spec` records them (a
``local-dir:`` folder or a checkpoint made absolute); its folder is :func:`identity_name`,
``<model>_<pretrained>`` with 8 hex digits of a SHA-256 where a name is not file-name safe, so two
identities never share a folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from backbone.weights import LOCAL_DIR_PREFIX, looks_like_path
from corpora.runio import slug as runio_slug


def parse_models_file(path: Path) -> list[tuple[str, str]]:
    """CLIP_benchmark's model list: one ``model,pretrained`` a line (``#`` comments, blanks)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model list {path}: no such file")
    out = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{path}, line {n}: expected 'model,pretrained', got {line.strip()!r}")
        out.append((parts[0], parts[1]))
    if not out:
        raise ValueError(f"model list {path}: no model listed")
    return out


def slug(text: str) -> str:
    """A file-name-safe form of a model or weights name."""
    return runio_slug(text, "-", "._+-").strip("-") or "x"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def name_part(value: str) -> str:
    """``value`` as one part of a file or folder name: as is when it is file-name safe (and at
    most 64 characters), else the end of its :func:`slug` and 8 hex digits of its SHA-256 — so
    two values never share a part."""
    safe = slug(value)
    if safe == value and len(value) <= 64:
        return value
    tail = safe if len(safe) <= 48 else safe[-48:].partition("-")[2] or safe[-48:]
    return f"{tail}-{_digest(value)}"


def identity_name(model: str, pretrained: str) -> str:
    """``<model>_<pretrained>`` (:func:`name_part` of each, ``pretrained`` as
    :func:`weights_spec` records it): readable and one per model identity — a model name with
    ``_`` (where the two parts would split ambiguously) gets 8 hex digits of the pair's SHA-256."""
    spec = weights_spec(pretrained)
    name = f"{name_part(model)}_{name_part(spec)}"
    return f"{name}-{_digest(model + chr(10) + spec)}" if "_" in model else name


def weights_spec(pretrained: str) -> str:
    """``--pretrained`` as results record it: a ``local-dir:`` folder or a checkpoint path made
    absolute (a relative path means nothing once the results move); a tag or ``none`` as given."""
    if pretrained.startswith(LOCAL_DIR_PREFIX):
        folder = Path(pretrained[len(LOCAL_DIR_PREFIX) :]).expanduser().resolve()
        return f"{LOCAL_DIR_PREFIX}{folder}"
    if looks_like_path(pretrained):
        return str(Path(pretrained).expanduser().resolve())
    return pretrained


def pair_backbones(
    models: list[str], pretrained: list[str], default: tuple[str, str]
) -> list[tuple[str, str]]:
    """Repeated ``--model`` / ``--pretrained`` as ``(model, pretrained)`` pairs: the n-th of one
    with the n-th of the other; one given once goes with every one of the other, one not given
    is ``default``'s. Unequal counts (neither of them one) are a ``ValueError``."""
    models = models or [default[0]]
    pretrained = pretrained or [default[1]]
    if len(models) == 1:
        models = models * len(pretrained)
    if len(pretrained) == 1:
        pretrained = pretrained * len(models)
    if len(models) != len(pretrained):
        raise ValueError(
            f"{len(models)} --model and {len(pretrained)} --pretrained: give them in pairs, or "
            "one of either for all of the other"
        )
    return list(zip(models, pretrained, strict=True))
