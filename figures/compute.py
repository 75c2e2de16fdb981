"""Parameters and compute per method from ``mlrtrain sweep`` results, beside the poster's
computation table: a dot plot (``params_compute_<dataset>``) and the table itself
(``params_compute.csv`` / ``params_compute.md``).

Like is compared with like: trainable parameters are one quantity (ours exact, the paper's
rounded) and share an axis; hours are not — ours are wall-clock training per run on the device
the runs used, *without* building the feature cache (``cache_seconds``, paid once by whichever
run found the cache missing: counted apart), the paper's are end-to-end GPU hours per training
run — so each gets its own panel. Methods are rows, named once on the y axis: labels never
overlap. The paper's numbers follow :func:`figures.sweeps.map_vs_partial`'s policy on random
weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from corpora.reference import method_label, method_rank, paper_methods
from corpora.runio import atomic_write_text, markdown_table
from corpora.schema import C
from corpora.sweep_results import build_table
from figures import style
from figures.inputs import EmptyInput
from figures.sweeps import _finished, _load, _with_paper, describe

TABLE_STEM = "params_compute"
OURS_HOURS = "ours: training hours per run, feature-cache building excluded"
PAPER_HOURS = "paper: end-to-end GPU hours per training run"
# ours, from ``mlrtrain table``'s frame
OURS = (
    C.n_params,
    C.train_hours_per_run,
    C.train_hours_n,
    C.cache_hours_total,
    C.hours_per_run,
    C.devices,
    C.random_weights,
)
# the table's columns (``params_compute.csv``): the poster's, then ours, per (dataset, method)
TABLE_COLUMNS = (
    C.dataset,
    C.method,
    C.label,
    C.params_paper,
    C.params_label,
    C.paper_gpu_hours,
    *OURS,
)


def compute_table(sweep_dirs: list[Path], *, paper: bool, allow_random: bool) -> pl.DataFrame:
    """One row per (dataset, method) of :data:`TABLE_COLUMNS`: ours from the sweeps'
    :func:`~corpora.sweep_results.build_table`, the poster's params and GPU hours from the
    published reference (methods we did not train too), the latter only where the paper's numbers
    are drawn (not beside random weights unless ``allow_random``)."""
    ours = pl.concat(
        [build_table(Path(d), paper=False) for d in sweep_dirs], how="diagonal_relaxed"
    ).select(C.dataset, C.method, *OURS)
    rows = []
    theirs = paper_methods().rename({"gpu_hours": C.paper_gpu_hours})
    for ds in sorted(ours[C.dataset].unique().to_list()):
        mine = ours.filter(pl.col(C.dataset) == ds)
        random = bool(mine[C.random_weights].any())
        shown = paper and not (random and not allow_random)
        ref = theirs.filter(pl.col(C.dataset) == ds) if shown else theirs.clear()
        ref = ref.select(C.dataset, C.method, C.params_paper, C.params_label, C.paper_gpu_hours)
        both = mine.join(ref, on=[C.dataset, C.method], how="full", coalesce=True)
        rows.append(both.with_columns(pl.col(C.random_weights).fill_null(random)))
    out = pl.concat(rows, how="diagonal_relaxed")
    labels = {m: method_label(m) for m in out[C.method].unique().to_list()}
    out = out.with_columns(pl.col(C.method).replace_strict(labels).alias(C.label))
    order = sorted(out.select(C.dataset, C.method).rows(), key=lambda r: (r[0], method_rank(r[1])))
    return (
        pl.DataFrame(order, schema=[C.dataset, C.method], orient="row")
        .join(out, on=[C.dataset, C.method], how="left", maintain_order="left")
        .select(TABLE_COLUMNS)
    )


def _num(v: Any, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def table_markdown(table: pl.DataFrame) -> str:
    """The poster's computation table beside ours, as Markdown, with what each hour means."""
    header = [
        "dataset",
        "method",
        "params (paper)",
        "GPU h / run (paper)",
        "params (ours)",
        "training h / run (ours)",
        "cache building h (ours, total)",
        "device (ours)",
    ]
    body = [
        [
            r[C.dataset],
            r[C.label],
            r[C.params_label] or "—",
            _num(r[C.paper_gpu_hours]),
            "—" if r[C.n_params] is None else f"{r[C.n_params]:,}",
            _num(r[C.train_hours_per_run], 3),
            _num(r[C.cache_hours_total], 3),
            r[C.devices] or "—",
        ]
        for r in table.iter_rows(named=True)
    ]
    notes = [
        f"{PAPER_HOURS.capitalize()}. Ours: mean wall-clock per training run on the device shown, "
        "without hashing the images and building the feature cache (listed apart: only the run "
        "that found the cache missing pays it). The two hours are not the same measurement.",
        "— : not recorded, or not trained by us.",
    ]
    if table[C.random_weights].fill_null(False).any():
        notes.append(
            "RANDOM WEIGHTS: runs on random weights; the paper's numbers are left out beside them "
            "unless --allow-random (the parameter counts and hours do not depend on the weights)."
        )
    return markdown_table([header, *body], "llrrrrrl") + "\n\n" + "\n".join(notes) + "\n"


