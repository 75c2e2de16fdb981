"""Never lose work: per-shard partial results, resume, merge, and the final report files.

Layout of an output directory::

    OUT/partials/config.json          the options that shape the numbers (resume checks them)
    OUT/partials/<shard key>/         one finished shard: shard.json + *.parquet tables
    OUT/summary.json, per_word.parquet, per_shard.parquet, bigrams.parquet, classes.parquet,
    OUT/samples.parquet, run.json     the merged report (docs/RESULTS.md)

A shard's directory is written under a temporary name and renamed into place, so a killed run
leaves either a finished shard or nothing. The key hashes the shard's URL, size and modification
time (or etag): a changed file is scanned again.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from corpora.captions import CorruptShardError, ShardError
from corpora.executors import LocalExecutor, RayExecutor
from corpora.runio import atomic_write_json, atomic_write_parquet
from corpora.shards import Shard
from negation.scan import (
    ScanOptions,
    ScanResult,
    combine,
    options_from_config,
    unique_summary,
)

PARTIALS = "partials"
CONFIG = "config.json"
SHARD_JSON = "shard.json"
TABLES = ("per_word", "bigrams", "classes", "samples", "unique_all", "unique_neg")
REPORT_FILES = (
    "summary.json",
    "per_word.parquet",
    "per_shard.parquet",
    "bigrams.parquet",
    "classes.parquet",
    "samples.parquet",
    "run.json",
)


@dataclass(frozen=True)
class ShardRecord:
    """What a finished partial says about its shard."""

    url: str
    size: int
    fingerprint: str
    key: str
    counts: dict[str, int]


def _record(shard: Shard, result: ScanResult) -> ShardRecord:
    return ShardRecord(shard.url, shard.size, shard.fingerprint, shard.key, result.counts)


def _read_partial(path: Path) -> tuple[ShardRecord, ScanResult]:
    meta = json.loads((path / SHARD_JSON).read_text("utf-8"))
    record = ShardRecord(**meta)
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


class ResultStore:
    """The partial results under ``OUT/partials`` for one set of options."""

    def __init__(self, out: Path, config: dict[str, object], overwrite: bool = False) -> None:
        self.out = Path(out)
        self.dir = self.out / PARTIALS
        self.config = config
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
        tmp = self.dir / f".tmp-{shard.key}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            for name in TABLES:
                table = getattr(result, name)
                if table is not None:
                    table.write_parquet(tmp / f"{name}.parquet")
            record = _record(shard, result)
            (tmp / SHARD_JSON).write_text(json.dumps(record.__dict__, indent=2), "utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final


@dataclass(frozen=True)
class Unit:
    """One thing to scan: a shard, its row count (for progress) and how to read its captions."""

    shard: Shard
    n_rows: int | None
    captions: Callable[[], pl.LazyFrame]


@dataclass
class Outcome:
    result: ScanResult
    records: list[ShardRecord]
    reused: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)


def scan_units(
    units: Iterable[Unit],
    opts: ScanOptions,
    scan_fn: Callable[..., ScanResult],
    store: ResultStore | None = None,
    skip_bad: bool = False,
    bad: list[dict[str, str]] | None = None,
    on_done: Callable[[Unit, int, bool], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    executor: LocalExecutor | RayExecutor | None = None,
) -> Outcome:
    """Scan units one by one, reusing finished partials and saving each new one at once.

    ``scan_fn(captions, opts, source, on_rows)`` scans one unit, calling ``on_rows(n)`` as it gets
    through ``n`` more rows; ``on_done(unit, rows, reused)`` is called after every unit (for
    progress bars). A corrupt shard raises :class:`CorruptShardError` unless ``skip_bad``, when it
    is listed in ``bad``. A parallel ``executor`` (:mod:`corpora.executors`) scans the
    unfinished units as tasks first (:mod:`negation.distributed`); the report is the same.
    """
    done = store.finished() if store else {}
    # --- executor seam: a parallel executor scans the unfinished units as tasks; each result is
    # saved and reported as it arrives, then taken by the loop below in shard order (errors,
    # --skip-bad and combine as for a local scan).
    arrived: dict[str, ScanResult | Exception] = {}
    if executor is not None and executor.parallel:
        from negation.distributed import scan_in_parallel

        units = list(units)
        todo = [u for u in units if u.shard.key not in done]
        arrived = scan_in_parallel(executor, todo, opts, scan_fn, store, on_done)
    # --- end of the executor seam
    results: list[ScanResult] = []
    records: list[ShardRecord] = []
    bad = list(bad or [])
    reused = 0
    for unit in units:
        key = unit.shard.key
        remote = key in arrived  # executor seam: scanned, saved and reported by a task
        if key in done:
            record, result = store.load(key)  # type: ignore[union-attr]
            reused += 1
        else:
            try:
                result = (
                    arrived.pop(key)
                    if remote
                    else scan_fn(unit.captions(), opts, unit.shard.url, on_rows)
                )
                if isinstance(result, Exception):  # executor seam: a task's bad shard
                    raise result
            except ShardError as exc:
                if not skip_bad or not isinstance(exc, CorruptShardError):
                    raise
                bad.append({"shard": unit.shard.url, "error": exc.message})
                if on_done:
                    on_done(unit, unit.n_rows or 0, False)
                continue
            except (pl.exceptions.PolarsError, OSError) as exc:
                error = CorruptShardError(unit.shard.url, f"cannot be read ({exc})")
                if not skip_bad:
                    raise error from exc
                bad.append({"shard": unit.shard.url, "error": error.message})
                if on_done:
                    on_done(unit, unit.n_rows or 0, False)
                continue
            if store and not remote:
                store.save(unit.shard, result)
            record = _record(unit.shard, result)
        results.append(result)
        records.append(record)
        if on_done and not remote:
            on_done(unit, result.n_rows, key in done)
    return Outcome(combine(results, opts), records, reused, bad)


def merge_partials(dirs: list[Path], out: Path) -> tuple[dict[str, object], Outcome, list[str]]:
    """Join the partials of several output directories (shard-level job arrays) into ``out``.

    All inputs must have been made with the same options. A shard (same URL, size and
    modification time) found in several inputs is counted once; the same URL in two different
    versions is an error — either way no shard is counted twice. The inputs' ``bad_shards`` (from
    their ``summary.json``) that no input scanned are kept. Returns the shared config, the merged
    outcome and the URLs found more than once.
    """
    config: dict[str, object] | None = None
    seen: dict[str, tuple[str, Path]] = {}  # key -> (url, partial dir)
    urls: dict[str, Path] = {}  # url -> the input dir it was first found in
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
        for part in sorted((Path(d) / PARTIALS).iterdir()):
            if not part.is_dir() or part.name.startswith(".") or not (part / SHARD_JSON).exists():
                continue
            meta = json.loads((part / SHARD_JSON).read_text("utf-8"))
            url, key = meta["url"], meta["key"]
            if key in seen:
                duplicates.append(url)
                continue
            if url in urls:
                raise ValueError(
                    f"shard {url} was scanned in two different versions (size or modification "
                    f"time differ) in {urls[url]} and {d}; refusing to double-count it"
                )
            seen[key] = (url, part)
            urls[url] = Path(d)
    if config is None:
        raise ValueError("nothing to merge: give at least one output directory")
    store = ResultStore(out, config)
    for key, (url, part) in seen.items():
        store.drop_other_versions(url, key)  # e.g. of an earlier merge into the same --out
        target = store.dir / key
        if not target.exists():
            tmp = store.dir / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
            shutil.copytree(part, tmp)
            os.replace(tmp, target)
    loaded = [store.load(key) for key in sorted(seen)]
    records = [record for record, _ in loaded]
    merged = combine([result for _, result in loaded], options_from_config(config))
    bad: dict[str, dict[str, str]] = {}
    for d in dirs:
        report = Path(d) / "summary.json"
        if report.exists():
            for entry in json.loads(report.read_text("utf-8")).get("bad_shards", []):
                if entry["shard"] not in urls:
                    bad[entry["shard"]] = entry
    outcome = Outcome(merged, records, bad=[bad[url] for url in sorted(bad)])
    return config, outcome, sorted(set(duplicates))


# ---------------------------------------------------------------------------------------------
# The report


def summary(
    outcome: Outcome,
    opts: ScanOptions,
    *,
    corpus: str,
    text_column: str,
    synthetic: bool,
    top_k: int,
) -> dict[str, object]:
    """The ``summary.json`` body (also what ``--format json`` prints)."""
    r = outcome.result
    non_null = r.n_rows - r.n_null
    out: dict[str, object] = {
        "synthetic": synthetic,
        "corpus": corpus,
        "text_column": text_column,
        "lexicon": opts.lexicon.name,
        "lexicon_entries": list(opts.lexicon.entries),
        "exclude_numbering": opts.exclude_numbering,
        "classes": opts.classes.name if opts.classes else None,
        "window": opts.window,
        "n_rows": r.n_rows,
        "n_null": r.n_null,
        "n_empty": r.n_empty,
        "n_non_null": non_null,
        "n_with_negation": r.n_with_negation,
        "rate_all_rows": r.n_with_negation / r.n_rows if r.n_rows else None,
        "rate_non_null": r.n_with_negation / non_null if non_null else None,
        "denominators": {
            "rate_all_rows": "n_rows: every row, null captions included",
            "rate_non_null": "n_non_null: rows whose caption is not null (empty ones included)",
        },
        "n_with_class_negation": r.n_with_class_negation,
        "per_word": {w: {"captions": c, "occurrences": o} for w, c, o in r.per_word.iter_rows()},
        "top_bigrams": [
            {"negator": n, "next_word": w, "count": c} for n, w, c in r.bigrams.head(top_k).rows()
        ],
        "shards": [rec.url for rec in outcome.records],
        "n_shards": len(outcome.records),
        "reused_shards": outcome.reused,
        "bad_shards": outcome.bad,
    }
    uniq = unique_summary(r, opts)
    if uniq is not None:
        out["unique"] = uniq
    return out


def write_report(
    out: Path,
    outcome: Outcome,
    summary_body: dict[str, object],
    run: dict[str, object],
    top_k: int,
) -> None:
    """Write the report files of docs/RESULTS.md atomically (``run.json`` last)."""
    out = Path(out)
    r = outcome.result
    atomic_write_parquet(out / "per_word.parquet", r.per_word)
    per_shard = pl.DataFrame(
        [{"shard": rec.url, **rec.counts} for rec in outcome.records],
        schema={
            "shard": pl.String,
            "n_rows": pl.Int64,
            "n_null": pl.Int64,
            "n_empty": pl.Int64,
            "n_with_negation": pl.Int64,
            "n_with_class_negation": pl.Int64,
        },
    )
    atomic_write_parquet(out / "per_shard.parquet", per_shard)
    atomic_write_parquet(out / "bigrams.parquet", r.bigrams.head(top_k))
    atomic_write_parquet(out / "classes.parquet", r.classes)
    atomic_write_parquet(out / "samples.parquet", r.samples.select("word", "caption", "shard"))
    atomic_write_json(out / "summary.json", summary_body)
    atomic_write_json(out / "run.json", run)
