"""Frozen dense features: computed online, or once into a memory-mapped fp16 cache.

A cache entry holds the dense features ``[N, R, D]`` of one (model, pretrained, image size, dataset
split, view) as ``features.npy`` (fp16, opened with ``mmap_mode``) plus ``index.json``. View 0 is
the clean test-time view (square resize, ToTensor, Normalize); view k ≥ 1 is the k-th augmented
view (:func:`mlr.augment.train_augment`, seeded by (seed, k, image index)), so ``--aug-views K``
caches views 1..K and training draws one of them per image per epoch. Augmented views are keyed on
the augmentation's :data:`mlr.augment.VERSION` too: views of another version are never reused.

Building is resumable: features are written in chunks and ``index.json`` (written atomically after
every chunk) records how many rows are done; an interrupted build continues where it stopped, and
an entry is used only when ``complete`` is true and ``features.npy`` opens with the recorded shape.
An unreadable ``index.json`` or ``features.npy`` (a truncated file, say) is named in a warning and
the entry is built again.

:func:`describe_cache` states the size of a cache before it is built (images × views × regions ×
dims × 2 bytes): COCO with RN101 at 448 px (122k images, 197 regions × 512) is about 25 GB.

Entries are keyed on the weights' content identity (``weights_id``, see :mod:`mlr.backbone`), not
on their path: weights overwritten in place get new entries.
"""

from __future__ import annotations

import hashlib
import json
import random
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from corpora.multilabel import MultiLabelSplit
from corpora.runio import atomic_write_json, slug
from corpora.schema import C
from mlr.augment import VERSION as AUGMENT_VERSION
from mlr.augment import train_augment

FORMAT = 1


def cache_bytes(n_images: int, regions: int, dims: int) -> int:
    """Bytes of the fp16 features of ``n_images`` images (each view counts as an image)."""
    return n_images * regions * dims * 2


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def describe_cache(
    root: Path | str, n_train: int, n_test: int, views: int, regions: int, dims: int
) -> str:
    """One line: the size of a run's cache (``views`` per training image, one per test image)
    and where it goes."""
    total = cache_bytes(n_train * views + n_test, regions, dims)
    return (
        f"feature cache: ({n_train} train × {views} view(s) + {n_test} test) images × {regions} "
        f"regions × {dims} dims × 2 bytes (fp16) ≈ {_human(total)} under {root}"
    )


def _slug(text: str) -> str:
    """A directory-name part for ``text``: :func:`corpora.runio.slug`, cut at 40 characters and
    followed by a digest of ``text`` whenever it differs from ``text`` (so names stay unique)."""
    s = slug(text).strip("_")
    if len(s) > 40 or s != text:
        s = s[:40] + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return s


