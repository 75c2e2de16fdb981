"""Frozen dense features: computed online, or once into a memory-mapped fp16 cache.

A cache entry holds the dense features ``[N, R, D]`` of one (model, weights, image size, image
transform, images, view) as ``features.npy`` (fp16, read through ``mmap_mode="r"``) plus
``index.json``. View 0 is the clean test-time view (the backbone's transform: a square resize by
default, or with ``--preprocess crop`` the model's own eval transform, shortest side + centre crop;
then ToTensor, Normalize); view k ≥ 1 is the k-th augmented view (:func:`.augment.train_augment`
of the image, or with ``crop`` of its centre crop, seeded by (seed, k, image index)), so
``--aug-views K`` caches views 1..K and training draws one of them per image per epoch. The two
transforms' entries are kept apart (``crop`` ones in their own directories), and augmented views of
another :data:`backbone.augment.VERSION` are never reused.

Entries are keyed on content, never on paths: the weights' content identity (``weights_id``, see
:mod:`backbone`) and the images' (:meth:`MultiLabelSplit.content_digest`: each image file's
SHA-256, computed once per file and known afterwards by its size, times and inode). Weights or
images overwritten in place get new entries; the same weights or images at another path find the
old ones.

Building is resumable: a new ``features.npy`` has its whole size reserved on disk first
(``posix_fallocate``: a full disk is one ``OSError`` naming the file, before any work), rows are
written in chunks with plain file writes (never through a memory map, whose failed write would be
a SIGBUS), and ``index.json`` (written atomically after every chunk) records how many rows are
done; an interrupted build continues where it stopped. An entry is used, or resumed, only when
its index is well-formed and ``features.npy`` is exactly the array it records (shape, fp16, and
the file's size); otherwise the damaged file is named in a warning and the entry is built again
from row 0 into a new file (never the damaged one reopened). Ctrl-C during a build is never lost,
even when it lands in a finaliser (:func:`_interrupts_kept`).

:func:`describe_cache` states the size of a cache before it is built (images × views × regions ×
dims × 2 bytes): COCO with RN101 at 448 px (122k images, 197 regions × 512) is about 25 GB.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import torch

from backbone.augment import VERSION as AUGMENT_VERSION
from backbone.views import Views, dense_features_of, image_batches
from corpora.multilabel import MultiLabelSplit
from corpora.runio import atomic_write_json, slug
from corpora.schema import C

FORMAT = 2


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


class FeatureCache:
    """One cache entry (a directory): ``features.npy`` and ``index.json``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.index_path = self.path / "index.json"
        self.file = self.path / "features.npy"

    @property
    def index(self) -> dict | None:
        """``index.json``, or None when there is none; one that cannot be read or does not hold
        what an index holds is named in a warning (None)."""
        if not self.index_path.is_file():
            return None
        try:
            idx = json.loads(self.index_path.read_text("utf-8"))
            problem = _index_problem(idx)
            if problem is None:
                return idx
        except (OSError, ValueError) as err:
            problem = str(err)
        warnings.warn(
            f"feature cache index {self.index_path} is unreadable ({problem}); building the entry "
            "again",
            stacklevel=2,
        )
        return None

    def _features(self, idx: dict) -> np.memmap | None:
        """``features.npy`` (read-only memmap), or None with a warning unless it is exactly the
        array ``idx`` records: its shape, fp16, and a file of exactly that size (a truncated or
        extended file is damaged)."""
        try:
            store = np.load(self.file, mmap_mode="r")
            size = self.file.stat().st_size
            if (
                list(store.shape) == idx["shape"]
                and store.dtype == np.float16
                and store.offset + store.nbytes == size
            ):
                return store
            problem = (
                f"{size} bytes holding {list(store.shape)} {store.dtype}, not exactly "
                f"{idx['shape']} float16"
            )
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
        return bool(idx and idx["complete"] and self._features(idx) is not None)

    def open(self) -> np.memmap:
        idx = self.index
        store = self._features(idx) if idx and idx["complete"] else None
        if store is None:
            raise FileNotFoundError(f"feature cache {self.path} is not complete")
        return store

    def _create(self, shape: tuple[int, int, int]) -> int:
        """A new ``features.npy`` of ``shape`` (fp16, never the old file reopened) with its disk
        space reserved (:func:`_reserve`); returns the offset of its data. No space left is one
        ``OSError`` line naming the file."""
        self.file.unlink(missing_ok=True)  # a reader's memmap of the old file stays valid
        size = int(np.prod(shape)) * 2
        try:
            offset = np.lib.format.open_memmap(self.file, "w+", np.float16, shape).offset
            with open(self.file, "r+b") as f:
                _reserve(f.fileno(), offset + size)
        except OSError as err:
            self.file.unlink(missing_ok=True)
            raise self._no_space(err, size) from None
        return offset

    def _no_space(self, err: OSError, size: int) -> OSError:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return OSError(
                f"feature cache file {self.file}: no space left for its {_human(size)} "
                f"({os.strerror(err.errno)}); free space or give another --feature-cache"
            )
        return err

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
        """Compute (or finish computing) this entry; returns the read-only memmap. Rows are
        written with plain file writes (a full disk is an error, never a SIGBUS), and an
        interruption (Ctrl-C) is never lost (:func:`_interrupts_kept`)."""
        n = len(split)
        idx = self.index
        if idx and (idx.get("meta") != meta or idx.get("format") != FORMAT):
            idx = None  # built for something else: never reused, built again
        store = self._features(idx) if idx and idx["done"] else None
        if store is not None and idx and idx["complete"]:
            return store
        self.path.mkdir(parents=True, exist_ok=True)
        with _interrupts_kept() as check:
            if store is not None and idx:
                done, shape, offset = int(idx["done"]), tuple(store.shape), store.offset
            else:  # nothing usable: a new file from row 0
                with torch.no_grad():
                    probe = dense_features_of(
                        backbone, Views(backbone, split, [0], [view], size, seed)[0][None]
                    )
                done, shape = 0, (n, probe.shape[1], probe.shape[2])
                offset = self._create(shape)
            del store
            state = {
                "format": FORMAT,
                "meta": meta,
                "shape": list(shape),
                "dtype": "float16",
                "done": done,
                "complete": False,
            }
            atomic_write_json(self.index_path, state)
            row_bytes = shape[1] * shape[2] * 2
            chunk = max(batch_size, 1)
            with open(self.file, "r+b") as f:
                while done < n:
                    stop = min(n, done + chunk * 8)
                    rows = list(range(done, stop))
                    out = []
                    views = [view] * len(rows)
                    with torch.no_grad():
                        for batch in image_batches(
                            backbone, split, rows, views, size, seed, batch_size, workers
                        ):
                            out.append(dense_features_of(backbone, batch).float().cpu())
                            check()
                    data = torch.cat(out).numpy().astype(np.float16)
                    f.seek(offset + done * row_bytes)
                    try:
                        f.write(data.tobytes())
                        f.flush()
                    except OSError as err:
                        raise self._no_space(err, offset + n * row_bytes) from None
                    done = stop
                    state["done"] = done
                    atomic_write_json(self.index_path, state)
                    if on_progress is not None:
                        on_progress(done, n)
            check()
            state["complete"] = True
            atomic_write_json(self.index_path, state)
        return self.open()


