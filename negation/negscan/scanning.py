"""The scan loop: shards (units) in, one :class:`negation.negscan.store.Outcome` out.

Each unit's finished partial is reused (from a :class:`.store.ResultStore`); the others
are read (:func:`negation.negscan.scan.prefilter`; small local Parquet shards several in one pass),
analysed in batches (:func:`.analysis.analyse`), saved and added up as the scan goes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import overload

import polars as pl

from corpora.captions import (
    READ_ERRORS,
    CorruptShardError,
    Footer,
    ShardError,
    file_content,
    parquet_captions,
    parquet_footer,
    retrying,
    text_captions,
    text_format,
    unreadable,
)
from corpora.schema import C
from corpora.shards import DEFAULT_RETRIES, Shard
from negation.negscan.analysis import Sum, analyse, analyse_together
from negation.negscan.records import Records
from negation.negscan.scan import Candidates, ScanOptions, ScanResult, prefilter, prefilter_parquet
from negation.negscan.store import Outcome, ResultStore, Store, shard_record


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing to scan: a shard, its row count (for progress) and how to read its captions."""

    shard: Shard
    n_rows: int | None
    captions: Callable[[], pl.LazyFrame]
    # when ``captions`` reads just this column of a Parquet file: small local ones are then read
    # several at a time (without calling ``captions``)
    column: str | None = None
    # reads the shard's content identity and row count (a Parquet footer, a text file's hash)
    # when they are not known yet (``shard.content`` empty): see :func:`identify`
    identify: Callable[[Shard], Footer] | None = None

    def identified(self, footer: Footer) -> Unit:
        shard = replace(self.shard, content=footer.content)
        n_rows = self.n_rows if footer.n_rows is None else footer.n_rows
        return replace(self, shard=shard, n_rows=n_rows, identify=None)


# A batch of shards is analysed together once its candidates reach either bound (few Polars calls
# per batch however small the shards; bounded memory; a killed run loses at most one batch).
BATCH_BYTES = 8 * 2**20
BATCH_ROWS = 8_000_000
# The shards of a batch are saved together (one directory, one write: a directory per shard
# cost a small shard more to write than to scan) when there are at least SAVE_MIN of them.
SAVE_MIN = 8
# Small local Parquet shards are read together in groups (of at least GROUP_MIN shards, closed
# once they reach GROUP_ROWS rows; a group is held in memory while it is filtered) rather than
# streamed one by one.
SMALL_ROWS = 250_000
GROUP_MIN = 8
GROUP_ROWS = 250_000
LOOKAHEAD = 3  # reads (shards or groups) running or done ahead of the analysis
READERS = 2  # of them running at once, in threads (a read leaves a core idle at times)

IDENTIFIERS = 16  # remote shards whose footers (or hashes) are read at once, in threads

Read = tuple[int, Unit]  # a shard to read: its slot in the units' order, the unit
Got = tuple[int, Unit, Candidates | BaseException]  # what reading it gave
Done = tuple[Unit, ScanResult]  # a unit finished before: its result


