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
of it (and loses at most the batch it was analysing). Directories of one shard with one file per
table, written by earlier negscans, are read as well.

A shard's key hashes its URL, size, modification time (or etag) and content identity: a changed
file is scanned again. The content identity (size + a hash of the Parquet footer, or a hash of a
text file's bytes) recognises the same shard under two paths (a copy, two mounts): it is counted
once. The report is written as one unit (:mod:`negation.report`); its ``run.json`` lists the
shards it counted by key: what ``negscan merge`` reads. The caller holds the directory's lock.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from corpora.runio import atomic_write_dir, atomic_write_json
from corpora.schema import C
from corpora.shards import Shard
from negation.analysis import combine
from negation.scan import ScanResult, options_from_config

PARTIALS = "partials"
CONFIG = "config.json"
SHARDS_JSON = "shards.json"  # a batch's records, in the order of its tables' rows
SHARD_JSON = "shard.json"  # the record of a directory of one shard
TABLES = ("per_word", "bigrams", "classes", "samples", "unique_all", "unique_neg")
# A batch's tables in one file (a row per shard; a column of lists of structs per table): a file
# per table, or a directory per shard, cost a small shard more to write than to scan.
TABLES_FILE = "tables.parquet"
SUMMARY = "summary.json"
MERGE_BATCH = 1000  # shards copied into a merged directory saved as one batch
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

    def url(self, loc: Location) -> str:
        self._open(loc.dir)
        return str(self._metas[loc.row]["url"])

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
        record = self.record(loc)
        if self._packed is None and (loc.dir / TABLES_FILE).exists():
            self._packed = pl.read_parquet(loc.dir / TABLES_FILE)
        if self._packed is not None:
            row = self._packed.slice(loc.row, 1)
            tables = {
                name: row.select(pl.col(name).explode(empty_as_null=False)).unnest(name)
                for name in row.columns
            }
        else:  # written by an earlier negscan: one file per table
            tables = {
                name: pl.read_parquet(loc.dir / f"{name}.parquet")
                for name in TABLES
                if (loc.dir / f"{name}.parquet").exists()
            }
        counts = record.counts
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
        return record, result


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

    def drop_other_versions(self, url: str, key: str) -> None:
        """Delete the partials of ``url`` under another key (an earlier version of the shard);
        the other shards of its batch are kept."""
        if self._by_url is None:
            self._by_url = {}
            for k, loc in self.finished().items():
                self._by_url.setdefault(self._reader.url(loc), []).append(k)
        for k in self._by_url.pop(url, []):
            if k != key:
                self._drop(k)
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
        final = self.dir / batch[0][0].key

        def write(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            _pack([result for _, result in batch]).write_parquet(tmp / TABLES_FILE)
            records = [record.__dict__ for record, _ in batch]
            if len(records) == 1:
                (tmp / SHARD_JSON).write_text(json.dumps(records[0], indent=2), "utf-8")
            else:
                (tmp / SHARDS_JSON).write_text(json.dumps(records, indent=2), "utf-8")

        with write_guard(final, self.out):
            atomic_write_dir(final, write)
        if self._where is not None:
            self._where.update((r.key, Location(final, row)) for row, (r, _) in enumerate(batch))
        return final


@dataclass
class Outcome:
    result: ScanResult
    records: list[ShardRecord]
    reused: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)


def _same_result(a: ScanResult, b: ScanResult) -> bool:
    """Whether two partials found the same counts (the same bytes always do)."""

    def rows(r: ScanResult, name: str) -> pl.DataFrame:
        table = getattr(r, name)
        return table.sort(table.columns)

    return a.counts == b.counts and all(
        rows(a, name).equals(rows(b, name)) for name in ("per_word", "bigrams", "classes")
    )


def reported_partials(d: Path) -> list[Location]:
    """The partials that ``d``'s last report counted (not every partial lying in ``d``)."""
    d = Path(d)
    if not (d / SUMMARY).is_file():
        raise ValueError(
            f"{d}: no finished report ({SUMMARY}): rerun the negscan command that writes there "
            "(it resumes) before merging"
        )
    inputs = json.loads((d / "run.json").read_text("utf-8")).get("inputs", [])
    if any("partial" not in entry for entry in inputs):
        raise ValueError(
            f"{d}: a report made by an older negscan (it does not list its partials): rerun the "
            "negscan command that writes there before merging"
        )
    where = index(d / PARTIALS)
    for entry in inputs:
        if entry["partial"] not in where:
            raise ValueError(
                f"{d}: its report counts {entry['shard']}, whose partial result "
                f"{entry['partial']} is gone (a later run there was interrupted): rerun it to "
                "finish before merging"
            )
    return [where[entry["partial"]] for entry in inputs]


def merge_partials(dirs: list[Path], out: Path) -> tuple[dict[str, object], Outcome, list[str]]:
    """Join the partials of several output directories (shard-level job arrays) into ``out``.

    All inputs must have been made with the same options; each contributes the shards its own
    last report counted. A shard is identified by its content: found in several inputs (under the
    same path or another one) it is counted once; the same URL with two different contents is an
    error — either way no shard is counted twice. The inputs' ``bad_shards`` (from their
    ``summary.json``) that no input scanned are kept. Returns the shared config, the merged
    outcome and the URLs of the shards counted once although found again.
    """
    config: dict[str, object] | None = None
    chosen: dict[str, list[tuple[ShardRecord, Location]]] = {}  # content -> (record, partial)
    urls: dict[str, tuple[str, Path]] = {}  # url -> (content, the input dir it was found in)
    duplicates: list[str] = []
    reader = PartialReader()
    for d in dirs:
        cfg = Path(d) / PARTIALS / CONFIG
        if not cfg.exists():
            raise FileNotFoundError(f"{d}: not a negscan output directory (no {PARTIALS}/{CONFIG})")
        this = json.loads(cfg.read_text("utf-8"))
        if config is None:
            config = this
        elif this != config:
            changed = sorted(k for k in {*config, *this} if config.get(k) != this.get(k))
            raise ValueError(
                f"{d} was made with other options than {dirs[0]} ({', '.join(changed)} differ); "
                "refusing to merge"
            )
        for part in reported_partials(d):
            record = reader.record(part)
            first = urls.setdefault(record.url, (record.content, Path(d)))
            twins = chosen.setdefault(record.content, [])
            if first[0] == record.content and twins:
                # the same shard, unless the counts differ (another file with the same footer)
                result = reader.load(part)[1]
                if any(_same_result(reader.load(p)[1], result) for _, p in twins):
                    duplicates.append(record.url)
                    continue
            if first[0] != record.content or any(r.url == record.url for r, _ in twins):
                raise ValueError(
                    f"shard {record.url} was scanned in two different versions (other contents) "
                    f"in {first[1]} and {d}; refusing to double-count it"
                )
            twins.append((record, part))
    if config is None:
        raise ValueError("nothing to merge: give at least one output directory")
    store = ResultStore(out, config)
    have = store.finished()
    new: list[tuple[ShardRecord, ScanResult]] = []
    for record, part in (pair for twins in chosen.values() for pair in twins):
        store.drop_other_versions(record.url, record.key)  # e.g. of an earlier merge into --out
        if record.key not in have:
            new.append(reader.load(part))
        if len(new) >= MERGE_BATCH:
            store.save_batch(new)
            new = []
    if new:
        store.save_batch(new)
    loaded = [store.load(record.key) for twins in chosen.values() for record, _ in twins]
    loaded.sort(key=lambda pair: pair[0].url)
    records = [record for record, _ in loaded]
    merged = combine([result for _, result in loaded], options_from_config(config))
    bad: dict[str, dict[str, str]] = {}
    for d in dirs:
        for entry in json.loads((Path(d) / SUMMARY).read_text("utf-8")).get("bad_shards", []):
            if entry[C.shard] not in urls:
                bad[entry[C.shard]] = entry
    outcome = Outcome(merged, records, bad=[bad[url] for url in sorted(bad)])
    return config, outcome, sorted(set(duplicates))
