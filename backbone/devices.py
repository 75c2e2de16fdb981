"""Devices and precisions as torch sees them."""

from __future__ import annotations

import torch

from backbone.config import PRECISION_NAMES

PRECISIONS = dict(zip(PRECISION_NAMES, (torch.float32, torch.bfloat16, torch.float16), strict=True))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return torch.device(device)


def default_batch_size(device: torch.device) -> int:
    """Text batch size that fits comfortably: large on a GPU, moderate on CPU."""
    return 1024 if device.type == "cuda" else 256
