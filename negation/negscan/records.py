"""The shards a scan counted, one row each, in columns (:class:`Records`): what
``per_shard.parquet`` lists, what ``negscan merge`` reads back, and what a driver keeps of each
shard while a scan of hundreds of thousands of them runs: at most :data:`SPILL` records in
memory, the others in sorted files of a temporary directory, so that its memory does not grow
with the number of shards.

A frame of records has the columns of :data:`RECORDS`: the fields of
:class:`negation.negscan.store.ShardRecord`, its counts one column each.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import polars as pl

from corpora import schema as S
from corpora.schema import C
from negation.negscan.store import ShardRecord

COUNTS = list(S.NEGSCAN_SHARD_COUNTS)
RECORDS: S.Schema = {
    "url": pl.String,
    "size": pl.Int64,
    "fingerprint": pl.String,
    "content": pl.String,
    "key": pl.String,
    **S.NEGSCAN_SHARD_COUNTS,
}
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)
EMPTY = (pl.col(C.n_rows) == 0) | (pl.col(C.n_null) == pl.col(C.n_rows))  # nothing to count
SLOT = "slot"  # a record's place in the units' order, while records arrive out of order
CHUNK = 4096  # records held as Python tuples before they become columns
SPILL = 4096  # records held as columns before they are written to a file (sorted by slot)
ROW_GROUP = 8192  # rows of a row group of per_shard.parquet, however the records were held


def to_frame(records: Iterable[ShardRecord]) -> pl.DataFrame:
    rows = [(r.url, r.size, r.fingerprint, r.content, r.key, *map(r.counts.__getitem__, COUNTS))
            for r in records]  # fmt: skip
    return pl.DataFrame(rows, schema=RECORDS, orient="row")


def per_shard(records: Frame) -> Frame:
    """``per_shard.parquet`` of a frame of records."""
    return records.select(
        pl.col("url").alias(C.shard),
        *COUNTS,
        C.size,
        C.content,
        pl.col("key").alias(C.partial),
    )


class Records:
    """Records added one or a frame at a time, each with its slot (in any order); :meth:`frame`
    gives them in slot order, :meth:`ordered` a window of slots at a time. A few thousand are
    held as tuples, up to :data:`SPILL` as columns, the rest in files (each sorted by slot) of
    a temporary directory that goes with this object."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, ShardRecord]] = []
        self._parts: list[pl.DataFrame] = []  # frames with their slots, in memory
        self._held = 0  # their rows
        self._files: list[tuple[int, int, Path]] = []  # (first slot, last slot, sorted file)
        self._dir: Path | None = None  # (removed with this object)
        self._n = 0
        # of the records in files: hashes of their contents, those without a caption to count
        self._hashes = pl.Series("hash", [], pl.UInt64)
        self._empty = pl.DataFrame(schema={**RECORDS, SLOT: pl.Int64})

    @classmethod
    def of(cls, frame: pl.DataFrame) -> Records:
        """A frame of records (:data:`RECORDS`) in order."""
        out = cls()
        out.add_frame(list(range(frame.height)), frame)
        return out

    def __len__(self) -> int:
        return self._n

    def add(self, slot: int, record: ShardRecord) -> None:
        self._rows.append((slot, record))
        self._n += 1
        if len(self._rows) >= CHUNK:
            self._freeze()

    def add_frame(self, slots: list[int], frame: pl.DataFrame) -> None:
        """Records as a frame (:data:`RECORDS`), row ``i`` at slot ``slots[i]``."""
        self._hold(frame.select(*RECORDS).with_columns(pl.Series(SLOT, slots, pl.Int64)))
        self._n += frame.height

    def _freeze(self) -> None:
        if self._rows:
            slots = [slot for slot, _ in self._rows]
            frame = to_frame(r for _, r in self._rows)
            self._rows = []
            self._hold(frame.with_columns(pl.Series(SLOT, slots, pl.Int64)))

    def _hold(self, frame: pl.DataFrame) -> None:
        self._parts.append(frame)
        self._held += frame.height
        if self._held < SPILL:
            return
        spilled = pl.concat(self._parts).sort(SLOT)
        self._parts, self._held = [], 0
        self._hashes = pl.concat([self._hashes, _hashes(spilled)])
        self._empty = pl.concat([self._empty, spilled.filter(EMPTY)])
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="negscan-records-"))
            weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        path = self._dir / f"{len(self._files):06d}.parquet"
        spilled.write_parquet(path)
        self._files.append((spilled[SLOT][0], spilled[SLOT][-1], path))

    def _windows(self) -> Iterator[pl.LazyFrame]:
        """Every record with its slot in slot order: those of :data:`SPILL` consecutive slots
        a frame at a time (each read from the files whose slots it overlaps)."""
        self._freeze()
        memory = pl.concat(self._parts) if self._parts else None
        spans = [(first, last) for first, last, _ in self._files]
        if memory is not None:
            spans.append((memory[SLOT].min(), memory[SLOT].max()))  # type: ignore[arg-type]
        lo, top = min((a for a, _ in spans), default=0), max((b for _, b in spans), default=-1)
        while lo <= top:
            hi = lo + SPILL
            inside = pl.col(SLOT).is_between(lo, hi, closed="left")
            parts = [pl.scan_parquet(path) for a, b, path in self._files if a < hi and b >= lo]
            if memory is not None:
                parts.append(memory.lazy())
            if parts:
                yield pl.concat(parts).filter(inside).sort(SLOT)
            lo = hi

    def ordered(self, *, slots: bool = False) -> Iterator[pl.DataFrame]:
        """Every record in slot order, those of :data:`SPILL` consecutive slots at a time
        (``slots``: with the column ``slot``)."""
        for window in self._windows():
            frame = window.collect()
            if frame.height:
                yield frame if slots else frame.drop(SLOT)

    def frame(self, *, slots: bool = False) -> pl.DataFrame:
        """Every record, in slot order (``slots``: with the column ``slot``)."""
        schema = {**RECORDS, SLOT: pl.Int64} if slots else RECORDS
        return pl.concat([pl.DataFrame(schema=schema), *self.ordered(slots=slots)])

    def write_per_shard(self, path: Path) -> None:
        """Write ``per_shard.parquet`` to the local file ``path`` in row groups of
        :data:`ROW_GROUP` rows (the same bytes however the records were held or arrived): the
        windows of :meth:`ordered` are written to files one at a time, then streamed into one."""
        with tempfile.TemporaryDirectory(prefix="negscan-per-shard-") as tmp:
            windows = [pl.LazyFrame(schema={**RECORDS, SLOT: pl.Int64})]
            for i, window in enumerate(self.ordered(slots=True)):
                window.write_parquet(Path(tmp, f"{i:06d}.parquet"))
                windows.append(pl.scan_parquet(Path(tmp, f"{i:06d}.parquet")))
            per_shard(pl.concat(windows, parallel=False)).sink_parquet(
                path, row_group_size=ROW_GROUP
            )

    def repeats_content(self) -> bool:
        """Whether two records may share a content identity (by a 64-bit hash of it: True
        for the rare two different ones with one hash, which a caller then compares)."""
        self._freeze()
        held = [_hashes(frame) for frame in self._parts]
        return pl.concat([self._hashes, *held]).n_unique() < len(self)

    def empty(self) -> pl.DataFrame:
        """The records of shards without a caption to count (no rows, or only null captions),
        in slot order."""
        self._freeze()
        held = [frame.filter(EMPTY) for frame in self._parts]
        return pl.concat([self._empty, *held]).sort(SLOT).drop(SLOT)


def _hashes(records: pl.DataFrame) -> pl.Series:
    return records["content"].hash()
