"""Content identity of local files: each file's SHA-256, computed once and remembered.

Caches are keyed on what files hold, not on their paths: weight files (:mod:`backbone`) and
image files (:meth:`corpora.multilabel.MultiLabelSplit.content_digest`). Hashing every file on
every run would cost a read of all of them (COCO's 122k images: 19 GB), so a file's SHA-256 is
kept in a registry (:data:`REGISTRY`, one JSON per folder, each file of it with its ``size``,
``mtime_ns``, ``ctime_ns`` and ``inode``) and reused only while all four are the file's own; any
difference hashes it again. The change time cannot be set by a user: writing new content into a
file changes it even when the modification time is put back afterwards (``cp -p``, ``rsync -a``,
``tar`` restore it, and ``rsync``/``tar`` also make a new inode). Renames, new links and permission
changes change it too, which only costs a new hash. What the registry cannot see is a content
change that leaves all four as they were (a file system whose change times are missing or coarser
than the interval between two writes, a clock set back).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from corpora.runio import atomic_write_text

REGISTRY = Path("~/.cache/notclip/sha256")  # one JSON per folder: its files' SHA-256 and stats
STAT = ("size", "mtime_ns", "ctime_ns", "inode")
HASH_THREADS = 8  # files hashed at once (reads and hashlib release the GIL)
SAVE_EVERY = 8192  # hashes between registry writes (an interrupted first pass keeps its work)


def sha256_file(path: str | Path) -> str:
    """The SHA-256 (hex) of all of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _stat(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _registry_file(folder: str) -> Path:
    return REGISTRY.expanduser() / f"{hashlib.sha1(folder.encode()).hexdigest()[:24]}.json"


def _load(folder: str) -> dict[str, list]:
    try:
        data = json.loads(_registry_file(folder).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("folder") == folder else None
    return files if isinstance(files, dict) else {}


def _save(folder: str, files: dict[str, list]) -> None:
    with contextlib.suppress(OSError):  # a read-only registry only means hashing again next time
        compact = json.dumps({"folder": folder, "files": files}, separators=(",", ":"))
        atomic_write_text(_registry_file(folder), compact)


def file_identities(
    paths: Sequence[str | Path], on_hashing: Callable[[int], None] | None = None
) -> list[dict[str, Any]]:
    """``{path, size, mtime_ns, ctime_ns, inode, sha256}`` of each file (``path`` made absolute),
    in order. Hashes come from :data:`REGISTRY` while the four stats match (module docstring);
    the others are computed, in threads, and recorded. ``on_hashing(n)`` is called once with the
    number of files to hash, when there are any. A file that cannot be read raises ``OSError``."""
    absolute = [os.path.abspath(p) for p in paths]
    where = [os.path.split(p) for p in absolute]
    stats = [_stat(p) for p in absolute]
    folders = {folder: _load(folder) for folder in dict.fromkeys(f for f, _ in where)}
    known: dict[int, str] = {}
    todo = []
    for i, ((folder, name), st) in enumerate(zip(where, stats, strict=True)):
        record = folders[folder].get(name)
        if isinstance(record, list) and len(record) == 5 and record[:4] == st:
            known[i] = record[4]
        else:
            todo.append(i)
    if todo:
        if on_hashing is not None:
            on_hashing(len(todo))
        pool = ThreadPoolExecutor(min(HASH_THREADS, len(todo)))
        try:
            for start in range(0, len(todo), SAVE_EVERY):
                part = todo[start : start + SAVE_EVERY]
                changed = set()
                digests = pool.map(sha256_file, [absolute[i] for i in part])
                for i, digest in zip(part, digests, strict=True):
                    known[i] = digest
                    folder, name = where[i]
                    folders[folder][name] = [*stats[i], digest]
                    changed.add(folder)
                for folder in changed:
                    _save(folder, folders[folder])
        finally:  # on Ctrl-C: drop the queued files, wait only for those being read
            pool.shutdown(cancel_futures=True)
    return [
        {"path": p, **dict(zip(STAT, st, strict=True)), "sha256": known[i]}
        for i, (p, st) in enumerate(zip(absolute, stats, strict=True))
    ]
