"""``negscan merge``: the partials of several output directories (a job array's) joined into one
report, each shard counted once (:func:`merge_partials`)."""

from __future__ import annotations

import polars as pl

from corpora.places import Place
from corpora.schema import C
from negation.negscan.analysis import Sum
from negation.negscan.records import Records, to_frame
from negation.negscan.scan import ScanResult, options_from_config
from negation.negscan.store import (
    CONFIG,
    PARTIALS,
    PER_SHARD,
    SUMMARY,
    Location,
    Outcome,
    PartialReader,
    ResultStore,
    ShardRecord,
    index,
)

MERGE_BATCH = 1000  # shards copied into a merged directory saved as one batch


def _same_result(a: ScanResult, b: ScanResult) -> bool:
    """Whether two partials found the same counts (the same bytes always do)."""

    def rows(r: ScanResult, name: str) -> pl.DataFrame:
        table = getattr(r, name)
        return table.sort(table.columns)

    return a.counts == b.counts and all(
        rows(a, name).equals(rows(b, name)) for name in ("per_word", "bigrams", "classes")
    )


def reported_partials(d: Place) -> list[Location]:
    """The partials that ``d``'s last report counted (not every partial lying in ``d``)."""
    if not (d / SUMMARY).is_file():
        raise ValueError(
            f"{d}: no finished report ({SUMMARY}): rerun the negscan command that writes there "
            "(it resumes) before merging"
        )
    inputs = (d / "run.json").read_json().get("inputs", [])
    if isinstance(inputs, list):  # an earlier negscan listed the shards in run.json
        counted = [(entry.get(C.shard), entry.get(C.partial)) for entry in inputs]
    elif (d / PER_SHARD).is_file():
        counted = (d / PER_SHARD).read_parquet().select(C.shard, C.partial).rows()
    else:
        counted = [(None, None)]
    if any(key is None for _, key in counted):
        raise ValueError(
            f"{d}: a report made by an older negscan (it does not list its partials): rerun the "
            "negscan command that writes there before merging"
        )
    where = index(d / PARTIALS)
    for url, key in counted:
        if key not in where:
            raise ValueError(
                f"{d}: its report counts {url}, whose partial result {key} is gone (a later run "
                "there was interrupted): rerun it to finish before merging"
            )
    return [where[key] for _, key in counted]


def merge_partials(dirs: list[Place], out: Place) -> tuple[dict[str, object], Outcome, list[str]]:
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
    urls: dict[str, tuple[str, Place]] = {}  # url -> (content, the input dir it was found in)
    duplicates: list[str] = []
    reader = PartialReader()
    for d in dirs:
        cfg = d / PARTIALS / CONFIG
        if not cfg.exists():
            raise FileNotFoundError(f"{d}: not a negscan output directory (no {PARTIALS}/{CONFIG})")
        this = cfg.read_json()
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
            first = urls.setdefault(record.url, (record.content, d))
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
    records = to_frame(record for twins in chosen.values() for record, _ in twins).sort("url")
    total = Sum(options_from_config(config))
    for _, result in store.load_many(records["key"].to_list()):
        total.add(result)
    bad: dict[str, dict[str, str]] = {}
    for d in dirs:
        for entry in (d / SUMMARY).read_json().get("bad_shards", []):
            if entry[C.shard] not in urls:
                bad[entry[C.shard]] = entry
    outcome = Outcome(total.result(), Records.of(records), bad=[bad[url] for url in sorted(bad)])
    return config, outcome, sorted(set(duplicates))
