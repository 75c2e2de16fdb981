"""The paper's published numbers (PositiveCoOp, WACV 2025) as data: mAP tables, parameter counts,
GPU hours, the prompt-cosine table and the LAION negation rate.

The numbers live in ``corpora/data/paper_reference.json`` (with their source tags); this module only
reads them into tidy Polars frames so tables and figures can put them beside ours.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from corpora.schema import C

_FILE = "data/paper_reference.json"


@cache
def _raw() -> str:
    return resources.files("corpora").joinpath(_FILE).read_text("utf-8")


def load_reference() -> dict[str, Any]:
    """The whole reference file as a fresh dict (safe to modify)."""
    return json.loads(_raw())


def method_order() -> tuple[str, ...]:
    """Method keys in the paper's row order (DualCoOp, SCPNet, Baseline, NegativeCoOp,
    PositiveCoOp)."""
    return tuple(load_reference()["methods"]["order"])


def method_rank(method: str) -> tuple[int, str]:
    """Sort key of a method: the paper's order, unknown methods after, alphabetically."""
    order = method_order()
    return (order.index(method), "") if method in order else (len(order), method)


def method_label(method: str) -> str:
    """Display name of a method key (``positivecoop`` → ``PositiveCoOp``); others unchanged."""
    return load_reference()["methods"]["labels"].get(method, method)


def _datasets(ref: dict[str, Any], dataset: str | None) -> list[str]:
    known = list(ref["map"]["datasets"])
    if dataset is None:
        return known
    if dataset not in known:
        raise ValueError(f"the paper reports no numbers for dataset {dataset!r} (it has {known})")
    return [dataset]


def paper_map(dataset: str | None = None) -> pl.DataFrame:
    """Published mAP, long form: ``dataset, method, partial, map`` (partial 0.1 … 0.9)."""
    ref = load_reference()
    partials = ref["map"]["partials"]
    rows = [
        {C.dataset: ds, C.method: m, C.partial: p, C.map: v}
        for ds in _datasets(ref, dataset)
        for m, entry in ref["map"]["datasets"][ds].items()
        for p, v in zip(partials, entry["values"], strict=True)
    ]
    return pl.DataFrame(
        rows,
        schema={
            C.dataset: pl.String,
            C.method: pl.String,
            C.partial: pl.Float64,
            C.map: pl.Float64,
        },
    )


def paper_methods(dataset: str | None = None) -> pl.DataFrame:
    """One row per (dataset, method): published Avg mAP, parameter counts (the paper's rounded
    figure and label, our exact count) and GPU hours per run."""
    ref = load_reference()
    rows = []
    for ds in _datasets(ref, dataset):
        for m, entry in ref["map"]["datasets"][ds].items():
            params = ref["params"][ds].get(m, {})
            rows.append(
                {
                    C.dataset: ds,
                    C.method: m,
                    C.label: method_label(m),
                    "map_avg": entry["avg"],
                    C.params_paper: params.get("paper"),
                    C.params_label: params.get("paper_label"),
                    "params_exact": params.get("exact"),
                    "gpu_hours": ref["gpu_hours"][ds].get(m),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            C.dataset: pl.String,
            C.method: pl.String,
            C.label: pl.String,
            "map_avg": pl.Float64,
            C.params_paper: pl.Int64,
            C.params_label: pl.String,
            "params_exact": pl.Int64,
            "gpu_hours": pl.Float64,
        },
    )


def paper_cosines() -> pl.DataFrame:
    """The poster's cosine table: ``setting, templates, pair, mean, std, min, max`` (COCO-80)."""
    return pl.DataFrame(load_reference()["cosines"]["rows"])


# the LAION statistic divides by every row ("0.47 % of 400 million"): negscan's report and figures
# compare with it, and give every rate and share, over all rows (``rate_all_rows``), and say so
LAION_DENOMINATOR = "of all rows, the paper's denominator"


def laion_negation_rate() -> dict[str, Any]:
    """The LAION-400M statistic: ``rate`` (0.0047), ``corpus_rows``, the quote and its source."""
    return load_reference()["laion"]
