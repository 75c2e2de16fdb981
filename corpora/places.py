"""Where result files go: a local directory or a directory below an fsspec URL (``s3://…``,
``gs://…``, ``memory://…``), read and written as whole files through one small interface.

A local write goes to a temporary name beside the file and is renamed into place
(:mod:`corpora.runio`); at a URL an object is written in one request, which is all or nothing.
Listing everything below a directory is one walk (at a URL: a recursive listing), and several
files are read at once (at a URL: concurrently, where the filesystem can), so that a directory
of many small files costs a few requests, not one per file.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

from corpora.runio import atomic_write_bytes, atomic_write_json, atomic_write_parquet, json_text


def remote_url(path: str | os.PathLike) -> str | None:
    """``path`` when it is a URL of a non-local fsspec filesystem (``s3://``, ``memory://``, …),
    else None (a local path, ``file://`` included)."""
    path = str(path)
    if "://" not in path:
        return None
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    try:
        fs = fsspec.core.url_to_fs(path)[0]
    except ImportError as exc:  # the scheme's back-end is missing
        raise ValueError(f"{path}: {exc} (pip install 'notclip[remote]')") from None
    except ValueError as exc:  # an unknown protocol
        raise ValueError(f"{path}: {exc}") from None
    return None if isinstance(fs, LocalFileSystem) else path


class Place:
    """A file or directory: ``local`` (a path) or, at a URL, ``path`` on the filesystem ``fs``."""

    def __init__(self, where: str | os.PathLike) -> None:
        url = None if isinstance(where, Path) else remote_url(where)
        self.fs: Any = None
        if url is None:
            self.local: Path | None = Path(where).expanduser()
            self.path = str(self.local)
        else:
            import fsspec

            self.local = None
            self.fs, path = fsspec.core.url_to_fs(url)
            self.path = path.rstrip("/")
            self.url = url.rstrip("/")

    def __truediv__(self, name: str) -> Place:
        if self.local is not None:
            return Place(self.local / name)
        child = object.__new__(Place)
        child.local, child.fs = None, self.fs
        child.path, child.url = f"{self.path}/{name}", f"{self.url}/{name}"
        return child

    def __str__(self) -> str:
        return str(self.local) if self.local is not None else self.url

    def __repr__(self) -> str:
        return f"Place({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Place) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def exists(self) -> bool:
        return self.local.exists() if self.local is not None else self.fs.exists(self.path)

    def is_dir(self) -> bool:
        return self.local.is_dir() if self.local is not None else self.fs.isdir(self.path)

    def is_file(self) -> bool:
        return self.local.is_file() if self.local is not None else self.fs.isfile(self.path)

    def files(self) -> list[str]:
        """Every file below this directory, as paths relative to it (``a/b.json``), sorted."""
        if self.local is not None:
            if not self.local.is_dir():
                return []
            return sorted(
                os.path.relpath(os.path.join(top, f), self.local)
                for top, _, names in os.walk(self.local)
                for f in names
            )
        if not self.fs.isdir(self.path):
            return []
        return sorted(p[len(self.path) + 1 :] for p in self.fs.find(self.path))

    def read_bytes(self) -> bytes:
        return self.local.read_bytes() if self.local is not None else self.fs.cat_file(self.path)

    def read_many(self, names: list[str]) -> dict[str, bytes]:
        """The files ``names`` (relative to this directory), read at once."""
        if self.local is not None or not names:
            return {name: (self / name).read_bytes() for name in names}
        got = self.fs.cat([f"{self.path}/{name}" for name in names], on_error="raise")
        return {name: got[f"{self.path}/{name}"] for name in names}

    def read_json(self) -> Any:
        return json.loads(self.read_bytes().decode("utf-8"))

    def read_parquet(self) -> Any:
        import polars as pl

        return pl.read_parquet(self.local if self.local is not None else self.read_bytes())

    def write_bytes(self, data: bytes) -> None:
        if self.local is not None:
            atomic_write_bytes(self.local, data)
        else:
            self.fs.pipe_file(self.path, data)

    def write_json(self, obj: Any) -> None:
        if self.local is not None:
            atomic_write_json(self.local, obj)
        else:
            self.write_bytes(json_text(obj).encode())

    def write_parquet(self, frame: Any) -> None:
        if self.local is not None:
            atomic_write_parquet(self.local, frame)
        else:
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            self.write_bytes(buffer.getvalue())

    def unlink(self) -> None:
        """Remove the file, if it is there."""
        if self.local is not None:
            self.local.unlink(missing_ok=True)
        elif self.fs.exists(self.path):
            self.fs.rm_file(self.path)

    def rmtree(self) -> None:
        """Remove the directory and everything below it, if it is there."""
        if self.local is not None:
            shutil.rmtree(self.local, ignore_errors=True)
        elif self.fs.exists(self.path):
            self.fs.rm(self.path, recursive=True)
