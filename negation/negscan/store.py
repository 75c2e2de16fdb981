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
(:mod:`.report`); its ``per_shard.parquet`` lists the shards it counted by key: what
``negscan merge`` reads. The caller holds the directory's lock.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import polars as pl

from corpora.captions import Footer
from corpora.places import Place
from corpora.runio import atomic_write_dir
from corpora.schema import C
from corpora.shards import Shard
from negation.negscan.scan import ScanResult

if TYPE_CHECKING:
    from negation.negscan.records import Records

PARTIALS = "partials"
CONFIG = "config.json"
SHARDS_JSON = "shards.json"  # a batch's records, in the order of its tables' rows
SHARD_JSON = "shard.json"  # the record of a directory of one shard
TABLES = ("per_word", "bigrams", "classes", "samples", "unique_all", "unique_neg")
# A batch's tables in one file (a row per shard; a column of lists of structs per table): a file
# per table, or a directory per shard, cost a small shard more to write than to scan.
TABLES_FILE = "tables.parquet"
SUMMARY = "summary.json"
PER_SHARD = "per_shard.parquet"  # each shard counted (run.json's inputs name it)
REPORT_FILES = (  # in the order they are moved into place: summary.json last
    "per_word.parquet",
    PER_SHARD,
    "bigrams.parquet",
    "classes.parquet",
    "samples.parquet",
    "run.json",
    SUMMARY,
)