def scan_units(
    units: Iterable[Unit],
    opts: ScanOptions,
    store: Store | None = None,
    skip_bad: bool = False,  # noqa: FBT001, FBT002 (negscan passes it positionally)
    bad: list[dict[str, str]] | None = None,
    on_done: Callable[[Unit, int, bool], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    retries: int = DEFAULT_RETRIES,
) -> Outcome:
    """Scan units, reusing finished partials and saving the new ones as soon as they are analysed.

    Each unit's captions are read in one streaming pass (:func:`.scan.prefilter`; small
    local Parquet shards several in one pass), calling ``on_rows(n)`` as it gets through ``n``
    more rows; the candidates of several units are then analysed together
    (:func:`.analysis.analyse`, in batches of bounded size), each unit's result exact and
    saved with its batch (also when the run stops on an error or an interrupt); the next units
    are read meanwhile, two at a time, in threads.
    ``on_done(unit, rows, reused)`` is called after every unit has been read or reused (for
    progress bars). A corrupt shard raises :class:`CorruptShardError` unless ``skip_bad``, when
    it is listed in ``bad``. (Ray tasks that save their own results, with the same report:
    :func:`.distributed.scan_in_parallel`.)
    """
    done = store.finished() if store else {}
    total = Sum(opts)
    add = total.add
    records = Records()  # each with its slot: its unit's place in the units' order
    slots = [0]  # the units met so far
    pending: list[tuple[int, Unit, Candidates]] = []
    bad = list(bad or [])
    reused = 0

    size = [0, 0]  # the pending candidates' bytes and rows

    def flush() -> None:
        batch = pending[:]
        pending.clear()
        size[:] = [0, 0]
        if store is None:  # nothing saved per shard: the batch's tables stay together
            counts, together = analyse_together([cand for _, _, cand in batch], opts)
            for (slot, unit, _), shard_counts in zip(batch, counts, strict=True):
                records.add(slot, shard_record(unit.shard, shard_counts))
            add(together)
            return
        results = analyse([cand for _, _, cand in batch], opts)
        saved = []
        for (slot, unit, _), result in zip(batch, results, strict=True):
            record = shard_record(unit.shard, result.counts)
            records.add(slot, record)
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
        elif not isinstance(exc, READ_ERRORS):
            raise exc  # not the shard's: a bug keeps its traceback
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
        return pool.submit(_read, members, opts, on_rows, retries)

    def steps() -> Iterator[list[Done] | Future[list[Got]]]:
        """The units in order: finished ones as they are, the others as reads started in the
        threads (small local Parquet shards in groups)."""
        group: list[Read] = []  # small local Parquet shards to be read together
        grouped = 0  # their rows
        for unit in units:
            slot = slots[0]
            slots[0] += 1
            if unit.shard.key in done:
                record, finished = store.load(unit.shard.key)  # type: ignore[union-attr]
                records.add(slot, record)
                if group:
                    yield read(group)
                    group, grouped = [], 0
                yield [(unit, finished)]
                continue
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
                yield read([(slot, unit)])
                continue
            group.append((slot, unit))
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
        for unit, result in got:
            add(result)
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
    return Outcome(total.result(), records, reused, bad)


def _read(
    members: list[Read], opts: ScanOptions, on_rows: Callable[[int], None] | None, retries: int
) -> list[Got]:
    """Read (:func:`.scan.prefilter`) one shard, or a group of small local Parquet shards
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

        def scan(unit: Unit = unit) -> Candidates:
            return prefilter(unit.captions(), opts, unit.shard.url, on_rows, unit.n_rows)

        try:
            cand = retrying(scan, unit.shard, retries)
        except (ShardError, *READ_ERRORS) as exc:
            out.append((slot, unit, exc))
        except BaseException as exc:  # an interrupt: the shards read before it are kept
            out.append((slot, unit, exc))
            break
        else:
            out.append((slot, unit, cand))
    return out


class LaionUnits(Sequence[Unit]):
    """Parquet shards as units, identified when scanned (their footers read for their content
    identity, row count and caption column: :func:`identify`); a unit is made when it is read,
    so that a long shard list (:class:`corpora.listing.ShardList`) stays as compact as it is."""

    def __init__(self, shard_list: Sequence[Shard], column: str) -> None:
        self.shards, self.column = shard_list, column
        self._footer = partial(parquet_footer, column=column)

    def __len__(self) -> int:
        return len(self.shards)

    def _unit(self, shard: Shard) -> Unit:
        captions = partial(parquet_captions, shard, self.column)
        return Unit(shard, None, captions, self.column, self._footer)

    @overload
    def __getitem__(self, i: int) -> Unit: ...
    @overload
    def __getitem__(self, i: slice) -> list[Unit]: ...
    def __getitem__(self, i: int | slice) -> Unit | list[Unit]:
        if isinstance(i, slice):
            return [self._unit(shard) for shard in self.shards[i]]
        return self._unit(self.shards[i])

    def __iter__(self) -> Iterator[Unit]:
        return map(self._unit, self.shards)


def laion_units(shard_list: Sequence[Shard], column: str) -> LaionUnits:
    """Parquet shards as units (:class:`LaionUnits`)."""
    return LaionUnits(shard_list, column)


def text_units(shard_list: Sequence[Shard], input_format: str, column: str) -> list[Unit]:
    """Text / JSONL / CSV files as units (``input_format`` 'auto': from each file's name),
    identified by a hash of their bytes when scanned."""
    units = []
    for shard in shard_list:
        fmt_in = text_format(shard) if input_format == "auto" else input_format

        def load(shard: Shard = shard, fmt_in: str = fmt_in) -> pl.LazyFrame:
            return text_captions(shard, fmt_in, column).lazy()

        units.append(Unit(shard, None, load, identify=_file_identity))
    return units


def _file_identity(shard: Shard) -> Footer:
    return Footer(None, file_content(shard))


def recognised(units: Sequence[Unit], store: ResultStore | None) -> Sequence[Unit]:
    """The units, those whose file (URL, size, modification time or etag) has a finished partial
    in ``store`` identified from it: a resumed scan reads no footer of a finished shard."""
    known = store.identities() if store else {}
    if not known:
        return units
    out = []
    for unit in units:
        footer = known.get(unit.shard.file) if unit.identify is not None else None
        out.append(unit if footer is None else unit.identified(footer))
    return out


def identify(
    units: list[Unit], *, skip_bad: bool, retries: int = DEFAULT_RETRIES
) -> tuple[list[Unit], list[dict[str, str]]]:
    """The units with their shard's content identity and row count (``Unit.identify``: a
    Parquet footer, a text file's hash; remote shards IDENTIFIERS at a time, in threads) and the
    corrupt ones left out and listed with ``skip_bad`` (else the first, in order, is raised).
    A storage or network error is tried again ``retries`` times (then ReadFailed)."""

    def read(unit: Unit) -> Footer | CorruptShardError:
        assert unit.identify is not None
        try:
            return retrying(partial(unit.identify, unit.shard), unit.shard, retries)
        except CorruptShardError as exc:
            return exc

    todo = [u for u in units if u.identify is not None]
    remote = [u for u in todo if not u.shard.is_local]
    with ThreadPoolExecutor(IDENTIFIERS, thread_name_prefix="negscan-identify") as pool:
        ahead = dict(zip(map(id, remote), pool.map(read, remote), strict=True))
        out, bad = [], []
        for unit in units:
            if unit.identify is None:
                out.append(unit)
                continue
            footer = ahead.pop(id(unit)) if id(unit) in ahead else read(unit)
            if isinstance(footer, CorruptShardError):
                if not skip_bad:
                    raise footer
                bad.append({C.shard: unit.shard.url, "error": footer.message})
                continue
            out.append(unit.identified(footer))
    return out, bad


def prepare(
    units: list[Unit], store: ResultStore | None, *, skip_bad: bool, retries: int = DEFAULT_RETRIES
) -> tuple[list[Unit], list[dict[str, str]], list[str]]:
    """The units to scan (:func:`recognised`, then :func:`identify`), each distinct content
    once (:func:`distinct`); the corrupt shards left out (``skip_bad``); the copies' URLs."""
    units, bad = identify(list(recognised(units, store)), skip_bad=skip_bad, retries=retries)
    units, copies = distinct(units)
    return units, bad, copies


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
