"""A shard (:class:`Shard`: one input file and its identity) and a shard list held compactly
(:class:`ShardList`): hundreds of thousands of shards in a few bytes each beyond their names,
rather than a Python object (~300 bytes) per shard.

Each URL is stored as its directory (each held once) and its file name (in one text buffer), sizes
and offsets in arrays; a :class:`Shard` is made when an item is read.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, overload


@dataclass(frozen=True, slots=True)
class Shard:
    """One input file: its URL (an absolute path for local files; only a label), size in bytes,
    fingerprint (modification time or etag) and ``content``, the identity of its bytes (e.g.
    size + a hash of the Parquet footer; filled in by the reader that checks the shard). The same
    content under two URLs (a copy, two mounts) is the same shard."""

    url: str
    size: int
    fingerprint: str
    content: str = ""

    @property
    def key(self) -> str:
        """A short stable identifier of (url, size, fingerprint, content), used for resume files:
        a shard that changed in any way is scanned again."""
        raw = f"{self.url}\0{self.size}\0{self.fingerprint}\0{self.content}".encode()
        return hashlib.sha1(raw).hexdigest()[:20]

    @property
    def file(self) -> tuple[str, int, str]:
        """The file as listed (URL, size, fingerprint): a shard's content identity is taken as
        unchanged while these are."""
        return self.url, self.size, self.fingerprint

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def is_local(self) -> bool:
        if "://" not in self.url:  # a plain path: how local files are named (fast: no fsspec)
            return True
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(fsspec.core.url_to_fs(self.url)[0], LocalFileSystem)

    def open(self) -> IO[bytes]:
        if "://" not in self.url:
            return open(self.url, "rb")
        import fsspec

        fs, path = fsspec.core.url_to_fs(self.url)
        return fs.open(path, "rb")

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive): one ranged read (a remote shard is not opened
        with a read-ahead cache, which would fetch more than asked for)."""
        if "://" not in self.url:
            with open(self.url, "rb") as f:
                f.seek(start)
                return f.read(end - start)
        import fsspec

        fs, path = fsspec.core.url_to_fs(self.url)
        return fs.cat_file(path, start, end)


class ShardList(Sequence[Shard]):
    """Shards (URL, size, fingerprint) in the order added; :meth:`sorted` gives them sorted by
    URL, each URL once (the last one added)."""

    def __init__(self) -> None:
        self._dirs: list[str] = []
        self._dir_index: dict[str, int] = {}
        self._dir = array("l")
        self._text = bytearray()  # each shard's file name, then its fingerprint (UTF-8)
        self._ends = array("q")  # where each shard's name and fingerprint end in _text
        self._sizes = array("q")

    def append(self, url: str, size: int, fingerprint: str) -> None:
        cut = url.rfind("/") + 1
        head, name = url[:cut], url[cut:]
        if head not in self._dir_index:
            self._dir_index[head] = len(self._dirs)
            self._dirs.append(head)
        self._dir.append(self._dir_index[head])
        self._text += name.encode()
        self._ends.append(len(self._text))
        self._text += fingerprint.encode()
        self._ends.append(len(self._text))
        self._sizes.append(size)

    def __len__(self) -> int:
        return len(self._sizes)

    def url(self, i: int) -> str:
        start = self._ends[2 * i - 1] if i else 0
        name = self._text[start : self._ends[2 * i]].decode()
        return self._dirs[self._dir[i]] + name

    @overload
    def __getitem__(self, i: int) -> Shard: ...
    @overload
    def __getitem__(self, i: slice) -> list[Shard]: ...
    def __getitem__(self, i: int | slice) -> Shard | list[Shard]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        fingerprint = self._text[self._ends[2 * i] : self._ends[2 * i + 1]].decode()
        return Shard(self.url(i), self._sizes[i], fingerprint)

    def __iter__(self) -> Iterator[Shard]:
        return (self[i] for i in range(len(self)))

    def sorted(self) -> ShardList:
        """The shards sorted by URL, a URL given twice kept once (its last entry)."""
        order = sorted(range(len(self)), key=self.url)  # (stable: the last of equals, last)
        out = ShardList()
        for n, i in enumerate(order):
            if n + 1 < len(order) and self.url(order[n + 1]) == self.url(i):
                continue
            shard = self[i]
            out.append(shard.url, shard.size, shard.fingerprint)
        return out
