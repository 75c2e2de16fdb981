"""Training checkpoints (mlrtrain's and negtune's): atomic writes (``last.pt`` → ``prev.pt``),
loading with ``weights_only=True``, and the checkpoint a resumed run continues from.

Checkpoints hold trainable tensors and the optimizer state only. An empty, truncated or foreign
checkpoint is a :class:`CheckpointError` naming the file; a failed write (disk full) an ``OSError``
naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from corpora.runio import atomic_write


class CheckpointError(ValueError):
    """A checkpoint file that is empty, truncated, not an mlrtrain checkpoint, or made for another
    head."""


def atomic_torch_save(obj, path: Path, keep_previous: Path | None = None) -> None:
    """Write ``obj`` to ``path`` atomically; with ``keep_previous``, the file it replaces is kept
    there (``last.pt`` → ``prev.pt``). A failed write (disk full) is an ``OSError`` naming
    ``path``."""

    def write(tmp: Path) -> None:
        torch.save(obj, tmp)
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)

    try:
        atomic_write(path, write)
    except (OSError, RuntimeError) as exc:  # torch reports ENOSPC as "enforce fail"
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "write failed"
        raise OSError(f"could not write checkpoint {path}: {why} (disk full?)") from exc


def load_checkpoint(path: Path) -> dict:
    """An mlrtrain checkpoint (``weights_only=True``); a :class:`CheckpointError` naming the file
    when it is empty, truncated or not one."""
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # EOFError, UnpicklingError, zip RuntimeError, …
        why = "empty file" if path.stat().st_size == 0 else "truncated or not a PyTorch checkpoint"
        raise CheckpointError(f"{path}: unreadable checkpoint ({why})") from exc
    if not isinstance(ck, dict) or not isinstance(ck.get("params"), dict) or "epoch" not in ck:
        raise CheckpointError(f"{path}: not an mlrtrain checkpoint (no params / epoch)")
    return ck


def load_params(head: torch.nn.Module, ck: dict, path: Path, what: str, opt=None) -> None:
    """Load a checkpoint's parameters (and, with ``opt``, its optimizer state) into ``head``; one
    line when they belong to another head."""
    try:
        head.load_state_dict(ck["params"])
        if opt is not None:
            opt.load_state_dict(ck["optimizer"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: its parameters do not fit {what} (another method, model or class list?)"
        ) from exc


def resume_checkpoint(ckpt_dir: Path) -> tuple[Path, dict] | None:
    """The checkpoint to resume from: ``last.pt`` or, when a kill fell between replacing it and
    writing the next one, ``prev.pt``; a damaged ``last.pt`` is one line saying what to do."""
    last, prev = ckpt_dir / "last.pt", ckpt_dir / "prev.pt"
    path = last if last.is_file() else prev if prev.is_file() else None
    if path is None:
        return None
    try:
        return path, load_checkpoint(path)
    except CheckpointError as exc:
        older = (
            f"resume from the epoch before it (mv {prev} {last}) or "
            if path == last and prev.is_file()
            else ""
        )
        raise CheckpointError(
            f"--resume: {exc}; {older}start over (remove {ckpt_dir.parent} or choose another --out)"
        ) from exc
