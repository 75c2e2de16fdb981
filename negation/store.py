"""Never lose work: partial results saved as the scan goes, resume and merge.

Layout of an output directory::

    OUT/.lock                         held by the one negscan writing OUT (corpora.locks)
    OUT/partials/config.json          the options that shape the numbers (resume checks them)
    OUT/partials/<shard key>/         finished shards saved together, named after the first:
                                      tables.parquet (a row each) + shards.json (their records)
                                      or, for one shard, shard.json (its record)
    OUT/summary.json, per_word.parquet, per_shard.parquet, bigrams.parquet, classes.parquet,
    OUT/samples.parquet, run.json     the merged report (docs/RESULTS.md)

The shards analysed together are saved together: a batch's directory is written under a
temporary name and renamed into place, so a killed run leaves either the whole batch or nothing
of it (and loses at most the batch it was analysing). With ``--engine ray`` each task writes the
directory of its shards itself (:class:`BatchBuffer`); the records file is the batch's manifest,
so that the index of finished shards is rebuilt by reading one small file per batch.
Directories of one shard with one file per table, written by earlier negscans, are read as well.

A shard's key hashes its URL, size, modification time (or etag) and content identity: a changed
file is scanned again. A resumed scan takes the content identity of a file whose URL, size and
modification time (or etag) are unchanged from its partial's record
(:meth:`ResultStore.identities`), without reading it again. The content identity (size + a hash of
the Parquet footer, or a hash of a text file's bytes) recognises the same shard under two paths (a
copy, two mounts): it is counted once. The report is written as one unit
(:mod:`negation.report`); its ``run.json`` lists the shards it counted by key: what ``negscan
merge`` reads. The caller holds the directory's lock.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from corpora.captions import Footer
from corpora.runio import atomic_write_dir, atomic_write_json
from corpora.schema import C
from corpora.shards import Shard
from negation.scan import ScanResult

PARTIALS = "partials"
CONFIG = "config.json"
SHARDS_JSON = "shards.json"  # a batch's records, in the order of its tables' rows
SHARD_JSON = "shard.json"  # the record of a directory of one shard
TABLES = ("per_word", "bigrams", "classes", "samples", "unique_all", "unique_neg")
# A batch's tables in one file (a row per shard; a column of lists of structs per table): a file
# per table, or a directory per shard, cost a small shard more to write than to scan.
TABLES_FILE = "tables.parquet"
SUMMARY = "summary.json"
REPORT_FILES = (  # in the order they are moved into place: summary.json last
    "per_word.parquet",
    "per_shard.parquet",
    "bigrams.parquet",
    "classes.parquet",
    "samples.parquet",
    "run.json",
    SUMMARY,
)


@contextmanager
def write_guard(path: Path, out: Path) -> Iterator[None]:
    """A failed write (a full disk, ...) becomes one line naming the file; finished shards stay."""
    try:
        yield
    except (OSError, pl.exceptions.PolarsError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OSError(
            f"cannot write {path} ({reason}); the finished shards in {Path(out) / PARTIALS} are "
            "kept: rerun the same command to resume"
        ) from exc


@dataclass(frozen=True)
class ShardRecord:
    """What a finished partial says about its shard."""

    url: str
    size: int
    fingerprint: str
    content: str
    key: str
    counts: dict[str, int]


def shard_record(shard: Shard, counts: dict[str, int]) -> ShardRecord:
    return ShardRecord(shard.url, shard.size, shard.fingerprint, shard.content, shard.key, counts)


@dataclass(frozen=True)
class Location:
    """Where a shard's partial lies: a directory of ``partials`` and its row there."""

    dir: Path
    row: int


