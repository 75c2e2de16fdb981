"""Figures from ``mlrtrain sweep`` results: mAP vs the known-label proportion (one line per method,
a band over seeds, the paper's numbers dashed) and parameters vs measured compute.

Runs that failed, did not finish or have no mAP (null/NaN) are not drawn, and the figure and the
output say which; a sweep trained on random weights says so in the title."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from corpora.reference import paper_map, paper_methods
from figures import style
from figures.inputs import (
    EmptyInput,
    drop_undrawable,
    left_out,
    note,
    random_weights_banner,
    read_models,
)
from mlr.table import build_table, load_runs

NOT_FINISHED = "failed, unfinished or without a mAP (null/NaN)"


def _load(sweep_dirs: list[Path]) -> tuple[pl.DataFrame, dict[str, str | None]]:
    """Every run of the sweeps (with ``ok``), and per dataset the RANDOM WEIGHTS banner of the
    models its runs recorded (each run's ``run.json``)."""
    frames, models = [], {}
    for d in map(Path, sweep_dirs):
        runs = load_runs(d)
        found = [m for f in sorted(d.rglob("run.json")) for m in read_models(f.parent)]
        for ds in runs["dataset"].unique().to_list():
            models.setdefault(ds, []).extend(found)
        frames.append(runs)
    runs = pl.concat(frames, how="diagonal_relaxed")
    if runs.filter(pl.col("ok")).is_empty():
        dirs = ", ".join(str(d) for d in sweep_dirs)
        raise EmptyInput(f"{dirs}: no finished runs to draw")
    return runs, {ds: random_weights_banner(m) for ds, m in models.items()}


def _finished(runs: pl.DataFrame, ds: str, by: tuple[str, ...]) -> tuple[pl.DataFrame, list[str]]:
    """The dataset's finished runs, and a note on the others (grouped ``by``)."""
    mine = runs.filter(pl.col("dataset") == ds)
    bad = mine.filter(~pl.col("ok"))
    notes = [left_out(bad, mine.height, "runs", NOT_FINISHED, by)] if bad.height else []
    return mine.filter(pl.col("ok")), notes


def map_vs_partial(
    sweep_dirs: list[Path], out_dir: Path, *, dpi: int = style.DEFAULT_DPI, paper: bool = True
) -> list[Path]:
    """``map_vs_partial_<dataset>.png/.pdf`` per dataset: mean mAP over seeds per method (solid,
    markers), the seeds' min–max as a band, the paper's published numbers as dashed lines in the
    method's colour (SCPNet, which we do not train, too)."""
    from matplotlib.lines import Line2D

    runs, banners = _load(sweep_dirs)
    pub = paper_map()
    written: list[Path] = []
    for ds in sorted(runs["dataset"].unique().to_list()):
        finished, notes = _finished(runs, ds, ("method", "partial"))
        if finished.is_empty():  # said in the output: there is no figure to say it on
            note(f"dataset {ds!r}, no figure: {notes[0]}")
            continue
        agg = (
            finished.group_by("method", "partial")
            .agg(
                mean=pl.col("map").mean(),
                lo=pl.col("map").min(),
                hi=pl.col("map").max(),
                n=pl.len(),
            )
            .sort("partial")
        )
        fig, ax = style.new_figure(style.COLUMN, 3.4)
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
        # below the axes: inside, it would hide curves wherever they happen to run
        fig.legend(handles=handles, fontsize="x-small", loc="outside lower center", ncols=2)
        style.headline(fig, banners.get(ds), notes)
        written += style.save(fig, out_dir, f"map_vs_partial_{ds}", dpi)
    return written


def params_vs_compute(
    sweep_dirs: list[Path], out_dir: Path, *, dpi: int = style.DEFAULT_DPI, paper: bool = True
) -> list[Path]:
    """``params_compute_<dataset>.png/.pdf``: trainable parameters (log x) vs device hours per
    training run (y) per method — ours as filled circles, the paper's (rounded params, GPU hours)
    as hollow squares in the same colour."""
    from matplotlib.lines import Line2D

    runs, banners = _load(sweep_dirs)
    table = pl.concat(
        [build_table(Path(d), paper=False) for d in sweep_dirs], how="diagonal_relaxed"
    )
    ref = paper_methods() if paper else paper_methods().clear()
    written: list[Path] = []
    for ds in sorted(table["dataset"].unique().to_list()):
        fig, ax = style.new_figure(style.COLUMN, 2.6)
        notes = _finished(runs, ds, ("method",))[1]
        ours, dropped = drop_undrawable(
            table.filter(pl.col("dataset") == ds), ["n_params", "hours_per_run"], "methods"
        )
        notes += dropped
        drawn = 0
        for row in ours.iter_rows(named=True):
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
        theirs = ref.filter(pl.col("dataset") == ds).drop_nulls(["params_paper", "gpu_hours"])
        # methods the paper gives the same (params, hours) — VOC Positive-/NegativeCoOp —
        # share a point: concentric squares and one label line each, so every colour shows
        for (params, hours), group in theirs.group_by(
            ["params_paper", "gpu_hours"], maintain_order=True
        ):
            for i, method in enumerate(style.sort_methods(group["method"].to_list())):
                color = style.method_color(method)
                ax.scatter(
                    params,
                    hours,
                    s=40 + 45 * i,
                    facecolors="none",
                    edgecolors=color,
                    marker="s",
                    zorder=3,
                )
                ax.annotate(
                    style.label(method),
                    (params, hours),
                    xytext=(5, 3 + 8 * i),
                    textcoords="offset points",
                    fontsize="x-small",
                    color=color,
                )
        style.log_axis(ax)
        ax.margins(x=0.2, y=0.15)  # room for the labels right of the points
        ax.set_ylim(bottom=0)
        ax.set(xlabel="trainable parameters", ylabel="device hours per run", title=ds.upper())
        handles = [Line2D([], [], color="black", marker="o", ls="", label="ours")]
        if not theirs.is_empty():
            handles.append(
                Line2D([], [], color="black", marker="s", ls="", mfc="none", label="paper (GPU h)")
            )
        ax.legend(handles=handles, fontsize="x-small")
        style.headline(fig, banners.get(ds), notes)
        written += style.save(fig, out_dir, f"params_compute_{ds}", dpi)
    return written
