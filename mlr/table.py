"""The paper's results table from a sweep directory: rows = methods, columns = 10 % … 90 % known
labels + Avg, each cell the mean ± standard deviation of mAP over seeds, with the parameter count,
the measured compute, and the paper's published numbers beside ours.

:func:`build_table` (from :mod:`corpora.sweep_results`, where the statistics are described)
aggregates a sweep's runs into one numeric row per (dataset, backbone, method); :func:`render`
writes that frame as Markdown, CSV or LaTeX: one table per (dataset, backbone).
"""

from __future__ import annotations

import math
import re

import polars as pl

from corpora.formats import latex_table
from corpora.runio import markdown_table
from corpora.schema import TABLE_PER_PROPORTION, C, per_proportion
from corpora.sweep_results import REFUSED_NOTE
from corpora.sweep_results import build_table as build_table
from corpora.sweep_runs import NOT_RECORDED
from corpora.sweep_runs import load_runs as load_runs

FORMATS = ("markdown", "csv", "latex")
# the keys of the average columns (``map_avg_mean``, ``map_last_avg_mean``, …)
_AVG, _LAST_AVG = "avg", "last_avg"


# --- rendering -------------------------------------------------------------------------------


def table_keys(df: pl.DataFrame) -> list[str]:
    """The partial keys (``10``, ``20``, …) of a :func:`build_table` frame, in column order, for
    proportions that at least one row of it has (a run of it, finished or not)."""
    mean = re.escape(TABLE_PER_PROPORTION[0]).replace(r"\{p\}", "(.+)")
    keys = [m.group(1) for c in df.columns if (m := re.fullmatch(mean, c))]
    keys = [k for k in keys if k not in (_AVG, _LAST_AVG)]
    return [k for k in keys if df[per_proportion(k).n].is_not_null().any()]


def _num(x: float | None, digits: int = 1, *, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _params(n: int | None) -> str:
    if n is None:
        return "—"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.1f}k"
    return str(n)


def _signed_params(ours: int | None, paper: int | None) -> str:
    if ours is None or paper is None:
        return "—"
    d = ours - paper
    return ("+" if d >= 0 else "-") + _params(abs(d))


PM = " ± "


def _mark(row: dict, key: str, seeds: int) -> str:
    """`` (n=K)`` when the cell's mean is over K seeds, not the row's ``seeds``."""
    cols = per_proportion(key)
    n = row.get(cols.n)
    return f" (n={n})" if row.get(cols.mean) is not None and n is not None and n != seeds else ""


def _cell(row: dict, key: str, seeds: int) -> str:
    cols = per_proportion(key)
    mean, std = row.get(cols.mean), row.get(cols.std)
    if mean is None:
        return "—"
    value = _num(mean) if std is None else f"{_num(mean)}{PM}{_num(std)}"
    return value + _mark(row, key, seeds)


def _seeds(row: dict, keys: list[str]) -> int:
    """The row's seeds: the most behind any of its cells (a cell over fewer is marked)."""
    return max((row[per_proportion(k).n] or 0 for k in keys), default=0)


_Grid = tuple[str, str, pl.DataFrame, list[str], list[list[str]], list[list[str]]]


def _parts(df: pl.DataFrame) -> list[tuple[str, str, pl.DataFrame]]:
    """(dataset, backbone label, its rows) per table; frames without backbone columns (earlier
    versions) are one table per dataset."""
    if C.backbone not in df.columns:
        df = df.with_columns(pl.lit(NOT_RECORDED).alias(C.backbone))
    out = []
    for ds, bb in df.select(C.dataset, C.backbone).unique(maintain_order=True).iter_rows():
        out.append((ds, bb, df.filter((pl.col(C.dataset) == ds) & (pl.col(C.backbone) == bb))))
    return out


def _grids(df: pl.DataFrame) -> list[_Grid]:
    """Per (dataset, backbone): (dataset, backbone, its rows, header, our rows, comparison
    rows)."""
    out = []
    for ds, backbone, part in _parts(df):
        keys = table_keys(part)
        cols = [f"{k}%" for k in keys] + ["Avg"]
        header = ["Method", "Params", *cols, "last ep.", "seeds", "h/run", "h total", "device"]
        ours, comp = [], []
        for row in part.iter_rows(named=True):
            ks = [*keys, _AVG]
            seeds = _seeds(row, keys)
            ours.append(
                [
                    row[C.label],
                    _params(row[C.n_params]),
                    *[_cell(row, k, seeds) for k in ks],
                    _cell(row, _LAST_AVG, seeds),
                    str(seeds),
                    _num(row[C.hours_per_run], 2),
                    _num(row[C.hours_total], 2),
                    row[C.devices] or "—",
                ]
            )
            pcols = [per_proportion(k) for k in ks]
            if all(row.get(c.paper) is None for c in pcols):
                continue
            params, paper_params = row[C.n_params], row.get(C.params_paper)
            hours, paper_hours = row[C.hours_per_run], row.get(C.paper_gpu_hours)
            comp.append(
                [
                    row[C.label],
                    "ours",
                    *[
                        _num(row[c.mean]) + _mark(row, k, seeds)
                        for k, c in zip(ks, pcols, strict=True)
                    ],
                    _params(params),
                    _num(hours, 2),
                ]
            )
            comp.append(
                [
                    "",
                    "paper",
                    *[_num(row.get(c.paper)) for c in pcols],
                    row.get(C.params_label) or "—",
                    _num(paper_hours, 2),
                ]
            )
            comp.append(
                [
                    "",
                    "ours − paper",
                    *[_num(row.get(c.diff), sign=True) for c in pcols],
                    _signed_params(params, paper_params),
                    _num(
                        None if hours is None or paper_hours is None else hours - paper_hours,
                        2,
                        sign=True,
                    ),
                ]
            )
        comp_header = ["Method", "", *cols, "Params", "h/run"]
        out.append((ds, backbone, part, header, ours, [comp_header, *comp] if comp else []))
    return out


