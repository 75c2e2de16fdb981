"""Training checkpoints that open_clip does not unwrap itself.

open_clip reads a bare state dict, or the ``{"state_dict": …, "epoch", "optimizer"}`` its
training loop saves (with DDP's ``module.`` prefix): NegCLIP's ``negclip.pth``, NegBench's
fine-tunes. CoN-CLIP's fine-tuning script saves ``{"model": state_dict, "optimizer": …, "args":
argparse.Namespace}`` around an OpenAI ``clip`` state dict (whose names are open_clip's);
:func:`wrapped_state_dict` finds the state dict in such a file. It is read with
``weights_only=True`` (no code runs); ``argparse.Namespace``, which holds only the run's options,
is the one class allowed besides tensors and containers.
"""

from __future__ import annotations

import argparse
import zipfile
from typing import Any

import torch

STATE_KEY = "model"  # where CoN-CLIP keeps the state dict
SAFE_CLASSES: list[Any] = [argparse.Namespace]


def wrapped_state_dict(path: str | None) -> dict[str, torch.Tensor] | None:
    """The state dict of a ``{"model": state_dict, …}`` training checkpoint at ``path``; None
    for anything else, which open_clip reads (and whose errors are explained as ever)."""
    if path is None or not zipfile.is_zipfile(path):  # safetensors, or a legacy torch file
        return None
    try:
        with torch.serialization.safe_globals(SAFE_CLASSES):
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # whatever it holds, open_clip's reader says it again, explained
        return None
    state = data.get(STATE_KEY) if isinstance(data, dict) and "state_dict" not in data else None
    if not isinstance(state, dict) or not state:
        return None
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        return None
    return {k.removeprefix("module."): v for k, v in state.items()}
