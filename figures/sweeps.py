"""Figures from ``mlrtrain sweep`` results: mAP vs the known-label proportion (one line per method,
a band over seeds, the paper's numbers dashed) and parameters vs measured compute.

Runs that failed, did not finish or have no mAP (null/NaN) are not drawn, and the figure and the
output say which; a sweep trained on random weights says so in the title, and is drawn beside the
paper's numbers only with ``allow_random`` (``mlrtrain table``'s policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import polars as pl

from corpora.reference import method_label, method_rank, paper_map, paper_methods
from corpora.schema import C
from corpora.sweep_results import build_table, load_runs, paper_refused
from figures import style
from figures.inputs import (
    EmptyInput,
    Model,
    drop_undrawable,
    left_out,
    note,
    random_weights_banner,
    read_models,
)

NOT_FINISHED = "failed, unfinished or without a mAP (null/NaN)"
PAPER_MARKERS = ("s", "^", "D", "v", "P", "X")  # one per paper method, so coinciding lines show
PAPER_OFFSET = 0.9  # known-label points (%) between two methods' paper markers
OURS_HOURS = "ours: wall-clock on cached features"
PAPER_HOURS = "paper: end-to-end GPU hours"


def _load(sweep_dirs: list[Path]) -> tuple[pl.DataFrame, dict[str, str | None]]:
    """Every run of the sweeps (with ``ok``), and per dataset the RANDOM WEIGHTS banner of the
    models its runs recorded (each run's ``run.json``)."""
    frames: list[pl.DataFrame] = []
    models: dict[str, list[Model]] = {}
    for d in map(Path, sweep_dirs):
        runs = load_runs(d)
        found = [m for f in sorted(d.rglob("run.json")) for m in read_models(f.parent)]
        for ds in runs[C.dataset].unique().to_list():
            # the results file's own record of the backbone, then the run directories'
            rows = runs.filter(
                (pl.col(C.dataset) == ds) & pl.col(C.random_weights).fill_null(False)
            ).unique([C.model, C.pretrained], maintain_order=True)
            mine = [Model(str(r[C.model]), str(r[C.pretrained]), True) for r in rows.to_dicts()]
            models.setdefault(ds, []).extend([*mine, *found])
        frames.append(runs)
    runs = pl.concat(frames, how="diagonal_relaxed")
    if runs.filter(pl.col("ok")).is_empty():
        dirs = ", ".join(str(d) for d in sweep_dirs)
        raise EmptyInput(f"{dirs}: no finished runs to draw")
    return runs, {ds: random_weights_banner(m) for ds, m in models.items()}


def describe(finished: pl.DataFrame, ds: str) -> str:
    """``VOC · RN101 / openai / 448 px · 3 seeds``: the dataset, the backbone(s) and the number of
    seeds of the finished runs (a range when some points have fewer)."""
    backbones = ", ".join(sorted(finished[C.backbone].unique().to_list()))
    seeds = finished.group_by(C.method, C.partial).agg(n=pl.col(C.seed).n_unique())["n"]
    lo, hi = cast(int, seeds.min()), cast(int, seeds.max())
    n = f"{lo}" if lo == hi else f"{lo}–{hi}"
    return f"{ds.upper()} · {backbones} · {n} seed{'s' if hi > 1 else ''} per point"


def _finished(runs: pl.DataFrame, ds: str, by: tuple[str, ...]) -> tuple[pl.DataFrame, list[str]]:
    """The dataset's finished runs, and a note on the others (grouped ``by``)."""
    mine = runs.filter(pl.col(C.dataset) == ds)
    bad = mine.filter(~pl.col("ok"))
    notes = [left_out(bad, mine.height, "runs", NOT_FINISHED, by)] if bad.height else []
    return mine.filter(pl.col("ok")), notes


def _with_paper(
    banner: str | None, notes: list[str], command: str, *, paper: bool, allow_random: bool
) -> bool:
    """Whether a dataset's figure draws the paper's numbers: :func:`paper_refused`'s policy, the
    one of ``mlrtrain table`` (a refusal is noted on the figure)."""
    if paper_refused(random=banner is not None, paper=paper, allow_random=allow_random):
        notes.append(
            "the paper's numbers are not drawn beside runs on random weights "
            f"(paperfigs {command} --allow-random draws them)"
        )
        return False
    return paper


def map_vs_partial(
    sweep_dirs: list[Path],
    out_dir: Path,
    *,
    dpi: int = style.DEFAULT_DPI,
    paper: bool = True,
    allow_random: bool = False,
) -> list[Path]:
    """``map_vs_partial_<dataset>.png/.pdf`` per dataset: mean mAP over seeds per method (solid,
    markers), the seeds' min–max as a band, the paper's published numbers as dashed lines in the
    method's colour (SCPNet, which we do not train, too), each with its own hollow marker and
    shifted sideways a little, so that methods the paper gives the same numbers all show. Runs on
    random weights are drawn without the paper's numbers unless ``allow_random`` (then the
    legend calls ours RANDOM WEIGHTS), as ``mlrtrain table`` does."""
    from matplotlib.lines import Line2D

    runs, banners = _load(sweep_dirs)
    pub = paper_map()
    written: list[Path] = []
    for ds in sorted(runs[C.dataset].unique().to_list()):
        finished, notes = _finished(runs, ds, (C.method, C.partial))
        if finished.is_empty():  # said in the output: there is no figure to say it on
            note(f"dataset {ds!r}, no figure: {notes[0]}")
            continue
        agg = (
            finished.group_by(C.method, C.partial)
            .agg(mean=pl.col(C.map).mean(), lo=pl.col(C.map).min(), hi=pl.col(C.map).max())
            .sort(C.partial)
        )
        fig, ax = style.new_figure(style.COLUMN, 4.2)
        ours = sorted(agg[C.method].unique().to_list(), key=method_rank)
        handles = []
        for m in ours:
            part = agg.filter(pl.col(C.method) == m)
            x = (part[C.partial] * 100).to_list()
            color = style.method_color(m)
            ax.fill_between(x, part["lo"].to_list(), part["hi"].to_list(), color=color, alpha=0.2)
            ax.plot(x, part["mean"].to_list(), color=color, marker="o", ms=3, lw=1.3, zorder=3)
            handles.append(Line2D([], [], color=color, marker="o", ms=3, label=method_label(m)))
        banner = banners.get(ds)
        draw_paper = _with_paper(
            banner, notes, "map-curves", paper=paper, allow_random=allow_random
        )
        ref = pub.filter(pl.col(C.dataset) == ds) if draw_paper else pub.clear()
        drawn = [m for m in sorted(ref[C.method].unique().to_list(), key=method_rank)]
        for i, m in enumerate(drawn):
            part = ref.filter(pl.col(C.method) == m).sort(C.partial)
            color, marker = style.method_color(m), PAPER_MARKERS[i % len(PAPER_MARKERS)]
            shift = (i - (len(drawn) - 1) / 2) * PAPER_OFFSET
            x = (part[C.partial] * 100 + shift).to_list()
            kw: dict[str, Any] = {"color": color, "ls": "--", "lw": 0.8, "marker": marker}
            kw |= {"ms": 3.5, "mfc": "none"}
            ax.plot(x, part[C.map].to_list(), gid=f"paper:{m}", alpha=0.9, **kw)
            handles.append(Line2D([], [], label=f"paper: {method_label(m)}", **kw))
        band = f"ours{' (RANDOM WEIGHTS)' if banner else ''}: mean (band: seed min–max)"
        handles.append(Line2D([], [], color="black", lw=1.3, label=band))
        ax.set(xlabel="known labels (%)", ylabel="mAP (%)")
        # below the axes: inside, it would hide curves wherever they happen to run
        fig.legend(handles=handles, fontsize="x-small", loc="outside lower center", ncols=2)
        title = describe(finished, ds)
        if drawn:
            title += " · paper's markers offset sideways so that equal values show"
        style.headline(fig, banner, notes, title=title)
        written += style.save(fig, out_dir, f"map_vs_partial_{ds}", dpi)
    return written


def params_vs_compute(
    sweep_dirs: list[Path],
    out_dir: Path,
    *,
    dpi: int = style.DEFAULT_DPI,
    paper: bool = True,
    allow_random: bool = False,
) -> list[Path]:
    """``params_compute_<dataset>.png/.pdf``: trainable parameters (log x) vs hours per training
    run (y; log when the values span a decade or more) per method — ours (mean wall-clock on
    cached features, on the device the runs used) as filled circles, the paper's (rounded params,
    end-to-end GPU hours) as hollow squares in the same colour. The axis and the legend say which
    hours are which: they are not the same measurement. The paper's points follow
    :func:`map_vs_partial`'s policy on random weights."""
    from matplotlib.lines import Line2D

    runs, banners = _load(sweep_dirs)
    table = pl.concat(
        [build_table(Path(d), paper=False) for d in sweep_dirs], how="diagonal_relaxed"
    )
    written: list[Path] = []
    for ds in sorted(table[C.dataset].unique().to_list()):
        fig, ax = style.new_figure(style.COLUMN, 3.0)
        finished, notes = _finished(runs, ds, (C.method,))
        draw_paper = _with_paper(
            banners.get(ds), notes, "params-compute", paper=paper, allow_random=allow_random
        )
        ref = paper_methods() if draw_paper else paper_methods().clear()
        ours, dropped = drop_undrawable(
            table.filter(pl.col(C.dataset) == ds), [C.n_params, C.hours_per_run], "methods"
        )
        notes += dropped
        if ours.is_empty():
            raise EmptyInput(f"dataset {ds!r}: no run records n_params and wall_seconds")
        hours = ours[C.hours_per_run].to_list()
        for row in ours.iter_rows(named=True):
            color = style.method_color(row[C.method])
            ax.scatter(row[C.n_params], row[C.hours_per_run], s=40, color=color, zorder=3)
            ax.annotate(
                method_label(row[C.method]),
                (row[C.n_params], row[C.hours_per_run]),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize="x-small",
                color=color,
            )
        theirs = ref.filter(pl.col(C.dataset) == ds).drop_nulls([C.params_paper, "gpu_hours"])
        hours += theirs["gpu_hours"].to_list()
        # methods the paper gives the same (params, hours) — VOC Positive-/NegativeCoOp —
        # share a point: concentric squares and one label line each, so every colour shows
        for (params, gpu_h), group in theirs.group_by(
            [C.params_paper, "gpu_hours"], maintain_order=True
        ):
            for i, method in enumerate(sorted(group[C.method].to_list(), key=method_rank)):
                color = style.method_color(method)
                ax.scatter(
                    params,
                    gpu_h,
                    s=40 + 45 * i,
                    facecolors="none",
                    edgecolors=color,
                    marker="s",
                    zorder=3,
                )
                ax.annotate(
                    method_label(method),
                    (params, gpu_h),
                    xytext=(5, 3 + 8 * i),
                    textcoords="offset points",
                    fontsize="x-small",
                    color=color,
                )
        style.log_axis(ax)
        if style.spans_decades(hours):
            style.log_axis(ax, "y")
            ax.margins(x=0.2, y=0.3)  # room for the labels right of and above the points
        else:
            ax.margins(x=0.2, y=0.15)
            ax.set_ylim(bottom=0)
        devices = ", ".join(sorted(finished[C.device].drop_nulls().unique().to_list())) or "?"
        ours_h = f"{OURS_HOURS} ({devices})"
        # two measurements on one axis: the axis says which is which
        ylabel = f"hours per run\n{ours_h}" + (f"\n{PAPER_HOURS}" if not theirs.is_empty() else "")
        ax.set(xlabel="trainable parameters", ylabel=ylabel)
        ax.yaxis.label.set_fontsize("xx-small")
        handles = [Line2D([], [], color="black", marker="o", ls="", label=ours_h)]
        if not theirs.is_empty():
            handles.append(
                Line2D([], [], color="black", marker="s", ls="", mfc="none", label=PAPER_HOURS)
            )
        fig.legend(handles=handles, fontsize="x-small", loc="outside lower center")
        style.headline(fig, banners.get(ds), notes, title=describe(finished, ds))
        written += style.save(fig, out_dir, f"params_compute_{ds}", dpi)
    return written
