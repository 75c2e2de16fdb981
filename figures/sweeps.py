"""Figures from ``mlrtrain sweep`` results: mAP vs the known-label proportion (one line per method,
a band over seeds, the paper's numbers dashed) and parameters vs measured compute."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from corpora.reference import paper_map, paper_methods
from figures import style
from figures.inputs import EmptyInput
from mlr.table import build_table, load_runs


def _finished(sweep_dirs: list[Path]) -> pl.DataFrame:
    runs = pl.concat([load_runs(d) for d in sweep_dirs], how="vertical_relaxed")
    ok = runs.filter(pl.col("ok"))
    if ok.is_empty():
        dirs = ", ".join(str(d) for d in sweep_dirs)
        raise EmptyInput(f"{dirs}: no finished runs to draw")
    return ok


def map_vs_partial(
    sweep_dirs: list[Path], out_dir: Path, *, dpi: int = style.DEFAULT_DPI, paper: bool = True
) -> list[Path]:
    """``map_vs_partial_<dataset>.png/.pdf`` per dataset: mean mAP over seeds per method (solid,
    markers), the seeds' min–max as a band, the paper's published numbers as dashed lines in the
    method's colour (SCPNet, which we do not train, too)."""
    from matplotlib.lines import Line2D

    ok = _finished([Path(d) for d in sweep_dirs])
    pub = paper_map()
    written: list[Path] = []
    for ds in sorted(ok["dataset"].unique().to_list()):
        agg = (
            ok.filter(pl.col("dataset") == ds)
            .group_by("method", "partial")
            .agg(
                mean=pl.col("map").mean(),
                lo=pl.col("map").min(),
                hi=pl.col("map").max(),
                n=pl.len(),
            )
            .sort("partial")
        )
        fig, ax = style.new_figure(style.COLUMN, 2.8)
        ours = style.sort_methods(agg["method"].unique().to_list())
        handles = []
        for m in ours:
            part = agg.filter(pl.col("method") == m)
            x = (part["partial"] * 100).to_list()
            color = style.method_color(m)
            ax.fill_between(x, part["lo"].to_list(), part["hi"].to_list(), color=color, alpha=0.2)
            ax.plot(x, part["mean"].to_list(), color=color, marker="o", ms=3, lw=1.3)
            handles.append(Line2D([], [], color=color, marker="o", ms=3, label=style.label(m)))
        ref = pub.filter(pl.col("dataset") == ds) if paper else pub.clear()
        extra = [m for m in style.sort_methods(ref["method"].unique().to_list()) if m not in ours]
        for m in [*ours, *extra]:
            part = ref.filter(pl.col("method") == m).sort("partial")
            if part.is_empty():
                continue
            color = style.method_color(m)
            x = (part["partial"] * 100).to_list()
            ax.plot(x, part["map"].to_list(), color=color, ls="--", lw=0.9, alpha=0.8)
            if m in extra:
                handles.append(Line2D([], [], color=color, ls="--", label=style.label(m)))
        handles.append(Line2D([], [], color="black", lw=1.3, label="ours (band: seed min–max)"))
        if not ref.is_empty():
            handles.append(Line2D([], [], color="black", ls="--", lw=0.9, label="paper"))
        n_seeds = agg["n"].max()
        ax.set(
            xlabel="known labels (%)",
            ylabel="mAP (%)",
            title=f"{ds.upper()} (up to {n_seeds} seed{'s' if n_seeds > 1 else ''})",
        )
        ax.legend(handles=handles, fontsize="x-small", loc="lower right")
        written += style.save(fig, out_dir, f"map_vs_partial_{ds}", dpi)
    return written


def params_vs_compute(
    sweep_dirs: list[Path], out_dir: Path, *, dpi: int = style.DEFAULT_DPI, paper: bool = True
) -> list[Path]:
    """``params_compute_<dataset>.png/.pdf``: trainable parameters (log x) vs device hours per
    training run (y) per method — ours as filled circles, the paper's (rounded params, GPU hours)
    as hollow squares in the same colour."""
    from matplotlib.lines import Line2D

    table = pl.concat(
        [build_table(Path(d), paper=False) for d in sweep_dirs], how="diagonal_relaxed"
    )
    ref = paper_methods() if paper else paper_methods().clear()
    written: list[Path] = []
    for ds in sorted(table["dataset"].unique().to_list()):
        fig, ax = style.new_figure(style.COLUMN, 2.6)
        ours = table.filter(pl.col("dataset") == ds)
        drawn = 0
        for row in ours.iter_rows(named=True):
            if row["n_params"] is None or row["hours_per_run"] is None:
                continue
            color = style.method_color(row["method"])
            ax.scatter(row["n_params"], row["hours_per_run"], s=40, color=color, zorder=3)
            ax.annotate(
                style.label(row["method"]),
                (row["n_params"], row["hours_per_run"]),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize="x-small",
                color=color,
            )
            drawn += 1
        if drawn == 0:
            raise EmptyInput(f"dataset {ds!r}: no run records n_params and wall_seconds")
        theirs = ref.filter(pl.col("dataset") == ds)
        drawn_methods = set(ours["method"].to_list())
        for row in theirs.iter_rows(named=True):
            if row["params_paper"] is None or row["gpu_hours"] is None:
                continue
            if row["method"] not in drawn_methods:
                ax.annotate(
                    style.label(row["method"]),
                    (row["params_paper"], row["gpu_hours"]),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize="x-small",
                    color=style.method_color(row["method"]),
                )
            ax.scatter(
                row["params_paper"],
                row["gpu_hours"],
                s=40,
                facecolors="none",
                edgecolors=style.method_color(row["method"]),
                marker="s",
                zorder=3,
            )
        style.log_axis(ax)
        ax.set_ylim(bottom=0)
        ax.set(xlabel="trainable parameters", ylabel="device hours per run", title=ds.upper())
        handles = [Line2D([], [], color="black", marker="o", ls="", label="ours")]
        if not theirs.is_empty():
            handles.append(
                Line2D([], [], color="black", marker="s", ls="", mfc="none", label="paper (GPU h)")
            )
        ax.legend(handles=handles, fontsize="x-small")
        written += style.save(fig, out_dir, f"params_compute_{ds}", dpi)
    return written
