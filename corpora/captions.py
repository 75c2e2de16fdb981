"""Caption corpora: which column holds the caption, checked per shard, and readers that return it.

Corpus-specific names are mapped here, at the edge: ``laion400m`` → ``TEXT``, ``img2dataset`` →
``caption``, or any ``--text-column``. Every reader returns caption text in one column named
``caption``. Parquet shards are checked from their footer (schema and row count) before they are
scanned, so a missing or non-string caption column is an error naming the shard and the columns it
has — never a silent column of nulls. A dictionary-encoded (categorical) string column is a string
column; a column of Parquet type ``null`` holds only null captions (counted as such).

Each reader also gives the shard's content identity (size + a hash of the Parquet footer, or a
hash of a text file's bytes), so that the same shard under two paths is recognised.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import cast

import polars as pl

from corpora.schema import C
from corpora.shards import Shard

CAPTION = C.caption
# Polars reads the last 256 KiB of a local Parquet file to find its footer, then the columns it
# needs: on a 10 000-row img2dataset shard that is most of the file, read for one column. Footers
# take a few KiB (a larger one costs Polars a second read), so that first read is cut to 16 KiB:
# 10 000-row shards scan about 5 % faster. A value set in the environment is kept.
FOOTER_READ = 16 * 2**10
os.environ.setdefault("POLARS_CLOUD_FOOTER_READ_SIZE", str(FOOTER_READ))
CORPUS_COLUMNS = {"laion400m": "TEXT", "img2dataset": "caption"}
TEXT_FORMATS = {
    ".txt": "lines",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
}
TEXT_SUFFIXES = tuple(s + c for s in TEXT_FORMATS for c in ("", ".gz", ".bz2", ".xz", ".zst"))


class ShardError(Exception):
    """A shard that cannot be scanned (``shard`` names it)."""

    def __init__(self, shard: str, message: str) -> None:
        super().__init__(f"{shard}: {message}")
        self.shard = shard
        self.message = message

    def __reduce__(self):  # pickle by (shard, message): errors cross process boundaries
        return type(self), (self.shard, self.message)


class SchemaError(ShardError):
    """The caption column is missing or not a string column."""


class CorruptShardError(ShardError):
    """The shard cannot be read (truncated file, bad footer, bad page)."""


def text_column_for(corpus: str, text_column: str | None) -> str:
    """The caption column of a corpus spec; ``text_column`` overrides it."""
    if text_column:
        return text_column
    try:
        return CORPUS_COLUMNS[corpus]
    except KeyError:
        raise ValueError(
            f"unknown corpus {corpus!r}: use one of {', '.join(CORPUS_COLUMNS)} or --text-column"
        ) from None


def _describe(schema: Mapping[str, object]) -> str:
    return ", ".join(f"{name} ({dtype})" for name, dtype in schema.items()) or "none"


def _check_column(
    shard: str, schema: Mapping[str, object], column: str, *, is_string: bool
) -> None:
    if column not in schema:
        raise SchemaError(
            shard, f"no caption column {column!r}; the shard has columns: {_describe(schema)}"
        )
    if not is_string:
        raise SchemaError(
            shard,
            f"caption column {column!r} is {schema[column]}, not a string column; "
            f"the shard has columns: {_describe(schema)}",
        )


@dataclass(frozen=True)
class Footer:
    n_rows: int
    content: str  # the shard's content identity: size + a hash of the footer's bytes


# what a caption column may be, as Polars reads it: a dictionary-encoded string column is
# Categorical (or Enum); a column of Parquet type null holds only null captions
_TEXT_TYPES = (pl.String, pl.Categorical, pl.Enum, pl.Null)


def _arrow_columns(footer_file: bytes) -> dict[str, str]:
    """The columns of a Parquet footer with their Arrow types (to describe a shard in an error;
    pyarrow is imported only then: it takes long to import)."""
    import pyarrow.parquet as pq

    return {f.name: str(f.type) for f in pq.ParquetFile(io.BytesIO(footer_file)).schema_arrow}


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


def _footer_facts(footer: bytes, column: str) -> tuple[int, bool]:
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


def parquet_footer(shard: Shard, column: str) -> Footer:
    """Read a Parquet shard's footer: check the caption column, return the row count and the
    shard's content identity (its size and a hash of the footer, which records every column
    chunk's offsets, sizes and statistics)."""
    try:
        with shard.open() as f:
            f.seek(-8, 2)  # footer length (4 bytes, little-endian) + "PAR1"
            tail = f.read(8)
            f.seek(-8 - int.from_bytes(tail[:4], "little"), 2)
            footer = f.read(int.from_bytes(tail[:4], "little"))
        n_rows, text = _footer_facts(footer, column)
        if not text:  # anything else is checked as Polars reads it: the footer alone, framed
            # as a Parquet file, gives Polars the schema
            footer_file = b"PAR1" + footer + tail
            schema = pl.read_parquet_schema(io.BytesIO(footer_file))
    except (OSError, ValueError, IndexError, pl.exceptions.PolarsError) as exc:
        raise CorruptShardError(shard.url, f"unreadable Parquet footer ({exc})") from exc
    if not text and (column not in schema or not isinstance(schema[column], _TEXT_TYPES)):
        _check_column(shard.url, _arrow_columns(footer_file), column, is_string=False)
    digest = hashlib.sha256(footer).hexdigest()[:32]
    return Footer(n_rows, f"parquet:{shard.size}:{digest}")


