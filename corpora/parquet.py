"""Parquet shards as bytes: the footer read in one or two ranged reads, the facts negscan needs
read off its Thrift encoding (row count, whether the caption column is text), and a remote
shard's caption column fetched as the byte ranges of its column chunks, nothing else.

Errors: a file that is not Parquet (too short, no ``PAR1`` at its end, a footer length beyond
the file) raises ``ValueError``; what the storage raises (``OSError``) is raised as it is, so
that the caller can tell a network or storage error from a corrupt file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from corpora.shards import Shard

MAGIC = b"PAR1"


def read_footer(shard: Shard, first_read: int) -> tuple[bytes, bytes]:
    """The shard's footer (its FileMetaData bytes) and its last 8 bytes (the footer's length
    and ``PAR1``): one read of the last ``first_read`` bytes, and a second one only for a
    longer footer. The size is the one the shard was listed with."""
    size = shard.size
    if size < 12:
        raise ValueError(f"{size} bytes: too short for a Parquet file")
    end = shard.read_range(max(0, size - first_read), size)
    tail = end[-8:]
    if len(end) < 8 or tail[4:] != MAGIC:
        raise ValueError("no Parquet footer (the file does not end with PAR1)")
    length = int.from_bytes(tail[:4], "little")
    if length > size - 12:
        raise ValueError(f"a footer of {length} bytes in a file of {size}")
    if length + 8 <= len(end):
        return end[len(end) - 8 - length : -8], tail
    return shard.read_range(size - 8 - length, size - 8), tail


def column_ranges(metadata: Any, column: str) -> list[tuple[int, int]]:
    """The byte range of ``column``'s chunk in each row group (pyarrow ``FileMetaData``)."""
    schema = metadata.schema
    index = next(j for j in range(len(schema)) if schema.column(j).path == column)
    ranges = []
    for r in range(metadata.num_row_groups):
        chunk = metadata.row_group(r).column(index)
        offsets = (chunk.dictionary_page_offset, chunk.data_page_offset)
        start = min(o for o in offsets if o is not None and o > 0)
        ranges.append((start, start + chunk.total_compressed_size))
    return ranges


class Fetched(io.RawIOBase):
    """A remote file of which some byte ranges were fetched: reads inside them are served from
    memory; anything else is read from the shard (``extra`` counts those bytes: none when a
    reader asks only for what was fetched)."""

    def __init__(self, shard: Shard, parts: dict[tuple[int, int], bytes]) -> None:
        self.shard, self.parts, self.pos, self.extra = shard, parts, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self.pos, self.shard.size)[whence]
        self.pos = base + offset
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), max(0, self.shard.size - self.pos))
        for (start, end), data in self.parts.items():
            if start <= self.pos < end:
                n = min(n, end - self.pos)
                buffer[:n] = data[self.pos - start : self.pos - start + n]
                break
        else:
            data = self.shard.read_range(self.pos, self.pos + n)
            self.extra += len(data)
            n = len(data)
            buffer[:n] = data
        self.pos += n
        return n


def fetch_column(shard: Shard, footer: bytes, tail: bytes, column: str) -> tuple[Any, Fetched]:
    """The shard's metadata and a file holding the byte ranges of ``column``'s chunks, fetched
    at once (concurrently where the filesystem can)."""
    import fsspec
    import pyarrow.parquet as pq

    metadata = pq.read_metadata(io.BytesIO(MAGIC + footer + tail))
    ranges = column_ranges(metadata, column)
    fs, path = fsspec.core.url_to_fs(shard.url)
    blobs = fs.cat_ranges(
        [path] * len(ranges), [s for s, _ in ranges], [e for _, e in ranges], on_error="raise"
    )
    return metadata, Fetched(shard, dict(zip(ranges, blobs, strict=True)))


