"""Image embeddings of a frozen image tower (``--train text``, ``text-front:K``): computed once,
into the same content-keyed, resumable cache as ``mlrtrain``'s dense features
(:mod:`backbone.features`), as a one-region feature: CLIP's own ``encode_image`` embedding,
L2-normalised, fp16.

The entry is keyed on the weights' content identity, the images' content, the input size and the
transform, and on ``encode_image`` (never a dense feature's entry); re-initialised random weights
(:func:`negation.negtune.towers.reinit_random`) add the seed of the re-initialisation. With
``cache=False`` the embeddings are computed in memory and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from backbone.features import cache_entry, image_batches
from corpora.multilabel import MultiLabelSplit

KIND = "encode_image"  # what the cache entries hold (their model name's suffix)


class _Global:
    """The backbone as :mod:`backbone.features` sees it, its "dense features" being the one global
    embedding ``[B, 1, D]``; everything else is the backbone's."""

    def __init__(self, backbone: Any) -> None:
        self._backbone = backbone

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backbone, name)

    def dense_features(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self._backbone.device, self._backbone.dtype)
        return F.normalize(self._backbone.model.encode_image(x).float(), dim=-1)[:, None]


def image_embeddings(
    backbone: Any,
    split: MultiLabelSplit,
    *,
    cache_root: Path | None,
    init: str | None,
    batch_size: int,
    workers: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``(N, D)`` normalised image embeddings of ``split`` (cached under ``cache_root`` unless it
    is None); ``init`` names a re-initialisation of the weights (part of the cache key)."""
    size = backbone.image_size
    glob = _Global(backbone)
    if cache_root is None:
        out = []
        views = [0] * len(split)
        with torch.no_grad():
            for batch in image_batches(
                backbone, split, range(len(split)), views, size, 0, batch_size, workers
            ):
                out.append(glob.dense_features(batch)[:, 0].cpu().numpy())
                if on_progress is not None:
                    on_progress(sum(len(o) for o in out), len(split))
        return np.concatenate(out)
    info = backbone.info()
    name = f"{info['name']}/{KIND}" + (f"/{init}" if init else "")
    entry, meta = cache_entry(
        Path(cache_root).expanduser(), {**info, "name": name}, size, split, 0, 0
    )
    store = entry.build(glob, split, 0, size, 0, meta, batch_size, workers, on_progress)
    return np.asarray(store[:, 0], dtype=np.float32)
