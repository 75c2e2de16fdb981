"""Never lose work: per-shard partial results, resume, merge, and the final report files.

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
paths (a copy, two mounts): it is counted once. The report is written as one unit: staged in a
temporary directory, then moved into place with ``summary.json`` removed first and put back last,
so a directory with a ``summary.json`` holds one whole report (``run.json`` lists the partials it
counted: what ``negscan merge`` reads). The caller holds the directory's lock.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl

from corpora import schema as S
from corpora.captions import CorruptShardError, ShardError, file_content
from corpora.executors import LocalExecutor, RayExecutor
from corpora.runio import atomic_write_dir, atomic_write_json, atomic_write_parquet
from corpora.shards import PatternMatch, Shard
from negation.scan import (
    Candidates,
    ScanOptions,
    ScanResult,
    analyse,
    combine,
    options_from_config,
    prefilter,
    prefilter_parquet,
    unique_summary,
)

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
def _writing(path: Path, out: Path) -> Iterator[None]:
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


def _record(shard: Shard, result: ScanResult) -> ShardRecord:
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
            with _writing(cfg, self.out):
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
            record = _record(shard, result)
            (tmp / SHARD_JSON).write_text(json.dumps(record.__dict__, indent=2), "utf-8")

        with _writing(final, self.out):
            atomic_write_dir(final, write)
        return final


@dataclass(frozen=True)
class Unit:
    """One thing to scan: a shard, its row count (for progress) and how to read its captions."""

    shard: Shard
    n_rows: int | None
    captions: Callable[[], pl.LazyFrame]
    # when ``captions`` reads just this column of a Parquet file: small local ones are then read
    # several at a time (without calling ``captions``)
    column: str | None = None


@dataclass
class Outcome:
    result: ScanResult
    records: list[ShardRecord]
    reused: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)


# A batch of shards is analysed together once its candidates reach either bound (few Polars calls
# per batch however small the shards; bounded memory; a killed run loses at most one batch).
BATCH_BYTES = 8 * 2**20
BATCH_ROWS = 8_000_000
FOLD = 64  # results are added up (combine) in groups of this many: flat memory in the shards
# Small local Parquet shards are read in one streaming pass per group (of at least GROUP_MIN
# shards and at most GROUP_ROWS rows) rather than one pass each.
SMALL_ROWS = 250_000
GROUP_MIN = 8
GROUP_ROWS = 1_000_000


def scan_units(
    units: Iterable[Unit],
    opts: ScanOptions,
    store: ResultStore | None = None,
    skip_bad: bool = False,  # noqa: FBT001, FBT002 (negscan passes it positionally)
    bad: list[dict[str, str]] | None = None,
    on_done: Callable[[Unit, int, bool], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    executor: LocalExecutor | RayExecutor | None = None,
) -> Outcome:
    """Scan units, reusing finished partials and saving each new one as soon as it is analysed.

    Each unit's captions are read in one streaming pass (:func:`negation.scan.prefilter`; small
    local Parquet shards several in one pass), calling ``on_rows(n)`` as it gets through ``n``
    more rows; the candidates of several units are then analysed together
    (:func:`negation.scan.analyse`, in batches of bounded size), each unit's result exact and
    saved on its own (also when the run stops on an error or an interrupt).
    ``on_done(unit, rows, reused)`` is called after every unit has been read or reused (for
    progress bars). A corrupt shard raises :class:`CorruptShardError` unless ``skip_bad``, when
    it is listed in ``bad``. A parallel ``executor`` (:mod:`corpora.executors`) scans the
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
        arrived = scan_in_parallel(executor, todo, opts, store, on_done)
    # --- end of the executor seam
    folded: list[ScanResult] = []
    records: list[ShardRecord | None] = []  # in the units' order; None until analysed
    pending: list[tuple[int, Unit, Candidates]] = []
    bad = list(bad or [])
    reused = 0

    def add(result: ScanResult) -> None:
        folded.append(result)
        if len(folded) >= FOLD:
            folded[:] = [combine(folded, opts)]

    size = [0, 0]  # the pending candidates' bytes and rows

    def flush() -> None:
        batch = pending[:]
        pending.clear()
        size[:] = [0, 0]
        results = analyse([cand for _, _, cand in batch], opts)
        for (slot, unit, _), result in zip(batch, results, strict=True):
            if store:
                store.save(unit.shard, result)
            records[slot] = _record(unit.shard, result)
            add(result)

    def queue(slot: int, unit: Unit, cand: Candidates) -> None:
        pending.append((slot, unit, cand))
        if on_done:
            on_done(unit, cand.totals["n_rows"], False)
        size[0] += cand.n_bytes
        size[1] += cand.totals["n_rows"]
        if size[0] >= BATCH_BYTES or size[1] >= BATCH_ROWS:
            flush()

    def read(slot: int, unit: Unit) -> None:
        try:
            cand = prefilter(unit.captions(), opts, unit.shard.url, on_rows, unit.n_rows)
        except (ShardError, pl.exceptions.PolarsError, OSError) as exc:
            failed(unit, exc)
            return
        queue(slot, unit, cand)

    def failed(unit: Unit, exc: Exception) -> None:
        """A shard that cannot be read: raised, or listed in ``bad`` with ``skip_bad``."""
        if isinstance(exc, ShardError):
            if not skip_bad or not isinstance(exc, CorruptShardError):
                raise exc
            error = exc
        else:  # a Polars or OS error while reading
            error = CorruptShardError(unit.shard.url, f"cannot be read ({exc})")
            if not skip_bad:
                raise error from exc
        bad.append({"shard": unit.shard.url, "error": error.message})
        if on_done:
            on_done(unit, unit.n_rows or 0, False)

    group: list[tuple[int, Unit]] = []  # small local Parquet shards waiting to be read together

    def read_group() -> None:
        members = group[:]
        group.clear()
        if len(members) >= GROUP_MIN:
            shards = [unit for _, unit in members]
            try:
                cands = prefilter_parquet(
                    [u.shard.url for u in shards],
                    str(shards[0].column),
                    [int(u.n_rows or 0) for u in shards],
                    opts,
                    on_rows,
                )
            except (pl.exceptions.PolarsError, OSError):
                pass  # one by one below, which names the shard that cannot be read
            else:
                for (slot, unit), cand in zip(members, cands, strict=True):
                    queue(slot, unit, cand)
                return
        for slot, unit in members:
            read(slot, unit)

    try:
        for unit in units:
            key = unit.shard.key
            if key in done:
                record, result = store.load(key)  # type: ignore[union-attr]
                reused += 1
                records.append(record)
                add(result)
                if on_done:
                    on_done(unit, result.n_rows, True)
                continue
            if key in arrived:  # executor seam: scanned, saved and reported by a task
                result = arrived.pop(key)
                if isinstance(result, Exception):
                    failed(unit, result)
                    continue
                records.append(_record(unit.shard, result))
                add(result)
                continue
            records.append(None)
            small = (
                unit.column is not None
                and unit.n_rows is not None
                and unit.n_rows <= SMALL_ROWS
                and unit.shard.is_local
            )
            if group and (not small or unit.column != group[0][1].column):
                read_group()
            if not small:
                read(len(records) - 1, unit)
                continue
            group.append((len(records) - 1, unit))
            if sum(int(u.n_rows or 0) for _, u in group) >= GROUP_ROWS:
                read_group()
        if group:
            read_group()
    except BaseException:
        if store and pending:  # an interrupt or a bad shard: what has been read is saved first
            flush()
        raise
    if pending:
        flush()
    return Outcome(combine(folded, opts), [r for r in records if r], reused, bad)


