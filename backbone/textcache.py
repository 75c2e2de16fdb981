"""On-disk cache of text embeddings, keyed by (model, weights, text), so re-running costs nothing.

Layout: ``ROOT/<namespace-slug>-<hash>/part-*.npz``. A namespace names one text encoder exactly
(model name, the weights' content identity, precision; see ``Backbone.cache_namespace``), so
weights changed in place get a new namespace.
Each ``put`` appends one part file holding ``texts`` (unicode array) and ``emb`` (float32, the
*unnormalised* embeddings), written atomically; parts are read back with ``allow_pickle=False``.
Concurrent writers never clobber each other (each writes its own part); a text present in several
parts has identical embeddings, so the first one read wins. A part that cannot be read (a truncated
file, say) is named in a warning and removed: its texts are encoded again and stored anew.
"""

from __future__ import annotations

import hashlib
import io
import uuid
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corpora.runio import atomic_write_bytes, atomic_write_text, slug


class TextCache:
    """Text → embedding store for one namespace (one exact text encoder)."""

    def __init__(self, root: str | Path, namespace: str):
        self.root = Path(root).expanduser()
        self.namespace = namespace
        digest = hashlib.sha1(namespace.encode("utf-8")).hexdigest()[:12]
        self.dir = self.root / f"{slug(namespace)[:60]}-{digest}"
        self._store: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._store is None:
            store: dict[str, np.ndarray] = {}
            for part in sorted(self.dir.glob("part-*.npz")):
                try:
                    with part.open("rb") as f, np.load(f, allow_pickle=False) as data:
                        texts, emb = data["texts"], data["emb"]
                    if texts.ndim != 1 or emb.ndim != 2 or len(texts) != len(emb):
                        raise ValueError(f"{texts.shape} texts, {emb.shape} embeddings")
                except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
                    warnings.warn(
                        f"text cache file {part} is unreadable ({type(err).__name__}: {err}); "
                        "removed, its texts are encoded again",
                        stacklevel=2,
                    )
                    part.unlink(missing_ok=True)
                    continue
                for text, row in zip(texts.tolist(), emb, strict=True):
                    store.setdefault(text, row)
            self._store = store
        return self._store

    def __len__(self) -> int:
        return len(self._load())

    def get(self, texts: Sequence[str]) -> tuple[np.ndarray | None, list[int]]:
        """Cached embeddings for ``texts``: ``(array [N, D] or None, indices of misses)``.

        Rows of misses are left as zeros in the array; it is ``None`` when nothing was cached."""
        store = self._load()
        missing = [i for i, t in enumerate(texts) if t not in store]
        hits = [i for i, t in enumerate(texts) if t in store]
        if not hits:
            return None, missing
        dim = store[texts[hits[0]]].shape[-1]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for i in hits:
            out[i] = store[texts[i]]
        return out, missing

    def put(self, texts: Sequence[str], emb: np.ndarray) -> None:
        """Add ``texts`` with their embeddings ``emb`` ([N, D]) as one new part file."""
        if len(texts) == 0:
            return
        emb = np.asarray(emb, dtype=np.float32)
        if emb.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but {emb.shape[0]} embeddings")
        self.dir.mkdir(parents=True, exist_ok=True)
        marker = self.dir / "namespace.txt"
        if not marker.exists():
            atomic_write_text(marker, self.namespace + "\n")
        buf = io.BytesIO()
        np.savez(buf, texts=np.asarray(list(texts), dtype=str), emb=emb)
        atomic_write_bytes(self.dir / f"part-{uuid.uuid4().hex}.npz", buf.getvalue())
        store = self._load()
        for text, row in zip(texts, emb, strict=True):
            store.setdefault(text, row)
