"""Facts read straight from a Parquet footer (FileMetaData, in Thrift's compact protocol): the
row count, and whether a column is a text column however Polars reads it. Reading them here
costs a fraction of a Polars query, which a scan pays once per shard (:mod:`corpora.captions`).
"""

from __future__ import annotations


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
