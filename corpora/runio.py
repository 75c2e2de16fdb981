"""Writing result directories: atomic file writes and the ``run.json`` every command leaves behind.

Every output file is written to a temporary name in the same directory and moved into place with
:func:`os.replace`, so an interrupted run never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

_VERSIONED = ("notclip", "polars", "pyarrow", "fsspec", "numpy", "torch", "open_clip_torch")


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return _atomic(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> Path:
    return _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_parquet(path: Path, frame: Any) -> Path:
    """Write a Polars DataFrame to Parquet atomically."""
    return _atomic(path, lambda p: frame.write_parquet(p))


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the packages that shape our numbers (absent ones are left out)."""
    out = {"python": platform.python_version()}
    for name in (*_VERSIONED, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_revision() -> str | None:
    """The git commit of the notclip source tree, with ``-dirty`` when it has local changes."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def run_info(command: str, config: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """The common body of ``run.json``: what ran, with which options, on what, with which code.

    ``sections`` are added verbatim (e.g. ``inputs=[...]``, ``model={...}``, ``seed=0``).
    """
    return {
        "command": command,
        "argv": sys.argv,
        "config": config,
        **sections,
        "versions": package_versions(),
        "git_revision": git_revision(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_run_json(out_dir: Path, info: dict[str, Any]) -> Path:
    return atomic_write_json(Path(out_dir) / "run.json", info)
