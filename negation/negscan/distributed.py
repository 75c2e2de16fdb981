"""negscan's shards as Ray tasks (``--engine ray``) that write their own results.

The driver (:func:`scan_in_parallel`) cuts the shards without a finished partial into batches of
consecutive shards, one task each (:func:`scan_batch`). A task reads its shards' footers, scans
them as a local scan does (:func:`.scanning.scan_units`) and writes their partials under
``--out`` as one directory, its manifest with it; it returns their records and their results
added up. The driver does no per-shard reading: it adds the batches' results up as they arrive,
keeps the records (those past a few thousand in files: :class:`.records.Records`), and adds up
reused partials a directory at a time, so that its memory does not grow with the number of
shards. A shard is counted once: copies under two paths are
found from the content the tasks read, and the scan is then added up again without them. The
report is the one a local scan writes, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from math import ceil

import polars as pl

from corpora.captions import Footer, ShardError
from corpora.executors import RayExecutor, Resources
from corpora.schema import C
from negation.negscan.analysis import Sum
from negation.negscan.records import SLOT, Records
from negation.negscan.scan import ScanOptions, ScanResult
from negation.negscan.scanning import READERS, Unit, distinct, prepare, recognised, scan_units
from negation.negscan.store import BatchBuffer, Outcome, ResultStore

# a remote shard's caption column is fetched whole, and a task reads READERS shards at once:
# ask for room, on the safe side
REMOTE_MEMORY_PER_BYTE = 2
TASK_SHARDS = 256  # shards per task at most (a task writes one partial directory)
TASK_BYTES = 256 * 2**20  # bytes of shards per task at most (unless one shard is larger)
TASKS_PER_SLOT = 2  # tasks per task in flight, at least, when there are shards enough


@dataclass(frozen=True)
class Batch:
    """What one task scans, and where it writes their partials (``out`` None: nowhere)."""

    units: list[Unit]
    opts: ScanOptions
    out: str | None
    skip_bad: bool
    retries: int


@dataclass
class BatchDone:
    """What a task sends back: its shards' records (in order), the corrupt ones it skipped,
    the copies of others it counted once, their results added up, the partial directory it
    wrote; or the error that stopped it."""

    records: pl.DataFrame  # (columns: negation.negscan.records.RECORDS)
    bad: list[dict[str, str]]
    copies: list[str]
    result: ScanResult | None
    partial: str | None
    error: Exception | None = None


def scan_batch(batch: Batch) -> BatchDone:
    """Scan one batch where the task runs. A bad shard (corrupt without ``skip_bad``, a caption
    column missing, a read that kept failing) comes back as its error (a value, so that it is
    neither retried nor wrapped), after the shards analysed before it are written; any other
    failure raises."""
    store = BatchBuffer(batch.out) if batch.out is not None else None
    try:
        units, bad, copies = prepare(
            batch.units, None, skip_bad=batch.skip_bad, retries=batch.retries
        )
        outcome = scan_units(units, batch.opts, store, batch.skip_bad, bad, retries=batch.retries)
    except (ShardError, pl.exceptions.PolarsError, OSError) as exc:
        partial = store.commit() if store else None
        return BatchDone(pl.DataFrame(), [], [], None, partial, exc)
    partial = store.commit() if store else None
    return BatchDone(outcome.records, outcome.bad, copies, outcome.result, partial)


def _resources(batch: Batch) -> Resources:
    remote = [u.shard.size for u in batch.units if not u.shard.is_local]
    memory = REMOTE_MEMORY_PER_BYTE * READERS * max(remote) if remote else None
    return Resources(cpus=1, memory=memory)


def _batches(
    todo: Iterable[tuple[int, Unit]], n_todo: int, tasks: int
) -> Iterator[list[tuple[int, Unit]]]:
    """Consecutive runs of ``todo`` (slot, unit; ``n_todo`` of them), about ``tasks`` of them or
    more: at most TASK_SHARDS shards and TASK_BYTES bytes each (unless one shard is larger)."""
    per_task = max(1, min(TASK_SHARDS, ceil(n_todo / max(tasks, 1))))
    batch: list[tuple[int, Unit]] = []
    size = 0
    for slot, unit in todo:
        if batch and (len(batch) >= per_task or size + unit.shard.size > TASK_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((slot, unit))
        size += unit.shard.size
    if batch:
        yield batch


def _todo(
    units: Sequence[Unit], reused: set[int], store: ResultStore | None
) -> Iterator[tuple[int, Unit]]:
    """The units to scan, with their slots; a changed shard's old partial is deleted as it is
    met (its content, and so its key, is not known)."""
    for slot, unit in enumerate(units):
        if slot in reused:
            continue
        if store:
            store.drop_other_versions(unit.shard.url, "" if unit.identify else unit.shard.key)
        yield slot, unit


def scan_in_parallel(
    executor: RayExecutor,
    units: Sequence[Unit],
    opts: ScanOptions,
    store: ResultStore | None,
    skip_bad: bool,  # noqa: FBT001
    bad: list[dict[str, str]] | None,
    on_done: Callable[[Unit, int, bool], None] | None,
    *,
    retries: int,
    distinct_units: bool = False,
) -> Outcome:
    """:func:`negation.negscan.scanning.scan_units` with ``executor``'s tasks: the same outcome (bad
    shards listed in the order met; the caller sorts them). ``distinct_units``: no unit is a
    copy of another (they need not be checked). ``units`` is gone through in order, a batch at a
    time: what is kept of each shard is its record, in columns (:class:`Records`)."""
    units = recognised(units, store)
    done = store.finished() if store else {}
    total = Sum(opts)
    records = Records()
    bad = list(bad or [])
    copies: list[tuple[int, str]] = []  # (slot, URL) of the shards that are copies of others
    reused = (
        [s for s, u in enumerate(units) if u.identify is None and u.shard.key in done]
        if done
        else []
    )
    slot_of = {units[slot].shard.key: slot for slot in reused}
    for known, result in store.load_many(list(slot_of)) if store else ():
        total.add(result)
        for record in known:
            records.add(slot_of[record.key], record)
            if on_done:
                on_done(units[slot_of[record.key]], record.counts[C.n_rows], True)
    todo = _todo(units, set(reused), store)
    out = None if store is None else str(store.out)
    sent: dict[int, list[tuple[int, Unit]]] = {}  # the batches in flight, by their index

    def items() -> Iterator[Batch]:
        tasks = TASKS_PER_SLOT * executor.capacity()
        for i, batch in enumerate(_batches(todo, len(units) - len(reused), tasks)):
            sent[i] = batch
            yield Batch([u for _, u in batch], opts, out, skip_bad, retries)

    unseen = store  # until a task's partial is seen here
    for i, got in executor.map(scan_batch, items(), _resources):
        if got.error is not None or got.result is None:
            raise got.error or AssertionError("a task returned no result")
        if unseen is not None and got.partial is not None:
            _check_visible(unseen, got.partial)
            unseen = None
        total.add(got.result)
        slots = {unit.shard.url: (slot, unit) for slot, unit in sent.pop(i)}
        records.add_frame([slots[url][0] for url in got.records["url"]], got.records)
        if on_done:
            for url, n_rows in got.records.select("url", C.n_rows).iter_rows():
                on_done(slots[url][1], n_rows, False)
        for entry in got.bad:
            bad.append(entry)
            if on_done:
                on_done(slots[entry[C.shard]][1], 0, False)
        copies += [(slots[url][0], url) for url in got.copies]
    outcome = Outcome(total.result(), records, len(reused), bad)
    if not distinct_units and records.repeats_content():
        # a content found twice: copies are counted once, as a local scan does (the first in
        # shard order), the scan added up again without them (from their partials)
        placed = records.frame(slots=True)
        found = [
            units[slot].identified(Footer(n_rows, content))
            for slot, n_rows, content in placed.select(SLOT, C.n_rows, "content").iter_rows()
        ]
        kept, more = distinct(found)
        slot_of = dict(zip((u.shard.url for u in found), placed[SLOT], strict=True))
        copies += [(slot_of[url], url) for url in more]
        if more:
            outcome = scan_in_parallel(
                executor, kept, opts, store, skip_bad, bad, None, retries=retries,
                distinct_units=True,
            )  # fmt: skip
            outcome.reused = len(reused)
    outcome.duplicates = [url for _, url in sorted(copies)]
    return outcome


def _check_visible(store: ResultStore, partial: str) -> None:
    """The tasks write into ``--out``: it must be where this process sees what they wrote."""
    if not (store.dir / partial).is_dir():
        raise ValueError(
            f"the Ray tasks wrote their results where this process does not see them "
            f"({store.dir / partial} is on their node only): give an --out that every node sees "
            "(a shared filesystem, or an object store's URL)"
        )