def parquet_captions(shard: Shard, column: str) -> pl.LazyFrame:
    """The caption column of a Parquet shard as a lazy frame (only that column is read).

    Local files are scanned by Polars' streaming engine. Remote ones (any fsspec URL) are read
    through pyarrow one row group at a time, fetching only the caption column's byte ranges, so
    that a scan holds one row group's captions, never the whole shard's.
    """
    if shard.is_local:
        return pl.scan_parquet(shard.url, glob=False).select(
            pl.col(column).cast(pl.String).alias(CAPTION)
        )
    from polars.io.plugins import register_io_source

    def row_groups(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        for frame in _remote_row_groups(shard, column):
            yield frame if with_columns is None else frame.select(with_columns)

    # no filter is pushed into the Python source: it may hold Python functions (a progress
    # counter), which cannot be handed to it
    return register_io_source(row_groups, schema={CAPTION: pl.String}).map_batches(
        lambda frame: frame, predicate_pushdown=False, streamable=True, schema={CAPTION: pl.String}
    )


def _remote_row_groups(shard: Shard, column: str) -> Iterator[pl.DataFrame]:
    """The caption column of a Parquet shard read through fsspec, one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with shard.open() as f:
            parquet = pq.ParquetFile(f)
            for i in range(parquet.num_row_groups):
                frame = pl.from_arrow(parquet.read_row_group(i, columns=[column]))
                assert isinstance(frame, pl.DataFrame)
                yield frame.select(pl.col(column).cast(pl.String).alias(CAPTION))
    except (OSError, pa.ArrowException) as exc:
        raise CorruptShardError(shard.url, f"cannot be read ({exc})") from exc


def text_format(shard: Shard) -> str:
    name = shard.name.lower()
    for compression in (".gz", ".bz2", ".xz", ".zst"):
        name = name.removesuffix(compression)
    for suffix, fmt in TEXT_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise ValueError(
        f"{shard.url}: cannot tell the format from the name; use --input-format lines|jsonl|csv|tsv"
    )


def file_content(shard: Shard) -> str:
    """A hash of all the shard's bytes (as stored, compressed or not): a text shard's content
    identity, and how two Parquet shards that share a footer are told apart."""
    digest = hashlib.sha256()
    try:
        with shard.open() as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise CorruptShardError(shard.url, f"unreadable file ({exc})") from exc
    return f"sha256:{digest.hexdigest()[:32]}"


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def text_captions(shard: Shard, fmt: str, column: str) -> pl.DataFrame:
    """Read captions from a text (one a line), JSONL, CSV or TSV file (compression inferred).

    Lines may end with LF, CR LF or CR alone. An empty (or blank) file holds no captions: zero
    rows, not an error.
    """
    import fsspec

    try:
        with fsspec.open(shard.url, "rb", compression="infer") as f:
            data = f.read()
    except OSError as exc:
        raise CorruptShardError(shard.url, f"unreadable file ({exc})") from exc
    if b"\r" in data and b"\n" not in data:  # classic Mac line endings: CR alone
        data = data.replace(b"\r", b"\n")
    try:
        if fmt == "lines":
            lines = _LINE_BREAK.split(data.decode("utf-8"))
            if lines and lines[-1] == "":
                lines.pop()
            return pl.DataFrame({CAPTION: lines}, schema={CAPTION: pl.String})
        if not data.strip():  # nothing to parse, not even a header: no captions
            return pl.DataFrame(schema={CAPTION: pl.String})
        if fmt == "jsonl":
            frame = pl.read_ndjson(data, infer_schema_length=None)
        elif fmt in ("csv", "tsv"):
            frame = pl.read_csv(data, separator="\t" if fmt == "tsv" else ",", infer_schema=False)
        else:
            raise ValueError(f"unknown input format {fmt!r}: use lines, jsonl, csv or tsv")
    except (UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
        raise CorruptShardError(shard.url, f"cannot parse as {fmt} ({exc})") from exc
    schema = {name: str(dtype) for name, dtype in frame.schema.items()}
    is_string = column in frame.columns and frame.schema[column] in (pl.String, pl.Null)
    _check_column(shard.url, schema, column, is_string=is_string)
    return frame.select(pl.col(column).cast(pl.String).alias(CAPTION))


def hf_batches(
    dataset: str, split: str, column: str, batch_size: int = 200_000
) -> tuple[Iterator[pl.DataFrame], int | None, str | None]:
    """Stream a Hugging Face dataset's caption column in batches.

    ``dataset`` is a directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``
    or a Hub name (streamed with ``load_dataset(..., streaming=True)``; needs the network).
    Returns the batch iterator, the row count when it is known, and the dataset's own
    fingerprint (``None`` when it has none, e.g. when streamed from the Hub).
    """
    from pathlib import Path

    import datasets  # heavy; imported only for this reader
    import pyarrow as pa

    source = f"hf dataset {dataset!r} split {split!r}"
    if Path(dataset).expanduser().is_dir():
        loaded = datasets.load_from_disk(str(Path(dataset).expanduser()))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ValueError(
                    f"{dataset}: no split {split!r}; it has splits: {', '.join(loaded)}"
                )
            loaded = loaded[split]
    else:
        loaded = datasets.load_dataset(dataset, split=split, streaming=True)
    features = loaded.features or {}
    schema = {name: str(feature) for name, feature in features.items()}
    feature = features.get(column)
    is_string = getattr(feature, "dtype", None) in ("string", "large_string", "null")
    _check_column(source, schema, column, is_string=is_string)
    n_rows = getattr(loaded, "num_rows", None)
    fingerprint = getattr(loaded, "_fingerprint", None) or None
    arrow = loaded.select_columns([column]).with_format("arrow")

    def batches() -> Iterator[pl.DataFrame]:
        for batch in arrow.iter(batch_size=batch_size):
            table = batch if isinstance(batch, pa.Table) else pa.Table.from_pydict(batch)
            frame = cast(pl.DataFrame, pl.from_arrow(table))  # a Table gives a DataFrame
            yield frame.select(pl.col(column).cast(pl.String).alias(CAPTION))

    return batches(), n_rows, fingerprint
