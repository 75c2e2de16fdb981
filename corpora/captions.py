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
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar, cast

import polars as pl

from corpora.parquet import fetch_column, read_footer, row_groups
from corpora.parquet import footer_facts as _footer_facts
from corpora.schema import C
from corpora.shards import Shard

T = TypeVar("T")

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


# What reading a bad shard may raise besides a ShardError: Polars' errors, a Polars panic (its
# Rust code meeting data it did not expect; pyo3's PanicException is a BaseException, not an
# Exception) and OS errors.
READ_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError)


class SchemaError(ShardError):
    """The caption column is missing or not a string column."""


class CorruptShardError(ShardError):
    """The shard cannot be read (truncated file, bad footer, bad page)."""


def unreadable(url: str, exc: BaseException) -> CorruptShardError:
    """The :class:`CorruptShardError` of a shard whose reading raised one of
    :data:`READ_ERRORS`. A panic's text names Polars' task ids, which differ from run to run: it
    is said in words (Polars prints the panic itself on stderr)."""
    if isinstance(exc, pl.exceptions.PanicException):
        return CorruptShardError(url, "cannot be read (Polars panicked while decoding it)")
    return CorruptShardError(url, f"cannot be read ({exc})")


class ReadFailed(ShardError):
    """A storage or network error persisted through every retry: the shard may be fine (it is
    not a corrupt shard, and ``--skip-bad-shards`` does not skip it)."""


# A remote read is tried again after RETRY_WAIT seconds, then twice as long each time (with
# jitter), up to the caller's number of retries: throttling and brief outages pass.
RETRY_WAIT = 1.0
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def transient(exc: BaseException, shard: Shard) -> bool:
    """Whether ``exc``, raised reading ``shard``, may pass when tried again: an I/O error of a
    remote shard (a network error, a timeout, throttling), not a missing file or a refused
    permission. A local file's I/O error is taken as the file's (a truncated or corrupt one)."""
    return isinstance(exc, OSError) and not isinstance(exc, _PERMANENT) and not shard.is_local


