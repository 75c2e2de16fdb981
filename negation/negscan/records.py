"""The shards a scan counted, one row each, in columns (:class:`Records`): what
``per_shard.parquet`` lists, what ``negscan merge`` reads back, and what a driver keeps of each
shard while a scan of hundreds of thousands of them runs (about 150 bytes a shard, against ~3 KB
as Python objects).

A frame of records has the columns of :data:`RECORDS`: the fields of
:class:`negation.negscan.store.ShardRecord`, its counts one column each.
"""

from __future__ import annotations

from collections.abc import Iterable

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
SLOT = "slot"  # a record's place in the units' order, while records arrive out of order
CHUNK = 4096  # records held as Python tuples before they become columns


def to_frame(records: Iterable[ShardRecord]) -> pl.DataFrame:
    rows = [(r.url, r.size, r.fingerprint, r.content, r.key, *map(r.counts.__getitem__, COUNTS))
            for r in records]  # fmt: skip
    return pl.DataFrame(rows, schema=RECORDS, orient="row")


def per_shard(records: pl.DataFrame) -> pl.DataFrame:
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
    gives them in slot order. A few thousand are held as tuples, the rest as columns."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, ShardRecord]] = []
        self._small: list[pl.DataFrame] = []  # frames as added, joined once CHUNK rows
        self._parts: list[pl.DataFrame] = []  # frames of CHUNK rows or more
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, slot: int, record: ShardRecord) -> None:
        self._rows.append((slot, record))
        self._n += 1
        if len(self._rows) >= CHUNK:
            self._freeze()

    def add_frame(self, slots: list[int], frame: pl.DataFrame) -> None:
        """Records as a frame (:data:`RECORDS`), row ``i`` at slot ``slots[i]``."""
        self._small.append(frame.select(*RECORDS).with_columns(pl.Series(SLOT, slots, pl.Int64)))
        self._n += frame.height
        if sum(f.height for f in self._small) >= CHUNK:  # (many small frames cost more)
            self._parts.append(pl.concat(self._small, rechunk=True))
            self._small = []

    def _freeze(self) -> None:
        if self._rows:
            slots = [slot for slot, _ in self._rows]
            self._parts.append(
                to_frame(r for _, r in self._rows).with_columns(pl.Series(SLOT, slots, pl.Int64))
            )
            self._rows = []

    def frame(self, *, slots: bool = False) -> pl.DataFrame:
        """Every record, in slot order (``slots``: with the column ``slot``)."""
        self._freeze()
        parts, self._small = [*self._parts, *self._small], []
        schema = {**RECORDS, SLOT: pl.Int64}
        out = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
        self._parts = [out]
        out = out.sort(SLOT)
        return out if slots else out.drop(SLOT)
