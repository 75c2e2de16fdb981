"""What mlrtrain prints: its results as :class:`corpora.formats.Grid` s with their data, for every
``--format`` (:func:`corpora.formats.emit`). Nothing here prints, nothing heavy is imported."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from corpora.formats import Grid
from corpora.labels import model_label
from corpora.schema import C

# fit / eval: the headline metrics (×100) and the classes they were computed over
METRICS = {
    C.map: "mAP",
    C.cf1_mean_of_f1: "CF1 (mean of F1)",
    C.cf1_harmonic: "CF1 (harmonic)",
    C.of1: "OF1",
}


def num(x: float | None) -> str:
    """A metric as shown: two decimals; ``—`` for an undefined one (None, NaN)."""
    return "—" if x is None or math.isnan(x) else f"{x:.2f}"


def metrics_grid(m: Mapping[str, Any]) -> Grid:
    """The headline metrics of a ``fit`` (metrics.json) or ``eval`` (eval.json)."""
    title = " · ".join(
        [
            str(m.get(C.method)),
            str(m.get(C.dataset, "")),
            model_label(m.get(C.model), m.get(C.pretrained)),
            f"protocol {m.get(C.protocol)}",
        ]
    )
    row = [num(m.get(key)) for key in METRICS] + [str(m.get(C.n_classes_evaluated, "—"))]
    return Grid(title, [*METRICS.values(), "classes"], [row], align="rrrrr")


def scalars(m: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A metrics object as one csv record: its scalar fields (not the history, not per class)."""
    return [{k: v for k, v in m.items() if not isinstance(v, Mapping | list)}]


def params_grid(rows: Sequence[Mapping[str, Any]], title: str) -> Grid:
    """The trainable parameters of each head (the paper's #Params column)."""
    cells = [[str(r[C.method]), f"{r[C.n_params]:,}"] for r in rows]
    return Grid(title, ["method", "params"], cells)


RUN_COLUMNS = {
    C.method: "method",
    C.partial: "partial",
    C.seed: "seed",
    C.status: "status",
    C.map: "mAP",
    C.run_dir: "run",
}


def runs_grid(results: Sequence[Mapping[str, Any]], title: str) -> Grid:
    """A sweep's runs (results.parquet), one row each."""
    cells = [
        [
            num(r[key]) if key == C.map else "—" if r[key] is None else str(r[key])
            for key in RUN_COLUMNS
        ]
        for r in results
    ]
    return Grid(title, list(RUN_COLUMNS.values()), cells, align="lrrlrl")