def retrying(read: Callable[[], T], shard: Shard, retries: int) -> T:
    """``read()``, tried again up to ``retries`` times after a :func:`transient` error, waiting
    longer each time; the last such error becomes :class:`ReadFailed`."""
    for attempt in range(retries + 1):
        try:
            return read()
        except OSError as exc:
            if not transient(exc, shard):
                raise
            if attempt == retries:
                why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ReadFailed(
                    shard.url,
                    f"a storage or network error persisted through {retries} retries ({why}); "
                    "not a corrupt shard: rerun the same command later (with --out, the finished "
                    "shards are kept)",
                ) from exc
            time.sleep(RETRY_WAIT * 2**attempt * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


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
    """What identifies a shard: its content identity (size + a hash of a Parquet footer's bytes,
    or a hash of a text file's bytes) and, for Parquet, its row count."""

    n_rows: int | None
    content: str


# what a caption column may be, as Polars reads it: a dictionary-encoded string column is
# Categorical (or Enum); a column of Parquet type null holds only null captions
_TEXT_TYPES = (pl.String, pl.Categorical, pl.Enum, pl.Null)


def _arrow_columns(footer_file: bytes) -> dict[str, str]:
    """The columns of a Parquet footer with their Arrow types (to describe a shard in an error;
    pyarrow is imported only then: it takes long to import)."""
    import pyarrow.parquet as pq

    return {f.name: str(f.type) for f in pq.ParquetFile(io.BytesIO(footer_file)).schema_arrow}


def parquet_footer(shard: Shard, column: str) -> Footer:
    """Read a Parquet shard's footer: check the caption column, return the row count and the
    shard's content identity (its size and a hash of the footer, which records every column
    chunk's offsets, sizes and statistics). A :func:`transient` error is raised as it is."""
    try:
        footer, tail = read_footer(shard, FOOTER_READ)
        n_rows, text = _footer_facts(footer, column)
        if not text:  # anything else is checked as Polars reads it: the footer alone, framed
            # as a Parquet file, gives Polars the schema
            footer_file = b"PAR1" + footer + tail
            schema = pl.read_parquet_schema(io.BytesIO(footer_file))
    except (*READ_ERRORS, ValueError, IndexError) as exc:
        if transient(exc, shard):
            raise
        raise CorruptShardError(shard.url, f"unreadable Parquet footer ({exc})") from exc
    if not text and (column not in schema or not isinstance(schema[column], _TEXT_TYPES)):
        _check_column(shard.url, _arrow_columns(footer_file), column, is_string=False)
    digest = hashlib.sha256(footer).hexdigest()[:32]
    return Footer(n_rows, f"parquet:{shard.size}:{digest}")


def parquet_captions(shard: Shard, column: str) -> pl.LazyFrame:
    """The caption column of a Parquet shard as a lazy frame (only that column is read).

    Local files are scanned by Polars' streaming engine. Of a remote one (any fsspec URL), the
    byte ranges of the caption column's chunks are fetched when this is called, and nothing else
    (no read-ahead): storage errors are raised here, where they can be retried; the frame then
    decodes them one row group at a time, so that a scan holds one row group's captions.
    """
    if shard.is_local:
        return pl.scan_parquet(shard.url, glob=False).select(
            pl.col(column).cast(pl.String).alias(CAPTION)
        )
    from polars.io.plugins import register_io_source

    try:
        footer, tail = read_footer(shard, FOOTER_READ)
        metadata, fetched = fetch_column(shard, footer, tail, column)
    except (ValueError, StopIteration) as exc:  # (I/O errors are raised as they are)
        raise CorruptShardError(shard.url, f"cannot be read ({exc})") from exc

    def decoded(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        import pyarrow as pa

        try:
            for table in row_groups(metadata, fetched, column):
                frame = cast(pl.DataFrame, pl.from_arrow(table))  # a Table gives a DataFrame
                frame = frame.select(pl.col(column).cast(pl.String).alias(CAPTION))
                yield frame if with_columns is None else frame.select(with_columns)
        except (OSError, pa.ArrowException) as exc:
            raise CorruptShardError(shard.url, f"cannot be read ({exc})") from exc

    # no filter is pushed into the Python source: it may hold Python functions (a progress
    # counter), which cannot be handed to it
    return register_io_source(decoded, schema={CAPTION: pl.String}).map_batches(
        lambda frame: frame, predicate_pushdown=False, streamable=True, schema={CAPTION: pl.String}
    )


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
        if transient(exc, shard):
            raise
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
        if transient(exc, shard):
            raise
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
            frame = _read_jsonl(shard.url, data, column)
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


# what Polars makes of a JSON value that is not a string when it reads a text column: its JSON text
# (a list, an object, a number, true or false); a caption that looks like one is checked
_NOT_A_STRING = r"^(?:[\[{]|-?[0-9]|true$|false$)"
_JSON_TYPES = {
    list: "a list",
    dict: "an object",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _read_jsonl(url: str, data: bytes, column: str) -> pl.DataFrame:
    """A JSONL file read by Polars, with every value of ``column`` a string or null: Polars
    reads a field that is a string on some lines and a list, object or number on others as the
    JSON text of those values (``'["not", "a dog"]'``), so such a value is a
    :class:`CorruptShardError` naming the file and line. Only captions that could be the JSON
    text of another value are checked, by parsing their lines."""
    try:
        frame = pl.read_ndjson(data, infer_schema_length=None)
    except pl.exceptions.PolarsError:
        _check_json_values(url, data, column, None)  # one value of another type: name its line
        raise
    if column in frame.columns and frame.schema[column] != pl.Null:
        rows: list[int] | None = None  # a list, object or number column: every line checked
        if frame.schema[column] == pl.String:
            suspect = pl.arg_where(pl.col(column).str.contains(_NOT_A_STRING))
            rows = frame.select(suspect).to_series().to_list()
        if rows != []:
            _check_json_values(url, data, column, rows)
    return frame


def _check_json_values(url: str, data: bytes, column: str, rows: list[int] | None) -> None:
    """Raise :class:`CorruptShardError` at the first JSONL line (of the non-blank lines numbered
    ``rows``; None: all) whose ``column`` is neither a string nor null."""
    import json

    wanted = None if rows is None else set(rows)
    records = (line for line in enumerate(data.splitlines(), 1) if line[1].strip())
    for row, (lineno, line) in enumerate(records):
        if wanted is not None and row not in wanted:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue  # (Polars' own error names what it cannot parse)
        value = value.get(column) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, str):
            kind = _JSON_TYPES.get(type(value), type(value).__name__)
            text = json.dumps(value)
            raise CorruptShardError(
                url,
                f"line {lineno}: {column!r} is {kind} ({text[:60]}{'…' if len(text) > 60 else ''}),"
                " not a string",
            )


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
