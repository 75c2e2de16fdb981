"""Partial labels: a seeded per-(image, class) keep-mask and the 1 / 0 / −1 label encoding.

docs/METHODS.md §1.2: for every (training image i, class c) an independent ``u ~ U(0, 1)`` is drawn
and the label is kept when ``u < p``. Positives and negatives are dropped at the same rate; an image
may end up with no known label (it stays in the set and contributes no loss).

Unlike the anchors (no seed, mask written into the dataset folder, area-binned labels max-pooled
after masking), the mask here is one flat ``(N, C)`` int8 array drawn from ``numpy``'s
``default_rng(seed)``: the same (dataset, p, seed) gives a byte-identical mask for every method, and
the mask is stored in the run directory (``mask.npy``). Because the uniforms depend only on the seed
and the shape, masks for increasing ``p`` are nested (everything known at p = 0.3 is known at 0.5).
There is no leakage: the mask multiplies the final per-class label, never per-area sub-labels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from corpora.runio import atomic_write_bytes
from mlr.config import check_partial

UNKNOWN = -1


# Hand-written on a seeded numpy Generator: the same seed gives a byte-identical mask everywhere.
def draw_mask(n_images: int, n_classes: int, partial: float, seed: int = 0) -> np.ndarray:
    """The ``(n_images, n_classes)`` int8 keep-mask (1 keep, 0 drop) with ``P(keep) = partial``.

    ``partial = 1`` keeps every label (no masking); outside (0, 1] (a percentage given by
    mistake) it is an error (:func:`mlr.config.check_partial`)."""
    check_partial(partial)
    if partial == 1.0:
        return np.ones((n_images, n_classes), dtype=np.int8)
    u = np.random.default_rng(seed).random((n_images, n_classes))
    return (u < partial).astype(np.int8)


def apply_mask(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Targets ``1`` positive, ``0`` negative, ``-1`` unknown: kept labels pass, dropped become −1.

    Entries that are already −1 (e.g. VOC difficult-only classes under ``ignore``) stay −1."""
    if labels.shape != mask.shape:
        raise ValueError(f"mask shape {mask.shape} does not match labels {labels.shape}")
    return np.where(mask.astype(bool), labels, UNKNOWN).astype(np.int8)


def known_fraction(mask: np.ndarray) -> float:
    """The realised proportion of kept entries."""
    return float(mask.mean()) if mask.size else 0.0


def check_mask_proportion(mask: np.ndarray, partial: float, source: str) -> None:
    """Refuse a mask whose known proportion is not what ``partial`` says: more than 4 binomial
    standard deviations (``√(p(1−p)/N·C)``) plus 0.001 away from it."""
    known = known_fraction(mask)
    tol = 4 * np.sqrt(partial * (1 - partial) / max(1, mask.size)) + 1e-3
    if abs(known - partial) > tol:
        raise ValueError(
            f"{source} keeps {known:.4f} of the labels, not --partial {partial:g}; drop --partial "
            "(the mask's own proportion is recorded) or give the mask's"
        )


def save_mask(path: Path, mask: np.ndarray) -> Path:
    """Write ``mask`` as ``.npy`` atomically."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(mask, dtype=np.int8))
    return atomic_write_bytes(Path(path), buf.getvalue())


def load_mask(path: Path, n_images: int, n_classes: int) -> np.ndarray:
    """Read a saved mask and check it against the dataset (clear error naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--mask {path}: no such file")
    try:
        mask = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"--mask {path}: not a .npy array ({exc})") from exc
    if mask.shape != (n_images, n_classes):
        raise ValueError(
            f"--mask {path}: shape {tuple(mask.shape)} does not match the training split "
            f"({n_images} images × {n_classes} classes)"
        )
    if not np.isin(mask, (0, 1)).all():
        raise ValueError(f"--mask {path}: entries must be 0 (drop) or 1 (keep)")
    return mask.astype(np.int8)
