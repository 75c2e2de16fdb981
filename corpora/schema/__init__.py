"""The result schema in code: every result table's columns and their dtypes, in the order they
are written, the keys of ``metrics.json`` and of the ``summary.json`` files (``docs/RESULTS.md``
describes each, and a test checks it against this module), and the kind of result directory each
command writes (by ``run.json``'s ``command``).

Every column name is spelled once, in :class:`C` (:mod:`corpora.schema.names`); writers build
their frames with these schemas and readers name their columns through ``C``, so a column is
renamed in one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import polars as pl

from corpora.schema.names import C

Schema = dict[str, pl.DataType | type[pl.DataType]]


# ---- negscan … --out DIR --------------------------------------------------------------------

NEGSCAN_PER_WORD: Schema = {C.word: pl.String, C.captions: pl.Int64, C.occurrences: pl.Int64}
NEGSCAN_PER_SHARD: Schema = {
    C.shard: pl.String,
    C.n_rows: pl.Int64,
    C.n_null: pl.Int64,
    C.n_empty: pl.Int64,
    C.n_with_negation: pl.Int64,
    C.n_with_class_negation: pl.Int64,
}
NEGSCAN_BIGRAMS: Schema = {C.negator: pl.String, C.next_word: pl.String, C.count: pl.Int64}
NEGSCAN_CLASSES: Schema = {C.class_: pl.String, C.count: pl.Int64}
NEGSCAN_SAMPLES: Schema = {C.word: pl.String, C.caption: pl.String, C.shard: pl.String}

# ---- promptsim --out DIR ----------------------------------------------------------------------

PROMPTSIM_PER_CLASS: Schema = {
    C.model: pl.String,
    C.pretrained: pl.String,
    C.class_: pl.String,
    C.templates: pl.String,
    C.style: pl.String,
    C.pair: pl.String,
    C.space: pl.String,
    C.cosine: pl.Float64,
    C.negation_closer: pl.Boolean,
    C.note: pl.String,
}

# ``summary.json``'s keys, in the order they are written (``warning`` only with random weights,
# ``poster_reference_note`` only for a sentence-transformers control: see SUMMARY_OPTIONAL)
PROMPTSIM_SUMMARY = (
    C.model,
    C.pretrained,
    C.classes,
    C.n_classes,
    C.random_weights,
    C.warning,
    C.centring,
    C.rows,
    C.frac_negation_closer,
    C.poster_reference,
    C.poster_reference_note,
)
SUMMARY_OPTIONAL = (C.warning, C.poster_reference_note)

# ---- promptsim maps … --out DIR ---------------------------------------------------------------

MAPS: Schema = {
    C.image: pl.String,
    C.image_file: pl.String,
    C.view_file: pl.String,
    C.preprocess: pl.String,
    C.image_size: pl.Int64,
    C.class_: pl.String,
    C.prompt: pl.String,
    C.text: pl.String,
    C.npy: pl.String,
    C.png: pl.String,
    C.height: pl.Int64,
    C.width: pl.Int64,
    C.min: pl.Float64,
    C.max: pl.Float64,
}

# ---- promptsim absence --out DIR --------------------------------------------------------------

ABSENCE_PER_CLASS: Schema = {
    C.class_: pl.String,
    C.variant: pl.String,
    C.prompt: pl.String,
    C.target: pl.String,
    C.auroc: pl.Float64,
    C.ap: pl.Float64,
    C.n_target: pl.Int64,
    C.n_other: pl.Int64,
}

ABSENCE_SUMMARY = (
    C.dataset,
    C.split,
    C.n_images,
    C.classes,
    C.n_classes,
    C.voc_difficult,
    C.templates,
    C.style,
    C.positive,
    C.negative,
    C.variants,
    C.model,
    C.pretrained,
    C.random_weights,
    C.warning,
    C.rows,
)

# ---- promptsim negbench --out DIR -------------------------------------------------------------

# the question columns (what ``--export-questions`` writes: these, then NEGBENCH_META)
NEGBENCH_QUESTIONS: Schema = {
    C.qid: pl.String,
    C.task: pl.String,
    C.type: pl.String,  # mcq type | existence sampling | retrieval "negated"/"plain"
    C.family: pl.String,
    C.variant: pl.String,  # retrieval: negated-query variant ("plain" for the plain query)
    C.image: pl.String,  # image key (relative to the dataset root); null for retrieval
    C.options: pl.List(pl.String),  # mcq: 4 captions; existence: [yes, no]; retrieval: [query]
    C.answer: pl.Int64,  # index of the correct option; null for retrieval
    C.focus: pl.String,  # class the question is about (the negated one where there is one)
    C.affirmed: pl.List(pl.String),  # classes affirmed by the correct option / the query's A
    C.negated: pl.List(pl.String),  # classes negated by the correct option / the query's N
    C.present: pl.Boolean,  # existence: whether the probed class is present
}
NEGBENCH_META: Schema = {
    C.benchmark: pl.String,
    C.version: pl.Int64,
    C.dataset: pl.String,
    C.split: pl.String,
    C.seed: pl.Int64,
    C.templates: pl.String,
}
# the score columns ``questions.parquet`` adds after the question and meta columns
NEGBENCH_SCORES: Schema = {
    C.model: pl.String,
    C.pretrained: pl.String,
    C.scores: pl.List(pl.Float64),
    C.prediction: pl.Int64,
    C.correct: pl.Boolean,
    C.r1: pl.Float64,
    C.r5: pl.Float64,
    C.r10: pl.Float64,
    C.ap: pl.Float64,
    C.n_relevant: pl.Int64,
    C.n_gallery: pl.Int64,
}
NEGBENCH_PER_CLASS: Schema = {
    C.model: pl.String,
    C.pretrained: pl.String,
    C.task: pl.String,
    C.class_: pl.String,
    C.type: pl.String,
    C.metric: pl.String,
    C.value: pl.Float64,
    C.ci_low: pl.Float64,
    C.ci_high: pl.Float64,
    C.n: pl.Int64,
}

NEGBENCH_SUMMARY = (
    C.model,
    C.pretrained,
    C.weights_id,
    C.random_weights,
    C.warning,
    C.dataset,
    C.split,
    C.seed,
    C.question_seed,
    C.templates,
    C.benchmark_version,
    C.image_features,
    C.preprocessing,
    C.n_images,
    C.n_questions,
    C.n_bootstrap,
    C.metrics,
    C.clip_benchmark_files,
    C.complete,
)

# ---- negtune --out DIR ----------------------------------------------------------------------

# ``eval.parquet``: the built-in evaluation, one row per (stage, task, type, metric)
NEGTUNE_EVAL: Schema = {
    C.stage: pl.String,  # before | after (tuning)
    C.model: pl.String,
    C.pretrained: pl.String,
    C.weights_id: pl.String,
    C.random_weights: pl.Boolean,
    C.dataset: pl.String,
    C.split: pl.String,
    C.templates: pl.String,
    C.task: pl.String,  # mcq | existence | retrieval | zeroshot
    C.type: pl.String,
    C.metric: pl.String,
    C.value: pl.Float64,
    C.ci_low: pl.Float64,
    C.ci_high: pl.Float64,
    C.n: pl.Int64,
}
NEGTUNE_SUMMARY = (
    C.model,
    C.pretrained,
    C.weights_id,
    C.random_weights,
    C.warning,
    C.tuned_pretrained,
    C.tuned_weights_id,
    C.dataset,
    C.n_train,
    C.seed,
    C.train,
    C.negations,
    C.templates,
    C.history,
    C.wall_seconds,
    C.complete,
)

# ---- mlrtrain fit --out RUN_DIR ---------------------------------------------------------------

# ``metrics.json``'s keys, in the order they are written (a JSON object: no dtypes): the run, its
# backbone, the headline epoch's metrics (``evaluate``'s, ``per_class_ap`` last), how the epoch
# was chosen; ``error`` only after a NaN / exploding-weights stop (``complete`` false)
FIT_METRICS = (
    C.dataset,
    C.method,
    C.partial,
    C.known_fraction,
    C.seed,
    C.model,
    C.pretrained,
    C.image_size,
    C.preprocess,
    C.weights_id,
    C.random_weights,
    C.protocol,
    C.select,
    C.augmentation,
    C.n_params,
    C.device,
    C.map,
    C.n_classes_evaluated,
    C.cp,
    C.cr,
    C.cf1_mean_of_f1,
    C.cf1_harmonic,
    C.op,
    C.or_,
    C.of1,
    C.threshold,
    C.map_selected,
    C.map_last,
    C.best_epoch,
    C.last_epoch,
    C.selection,
    C.wall_seconds,
    C.history,
    C.per_class_ap,
    C.complete,
    C.error,
)

# ---- mlrtrain sweep --out SWEEP_DIR -----------------------------------------------------------

SWEEP_RESULTS: Schema = {
    C.dataset: pl.String,
    C.model: pl.String,
    C.pretrained: pl.String,
    C.weights_id: pl.String,
    C.image_size: pl.Int64,
    C.random_weights: pl.Boolean,
    C.method: pl.String,
    C.partial: pl.Float64,
    C.seed: pl.Int64,
    C.map: pl.Float64,
    C.map_selected: pl.Float64,
    C.map_last: pl.Float64,
    C.select: pl.String,
    C.cf1_harmonic: pl.Float64,
    C.of1: pl.Float64,
    C.n_params: pl.Int64,
    C.wall_seconds: pl.Float64,
    C.device: pl.String,
    C.status: pl.String,
    C.error: pl.String,
    C.run_dir: pl.String,
}
SWEEP_RESULTS_FILE = "results.parquet"
# the precision at which ``partial`` is compared and grouped (a ``0.1:0.9:0.1`` range gives
# 0.30000000000000004)
PARTIAL_DECIMALS = 6


def rounded_partial() -> pl.Expr:
    """The ``partial`` column at the precision it is compared and grouped at."""
    return pl.col(C.partial).round(PARTIAL_DECIMALS)


# a run is (dataset, backbone, method, p, seed): one row each, sorted in this order
SWEEP_KEY = (
    C.dataset,
    C.model,
    C.pretrained,
    C.weights_id,
    C.image_size,
    C.method,
    C.partial,
    C.seed,
)
# the backbone of a run: the model, its weights (tag or file, and their identity), the input size
SWEEP_BACKBONE = (C.model, C.pretrained, C.image_size, C.weights_id)
# columns that results files written by earlier versions lack (read as null)
SWEEP_ADDED = (
    C.run_dir,
    C.model,
    C.pretrained,
    C.weights_id,
    C.image_size,
    C.random_weights,
    C.map_selected,
    C.map_last,
    C.select,
)

# ``mlrtrain table --format csv`` (the ``build_table`` frame), one row per (dataset, backbone,
# method): these columns, then per proportion ``TABLE_PER_PROPORTION`` (``{p}`` the proportion's
# key, ``10`` for 0.1), then ``TABLE_TAIL``
TABLE_HEAD = (
    C.dataset,
    *SWEEP_BACKBONE,
    C.backbone,
    C.random_weights,
    C.paper_refused,
    C.select,
    C.method,
    C.label,
    C.n_params,
    C.params_paper,
    C.params_label,
)
TABLE_PER_PROPORTION = (
    "map_{p}_mean",
    "map_{p}_std",
    "map_{p}_n",
    "map_{p}_failed",
    "map_{p}_missing",
    "paper_{p}",
    "diff_{p}",
)


class Proportion(NamedTuple):
    """The :data:`TABLE_PER_PROPORTION` column names of one proportion."""

    mean: str
    std: str
    n: str
    failed: str
    missing: str
    paper: str
    diff: str


def per_proportion(key: str) -> Proportion:
    """The :data:`TABLE_PER_PROPORTION` columns of one proportion (``key`` ``10`` for 0.1); for
    ``avg`` / ``last_avg`` the Avg's columns (``map_avg_mean``, …; those it lacks are absent)."""
    return Proportion(*(c.format(p=key) for c in TABLE_PER_PROPORTION))


TABLE_TAIL = (
    C.map_avg_mean,
    C.map_avg_std,
    C.map_avg_n,
    C.map_last_avg_mean,
    C.map_last_avg_std,
    C.map_last_avg_n,
    C.paper_avg,
    C.diff_avg,
    C.hours_per_run,
    C.hours_total,
    C.paper_gpu_hours,
    C.devices,
    C.n_runs,
    C.n_failed,
    C.n_missing,
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
    "negtune": {"eval.parquet": NEGTUNE_EVAL},
}

# result kind → its ``summary.json``'s keys
SUMMARIES: dict[str, tuple[str, ...]] = {
    "promptsim": PROMPTSIM_SUMMARY,
    "absence": ABSENCE_SUMMARY,
    "negbench": NEGBENCH_SUMMARY,
    "negtune": NEGTUNE_SUMMARY,
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
    "mlrtrain sweep": "sweep",
    "negtune": "negtune",
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
