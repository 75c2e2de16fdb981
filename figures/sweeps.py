"""Figures from ``mlrtrain sweep`` results: mAP vs the known-label proportion (one line per method,
a band over seeds, the paper's numbers dashed); parameters and compute are
:mod:`figures.compute`'s.

Runs that failed, did not finish or have no mAP (null/NaN) are not drawn, and the figure and the
output say which; a sweep trained on random weights says so in the title, and is drawn beside the
paper's numbers only with ``allow_random`` (``mlrtrain table``'s policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import polars as pl

from corpora.reference import method_label, method_rank, paper_map
from corpora.schema import C
from corpora.sweep_results import paper_refused
from corpora.sweep_runs import load_runs
from figures import style
from figures.inputs import (
    EmptyInput,
    Model,
    left_out,
    note,
    random_weights_banner,
    read_models,
)

NOT_FINISHED = "failed, unfinished or without a mAP (null/NaN)"
PAPER_MARKERS = ("s", "^", "D", "v", "P", "X")  # one per paper method, so coinciding lines show
PAPER_OFFSET = 0.9  # known-label points (%) between two methods' paper markers


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


def _data_range(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.1f}" if lo == hi else f"{lo:.1f}–{hi:.1f}"


def map_vs_partial(
    sweep_dirs: list[Path],
    out_dir: Path,
    *,
    dpi: int = style.DEFAULT_DPI,
    paper: bool = True,
    allow_random: bool = False,
) -> list[Path]:
    """``map_vs_partial_<dataset>.png/.pdf`` (+ caption) per dataset: mean mAP over seeds per
    method (solid, markers), the seeds' min–max as a band where the seeds differ, the paper's
    published numbers as dashed lines in the method's colour (SCPNet, which we do not train, too),
    each with its own hollow marker and shifted sideways a little, so that methods the paper gives
    the same numbers all show. The mAP axis runs from 0 to 100 (no break: a gap between two
    curves is drawn to scale); the caption states the range the data span. Runs on random weights
    are drawn without the paper's numbers unless ``allow_random``, as ``mlrtrain table`` does."""
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
        handles, band = [], False
        for m in ours:
            part = agg.filter(pl.col(C.method) == m)
            x = (part[C.partial] * 100).to_list()
            color = style.method_color(m)
            if (part["hi"] > part["lo"]).any():  # a band only where there is one to see
                ax.fill_between(
                    x, part["lo"].to_list(), part["hi"].to_list(), color=color, alpha=0.2, lw=0
                )
                band = True
            kw: dict[str, Any] = {"color": color, "marker": "o", "ms": 3, "lw": 1.3}
            ax.plot(x, part["mean"].to_list(), zorder=3, gid=f"ours:{m}", **kw)
            handles.append(Line2D([], [], label=method_label(m), **kw))
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
            kw = {"color": color, "ls": "--", "lw": 0.8, "marker": marker, "ms": 3.5, "mfc": "none"}
            ax.plot(x, part[C.map].to_list(), gid=f"paper:{m}", alpha=0.9, **kw)
            handles.append(Line2D([], [], label=f"paper: {method_label(m)}", **kw))
        values = [*agg["lo"].to_list(), *agg["hi"].to_list(), *ref[C.map].to_list()]
        # from 0, never cut: a zoomed axis turns a 1-point gap between random-weight runs into
        # half the figure; mAP is a percentage, so 100 is the natural top
        ax.set(xlim=(0, 100), ylim=(0, max(100.0, *values)))
        ax.set(xlabel="known labels (%)", ylabel="mAP (%)")
        ours_key = f"ours{' (RANDOM WEIGHTS)' if banner else ''}: solid, mean over seeds"
        key = [ours_key + ("; shaded: seed min–max" if band else "")]
        if drawn:
            key.append("paper: dashed, hollow markers")
        # below the axes: inside, it would hide curves wherever they happen to run
        fig.legend(
            handles=handles,
            title="\n".join(key),
            title_fontsize="xx-small",
            fontsize="x-small",
            loc="outside lower center",
            ncols=2,
        )
        details = [
            describe(finished, ds),
            f"mAP axis from 0 to 100, no break; ours span {_data_range(values[: agg.height * 2])}"
            + (f", the paper's {_data_range(ref[C.map].to_list())}" if drawn else ""),
            "Solid lines: mean test mAP over seeds per method"
            + ("; shaded: the seeds' min–max." if band else " (one seed per point: no band)."),
        ]
        if drawn:
            details.append(
                "Dashed lines, hollow markers: the paper's published mAP, each method offset "
                f"sideways by up to {PAPER_OFFSET * (len(drawn) - 1) / 2:g} points so that "
                "equal values show."
            )
        caption = style.headline(
            fig, banner, notes, title=f"{ds.upper()}: mAP vs known labels", details=details
        )
        written += style.save(fig, out_dir, f"map_vs_partial_{ds}", dpi, caption=caption)
    return written