def distinct(units: Iterable[Unit]) -> tuple[list[Unit], list[str]]:
    """The units whose shard content was not seen before (in order), and the URLs of the others:
    the same shard under another path (a copy, another mount) is scanned and counted once. Two
    Parquet shards with the same size and footer are hashed in full before one is called a copy
    of the other (a file written without column statistics may share its footer with another)."""
    digests: dict[str, str] = {}  # url -> hash of the whole file

    def digest(shard: Shard) -> str:
        if shard.url not in digests:
            digests[shard.url] = file_content(shard)
        return digests[shard.url]

    groups: dict[str, list[Shard]] = {}  # content identity -> shards kept with it
    kept: list[Unit] = []
    copies: list[str] = []
    for unit in units:
        shard = unit.shard
        if not shard.content:
            raise ValueError(f"{shard.url}: no content identity (a reader must set it)")
        group = groups.setdefault(shard.content, [])
        if group and (
            not shard.content.startswith("parquet:")
            or any(digest(other) == digest(shard) for other in group)
        ):
            copies.append(shard.url)
            continue
        group.append(shard)
        kept.append(unit)
    return kept, copies


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
            with _writing(target, out):
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
    duplicates: list[str],
    patterns: list[PatternMatch] | None = None,
) -> dict[str, object]:
    """The ``summary.json`` body (also what ``--format json`` prints). ``duplicates``: URLs of
    shards counted once although found again; ``patterns``: what each input pattern matched."""
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
        "duplicate_shards_counted_once": duplicates,
        "warnings": shard_warnings(outcome.records),
    }
    if patterns is not None:
        out["patterns"] = [
            {"pattern": m.pattern, "kind": m.kind, "matched": m.matched, "missing": list(m.missing)}
            for m in patterns
        ]
    uniq = unique_summary(r, opts)
    if uniq is not None:
        out["unique"] = uniq
    return out


