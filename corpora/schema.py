"""The result schema in code: every result table's columns and their dtypes, in the order they
are written (``docs/RESULTS.md`` describes each, and a test checks it against this module), and
the kind of result directory each command writes (by ``run.json``'s ``command``).

Writers build their frames with these schemas and readers name their columns from them, so a
column is renamed in one place."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

Schema = dict[str, pl.DataType | type[pl.DataType]]

# ---- negscan … --out DIR --------------------------------------------------------------------

NEGSCAN_PER_WORD: Schema = {"word": pl.String, "captions": pl.Int64, "occurrences": pl.Int64}
NEGSCAN_PER_SHARD: Schema = {
    "shard": pl.String,
    "n_rows": pl.Int64,
    "n_null": pl.Int64,
    "n_empty": pl.Int64,
    "n_with_negation": pl.Int64,
    "n_with_class_negation": pl.Int64,
}
NEGSCAN_BIGRAMS: Schema = {"negator": pl.String, "next_word": pl.String, "count": pl.Int64}
NEGSCAN_CLASSES: Schema = {"class": pl.String, "count": pl.Int64}
NEGSCAN_SAMPLES: Schema = {"word": pl.String, "caption": pl.String, "shard": pl.String}

# ---- promptsim --out DIR ----------------------------------------------------------------------

PROMPTSIM_PER_CLASS: Schema = {
    "model": pl.String,
    "pretrained": pl.String,
    "class": pl.String,
    "templates": pl.String,
    "style": pl.String,
    "pair": pl.String,
    "space": pl.String,
    "cosine": pl.Float64,
    "negation_closer": pl.Boolean,
    "note": pl.String,
}

# ---- promptsim maps … --out DIR ---------------------------------------------------------------

MAPS: Schema = {
    "image": pl.String,
    "image_file": pl.String,
    "class": pl.String,
    "prompt": pl.String,
    "text": pl.String,
    "npy": pl.String,
    "png": pl.String,
    "height": pl.Int64,
    "width": pl.Int64,
    "min": pl.Float64,
    "max": pl.Float64,
}

# ---- promptsim absence --out DIR --------------------------------------------------------------

ABSENCE_PER_CLASS: Schema = {
    "class": pl.String,
    "variant": pl.String,
    "prompt": pl.String,
    "target": pl.String,
    "auroc": pl.Float64,
    "ap": pl.Float64,
    "n_target": pl.Int64,
    "n_other": pl.Int64,
}

# ---- promptsim negbench --out DIR -------------------------------------------------------------

# the question columns (what ``--export-questions`` writes: these, then NEGBENCH_META)
NEGBENCH_QUESTIONS: Schema = {
    "qid": pl.String,
    "task": pl.String,
    "type": pl.String,  # mcq type | existence sampling | retrieval "negated"/"plain"
    "family": pl.String,
    "variant": pl.String,  # retrieval: negated-query variant ("plain" for the plain query)
    "image": pl.String,  # image key (relative to the dataset root); null for retrieval
    "options": pl.List(pl.String),  # mcq: 4 captions; existence: [yes, no]; retrieval: [query]
    "answer": pl.Int64,  # index of the correct option; null for retrieval
    "focus": pl.String,  # class the question is about (the negated one where there is one)
    "affirmed": pl.List(pl.String),  # classes affirmed by the correct option / the query's A
    "negated": pl.List(pl.String),  # classes negated by the correct option / the query's N
    "present": pl.Boolean,  # existence: whether the probed class is present
}
NEGBENCH_META: Schema = {
    "benchmark": pl.String,
    "version": pl.Int64,
    "dataset": pl.String,
    "split": pl.String,
    "seed": pl.Int64,
    "templates": pl.String,
}
# the score columns ``questions.parquet`` adds after the question and meta columns
NEGBENCH_SCORES: Schema = {
    "model": pl.String,
    "pretrained": pl.String,
    "scores": pl.List(pl.Float64),
    "prediction": pl.Int64,
    "correct": pl.Boolean,
    "r1": pl.Float64,
    "r5": pl.Float64,
    "r10": pl.Float64,
    "ap": pl.Float64,
    "n_relevant": pl.Int64,
    "n_gallery": pl.Int64,
}
NEGBENCH_PER_CLASS: Schema = {
    "model": pl.String,
    "pretrained": pl.String,
    "task": pl.String,
    "class": pl.String,
    "type": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n": pl.Int64,
}

# ---- mlrtrain sweep --out SWEEP_DIR -----------------------------------------------------------

SWEEP_RESULTS: Schema = {
    "dataset": pl.String,
    "model": pl.String,
    "pretrained": pl.String,
    "weights_id": pl.String,
    "image_size": pl.Int64,
    "random_weights": pl.Boolean,
    "method": pl.String,
    "partial": pl.Float64,
    "seed": pl.Int64,
    "map": pl.Float64,
    "map_selected": pl.Float64,
    "map_last": pl.Float64,
    "select": pl.String,
    "cf1_harmonic": pl.Float64,
    "of1": pl.Float64,
    "n_params": pl.Int64,
    "wall_seconds": pl.Float64,
    "device": pl.String,
    "status": pl.String,
    "error": pl.String,
    "run_dir": pl.String,
}
SWEEP_RESULTS_FILE = "results.parquet"
# the precision at which ``partial`` is compared and grouped (a ``0.1:0.9:0.1`` range gives
# 0.30000000000000004)
PARTIAL_DECIMALS = 6
# a run is (dataset, backbone, method, p, seed): one row each, sorted in this order
SWEEP_KEY = (
    "dataset",
    "model",
    "pretrained",
    "weights_id",
    "image_size",
    "method",
    "partial",
    "seed",
)
# the backbone of a run: the model, its weights (tag or file, and their identity), the input size
SWEEP_BACKBONE = ("model", "pretrained", "image_size", "weights_id")
# columns that results files written by earlier versions lack (read as null)
SWEEP_ADDED = (
    "run_dir",
    "model",
    "pretrained",
    "weights_id",
    "image_size",
    "random_weights",
    "map_selected",
    "map_last",
    "select",
)

# ``mlrtrain table --format csv`` (the ``build_table`` frame), one row per (dataset, backbone,
# method): these columns, then per proportion ``TABLE_PER_PROPORTION`` (``{p}`` the proportion's
# key, ``10`` for 0.1), then ``TABLE_TAIL``
TABLE_HEAD = (
    "dataset",
    *SWEEP_BACKBONE,
    "backbone",
    "random_weights",
    "paper_refused",
    "select",
    "method",
    "label",
    "n_params",
    "params_paper",
    "params_label",
)
TABLE_PER_PROPORTION = ("map_{p}_mean", "map_{p}_std", "map_{p}_n", "paper_{p}", "diff_{p}")
TABLE_TAIL = (
    "map_avg_mean",
    "map_avg_std",
    "map_avg_n",
    "map_last_avg_mean",
    "map_last_avg_std",
    "paper_avg",
    "diff_avg",
    "hours_per_run",
    "hours_total",
    "paper_gpu_hours",
    "devices",
    "n_runs",
    "n_failed",
)

# ---- which file of which result directory ---------------------------------------------------

# result kind → {file: schema}; the kinds are those of :data:`KINDS`
FILES: dict[str, dict[str, Schema]] = {
    "negscan": {
        "per_word.parquet": NEGSCAN_PER_WORD,
        "per_shard.parquet": NEGSCAN_PER_SHARD,
        "bigrams.parquet": NEGSCAN_BIGRAMS,
        "classes.parquet": NEGSCAN_CLASSES,
        "samples.parquet": NEGSCAN_SAMPLES,
    },
    "promptsim": {"per_class.parquet": PROMPTSIM_PER_CLASS},
    "maps": {"maps.parquet": MAPS},
    "absence": {"per_class.parquet": ABSENCE_PER_CLASS},
    "negbench": {
        "questions.parquet": {**NEGBENCH_QUESTIONS, **NEGBENCH_META, **NEGBENCH_SCORES},
        "per_class.parquet": NEGBENCH_PER_CLASS,
    },
    "sweep": {SWEEP_RESULTS_FILE: SWEEP_RESULTS},
}

# ``run.json``'s ``command`` → the kind of result directory it wrote
KINDS = {
    "negscan laion": "negscan",
    "negscan text": "negscan",
    "negscan hf": "negscan",
    "negscan merge": "negscan",
    "promptsim table": "promptsim",
    "promptsim maps": "maps",
    "promptsim absence": "absence",
    "promptsim negbench": "negbench",
    "mlrtrain fit": "fit",
}


def names(schema: Schema, *columns: str) -> tuple[str, ...]:
    """``columns`` (all of ``schema``'s when none are given), each checked to be one of
    ``schema``'s: a reader names the columns it needs through this, so a renamed column fails
    where it is read, at import."""
    unknown = [c for c in columns if c not in schema]
    if unknown:
        raise KeyError(f"no column(s) {unknown} in the schema {list(schema)}")
    return columns or tuple(schema)


def kind_of(result_dir: Path) -> str | None:
    """The kind of result directory ``result_dir`` is (:data:`KINDS`), by its ``run.json``'s
    ``command``; ``None`` when it has no readable ``run.json`` or its command is none of
    :data:`KINDS`."""
    try:
        command = json.loads((Path(result_dir) / "run.json").read_text("utf-8")).get("command")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    return KINDS.get(command) if isinstance(command, str) else None
