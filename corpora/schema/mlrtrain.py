"""The result schema of ``mlrtrain`` (``fit``'s ``metrics.json``, ``sweep``'s ``results.parquet``,
``table``'s frame) and of the figure that joins its results with negbench's
(``paperfigs negation-gap``): part of :mod:`corpora.schema`, which re-exports every name."""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from corpora.schema.names import C, Schema

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
    C.cache_seconds,
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
    C.preprocess: pl.String,
    C.augmentation: pl.String,
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
    C.cache_seconds: pl.Float64,
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


# a run is (dataset, backbone, image setting, method, p, seed): one row each, sorted in this order
SWEEP_KEY = (
    C.dataset,
    C.model,
    C.pretrained,
    C.weights_id,
    C.image_size,
    C.preprocess,
    C.augmentation,
    C.method,
    C.partial,
    C.seed,
)
# the backbone of a run: the model, its weights (tag or file, and their identity), the input size
SWEEP_BACKBONE = (C.model, C.pretrained, C.image_size, C.weights_id)
# what the images went through: the transform (squash / crop) and the training augmentation
SWEEP_SETTING = (C.preprocess, C.augmentation)
# what a table never pools: runs differing in one of these are in different tables
SWEEP_GROUP = (*SWEEP_BACKBONE, *SWEEP_SETTING)
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
    C.preprocess,
    C.augmentation,
    C.cache_seconds,
)

# ``mlrtrain table --format csv`` (the ``build_table`` frame), one row per (dataset, backbone,
# method): these columns, then per proportion ``TABLE_PER_PROPORTION`` (``{p}`` the proportion's
# key, ``10`` for 0.1), then ``TABLE_TAIL``
TABLE_HEAD = (
    C.dataset,
    *SWEEP_GROUP,
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
    C.train_hours_per_run,
    C.train_hours_n,
    C.cache_hours_total,
    C.paper_gpu_hours,
    C.devices,
    C.n_runs,
    C.n_failed,
    C.n_missing,
)

# ---- paperfigs negation-gap: the figure's inputs, beside it ---------------------------------

# one row per drawn point: a (dataset, backbone, setting) of the sweeps and a known-label
# proportion, the DualCoOp − PositiveCoOp gap over its paired seeds, and the backbone's
# negation accuracy from ``promptsim negbench``
NEGATION_GAP: Schema = {
    C.dataset: pl.String,
    **{c: SWEEP_RESULTS[c] for c in SWEEP_GROUP},
    C.backbone: pl.String,
    C.random_weights: pl.Boolean,
    C.partial: pl.Float64,
    C.map_dualcoop: pl.Float64,
    C.map_positivecoop: pl.Float64,
    C.gap: pl.Float64,
    C.gap_min: pl.Float64,
    C.gap_max: pl.Float64,
    C.n_seeds: pl.Int64,
    C.negation_accuracy: pl.Float64,
    C.negation_ci_low: pl.Float64,
    C.negation_ci_high: pl.Float64,
    C.negbench_dataset: pl.String,
    C.negbench_split: pl.String,
    C.negbench_dir: pl.String,
}
