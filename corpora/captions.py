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
import re
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from corpora.shards import Shard

CAPTION = "caption"
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


def _describe(schema: dict[str, object]) -> str:
    return ", ".join(f"{name} ({dtype})" for name, dtype in schema.items()) or "none"


def _check_column(shard: str, schema: dict[str, object], column: str, is_string: bool) -> None:
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
    columns: dict[str, str]
    content: str  # the shard's content identity: size + a hash of the footer's bytes


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_text(t.value_type)
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_null(t)  # every caption is null: counted as null captions
    )


def parquet_footer(shard: Shard, column: str) -> Footer:
    """Read a Parquet shard's footer: check the caption column, return the row count and the
    shard's content identity (its size and a hash of the footer, which records every column
    chunk's offsets, sizes and statistics)."""
    try:
        with shard.open() as f:
            meta = pq.ParquetFile(f).metadata
            schema = meta.schema.to_arrow_schema()
            f.seek(-8, 2)  # footer length (4 bytes, little-endian) + "PAR1"
            length = int.from_bytes(f.read(4), "little")
            f.seek(-8 - length, 2)
            footer = f.read(length)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CorruptShardError(shard.url, f"unreadable Parquet footer ({exc})") from exc
    columns = {field.name: str(field.type) for field in schema}
    is_string = column in columns and _is_text(schema.field(column).type)
    _check_column(shard.url, columns, column, is_string)
    digest = hashlib.sha256(footer).hexdigest()[:32]
    return Footer(meta.num_rows, columns, f"parquet:{shard.size}:{digest}")


def parquet_captions(shard: Shard, column: str) -> pl.LazyFrame:
    """The caption column of a Parquet shard as a lazy frame (only that column is read).

    Local files are scanned by Polars' streaming engine. Remote ones (any fsspec URL) are read
    through pyarrow, which fetches only the caption column's byte ranges; that column of one shard
    is then held in memory while it is scanned.
    """
    if shard.is_local:
        return pl.scan_parquet(shard.url, glob=False).select(
            pl.col(column).cast(pl.String).alias(CAPTION)
        )
    try:
        with shard.open() as f:
            table = pq.ParquetFile(f).read(columns=[column])
    except (OSError, pa.ArrowException) as exc:
        raise CorruptShardError(shard.url, f"cannot be read ({exc})") from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.lazy().select(pl.col(column).cast(pl.String).alias(CAPTION))


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
    _check_column(shard.url, schema, column, is_string)
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
    _check_column(source, schema, column, is_string)
    n_rows = getattr(loaded, "num_rows", None)
    fingerprint = getattr(loaded, "_fingerprint", None) or None
    arrow = loaded.select_columns([column]).with_format("arrow")

    def batches() -> Iterator[pl.DataFrame]:
        for batch in arrow.iter(batch_size=batch_size):
            table = batch if isinstance(batch, pa.Table) else pa.Table.from_pydict(batch)
            yield pl.from_arrow(table).select(pl.col(column).cast(pl.String).alias(CAPTION))

    return batches(), n_rows, fingerprint