def _reserve(fd: int, size: int) -> None:
    """Allocate the first ``size`` bytes of ``fd``'s file on disk (``posix_fallocate``), so that
    a full disk fails here, before any work; where the system or file system cannot, nothing (a
    full disk then fails the plain write of a chunk instead, as an ``OSError`` too)."""
    fallocate = getattr(os, "posix_fallocate", None)
    try:
        if fallocate is not None:
            fallocate(fd, 0, size)
    except OSError as err:
        if err.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise


def _index_problem(idx: object) -> str | None:
    """What makes ``idx`` no index (None when it is one)."""
    if not isinstance(idx, dict):
        return "not a JSON object"
    shape, done = idx.get("shape"), idx.get("done")
    if not (isinstance(shape, list) and len(shape) == 3 and all(_count(x) for x in shape)):
        return f"shape {shape!r}"
    if not (_count(done) and done <= shape[0]) or not isinstance(idx.get("complete"), bool):
        return f"done {done!r} of {shape[0]} rows, complete {idx.get('complete')!r}"
    if idx["complete"] and done != shape[0]:
        return f"complete with {done} of {shape[0]} rows done"
    return None


def _count(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


@contextmanager
def _interrupts_kept() -> Iterator[Callable[[], None]]:
    """Ctrl-C raises ``KeyboardInterrupt`` as usual and is also remembered: one swallowed where
    Python cannot raise it (a ``__del__`` or another finaliser prints "Exception ignored" and
    goes on) is raised again by the ``check()`` this yields, which the build calls after every
    batch and before it marks the entry complete. Only in the main thread, and only over Python's
    own SIGINT handler."""
    handler = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or (
        handler is not signal.default_int_handler
    ):
        yield lambda: None
        return
    seen: list[int] = []

    def remember(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    def check() -> None:
        if seen:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, remember)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, handler)


def cache_entry(
    cache_root: Path, model_info: dict, size: int, split: MultiLabelSplit, view: int, seed: int
) -> tuple[FeatureCache, dict]:
    """The cache entry of (model, weights, size, image transform, images, view) and its
    identifying metadata: the weights and the images by their content
    (:attr:`Backbone.weights_id`, :meth:`MultiLabelSplit.content_digest`), never by their paths."""
    preprocess = model_info.get(C.preprocessing, {}).get(C.preprocess, "squash")
    images = split.content_digest()
    meta = {
        "model": model_info.get("name"),
        "image_size": size,
        "preprocess": preprocess,
        "dataset": split.dataset,
        "split": split.split,
        "n": len(split),
        "images_sha256": images,
        "view": view,
        "aug_seed": seed if view > 0 else None,
        "augment_version": AUGMENT_VERSION if view > 0 else None,
        # the weights' content identity (random weights: config + seed) and what else shapes them
        "weights": {
            "id": model_info.get(C.weights_id),
            "precision": model_info.get("precision"),
            "mean": model_info.get(C.preprocessing, {}).get("mean"),
            "std": model_info.get(C.preprocessing, {}).get("std"),
        },
    }
    wid = hashlib.sha1(json.dumps(meta["weights"], sort_keys=True).encode()).hexdigest()[:12]
    seen = f"{size}" if preprocess == "squash" else f"{size}-{preprocess}"
    model_dir = f"{_slug(str(meta['model']))}__{seen}__{wid}"
    split_dir = f"{split.dataset}-{split.split}-{images[:16]}"
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
        batches = image_batches(
            self.backbone,
            self.split,
            indices,
            views,
            self.size,
            self.seed,
            len(indices),
            self.workers,
        )
        with closing(batches):  # closed here, not in a finaliser (where Ctrl-C is swallowed)
            imgs = next(batches)
        with torch.no_grad():
            return dense_features_of(self.backbone, imgs).float()
