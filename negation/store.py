"""Never lose work: per-shard partial results, resume and merge.

Layout of an output directory::

    OUT/.lock                         held by the one negscan writing OUT (corpora.locks)
    OUT/partials/config.json          the options that shape the numbers (resume checks them)
    OUT/partials/<shard key>/         one finished shard: shard.json + tables.parquet
    OUT/summary.json, per_word.parquet, per_shard.parquet, bigrams.parquet, classes.parquet,
    OUT/samples.parquet, run.json     the merged report (docs/RESULTS.md)

A shard's directory is written under a temporary name and renamed into place, so a killed run
leaves either a finished shard or nothing. The key hashes the shard's URL, size, modification time
(or etag) and content identity: a changed file is scanned again. The content identity (size + a
hash of the Parquet footer, or a hash of a text file's bytes) recognises the same shard under two
paths (a copy, two mounts): it is counted once. The report is written as one unit
(:mod:`negation.report`); its ``run.json`` lists the partials it counted: what ``negscan merge``
reads. The caller holds the directory's lock.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl

from corpora.runio import atomic_write_dir, atomic_write_json
from corpora.shards import Shard
from negation.analysis import combine
from negation.scan import ScanResult, options_from_config

PARTIALS = "partials"
CONFIG = "config.json"
SHARD_JSON = "shard.json"
TABLES = ("per_word", "bigrams", "classes", "samples", "unique_all", "unique_neg")
# A partial's tables in one file (one row; a column of structs per table): a file per table
# cost a small shard more to write than to scan.
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


def shard_record(shard: Shard, result: ScanResult) -> ShardRecord:
    return ShardRecord(
        shard.url, shard.size, shard.fingerprint, shard.content, shard.key, result.counts
    )


def _read_record(path: Path) -> ShardRecord:
    meta = json.loads((path / SHARD_JSON).read_text("utf-8"))
    if not meta.get("content"):
        raise ValueError(
            f"{path}: a partial result without a content identity (made by an older negscan): "
            "rerun negscan into its directory, which scans that shard again"
        )
    return ShardRecord(**meta)


def _pack(result: ScanResult) -> pl.DataFrame:
    """A result's tables as one row: column ``name`` holds table ``name`` as a list of rows."""
    tables = {name: getattr(result, name) for name in TABLES}
    return pl.DataFrame(
        [table.to_struct(name).implode() for name, table in tables.items() if table is not None]
    )


def _read_partial(path: Path) -> tuple[ShardRecord, ScanResult]:
    record = _read_record(path)
    if (path / TABLES_FILE).exists():
        packed = pl.read_parquet(path / TABLES_FILE)
        tables = {
            name: packed.select(pl.col(name).explode(empty_as_null=False)).unnest(name)
            for name in packed.columns
        }
    else:  # written by an earlier negscan: one file per table
        tables = {
            name: pl.read_parquet(path / f"{name}.parquet")
            for name in TABLES
            if (path / f"{name}.parquet").exists()
        }
    counts = record.counts
    result = ScanResult(
        n_rows=counts["n_rows"],
        n_null=counts["n_null"],
        n_empty=counts["n_empty"],
        n_with_negation=counts["n_with_negation"],
        n_with_class_negation=counts["n_with_class_negation"],
        per_word=tables["per_word"],
        bigrams=tables["bigrams"],
        classes=tables["classes"],
        samples=tables["samples"],
        unique_all=tables.get("unique_all"),
        unique_neg=tables.get("unique_neg"),
    )
    return record, result


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
        self._by_url: dict[str, list[str]] | None = None  # shard URL -> keys of its partials

    def finished(self) -> dict[str, Path]:
        """Shard key → directory of every finished partial."""
        if not self.dir.is_dir():
            return {}
        return {
            p.name: p
            for p in sorted(self.dir.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / SHARD_JSON).exists()
        }

    def load(self, key: str) -> tuple[ShardRecord, ScanResult]:
        return _read_partial(self.dir / key)

    def drop_other_versions(self, url: str, key: str) -> None:
        """Delete the partials of ``url`` under another key (an earlier version of the shard)."""
        if self._by_url is None:
            self._by_url = {}
            for k, path in self.finished().items():
                u = json.loads((path / SHARD_JSON).read_text("utf-8"))["url"]
                self._by_url.setdefault(u, []).append(k)
        for k in self._by_url.pop(url, []):
            if k != key:
                shutil.rmtree(self.dir / k)
        self._by_url[url] = [key]

    def save(self, shard: Shard, result: ScanResult) -> Path:
        """Write one shard's partial atomically (temporary directory, then rename).

        A partial of an earlier version of the same shard (same URL, other size or modification
        time) is deleted first, so that a directory never holds two versions of one shard.
        """
        self.drop_other_versions(shard.url, shard.key)
        final = self.dir / shard.key

        def write(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            _pack(result).write_parquet(tmp / TABLES_FILE)
            record = shard_record(shard, result)
            (tmp / SHARD_JSON).write_text(json.dumps(record.__dict__, indent=2), "utf-8")

        with write_guard(final, self.out):
            atomic_write_dir(final, write)
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


def reported_partials(d: Path) -> list[Path]:
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
    parts = [d / PARTIALS / entry["partial"] for entry in inputs]
    for part, entry in zip(parts, inputs, strict=True):
        if not (part / SHARD_JSON).is_file():
            raise ValueError(
                f"{d}: its report counts {entry['shard']}, whose partial result {part.name} is "
                "gone (a later run there was interrupted): rerun it to finish before merging"
            )
    return parts


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
    chosen: dict[str, list[tuple[ShardRecord, Path]]] = {}  # content -> (record, partial dir)
    urls: dict[str, tuple[str, Path]] = {}  # url -> (content, the input dir it was found in)
    duplicates: list[str] = []
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
            record = _read_record(part)
            first = urls.setdefault(record.url, (record.content, Path(d)))
            twins = chosen.setdefault(record.content, [])
            if first[0] == record.content and twins:
                # the same shard, unless the counts differ (another file with the same footer)
                result = _read_partial(part)[1]
                if any(_same_result(_read_partial(p)[1], result) for _, p in twins):
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
    for record, part in (pair for twins in chosen.values() for pair in twins):
        store.drop_other_versions(record.url, record.key)  # e.g. of an earlier merge into --out
        target = store.dir / record.key
        if not target.exists():
            with write_guard(target, out):
                atomic_write_dir(target, partial(shutil.copytree, part))
    loaded = [store.load(record.key) for twins in chosen.values() for record, _ in twins]
    loaded.sort(key=lambda pair: pair[0].url)
    records = [record for record, _ in loaded]
    merged = combine([result for _, result in loaded], options_from_config(config))
    bad: dict[str, dict[str, str]] = {}
    for d in dirs:
        for entry in json.loads((Path(d) / SUMMARY).read_text("utf-8")).get("bad_shards", []):
            if entry["shard"] not in urls:
                bad[entry["shard"]] = entry
    outcome = Outcome(merged, records, bad=[bad[url] for url in sorted(bad)])
    return config, outcome, sorted(set(duplicates))
