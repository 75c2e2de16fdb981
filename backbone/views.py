"""The images a dense feature is computed from: view 0 the clean test-time view (the backbone's
transform), view k ≥ 1 the k-th augmented view (:func:`backbone.augment.train_augment`, seeded
by (seed, k, image index)), as normalised tensors in batches; and their dense features."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
import torch

from backbone.augment import train_augment


def view_seed(seed: int, view: int, index: int) -> int:
    """The integer seed of augmented view ``view`` of image ``index``."""
    return int(np.random.SeedSequence([seed, view, index]).generate_state(1)[0])


class Views:
    """Normalised image tensors of (image index, view) pairs: view 0 clean, view k ≥ 1 the k-th
    seeded augmentation."""

    def __init__(self, backbone, split, indices, views, size, seed):
        self.backbone, self.split, self.indices = backbone, split, list(indices)
        self.views, self.size, self.seed = list(views), size, seed
        self.transform = backbone.image_transform(size)
        self.crop = backbone.config.preprocess == "crop"

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        i, v = self.indices[k], self.views[k]
        img = self.split.image(i)
        if v > 0:
            if self.crop:  # augment what the clean view shows: the centre crop
                img = self.backbone.view_image(img, self.size)
            img = train_augment(img, self.size, random.Random(view_seed(self.seed, v, i)))
        return self.transform(img)


def image_batches(backbone, split, indices, views, size, seed, batch_size, workers=0):
    """Yield normalised image batches for ``indices`` with per-image ``views``; ``workers`` > 0
    decodes and augments in that many threads (PIL releases the GIL while decoding)."""
    ds = Views(backbone, split, indices, views, size, seed)
    with ThreadPoolExecutor(max_workers=workers) if workers > 0 else nullcontext() as pool:
        mapper = pool.map if pool is not None else map
        for s in range(0, len(ds), batch_size):
            yield torch.stack(list(mapper(ds.__getitem__, range(s, min(len(ds), s + batch_size)))))


def dense_features_of(backbone, images: torch.Tensor) -> torch.Tensor:
    """Dense features ``[B, R, D]`` of a normalised image batch, on the backbone's device."""
    return backbone.dense_features(images.to(backbone.device, backbone.dtype))