def index(partials: Path) -> dict[str, Location]:
    """Shard key → location of every finished partial in the directory ``partials``."""
    if not partials.is_dir():
        return {}
    where: dict[str, Location] = {}
    for path in sorted(partials.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        if (path / SHARDS_JSON).is_file():
            metas = json.loads((path / SHARDS_JSON).read_text("utf-8"))
            where.update((meta["key"], Location(path, row)) for row, meta in enumerate(metas))
        elif (path / SHARD_JSON).is_file():  # one shard, named by its key
            where[path.name] = Location(path, 0)
    return where


class PartialReader:
    """Reads partials; the records and tables of the last directory read are kept (a batch's
    shards are read one after another)."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._metas: list[dict[str, object]] = []
        self._packed: pl.DataFrame | None = None

    def _open(self, path: Path) -> None:
        if path == self._dir:
            return
        if (path / SHARDS_JSON).is_file():
            self._metas = json.loads((path / SHARDS_JSON).read_text("utf-8"))
        else:
            self._metas = [json.loads((path / SHARD_JSON).read_text("utf-8"))]
        self._packed = None  # read when a result is loaded (not for a record)
        self._dir = path

    def meta(self, loc: Location) -> dict[str, object]:
        self._open(loc.dir)
        return self._metas[loc.row]

    def record(self, loc: Location) -> ShardRecord:
        self._open(loc.dir)
        meta = self._metas[loc.row]
        if not meta.get("content"):
            raise ValueError(
                f"{loc.dir}: a partial result without a content identity (made by an older "
                "negscan): rerun negscan into its directory, which scans that shard again"
            )
        return ShardRecord(**meta)  # type: ignore[arg-type]

    def load(self, loc: Location) -> tuple[ShardRecord, ScanResult]:
        records, result = self.load_rows(loc.dir, [loc.row])
        return records[0], result

    def load_rows(self, path: Path, rows: list[int]) -> tuple[list[ShardRecord], ScanResult]:
        """The records of rows ``rows`` of one directory and their results as one: each table
        the rows' tables one after another (:func:`negation.analysis.combine` adds them up), the
        counts summed. One read of the directory, whatever the number of rows."""
        records = [self.record(Location(path, row)) for row in rows]
        if self._packed is None and (path / TABLES_FILE).exists():
            self._packed = pl.read_parquet(path / TABLES_FILE)
        if self._packed is not None:
            packed = self._packed[rows]
            tables = {
                name: packed.select(pl.col(name).explode(empty_as_null=False)).unnest(name)
                for name in packed.columns
            }
        else:  # written by an earlier negscan: one shard, one file per table
            tables = {
                name: pl.read_parquet(path / f"{name}.parquet")
                for name in TABLES
                if (path / f"{name}.parquet").exists()
            }
        counts = {key: sum(r.counts[key] for r in records) for key in records[0].counts}
        result = ScanResult(
            n_rows=counts[C.n_rows],
            n_null=counts[C.n_null],
            n_empty=counts[C.n_empty],
            n_with_negation=counts[C.n_with_negation],
            n_with_class_negation=counts[C.n_with_class_negation],
            per_word=tables["per_word"],
            bigrams=tables["bigrams"],
            classes=tables["classes"],
            samples=tables["samples"],
            unique_all=tables.get("unique_all"),
            unique_neg=tables.get("unique_neg"),
        )
        return records, result


def _pack(results: list[ScanResult]) -> pl.DataFrame:
    """Results' tables as a row each: column ``name`` holds table ``name`` as a list of rows."""
    names = [name for name in TABLES if getattr(results[0], name) is not None]
    return pl.DataFrame(
        [pl.Series(name, [getattr(r, name).to_struct(name) for r in results]) for name in names]
    )


def remove_leftovers(out: Path) -> None:
    """Delete the temporary files and directories of killed runs (``.tmp-*``, ``.*.tmp``)."""
    for d in (Path(out), Path(out) / PARTIALS):
        for p in [*d.glob(".tmp-*"), *d.glob(".*.tmp")]:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)


