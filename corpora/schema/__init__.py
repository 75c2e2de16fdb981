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

import polars as pl

from corpora.schema.mlrtrain import (
    FIT_METRICS as FIT_METRICS,
)
from corpora.schema.mlrtrain import (
    NEGATION_GAP as NEGATION_GAP,
)
from corpora.schema.mlrtrain import (
    PARTIAL_DECIMALS as PARTIAL_DECIMALS,
)
from corpora.schema.mlrtrain import (
    SWEEP_ADDED as SWEEP_ADDED,
)
from corpora.schema.mlrtrain import (
    SWEEP_BACKBONE as SWEEP_BACKBONE,
)
from corpora.schema.mlrtrain import (
    SWEEP_GROUP as SWEEP_GROUP,
)
from corpora.schema.mlrtrain import (
    SWEEP_KEY as SWEEP_KEY,
)
from corpora.schema.mlrtrain import (
    SWEEP_RESULTS as SWEEP_RESULTS,
)
from corpora.schema.mlrtrain import (
    SWEEP_RESULTS_FILE as SWEEP_RESULTS_FILE,
)
from corpora.schema.mlrtrain import (
    SWEEP_SETTING as SWEEP_SETTING,
)
from corpora.schema.mlrtrain import (
    TABLE_HEAD as TABLE_HEAD,
)
from corpora.schema.mlrtrain import (
    TABLE_PER_PROPORTION as TABLE_PER_PROPORTION,
)
from corpora.schema.mlrtrain import (
    TABLE_TAIL as TABLE_TAIL,
)
from corpora.schema.mlrtrain import (
    Proportion as Proportion,
)
from corpora.schema.mlrtrain import (
    per_proportion as per_proportion,
)
from corpora.schema.mlrtrain import (
    rounded_partial as rounded_partial,
)
from corpora.schema.names import C as C
from corpora.schema.names import Schema as Schema

# ---- negscan … --out DIR --------------------------------------------------------------------

NEGSCAN_PER_WORD: Schema = {C.word: pl.String, C.captions: pl.Int64, C.occurrences: pl.Int64}
NEGSCAN_SHARD_COUNTS: Schema = {
    C.n_rows: pl.Int64,
    C.n_null: pl.Int64,
    C.n_empty: pl.Int64,
    C.n_with_negation: pl.Int64,
    C.n_with_class_negation: pl.Int64,
}
# each shard counted: its counts, its size, content identity and partial (its key in partials/)
NEGSCAN_PER_SHARD: Schema = {
    C.shard: pl.String,
    **NEGSCAN_SHARD_COUNTS,
    C.size: pl.Int64,
    C.content: pl.String,
    C.partial: pl.String,
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
