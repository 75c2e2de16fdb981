"""Question files: ours (written by ``--export-questions``, read back by ``--questions``) and
NegBench's released MCQ CSVs, read into our question rows."""

from __future__ import annotations

import csv
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


def read_negbench_csv(path: Path, images: Path, seed: int) -> tuple[pl.DataFrame, dict[str, Path]]:
    """NegBench's MCQ CSV → our question rows (options shuffled with ``seed``: NegBench keeps the
    answer at index 0) and ``{image_path value: file}``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--negbench-csv {path}: no such file")
    rng = stream_rng(seed, "negbench-csv")
    rows: list[dict] = []
    files: dict[str, Path] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in NEGBENCH_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        for line, rec in enumerate(reader, start=2):
            kind = NEGBENCH_TYPES.get((rec["correct_answer_template"] or "").strip())
            try:
                answer = int(float(rec["correct_answer"]))
            except ValueError:
                answer = -1
            if kind is None or not 0 <= answer < N_OPTIONS:
                raise ValueError(
                    f"{path}, line {line}: correct_answer must be 0–3 and correct_answer_template "
                    f"one of {', '.join(NEGBENCH_TYPES)}"
                )
            key = rec["image_path"]
            if key not in files:
                found = resolve_image(key, images)
                if found is None:
                    raise ValueError(
                        f"{path}, line {line}: image {key!r} not found (--images {images})"
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
    if not rows:
        raise ValueError(f"{path}: no question rows")
    meta = {C.dataset: f"negbench-csv:{path.stem}", C.split: "csv", C.templates: "negbench-csv"}
    return with_meta(question_frame(rows), seed=seed, **meta), files