class ResultStore:
    """The partial results under ``OUT/partials`` for one set of options. The caller holds the
    lock of ``out``: leftovers of killed runs are removed."""

    def __init__(self, out: Path, config: dict[str, object], *, overwrite: bool = False) -> None:
        self.out = Path(out)
        self.dir = self.out / PARTIALS
        self.config = config
        remove_leftovers(self.out)
        if overwrite:
            shutil.rmtree(self.dir, ignore_errors=True)
            for name in REPORT_FILES:
                (self.out / name).unlink(missing_ok=True)
        cfg = self.dir / CONFIG
        if cfg.exists():
            old = json.loads(cfg.read_text("utf-8"))
            if old != config:
                changed = sorted(k for k in {*old, *config} if old.get(k) != config.get(k))
                raise ValueError(
                    f"{self.out} holds partial results made with other options "
                    f"({', '.join(changed)} differ): rerun with --overwrite or use another --out"
                )
        else:
            with write_guard(cfg, self.out):
                atomic_write_json(cfg, config)
        self._where: dict[str, Location] | None = None  # shard key -> its partial
        self._by_url: dict[str, list[str]] | None = None  # shard URL -> keys of its partials
        self._reader = PartialReader()

    def finished(self) -> dict[str, Location]:
        """Shard key → location of every finished partial."""
        self._where = index(self.dir)
        return dict(self._where)

    def load(self, key: str) -> tuple[ShardRecord, ScanResult]:
        if self._where is None or key not in self._where:
            self.finished()
        return self._reader.load(self._where[key])  # type: ignore[index]

    def load_many(self, keys: list[str]) -> Iterator[tuple[list[ShardRecord], ScanResult]]:
        """The finished partials of ``keys``, a directory at a time: its shards' records and
        their results as one (:meth:`PartialReader.load_rows`)."""
        if self._where is None or not set(keys) <= self._where.keys():
            self.finished()
        where: dict[str, Location] = self._where  # type: ignore[assignment]
        rows: dict[Path, list[int]] = {}
        for key in keys:
            rows.setdefault(where[key].dir, []).append(where[key].row)
        for path, taken in rows.items():
            yield self._reader.load_rows(path, taken)

    def identities(self) -> dict[tuple[str, int, str], Footer]:
        """The content identity and row count of each finished shard, by its file as listed
        (:attr:`corpora.shards.Shard.file`)."""
        out = {}
        for loc in self.finished().values():
            meta = self._reader.meta(loc)
            if meta.get("content"):  # (an older negscan's partial without one: scanned again)
                counts: dict[str, int] = meta["counts"]  # type: ignore[assignment]
                file = (str(meta["url"]), int(meta["size"]), str(meta["fingerprint"]))  # type: ignore[call-overload]
                out[file] = Footer(counts[C.n_rows], str(meta["content"]))
        return out

    def drop_other_versions(self, url: str, key: str) -> None:
        """Delete the partials of ``url`` under another key than ``key`` (an earlier version of
        the shard; ``key`` empty: every one); the other shards of its batch are kept."""
        if self._by_url is None:
            self._by_url = {}
            for k, loc in self.finished().items():
                self._by_url.setdefault(str(self._reader.meta(loc)["url"]), []).append(k)
        for k in self._by_url.pop(url, []):
            if k != key:
                self._drop(k)
        self._by_url[url] = [key] if key else []

    def _drop(self, key: str) -> None:
        """Delete one shard's partial (its batch is written again without it)."""
        if self._where is None:
            self.finished()
        where: dict[str, Location] = self._where  # type: ignore[assignment]
        loc = where.pop(key)
        others = sorted(
            (k for k, o in where.items() if o.dir == loc.dir), key=lambda k: where[k].row
        )
        kept = [self._reader.load(where[k]) for k in others]
        self._reader = PartialReader()  # (its cache may hold the directory deleted here)
        if kept:
            self.save_batch(kept)
        if not kept or kept[0][0].key != loc.dir.name:
            shutil.rmtree(loc.dir)

    def save(self, shard: Shard, result: ScanResult) -> Path:
        """Write one shard's partial (:meth:`save_batch`)."""
        return self.save_batch([(shard_record(shard, result.counts), result)])

    def save_batch(self, batch: list[tuple[ShardRecord, ScanResult]]) -> Path:
        """Write the partials of several shards as one directory atomically (temporary
        directory, then rename), named after the first shard's key.

        A partial of an earlier version of one of the shards (same URL, other size or
        modification time) is deleted first, so that a directory never holds two versions of one
        shard.
        """
        for record, _ in batch:
            self.drop_other_versions(record.url, record.key)
        final = write_partial(self.out, batch)
        if self._where is not None:
            self._where.update((r.key, Location(final, row)) for row, (r, _) in enumerate(batch))
        return final


def write_partial(out: Path, batch: list[tuple[ShardRecord, ScanResult]]) -> Path:
    """Write the partials of several shards as one directory of ``out``'s partials atomically
    (a temporary directory, then a rename), named after the first shard's key: their tables
    (a row each) and their records (the batch's manifest)."""
    final = Path(out) / PARTIALS / batch[0][0].key

    def write(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        _pack([result for _, result in batch]).write_parquet(tmp / TABLES_FILE)
        records = [record.__dict__ for record, _ in batch]
        if len(records) == 1:
            (tmp / SHARD_JSON).write_text(json.dumps(records[0], indent=2), "utf-8")
        else:
            (tmp / SHARDS_JSON).write_text(json.dumps(records, indent=2), "utf-8")

    with write_guard(final, out):
        atomic_write_dir(final, write)
    return final


class Store(Protocol):
    """Where :func:`negation.scanning.scan_units` finds finished partials and saves new ones."""

    def finished(self) -> dict[str, Location]: ...

    def load(self, key: str) -> tuple[ShardRecord, ScanResult]: ...

    def save_batch(self, batch: list[tuple[ShardRecord, ScanResult]]) -> Path: ...


class BatchBuffer:
    """The store of one Ray task: nothing finished; what the scan saves is kept and written by
    :meth:`commit` as one partial directory of ``out`` (the task's whole batch)."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.saved: list[tuple[ShardRecord, ScanResult]] = []

    def finished(self) -> dict[str, Location]:
        return {}

    def load(self, key: str) -> tuple[ShardRecord, ScanResult]:
        raise KeyError(key)

    def save_batch(self, batch: list[tuple[ShardRecord, ScanResult]]) -> Path:
        self.saved.extend(batch)
        return self.out / PARTIALS

    def commit(self) -> str | None:
        """Write what was saved; the directory's name (None: nothing was saved)."""
        return write_partial(self.out, self.saved).name if self.saved else None


@dataclass
class Outcome:
    result: ScanResult
    records: list[ShardRecord]
    reused: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # copies of other shards, counted once
