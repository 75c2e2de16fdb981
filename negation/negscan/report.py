"""The negscan report: what ``summary.json`` says, ``run.json``'s inputs, and the report files
(docs/RESULTS.md; the layout of an output directory: :mod:`negation.negscan.store`).

The report is written as one unit: staged in a temporary directory, then moved into place with
``summary.json`` removed first and put back last, so a directory with a ``summary.json`` holds
one whole report. The caller holds the directory's lock.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from corpora import schema as S
from corpora.places import Place
from corpora.runio import atomic_write, atomic_write_json, atomic_write_parquet
from corpora.schema import C
from corpora.shards import PatternMatch
from negation.negscan.records import Records
from negation.negscan.scan import ScanOptions
from negation.negscan.store import PER_SHARD, REPORT_FILES, SUMMARY, Outcome, write_guard
from negation.negscan.tables import unique_summary


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
        C.n_rows: r.n_rows,
        C.n_null: r.n_null,
        C.n_empty: r.n_empty,
        "n_non_null": non_null,
        C.n_with_negation: r.n_with_negation,
        "rate_all_rows": r.n_with_negation / r.n_rows if r.n_rows else None,
        "rate_non_null": r.n_with_negation / non_null if non_null else None,
        "denominators": {
            "rate_all_rows": "n_rows: every row, null captions included (the paper's "
            "denominator, used by the printed report and the figures)",
            "rate_non_null": "n_non_null: rows whose caption is not null (empty ones included)",
        },
        C.n_with_class_negation: r.n_with_class_negation,
        "per_word": {w: {C.captions: c, C.occurrences: o} for w, c, o in r.per_word.iter_rows()},
        "top_bigrams": [
            {C.negator: n, C.next_word: w, C.count: c} for n, w, c in r.bigrams.head(top_k).rows()
        ],
        "n_shards": len(outcome.shards),
        "reused_shards": outcome.reused,
        "bad_shards": outcome.bad,
        "duplicate_shards_counted_once": duplicates,
        "warnings": shard_warnings(outcome.shards),
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


def shard_warnings(records: Records) -> list[dict[str, str]]:
    """Shards that were read but hold no caption to count: no rows, or only null captions."""
    out = []
    for url, n_rows in records.empty().select("url", C.n_rows).iter_rows():
        if n_rows == 0:
            out.append({C.shard: url, "warning": "no rows (an empty file)"})
        else:
            out.append({C.shard: url, "warning": f"every caption is null ({n_rows:,} rows)"})
    return out


def run_inputs(records: Records) -> dict[str, object]:
    """``run.json``'s ``inputs``: how many shards were counted, and the file that lists them
    (each with its content identity and partial: ``per_shard.parquet``)."""
    return {"n_shards": len(records), "per_shard": PER_SHARD}


def write_report(
    out: Place,
    outcome: Outcome,
    summary_body: dict[str, object],
    run: dict[str, object],
    top_k: int,
) -> None:
    """Write the report files of docs/RESULTS.md as one unit.

    Locally, every file is written into a temporary directory first (a failed write leaves the
    previous report whole); then ``summary.json`` is removed, the other files are moved into
    place and ``summary.json`` last, so a ``summary.json`` is only ever beside the files of its
    own run. At a URL, ``summary.json`` is removed first and each file written in turn,
    ``summary.json`` last.
    """
    r = outcome.result
    frames = {
        "per_word.parquet": r.per_word.select(*S.NEGSCAN_PER_WORD),
        "bigrams.parquet": r.bigrams.head(top_k).select(*S.NEGSCAN_BIGRAMS),
        "classes.parquet": r.classes.select(*S.NEGSCAN_CLASSES),
        "samples.parquet": r.samples.select(*S.NEGSCAN_SAMPLES),
    }
    texts = {"run.json": run, SUMMARY: summary_body}
    if out.local is None:
        with write_guard(out / SUMMARY, out):
            (out / SUMMARY).unlink()
        for name in REPORT_FILES:
            with write_guard(out / name, out):
                if name == PER_SHARD:
                    with tempfile.TemporaryDirectory() as tmp:
                        outcome.shards.write_per_shard(Path(tmp, name))
                        (out / name).write_bytes(Path(tmp, name).read_bytes())
                elif name in frames:
                    (out / name).write_parquet(frames[name])
                else:
                    (out / name).write_json(texts[name])
        return
    local = out.local
    stage = local / f".tmp-report-{uuid.uuid4().hex[:8]}"
    try:
        with write_guard(stage, out):
            stage.mkdir(parents=True)
        for name in REPORT_FILES:
            with write_guard(local / name, out):
                if name == PER_SHARD:
                    atomic_write(stage / name, outcome.shards.write_per_shard)
                elif name in frames:
                    atomic_write_parquet(stage / name, frames[name])
                else:
                    atomic_write_json(stage / name, texts[name])
        (local / SUMMARY).unlink(missing_ok=True)  # no report from here until the new one is whole
        for name in REPORT_FILES:
            os.replace(stage / name, local / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