def ids_digest(ids: list[str]) -> str:
    h = hashlib.sha1()
    for i in ids:
        h.update(i.encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


def view_seed(seed: int, view: int, index: int) -> int:
    """The integer seed of augmented view ``view`` of image ``index``."""
    return int(np.random.SeedSequence([seed, view, index]).generate_state(1)[0])


class _Views:
    """Normalised image tensors of (image index, view) pairs: view 0 clean, view k ≥ 1 the k-th
    seeded augmentation."""

    def __init__(self, backbone, split, indices, views, size, seed):
        self.backbone, self.split, self.indices = backbone, split, list(indices)
        self.views, self.size, self.seed = list(views), size, seed
        self.transform = backbone.image_transform(size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        i, v = self.indices[k], self.views[k]
        img = self.split.image(i)
        if v > 0:
            img = train_augment(img, self.size, random.Random(view_seed(self.seed, v, i)))
        return self.transform(img)


def image_batches(backbone, split, indices, views, size, seed, batch_size, workers=0):
    """Yield normalised image batches for ``indices`` with per-image ``views``; ``workers`` > 0
    decodes and augments in that many threads (PIL releases the GIL while decoding)."""
    ds = _Views(backbone, split, indices, views, size, seed)
    with ThreadPoolExecutor(max_workers=workers) if workers > 0 else nullcontext() as pool:
        mapper = pool.map if pool is not None else map
        for s in range(0, len(ds), batch_size):
            yield torch.stack(list(mapper(ds.__getitem__, range(s, min(len(ds), s + batch_size)))))


def dense_features_of(backbone, images: torch.Tensor) -> torch.Tensor:
    """Dense features ``[B, R, D]`` of a normalised image batch, on the backbone's device."""
    return backbone.dense_features(images.to(backbone.device, backbone.dtype))


class FeatureCache:
    """One cache entry (a directory); ``features`` is a read-only fp16 memmap once complete."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.index_path = self.path / "index.json"
        self.file = self.path / "features.npy"

    @property
    def index(self) -> dict | None:
        if not self.index_path.is_file():
            return None
        try:
            idx = json.loads(self.index_path.read_text("utf-8"))
            if isinstance(idx, dict):
                return idx
            problem = "not a JSON object"
        except (OSError, ValueError) as err:
            problem = str(err)
        warnings.warn(
            f"feature cache index {self.index_path} is unreadable ({problem}); building the entry "
            "again",
            stacklevel=2,
        )
        return None

    def _features(self, idx: dict, mode: Literal["r", "r+"]) -> np.memmap | None:
        """``features.npy`` opened with ``mode``, or None (with a warning) when it is unreadable or
        not of the shape ``idx`` records."""
        try:
            store = np.load(self.file, mmap_mode=mode)
            if list(store.shape) == idx.get("shape") and store.dtype == np.float16:
                return store
            problem = f"shape {list(store.shape)} {store.dtype}, not {idx.get('shape')} float16"
        except (OSError, ValueError, EOFError) as err:
            problem = str(err)
        warnings.warn(
            f"feature cache file {self.file} is unreadable ({problem}); building the entry again",
            stacklevel=2,
        )
        return None

    @property
    def complete(self) -> bool:
        idx = self.index
        return bool(idx and idx.get("complete") and self._features(idx, "r") is not None)

    def open(self) -> np.memmap:
        if not self.complete:
            raise FileNotFoundError(f"feature cache {self.path} is not complete")
        return np.load(self.file, mmap_mode="r")

    def build(
        self,
        backbone,
        split: MultiLabelSplit,
        view: int,
        size: int,
        seed: int,
        meta: dict,
        batch_size: int = 32,
        workers: int = 0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> np.memmap:
        """Compute (or finish computing) this entry; returns the memmap."""
        n = len(split)
        idx = self.index
        if idx and (idx.get("meta") != meta or idx.get("format") != FORMAT):
            idx = None  # built for something else: never reused, built again
        if idx and idx.get("complete") and self.complete:
            return self.open()
        self.path.mkdir(parents=True, exist_ok=True)
        store = self._features(idx, "r+") if idx and idx.get("done") else None
        done = int(idx["done"]) if store is not None and idx else 0
        if store is None:
            with torch.no_grad():
                probe = dense_features_of(
                    backbone, _Views(backbone, split, [0], [view], size, seed)[0][None]
                )
            shape = (n, probe.shape[1], probe.shape[2])
            np.lib.format.open_memmap(self.file, mode="w+", dtype=np.float16, shape=shape).flush()
            store = np.load(self.file, mmap_mode="r+")
        state = {
            "format": FORMAT,
            "meta": meta,
            "shape": list(store.shape),
            "dtype": "float16",
            "done": done,
            "complete": False,
        }
        atomic_write_json(self.index_path, state)
        chunk = max(batch_size, 1)
        while done < n:
            stop = min(n, done + chunk * 8)
            rows = list(range(done, stop))
            out = []
            with torch.no_grad():
                for batch in image_batches(
                    backbone, split, rows, [view] * len(rows), size, seed, batch_size, workers
                ):
                    out.append(dense_features_of(backbone, batch).float().cpu())
            store[done:stop] = torch.cat(out).numpy().astype(np.float16)
            store.flush()
            done = stop
            state["done"] = done
            atomic_write_json(self.index_path, state)
            if on_progress is not None:
                on_progress(done, n)
        state["complete"] = True
        atomic_write_json(self.index_path, state)
        del store
        return self.open()


def cache_entry(
    cache_root: Path, model_info: dict, size: int, split: MultiLabelSplit, view: int, seed: int
) -> tuple[FeatureCache, dict]:
    """The cache entry of (model, pretrained, size, split, view) and its identifying metadata."""
    meta = {
        "model": model_info.get("name"),
        "pretrained": model_info.get(C.pretrained),
        "image_size": size,
        "dataset": split.dataset,
        "split": split.split,
        "n": len(split),
        "ids_sha1": ids_digest(split.ids),
        "view": view,
        "aug_seed": seed if view > 0 else None,
        "augment_version": AUGMENT_VERSION if view > 0 else None,
        # the weights' content identity (random weights: config + seed) and what else shapes them
        "weights": {
            "id": model_info.get(C.weights_id),
            "precision": model_info.get("precision"),
            "mean": model_info.get("preprocessing", {}).get("mean"),
            "std": model_info.get("preprocessing", {}).get("std"),
        },
    }
    wid = hashlib.sha1(json.dumps(meta["weights"], sort_keys=True).encode()).hexdigest()[:12]
    model_dir = f"{_slug(str(meta['model']))}__{_slug(str(meta['pretrained']))}__{size}__{wid}"
    split_dir = f"{split.dataset}-{split.split}-{meta['ids_sha1']}"
    view_dir = "view0" if view == 0 else f"aug{view}-seed{seed}-v{AUGMENT_VERSION}"
    return FeatureCache(Path(cache_root) / model_dir / split_dir / view_dir), meta


class FeatureSource:
    """Feature batches for a split: from cached views, or computed online from the images."""

    def __init__(
        self,
        backbone,
        split: MultiLabelSplit,
        size: int,
        seed: int,
        cached: list[np.ndarray] | None,
        n_aug_views: int,
        *,
        augment_online: bool,
        workers: int = 0,
    ) -> None:
        self.backbone, self.split, self.size, self.seed = backbone, split, size, seed
        self.cached = cached  # [view0, aug1, ..., augK] memmaps, or None (online)
        self.n_aug = n_aug_views
        self.augment_online = augment_online
        self.workers = workers

    def views_for(self, indices: np.ndarray, epoch: int | None) -> np.ndarray:
        """View per image: 0 for evaluation; one of 1..K per (epoch, image) when augmenting."""
        if epoch is None:
            return np.zeros(len(indices), dtype=np.int64)
        if self.cached is None:
            if not self.augment_online:
                return np.zeros(len(indices), dtype=np.int64)
            # online: a fresh augmentation every epoch (view ids never repeat across epochs)
            return np.full(len(indices), 1 + epoch, dtype=np.int64)
        if self.n_aug == 0:
            return np.zeros(len(indices), dtype=np.int64)
        rng = np.random.default_rng([self.seed, 7919, epoch])
        draw = rng.integers(1, self.n_aug + 1, size=len(self.split))
        return draw[indices]

    def batch(self, indices: np.ndarray, epoch: int | None = None) -> torch.Tensor:
        views = self.views_for(indices, epoch)
        if self.cached is not None:
            parts = np.stack([self.cached[v][i] for i, v in zip(indices, views, strict=True)])
            return torch.from_numpy(parts.astype(np.float32)).to(self.backbone.device)
        imgs = next(
            iter(
                image_batches(
                    self.backbone,
                    self.split,
                    indices,
                    views,
                    self.size,
                    self.seed,
                    len(indices),
                    self.workers,
                )
            )
        )
        with torch.no_grad():
            return dense_features_of(self.backbone, imgs).float()
