"""Advisory locks on output directories: one writer at a time, readers not while it writes.

The lock is ``fcntl.flock`` on a ``.lock`` file in the directory. The kernel releases it when the
process ends, however it ends, so a killed run never leaves a stale lock behind. On a filesystem
that cannot lock (some FUSE mounts) the context managers yield ``False`` and hold nothing.
"""

from __future__ import annotations

import errno
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".lock"


def cannot_lock(directory: Path) -> str:
    """The warning to give when a directory's filesystem cannot lock (the run goes on)."""
    return f"cannot lock {directory}: its filesystem does not support it"


class DirectoryBusy(ValueError):
    """Another process holds the directory's lock."""


_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@contextmanager
def _flock(file, mode: int, directory: Path, command: str) -> Iterator[bool]:
    try:
        fcntl.flock(file, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        raise DirectoryBusy(f"another {command} is writing {directory}") from None
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
        yield False
        return
    yield True  # released when the file is closed


@contextmanager
def writing(directory: Path, command: str) -> Iterator[bool]:
    """Hold ``directory``'s exclusive lock (creating the directory); :class:`DirectoryBusy`
    ("another COMMAND is writing DIR") at once if another process holds it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK, "a") as f, _flock(f, fcntl.LOCK_EX, directory, command) as held:
        yield held


@contextmanager
def reading(directory: Path, command: str) -> Iterator[bool]:
    """Hold ``directory``'s shared lock: :class:`DirectoryBusy` at once while another process
    writes there. A directory never locked (no lock file) or read-only is read without one."""
    try:
        f = open(Path(directory) / LOCK, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError:
        yield False
        return
    with f, _flock(f, fcntl.LOCK_SH, Path(directory), command) as held:
        yield held