def row_groups(metadata: Any, fetched: Fetched, column: str) -> Iterator[Any]:
    """``column`` of each row group (pyarrow tables), read from the fetched byte ranges."""
    import pyarrow.parquet as pq

    fetched.seek(0)
    parquet = pq.ParquetFile(fetched, metadata=metadata, pre_buffer=False)
    for i in range(metadata.num_row_groups):
        yield parquet.read_row_group(i, columns=[column])


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _skip(data: bytes, i: int, kind: int) -> int:
    """Skip one Thrift compact-protocol value of type ``kind`` starting at ``data[i]``."""
    if kind in (1, 2):  # a boolean field: its value is its type
        return i
    if kind == 3:
        return i + 1
    if kind in (4, 5, 6):
        return _varint(data, i)[1]
    if kind == 7:
        return i + 8
    if kind == 8:
        size, i = _varint(data, i)
        return i + size
    if kind in (9, 10):  # list, set
        size, elem = data[i] >> 4, data[i] & 0x0F
        i += 1
        if size == 15:
            size, i = _varint(data, i)
        for _ in range(size):
            i = i + 1 if elem in (1, 2) else _skip(data, i, elem)
        return i
    if kind == 11:  # map
        size, i = _varint(data, i)
        if size:
            key, value = data[i] >> 4, data[i] & 0x0F
            i += 1
            for _ in range(size):
                i = i + 1 if key in (1, 2) else _skip(data, i, key)
                i = i + 1 if value in (1, 2) else _skip(data, i, value)
        return i
    if kind == 12:  # struct: fields up to a stop byte
        while data[i]:
            head = data[i]
            i = _varint(data, i + 1)[1] if head >> 4 == 0 else i + 1  # long-form field id
            i = _skip(data, i, head & 0x0F)
        return i + 1
    raise ValueError(f"unknown Thrift type {kind}")


def _field(data: bytes, i: int, last: int) -> tuple[int, int, int]:
    """A Thrift compact-protocol field header at ``data[i]`` (``last``: the previous field's id):
    the field's id, its value's type and where the value starts."""
    head = data[i]
    if head >> 4:
        return last + (head >> 4), head & 0x0F, i + 1
    zigzag, i = _varint(data, i + 1)
    return (zigzag >> 1) ^ -(zigzag & 1), head & 0x0F, i


# column -> the bytes of the last schema walked for it, and whether it has that text column: the
# walk reads exactly those bytes (a Thrift list says how long it is), so the same bytes in another
# footer give the same answer
_SCHEMAS: dict[str, tuple[bytes, bool]] = {}


def footer_facts(footer: bytes, column: str) -> tuple[int, bool]:
    """From a Parquet footer (FileMetaData, Thrift compact protocol): ``num_rows`` (field 3),
    and whether the schema (field 2) has ``column`` as a top-level UTF-8 byte-array column, a
    text column however Polars reads it (String, Categorical, Enum). Reading this here costs a
    fraction of a Polars query, which a run pays once per shard; the shards of a corpus mostly
    share their schema's bytes, which are then walked once (see :data:`_SCHEMAS`)."""
    i = field = 0
    text = False
    while footer[i]:
        field, kind, i = _field(footer, i, field)
        if field == 2 and kind == 9:
            seen, text = _SCHEMAS.get(column, (b"", False))
            if not seen or not footer.startswith(seen, i):
                text, end = _text_column(footer, i, column.encode())
                seen = footer[i:end]
                _SCHEMAS[column] = (seen, text)
            i += len(seen)
        elif field == 3 and kind == 6:
            zigzag = _varint(footer, i)[0]
            return (zigzag >> 1) ^ -(zigzag & 1), text
        else:
            i = _skip(footer, i, kind)
    raise ValueError("no row count in the footer")


def _text_column(data: bytes, i: int, name: bytes) -> tuple[bool, int]:
    """Whether the schema (a list of SchemaElement, depth first) starting at ``data[i]`` has a
    top-level leaf ``name`` of type BYTE_ARRAY, not repeated, annotated UTF-8 (converted type
    UTF8 or logical type STRING); and where the list ends."""
    size, i = data[i] >> 4, i + 1
    if size == 15:
        size, i = _varint(data, i)
    found = False
    open_children: list[int] = []  # the children still to come at each open level
    for _ in range(size):
        values: dict[int, int | bytes | None] = {}
        field = 0
        while data[i]:
            field, kind, i = _field(data, i, field)
            if kind == 5:  # type 1, repetition 3, num_children 5, converted type 6: i32
                zigzag, i = _varint(data, i)
                values[field] = (zigzag >> 1) ^ -(zigzag & 1)
            elif kind == 8 and field == 4:  # name
                length, i = _varint(data, i)
                values[field], i = data[i : i + length], i + length
            elif kind == 12 and field == 10:  # logical type: a union, known by its member
                values[field] = _field(data, i, 0)[0] if data[i] else None
                i = _skip(data, i, kind)
            else:
                i = _skip(data, i, kind)
        i += 1  # the struct's stop byte
        if len(open_children) == 1 and values.get(4) == name:
            found = (
                values.get(1) == 6  # BYTE_ARRAY
                and values.get(3) != 2  # not REPEATED
                and 5 not in values  # a leaf
                and (values.get(6) == 0 or values.get(10) == 1)  # UTF8 / STRING
            )
        if open_children:
            open_children[-1] -= 1
        children = values.get(5)
        if isinstance(children, int) and children:
            open_children.append(children)
        while open_children and not open_children[-1]:
            open_children.pop()
    return found, i
