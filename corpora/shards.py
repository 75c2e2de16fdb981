"""Shard lists: expand files, directories, quoted globs, brace patterns and fsspec URLs into a
sorted explicit list of :class:`Shard` records.

Globs and URLs (``s3://``, ``gs://``, ``hf://``, ``https://``, ``memory://``) are resolved with
fsspec (:func:`fsspec.core.url_to_fs`, imported only then); a plain local file or directory with
the standard library, exactly as fsspec's local filesystem would. A pattern that matches nothing
is an error that names it, and so is a brace pattern some of whose names match nothing (unless
missing names are allowed); every pattern reports how many files it matched.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from braceexpand import UnbalancedBracesError, braceexpand  # type: ignore[attr-defined]

from corpora.listing import Shard as Shard
from corpora.listing import ShardList

# how often a remote shard's read is tried again after a storage or network error (the waits:
# corpora.captions.retrying); a constant here, where the CLI can read it without Polars
DEFAULT_RETRIES = 3

if TYPE_CHECKING:
    import fsspec

_GLOB_CHARS = set("*?[")


def expand_braces(pattern: str) -> list[str]:
    """Expand ``{00000..00031}`` (zero-padded when a bound is), ``{a,b}`` and nested groups, in
    order, with ``braceexpand`` (as open_clip's WebDataset loader does). Backslashes are kept as
    written (Windows paths), and a pattern with unbalanced braces is one literal name."""
    try:
        return list(braceexpand(pattern, escape=False))
    except UnbalancedBracesError:  # a stray brace is part of a file name, as it always was here
        return [pattern]


def _fingerprint(info: dict) -> str:
    for key in ("ETag", "etag", "md5", "mtime", "LastModified", "last_modified", "created"):
        if info.get(key) not in (None, ""):
            return f"{key}={info[key]}"
    return ""


def _to_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        return str(Path(path).resolve())
    return fs.unstrip_protocol(path)


Add = Callable[[str, int, str], None]  # is given each file matched: its URL, size, fingerprint


def _is_plain(name: str) -> bool:
    """A local file or directory name: no URL, no fsspec chaining, no glob characters."""
    return "://" not in name and "::" not in name and not _GLOB_CHARS & set(name)


def _plain_matches(name: str, suffixes: tuple[str, ...], add: Add) -> tuple[str, int]:
    """What a plain local name matches, read as fsspec's local filesystem reads it: a directory's
    files below it (real subdirectories entered, unreadable ones passed over; links followed for
    the size and time), or the file itself; each given to ``add`` as found. Returns the kind of
    match and the number of files."""
    path = os.path.abspath(os.path.expanduser(name))
    if not os.path.isdir(path):
        if not os.path.exists(path):
            return "file", 0
        return "file", _add_file(path, os.path.realpath(path), add)
    matched = 0
    todo = [(path, os.path.realpath(path))]
    while todo:
        here, resolved = todo.pop()
        for entry in _entries(here):
            # (resolved from its resolved directory: one system call less per part)
            real = os.path.join(resolved, entry.name)
            if entry.is_dir(follow_symlinks=False):
                todo.append((entry.path, real))
            elif entry.name.endswith(suffixes) and not entry.name.startswith("."):
                real = os.path.realpath(entry.path) if entry.is_symlink() else real
                matched += _add_file(entry.path, real, add)
    return "directory", matched


def _entries(directory: str) -> Iterator[os.DirEntry[str]]:
    """A directory's entries; none if it cannot be read."""
    try:
        with os.scandir(directory) as entries:
            yield from entries
    except OSError:
        return


def _add_file(path: str, real: str, add: Add) -> int:
    """Give a local file to ``add`` (not a directory: a link to one): how many were given."""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        return 0
    add(real, info.st_size, f"mtime={info.st_mtime}")
    return 1


def _fsspec_matches(name: str, suffixes: tuple[str, ...], add: Add) -> tuple[str, int]:
    """What a glob or URL matches, through fsspec (as :func:`_plain_matches`)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(name)
    if _GLOB_CHARS & set(path):
        kind, paths = "glob", sorted(fs.glob(path))
    elif fs.isdir(path):
        kind = "directory"
        paths = sorted(
            p
            for p in fs.find(path)
            if p.endswith(suffixes) and not p.rsplit("/", 1)[-1].startswith(".")
        )
    else:
        kind, paths = "file", [path] if fs.exists(path) else []
    matched = 0
    for p in paths:
        info = fs.info(p)
        if info.get("type") != "directory":
            add(_to_url(fs, p), int(info.get("size") or 0), _fingerprint(info))
            matched += 1
    return kind, matched


@dataclass(frozen=True)
class PatternMatch:
    """What one input pattern matched: its kind (file, directory, glob, braces), the number of
    files and, for a brace pattern, the names it lists that match nothing."""

    pattern: str
    kind: str
    matched: int
    missing: tuple[str, ...] = ()


def expand(
    patterns: Iterable[str],
    suffixes: tuple[str, ...] = (".parquet",),
    allow_missing: bool = False,  # noqa: FBT001, FBT002 (negscan text passes it positionally)
) -> tuple[ShardList, list[PatternMatch]]:
    """Resolve patterns into a sorted, duplicate-free list of shards (held compactly: a
    :class:`corpora.listing.ShardList`), and what each matched.

    A directory contributes the files below it whose names end with one of ``suffixes``
    (hidden files are skipped); a glob or brace pattern contributes its matches. Raises
    :class:`FileNotFoundError` naming the pattern when one matches nothing, or when a brace
    pattern lists names that match nothing (how many, and the first few) unless
    ``allow_missing``.
    """
    found = ShardList()
    report: list[PatternMatch] = []
    for pattern in patterns:
        matched = 0
        names = expand_braces(pattern)
        missing: list[str] = []
        for expanded in names:
            matches = _plain_matches if _is_plain(expanded) else _fsspec_matches
            kind, files = matches(expanded, suffixes, found.append)
            matched += files
            if not files:
                missing.append(expanded)
        if not matched:
            raise FileNotFoundError(f"no input matches {pattern!r}")
        if missing and not allow_missing:
            first = ", ".join(missing[:3]) + (", …" if len(missing) > 3 else "")
            raise FileNotFoundError(
                f"{pattern!r}: {len(missing)} of the {len(names)} names it lists match no file "
                f"({first}); pass --allow-missing to scan the {len(names) - len(missing)} others"
            )
        kind = "braces" if len(names) > 1 else kind
        report.append(PatternMatch(pattern, kind, matched, tuple(missing)))
    return found.sorted(), report