@contextmanager
def write_guard(path: Path | Place, out: Path | Place) -> Iterator[None]:
    """A failed write (a full disk, ...) becomes one line naming the file; finished shards stay."""
    try:
        yield
    except (OSError, pl.exceptions.PolarsError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OSError(
            f"cannot write {path} ({reason}); the finished shards in {out / PARTIALS} are "
            "kept: rerun the same command to resume"
        ) from exc


@dataclass(frozen=True, slots=True)
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

    dir: Place
    row: int


Manifests = dict[Place, list[dict[str, object]]]  # each partial directory's records


def read_index(partials: Path | Place) -> tuple[dict[str, Location], Manifests]:
    """Shard key → location of every finished partial in the directory ``partials``, and the
    records of each directory: one listing and one read of every manifest (at a URL, the
    manifests are fetched together). A directory without its manifest is not finished."""
    partials = partials if isinstance(partials, Place) else Place(partials)
    found: dict[str, set[str]] = {}
    for name in partials.files():
        parent, _, file = name.partition("/")
        if file and "/" not in file and not parent.startswith("."):
            found.setdefault(parent, set()).add(file)
    names = {
        d: f"{d}/{SHARDS_JSON}" if SHARDS_JSON in files else f"{d}/{SHARD_JSON}"
        for d, files in sorted(found.items())
        if SHARDS_JSON in files or SHARD_JSON in files
    }
    texts = partials.read_many(list(names.values()))
    where: dict[str, Location] = {}
    manifests: Manifests = {}
    for d, name in names.items():
        data = json.loads(texts[name].decode("utf-8"))
        path = partials / d
        if name.endswith(SHARDS_JSON):
            manifests[path] = data
            where.update((meta["key"], Location(path, row)) for row, meta in enumerate(data))
        else:  # one shard, named by its key
            manifests[path] = [data]
            where[d] = Location(path, 0)
    return where, manifests


def index(partials: Path | Place) -> dict[str, Location]:
    """Shard key → location of every finished partial in the directory ``partials``."""
    return read_index(partials)[0]


class PartialReader:
    """Reads partials; the records and tables of the last directory read are kept (a batch's
    shards are read one after another). ``manifests``: directories' records read already."""

    def __init__(self, manifests: Manifests | None = None) -> None:
        self.manifests = manifests if manifests is not None else {}
        self._dir: Place | None = None
        self._metas: list[dict[str, object]] = []
        self._packed: pl.DataFrame | None = None

    def _open(self, path: Place) -> None:
        if path == self._dir:
            return
        if path in self.manifests:
            self._metas = self.manifests[path]
        elif (path / SHARDS_JSON).is_file():
            self._metas = (path / SHARDS_JSON).read_json()
        else:
            self._metas = [(path / SHARD_JSON).read_json()]
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

    def load_rows(self, path: Place, rows: list[int]) -> tuple[list[ShardRecord], ScanResult]:
        """The records of rows ``rows`` of one directory and their results as one: each table
        the rows' tables one after another (:func:`.analysis.combine` adds them up), the
        counts summed. One read of the directory, whatever the number of rows."""
        records = [self.record(Location(path, row)) for row in rows]
        if self._packed is None and (path / TABLES_FILE).exists():
            self._packed = (path / TABLES_FILE).read_parquet()
        if self._packed is not None:
            packed = self._packed[rows]
            tables = {
                name: packed.select(pl.col(name).explode(empty_as_null=False)).unnest(name)
                for name in packed.columns
            }
        else:  # written by an earlier negscan: one shard, one file per table
            tables = {
                name: (path / f"{name}.parquet").read_parquet()
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
    """Delete the temporary files and directories of killed runs (``.tmp-*``, ``.*.tmp``; only
    a local directory has them)."""
    for d in (Path(out), Path(out) / PARTIALS):
        for p in [*d.glob(".tmp-*"), *d.glob(".*.tmp")]:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)


class ResultStore:
    """The partial results under ``OUT/partials`` (a local directory or a URL) for one set of
    options. The caller holds the lock of ``out``: leftovers of killed runs are removed."""

    def __init__(
        self, out: Path | Place | str, config: dict[str, object], *, overwrite: bool = False
    ) -> None:
        self.out = out if isinstance(out, Place) else Place(out)
        self.dir = self.out / PARTIALS
        self.config = config
        if self.out.local is not None:
            remove_leftovers(self.out.local)
        if overwrite:
            self.dir.rmtree()
            for name in REPORT_FILES:
                (self.out / name).unlink()
        cfg = self.dir / CONFIG
        if cfg.exists():
            old = cfg.read_json()
            if old != config:
                changed = sorted(k for k in {*old, *config} if old.get(k) != config.get(k))
                raise ValueError(
                    f"{self.out} holds partial results made with other options "
                    f"({', '.join(changed)} differ): rerun with --overwrite or use another --out"
                )
        else:
            with write_guard(cfg, self.out):
                cfg.write_json(config)
        self._where: dict[str, Location] | None = None  # shard key -> its partial
        self._by_url: dict[str, list[str]] | None = None  # shard URL -> keys of its partials
        self._reader = PartialReader()

    def finished(self) -> dict[str, Location]:
        """Shard key → location of every finished partial."""
        self._where, manifests = read_index(self.dir)
        self._reader = PartialReader(manifests)
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
        rows: dict[Place, list[int]] = {}
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
        if key:
            self._by_url[url] = [key]

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
            loc.dir.rmtree()

    def save(self, shard: Shard, result: ScanResult) -> Place:
        """Write one shard's partial (:meth:`save_batch`)."""
        return self.save_batch([(shard_record(shard, result.counts), result)])

    def save_batch(self, batch: list[tuple[ShardRecord, ScanResult]]) -> Place:
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


def write_partial(out: Place, batch: list[tuple[ShardRecord, ScanResult]]) -> Place:
    """Write the partials of several shards as one directory of ``out``'s partials, named after
    the first shard's key: their tables (a row each) and their records (the batch's manifest).
    Locally, atomically (a temporary directory, then a rename); at a URL, the manifest is
    removed first and written last, so that a directory with a manifest is whole."""
    final = out / PARTIALS / batch[0][0].key
    tables = _pack([result for _, result in batch])
    records = [asdict(record) for record, _ in batch]
    manifest = (SHARD_JSON, records[0]) if len(records) == 1 else (SHARDS_JSON, records)
    with write_guard(final, out):
        if final.local is None:
            for name in (SHARDS_JSON, SHARD_JSON):
                (final / name).unlink()
            (final / TABLES_FILE).write_parquet(tables)
            (final / manifest[0]).write_bytes(json.dumps(manifest[1], indent=2).encode())
            return final

        def write(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            tables.write_parquet(tmp / TABLES_FILE)
            (tmp / manifest[0]).write_text(json.dumps(manifest[1], indent=2), "utf-8")

        atomic_write_dir(final.local, write)
    return final


class Store(Protocol):
    """Where :func:`.scanning.scan_units` finds finished partials and saves new ones."""

    def finished(self) -> dict[str, Location]: ...

    def load(self, key: str) -> tuple[ShardRecord, ScanResult]: ...

    def save_batch(self, batch: list[tuple[ShardRecord, ScanResult]]) -> object: ...


class BatchBuffer:
    """The store of one Ray task: nothing finished; what the scan saves is kept and written by
    :meth:`commit` as one partial directory of ``out`` (the task's whole batch)."""

    def __init__(self, out: str) -> None:
        self.out = Place(out)
        self.saved: list[tuple[ShardRecord, ScanResult]] = []

    def finished(self) -> dict[str, Location]:
        return {}

    def load(self, key: str) -> tuple[ShardRecord, ScanResult]:
        raise KeyError(key)

    def save_batch(self, batch: list[tuple[ShardRecord, ScanResult]]) -> None:
        self.saved.extend(batch)

    def commit(self) -> str | None:
        """Write what was saved; the directory's name (None: nothing was saved)."""
        return write_partial(self.out, self.saved).name if self.saved else None


@dataclass
class Outcome:
    result: ScanResult
    shards: Records  # the shards counted (in order: negation.negscan.records.Records)
    reused: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # copies of other shards, counted once

    @property
    def records(self) -> pl.DataFrame:
        """The shards counted as one frame, in order (columns: :data:`.records.RECORDS`)."""
        return self.shards.frame()