def write_table(table: pl.DataFrame, out_dir: Path) -> list[Path]:
    """``params_compute.csv`` (the :data:`TABLE_COLUMNS`) and ``params_compute.md``."""
    return [
        atomic_write_text(Path(out_dir) / f"{TABLE_STEM}.csv", table.write_csv()),
        atomic_write_text(Path(out_dir) / f"{TABLE_STEM}.md", table_markdown(table)),
    ]


def _dots(ax: Any, rows: pl.DataFrame, col: str, y: dict[str, int], *, filled: bool) -> list[float]:
    """One marker per method with a value in ``col`` (filled circles: ours; hollow squares: the
    paper's), in the method's colour; returns the values drawn."""
    drawn = rows.drop_nulls(col)
    for r in drawn.iter_rows(named=True):
        color = style.method_color(r[C.method])
        if filled:
            ax.scatter(r[col], y[r[C.method]], s=30, color=color, zorder=3)
        else:
            ax.scatter(
                r[col], y[r[C.method]], s=42, marker="s", facecolors="none", edgecolors=color
            )
    return drawn[col].to_list()


def params_vs_compute(
    sweep_dirs: list[Path],
    out_dir: Path,
    *,
    dpi: int = style.DEFAULT_DPI,
    paper: bool = True,
    allow_random: bool = False,
) -> list[Path]:
    """``params_compute_<dataset>.png/.pdf`` (+ caption) per dataset — one row per method (named
    on the y axis in its colour), panels: trainable parameters (log; ours ● , the paper's □),
    our training hours per run without building the feature cache (from 0), and, when drawn, the
    paper's GPU hours per run (from 0) — and ``params_compute.csv`` / ``.md``: the poster's
    computation table beside ours, every dataset."""
    runs, banners = _load(sweep_dirs)
    table = compute_table(sweep_dirs, paper=paper, allow_random=allow_random)
    written: list[Path] = []
    datasets = sorted(table.filter(pl.col(C.n_params).is_not_null())[C.dataset].unique())
    if not datasets:
        raise EmptyInput(", ".join(map(str, sweep_dirs)) + ": no run records n_params")
    for ds in datasets:
        finished, notes = _finished(runs, ds, (C.method,))
        banner = banners.get(ds)
        _with_paper(banner, notes, "params-compute", paper=paper, allow_random=allow_random)
        rows = table.filter(pl.col(C.dataset) == ds)
        ours = rows.filter(pl.col(C.n_params).is_not_null())
        untimed = ours.filter(pl.col(C.train_hours_per_run).is_null())[C.label].to_list()
        if untimed:
            notes.append(
                f"training hours not drawn for {', '.join(untimed)}: the runs do not record "
                "cache_seconds (written by an earlier version), so their wall-clock would "
                "include building the feature cache"
            )
        theirs = rows.filter(pl.col(C.paper_gpu_hours).is_not_null())
        panels = 3 if theirs.height else 2
        y = {m: i for i, m in enumerate(rows[C.method].to_list())}
        fig, axes = style.new_figure(
            style.PAGE, 1.3 + 0.26 * len(y), ncols=panels, sharey=True, squeeze=False
        )
        ax_p, ax_h, *rest = axes[0]
        _dots(ax_p, ours, C.n_params, y, filled=True)
        params = [*ours[C.n_params].to_list(), *_dots(ax_p, rows, C.params_paper, y, filled=False)]
        style.log_axis(ax_p)
        ax_p.margins(x=0.15)
        key = "params: ● ours" + (", □ paper" if rows[C.params_paper].is_not_null().any() else "")
        ax_p.set(xlabel="trainable parameters", title=key)  # a key only for what is drawn
        hours = _dots(ax_h, ours, C.train_hours_per_run, y, filled=True)
        style.value_axis(ax_h, hours or [1.0])
        devices = ", ".join(sorted(finished[C.device].drop_nulls().unique().to_list())) or "?"
        ax_h.set(xlabel=f"hours per run on {devices}", title="● ours: training, no cache build")
        if rest:
            gpu = _dots(rest[0], theirs, C.paper_gpu_hours, y, filled=False)
            style.value_axis(rest[0], gpu)
            rest[0].set(xlabel="GPU hours per run", title="□ paper: end-to-end")
        ax_p.set_yticks(list(y.values()), [method_label(m) for m in y])
        ax_p.set_ylim(len(y) - 0.5, -0.5)  # the paper's order, top to bottom
        for tick, m in zip(ax_p.get_yticklabels(), y, strict=True):
            tick.set_color(style.method_color(m))
        cache = ours[C.cache_hours_total].drop_nulls()
        details = [
            describe(finished, ds),
            f"Parameters: ours exact (filled circles), the paper's rounded (hollow squares); "
            f"log axis, {style.compact(min(params))}–{style.compact(max(params))}.",
            f"{OURS_HOURS} (mean over finished runs, on {devices}); the feature cache took "
            f"{cache.sum():.3f} h in total, paid once by the run that built it."
            if cache.len()
            else f"{OURS_HOURS}: not recorded.",
        ]
        if theirs.height:
            details.append(f"{PAPER_HOURS}: a different measurement, on its own axis.")
        caption = style.headline(
            fig, banner, notes, title=f"{ds.upper()}: parameters and compute", details=details
        )
        written += style.save(fig, out_dir, f"params_compute_{ds}", dpi, caption=caption)
    return written + write_table(table, out_dir)
