"""Question files: ours (written by ``--export-questions``, read back by ``--questions``) and
NegBench's released MCQ CSVs, read into our question rows."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import polars as pl

from corpora.schema import C
from negation.negbench.questions import (
    BENCHMARK,
    META,
    N_OPTIONS,
    READABLE_VERSIONS,
    SCHEMA,
    question_frame,
    question_row,
    stream_rng,
    with_meta,
)


# ---- question files -------------------------------------------------------------------------
def read_questions(path: Path) -> pl.DataFrame:
    """A question file written by ``--export-questions`` (checked: columns, benchmark, version)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--questions {path}: no such file")
    try:
        have = pl.read_parquet_schema(path)
    except Exception as err:  # not parquet: polars raises several error types
        raise ValueError(f"--questions {path}: not a Parquet file ({err})") from None
    missing = [c for c in (*SCHEMA, *META) if c not in have]
    if missing:
        raise ValueError(f"--questions {path}: missing column(s) {', '.join(missing)}")
    frame = pl.read_parquet(path, columns=[*SCHEMA, *META])
    versions = frame[C.version].unique().to_list()
    if frame[C.benchmark].unique().to_list() != [BENCHMARK] or (
        len(versions) != 1 or versions[0] not in READABLE_VERSIONS
    ):
        known = " or ".join(map(str, READABLE_VERSIONS))
        raise ValueError(
            f"--questions {path}: not a {BENCHMARK} version {known} question file "
            f"(version {versions})"
        )
    return frame


# ---- NegBench's released MCQ CSVs -----------------------------------------------------------
NEGBENCH_COLUMNS = (
    "image_path",
    *(f"caption_{k}" for k in range(N_OPTIONS)),
    "correct_answer",
    "correct_answer_template",
)
NEGBENCH_TYPES = {"positive": "affirmation", "negative": "negation", "hybrid": "hybrid"}


def resolve_image(value: str, images: Path) -> Path | None:
    """A NegBench ``image_path``: as given if it exists, else under ``images``, else its file name
    under ``images``."""
    p = Path(value)
    for cand in (p, Path(images) / value, Path(images) / p.name):
        if cand.is_file():
            return cand
    return None


def negbench_record(header: list[str], row: list[str]) -> tuple[dict[str, str], str, int]:
    """``(record, kind, answer)`` of one NegBench CSV row; a malformed row is a ValueError saying
    what is wrong (the caller names the file and line)."""
    if len(row) != len(header):
        raise ValueError(f"{len(row)} field(s), the header has {len(header)}")
    rec = dict(zip(header, row, strict=True))
    kind = NEGBENCH_TYPES.get(rec["correct_answer_template"].strip())
    if kind is None:
        raise ValueError(
            f"correct_answer_template {rec['correct_answer_template']!r} is not one of "
            f"{', '.join(NEGBENCH_TYPES)}"
        )
    value = rec["correct_answer"].strip()
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number.is_integer() and 0 <= number < N_OPTIONS):
        raise ValueError(f"correct_answer {value!r} is not an option index 0–{N_OPTIONS - 1}")
    empty = [f"caption_{k}" for k in range(N_OPTIONS) if not rec[f"caption_{k}"].strip()]
    if empty:
        raise ValueError(f"empty {', '.join(empty)} (every option must say something)")
    if not rec["image_path"].strip():
        raise ValueError("empty image_path")
    return rec, kind, int(number)


def read_negbench_csv(path: Path, images: Path, seed: int) -> tuple[pl.DataFrame, dict[str, Path]]:
    """NegBench's MCQ CSV → our question rows (options shuffled with ``seed``: NegBench keeps the
    answer at index 0) and ``{image_path value: file}``. A malformed row is a ValueError naming
    the file and line; a file that is not UTF-8 text one naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--negbench-csv {path}: no such file")
    rng = stream_rng(seed, "negbench-csv")
    rows: list[dict] = []
    files: dict[str, Path] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: a BOM is not a column
        reader = csv.reader(fh)
        try:
            header = next(reader, [])
            missing = [c for c in NEGBENCH_COLUMNS if c not in header]
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
            for row in reader:
                if not row:  # a blank line
                    continue
                try:
                    rec, kind, answer = negbench_record(header, row)
                except ValueError as err:
                    raise ValueError(f"{path}, line {reader.line_num}: {err}") from None
                key = rec["image_path"]
                if key not in files:
                    found = resolve_image(key, images)
                    if found is None:
                        raise ValueError(
                            f"{path}, line {reader.line_num}: image {key!r} not found "
                            f"(--images {images})"
                        )
                    files[key] = found
                perm = rng.permutation(N_OPTIONS)
                options = [rec[f"caption_{int(k)}"] for k in perm]
                rows.append(
                    question_row(
                        qid=f"mcq-{len(rows):06d}",
                        task="mcq",
                        type=kind,
                        family="negbench-csv",
                        image=key,
                        options=options,
                        answer=int(np.flatnonzero(perm == answer)[0]),
                        affirmed=[],
                        negated=[],
                    )
                )
        except UnicodeDecodeError as err:
            byte = err.object[err.start : err.start + 1].hex()
            raise ValueError(
                f"{path}: not UTF-8 text (byte 0x{byte}); save the CSV as UTF-8"
            ) from None
        except csv.Error as err:
            where = f"{path}, line {reader.line_num}"
            raise ValueError(f"{where}: not a readable CSV ({err})") from None
    if not rows:
        raise ValueError(f"{path}: no question rows")
    meta = {C.dataset: f"negbench-csv:{path.stem}", C.split: "csv", C.templates: "negbench-csv"}
    return with_meta(question_frame(rows), seed=seed, **meta), files
