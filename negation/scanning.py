"""The scan loop: shards (units) in, one :class:`negation.store.Outcome` out.

Each unit's finished partial is reused (from a :class:`negation.store.ResultStore`); the others
are read (:func:`negation.scan.prefilter`; small local Parquet shards several in one pass),
analysed in batches (:func:`negation.analysis.analyse`), saved and added up as the scan goes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from corpora.captions import READ_ERRORS, CorruptShardError, ShardError, file_content, unreadable
from corpora.executors import LocalExecutor, RayExecutor
from corpora.schema import C
from corpora.shards import Shard
from negation.analysis import analyse, analyse_together, combine
from negation.scan import Candidates, ScanOptions, ScanResult, prefilter, prefilter_parquet
from negation.store import Outcome, ResultStore, ShardRecord, shard_record


@dataclass(frozen=True)
class Unit:
    """One thing to scan: a shard, its row count (for progress) and how to read its captions."""

    shard: Shard
    n_rows: int | None
    captions: Callable[[], pl.LazyFrame]
    # when ``captions`` reads just this column of a Parquet file: small local ones are then read
    # several at a time (without calling ``captions``)
    column: str | None = None


# A batch of shards is analysed together once its candidates reach either bound (few Polars calls
# per batch however small the shards; bounded memory; a killed run loses at most one batch).
BATCH_BYTES = 8 * 2**20
BATCH_ROWS = 8_000_000
# The shards of a batch are saved together (one directory, one write: a directory per shard
# cost a small shard more to write than to scan) when there are at least SAVE_MIN of them.
SAVE_MIN = 8
FOLD = 64  # results are added up (combine) in groups of this many: flat memory in the shards
# Small local Parquet shards are read together in groups (of at least GROUP_MIN shards, closed
# once they reach GROUP_ROWS rows; a group is held in memory while it is filtered) rather than
# streamed one by one.
SMALL_ROWS = 250_000
GROUP_MIN = 8
GROUP_ROWS = 250_000
LOOKAHEAD = 3  # reads (shards or groups) running or done ahead of the analysis
READERS = 2  # of them running at once, in threads (a read leaves a core idle at times)

Read = tuple[int, Unit]  # a shard to read: its slot in the units' order, the unit
Got = tuple[int, Unit, Candidates | BaseException]  # what reading it gave
Done = tuple[Unit, ScanResult | Exception, bool]  # a finished unit: its result, whether reused


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
    """Scan units, reusing finished partials and saving the new ones as soon as they are analysed.

    Each unit's captions are read in one streaming pass (:func:`negation.scan.prefilter`; small
    local Parquet shards several in one pass), calling ``on_rows(n)`` as it gets through ``n``
    more rows; the candidates of several units are then analysed together
    (:func:`negation.analysis.analyse`, in batches of bounded size), each unit's result exact and
    saved with its batch (also when the run stops on an error or an interrupt); the next units
    are read meanwhile, two at a time, in threads.
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
        if store is None:  # nothing saved per shard: the batch's tables stay together
            counts, together = analyse_together([cand for _, _, cand in batch], opts)
            for (slot, unit, _), shard_counts in zip(batch, counts, strict=True):
                records[slot] = shard_record(unit.shard, shard_counts)
            add(together)
            return
        results = analyse([cand for _, _, cand in batch], opts)
        saved = []
        for (slot, unit, _), result in zip(batch, results, strict=True):
            record = records[slot] = shard_record(unit.shard, result.counts)
            saved.append((record, result))
            add(result)
        if store and saved:  # many shards saved together, a few each on its own
            for part in [saved] if len(saved) >= SAVE_MIN else [[pair] for pair in saved]:
                store.save_batch(part)

    def queue(slot: int, unit: Unit, cand: Candidates) -> None:
        pending.append((slot, unit, cand))
        if on_done:
            on_done(unit, cand.totals[C.n_rows], False)
        size[0] += cand.n_bytes
        size[1] += cand.totals[C.n_rows]
        if size[0] >= BATCH_BYTES or size[1] >= BATCH_ROWS:
            flush()

    def failed(unit: Unit, exc: BaseException) -> None:
        """A shard that cannot be read: raised, or listed in ``bad`` with ``skip_bad``."""
        if isinstance(exc, ShardError):
            if not skip_bad or not isinstance(exc, CorruptShardError):
                raise exc
            error = exc
        else:  # a Polars or OS error (or a Polars panic) while reading
            error = unreadable(unit.shard.url, exc)
            if not skip_bad:
                raise error from exc
        bad.append({C.shard: unit.shard.url, "error": error.message})
        if on_done:
            on_done(unit, unit.n_rows or 0, False)

    # The next reads run in threads while this one analyses and saves what was read before
    # (Polars releases the GIL while it reads and filters): at most LOOKAHEAD steps ahead, each
    # bounded (one shard, or one group of small ones).
    pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="negscan-read")

    def read(members: list[Read]) -> Future[list[Got]]:
        return pool.submit(_read, members, opts, on_rows)

    def steps() -> Iterator[list[Done] | Future[list[Got]]]:
        """The units in order: finished ones (reused or scanned by the executor) as they are,
        the others as reads started in the threads (small local Parquet shards in groups)."""
        group: list[Read] = []  # small local Parquet shards to be read together
        grouped = 0  # their rows
        for unit in units:
            key = unit.shard.key
            finished: ScanResult | Exception | None = None
            if key in done:
                record, finished = store.load(key)  # type: ignore[union-attr]
                records.append(record)
            elif key in arrived:  # executor seam: scanned, saved and reported by a task
                finished = arrived.pop(key)
                if not isinstance(finished, Exception):
                    records.append(shard_record(unit.shard, finished.counts))
            if finished is not None:
                if group:
                    yield read(group)
                    group, grouped = [], 0
                yield [(unit, finished, key in done)]
                continue
            records.append(None)
            small = (
                unit.column is not None
                and unit.n_rows is not None
                and unit.n_rows <= SMALL_ROWS
                and unit.shard.is_local
            )
            if group and (not small or unit.column != group[0][1].column):
                yield read(group)
                group, grouped = [], 0
            if not small:
                yield read([(len(records) - 1, unit)])
                continue
            group.append((len(records) - 1, unit))
            grouped += int(unit.n_rows or 0)
            if grouped >= GROUP_ROWS:
                yield read(group)
                group, grouped = [], 0
        if group:
            yield read(group)

    def take(got: list[Done] | Future[list[Got]]) -> None:
        """One step's outcome (in the units' order)."""
        nonlocal reused
        if isinstance(got, Future):
            for slot, unit, item in got.result():
                if isinstance(item, (Exception, *READ_ERRORS)):
                    failed(unit, item)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    queue(slot, unit, item)
            return
        for unit, result, was_reused in got:
            if isinstance(result, Exception):
                failed(unit, result)
                continue
            add(result)
            if was_reused:
                reused += 1
                if on_done:
                    on_done(unit, result.n_rows, True)

    ahead: deque[list[Done] | Future[list[Got]]] = deque()
    try:
        for step in steps():
            ahead.append(step)
            while len(ahead) > LOOKAHEAD or (ahead and not isinstance(ahead[0], Future)):
                take(ahead.popleft())
        while ahead:
            take(ahead.popleft())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        if store and pending:  # an interrupt or a bad shard: what has been read is saved first
            flush()
        raise
    pool.shutdown()
    if pending:
        flush()
    return Outcome(combine(folded, opts), [r for r in records if r], reused, bad)


def _read(
    members: list[Read], opts: ScanOptions, on_rows: Callable[[int], None] | None
) -> list[Got]:
    """Read (:func:`negation.scan.prefilter`) one shard, or a group of small local Parquet shards
    in one pass; a shard that cannot be read gets its error instead of candidates."""
    if len(members) >= GROUP_MIN:
        units = [unit for _, unit in members]
        try:
            cands = prefilter_parquet(
                [u.shard.url for u in units],
                str(units[0].column),
                [int(u.n_rows or 0) for u in units],
                opts,
                on_rows,
            )
        except READ_ERRORS:
            pass  # one by one below, which names the shard that cannot be read
        else:
            return [(slot, unit, cand) for (slot, unit), cand in zip(members, cands, strict=True)]
    out: list[Got] = []
    for slot, unit in members:
        try:
            cand = prefilter(unit.captions(), opts, unit.shard.url, on_rows, unit.n_rows)
        except (ShardError, *READ_ERRORS) as exc:
            out.append((slot, unit, exc))
        except BaseException as exc:  # an interrupt: the shards read before it are kept
            out.append((slot, unit, exc))
            break
        else:
            out.append((slot, unit, cand))
    return out


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