def shard_warnings(records: list[ShardRecord]) -> list[dict[str, str]]:
    """Shards that were read but hold no caption to count: no rows, or only null captions."""
    out = []
    for rec in records:
        n_rows, n_null = rec.counts["n_rows"], rec.counts["n_null"]
        if n_rows == 0:
            out.append({"shard": rec.url, "warning": "no rows (an empty file)"})
        elif n_null == n_rows:
            out.append({"shard": rec.url, "warning": f"every caption is null ({n_rows:,} rows)"})
    return out


def run_inputs(records: list[ShardRecord]) -> list[dict[str, object]]:
    """``run.json``'s ``inputs``: each shard counted, with its content identity and partial."""
    return [
        {
            "shard": r.url,
            "size": r.size,
            "n_rows": r.counts["n_rows"],
            "content": r.content,
            "partial": r.key,
        }
        for r in records
    ]


def write_report(
    out: Path,
    outcome: Outcome,
    summary_body: dict[str, object],
    run: dict[str, object],
    top_k: int,
) -> None:
    """Write the report files of docs/RESULTS.md as one unit.

    Every file is written into a temporary directory first (a failed write leaves the previous
    report whole); then ``summary.json`` is removed, the other files are moved into place and
    ``summary.json`` last, so a ``summary.json`` is only ever beside the files of its own run.
    """
    out = Path(out)
    r = outcome.result
    per_shard = pl.DataFrame(
        [{"shard": rec.url, **rec.counts} for rec in outcome.records],
        schema=S.NEGSCAN_PER_SHARD,
    )
    frames = {
        "per_word.parquet": r.per_word.select(*S.NEGSCAN_PER_WORD),
        "per_shard.parquet": per_shard,
        "bigrams.parquet": r.bigrams.head(top_k).select(*S.NEGSCAN_BIGRAMS),
        "classes.parquet": r.classes.select(*S.NEGSCAN_CLASSES),
        "samples.parquet": r.samples.select(*S.NEGSCAN_SAMPLES),
    }
    texts = {"run.json": run, SUMMARY: summary_body}
    stage = out / f".tmp-report-{uuid.uuid4().hex[:8]}"
    try:
        with _writing(stage, out):
            stage.mkdir(parents=True)
        for name in REPORT_FILES:
            with _writing(out / name, out):
                if name in frames:
                    atomic_write_parquet(stage / name, frames[name])
                else:
                    atomic_write_json(stage / name, texts[name])
        (out / SUMMARY).unlink(missing_ok=True)  # no report from here until the new one is whole
        for name in REPORT_FILES:
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