def _notes(part: pl.DataFrame, keys: list[str]) -> list[str]:
    """What a reader must know under a table: random weights, a refused comparison with the paper,
    the headline's epoch choice, failed and missing runs per cell, cells over fewer seeds."""
    notes = []

    def flag(col: str, *, value: bool | str = True) -> bool:
        return col in part.columns and (part[col].cast(type(value)) == value).any()

    if flag(C.random_weights):
        notes.append(
            "RANDOM WEIGHTS: this backbone was never trained; its numbers mean nothing about CLIP"
        )
    if flag(C.paper_refused):
        notes.append(REFUSED_NOTE)
    if flag(C.select, value="last"):
        notes.append("cells: the last epoch's test mAP (--select last)")
    rows = list(part.iter_rows(named=True))
    failed = _per_cell(rows, keys, "failed")
    if failed:
        notes.append(f"not averaged: {failed}")
    missing = _per_cell(rows, keys, "missing")
    if missing:
        notes.append(f"missing (no result recorded, though other cells have the seed): {missing}")
    if any(_mark(r, k, _seeds(r, keys)) for r in rows for k in [*keys, _AVG, _LAST_AVG]):
        notes.append(
            "(n=K): a mean over K seeds, not over the row's seeds; Avg and last ep. are over the "
            "seeds that finished every proportion"
        )
    return notes


def _per_cell(rows: list[dict], keys: list[str], what: str) -> str:
    """``4 failed or unfinished runs (DualCoOp 50% ×2, 90% ×2)``, or ``""``: the rows'
    ``map_<p>_failed`` (``what`` ``failed``) or ``map_<p>_missing`` counts, per cell."""
    each, total = [], 0
    for row in rows:
        counts = [(k, row.get(getattr(per_proportion(k), what)) or 0) for k in keys]
        cells = ", ".join(f"{k}% ×{n}" for k, n in counts if n)
        total += sum(n for _, n in counts)
        if cells:
            each.append(f"{row[C.label]} {cells}")
    if not total:
        return ""
    runs = f"run{'s' if total > 1 else ''}"
    kind = "failed or unfinished " if what == "failed" else ""
    return f"{total} {kind}{runs} ({'; '.join(each)})"


def render(df: pl.DataFrame, fmt: str = "markdown", *, compare: bool = True) -> str:
    """Render a :func:`build_table` frame.

    ``markdown`` / ``latex``: per (dataset, backbone), our table (mean ± std over seeds, Avg and
    the last epoch's Avg, params, seeds, hours per run and in total, devices; a cell or Avg over
    fewer seeds than the row's marked ``(n=K)``) with its notes (random weights, a refused
    comparison, failed and missing runs per cell, what ``(n=K)`` means) followed — when
    ``compare`` and the paper
    has numbers for the dataset — by the comparison: rows ours, paper, ours − paper over the mAP
    columns plus params and hours per run (the paper's: rounded params, GPU hours). ``csv``: the
    numeric frame itself, every column, for further analysis.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return df.write_csv()
    blocks = []
    for ds, backbone, part, header, ours, comp in _grids(df):
        name = f"{ds.upper()} · {backbone}"
        title = f"{name}: mAP (%) by known-label proportion, mean ± std over seeds"
        notes = _notes(part, table_keys(part))
        if fmt == "markdown":
            note = "".join(f"\n\n{n[0].upper()}{n[1:]}." for n in notes)
            blocks.append(f"### {title}\n\n{markdown_table([header, *ours])}{note}")
            if compare and comp:
                head = f"### {name}: ours vs the paper (mAP points)"
                blocks.append(f"{head}\n\n{markdown_table(comp)}")
        else:
            blocks.append(latex_table([header, *ours], "; ".join([title, *notes])))
            if compare and comp:
                blocks.append(latex_table(comp, f"{name}: ours vs the paper (mAP points)"))
    return "\n\n".join(blocks) + "\n"
