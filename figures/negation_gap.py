"""``paperfigs negation-gap``: the loop's figure — do negative prompts pay once the backbone
understands negation?

Per dataset of the sweeps, ``negation_gap_<dataset>.png/.pdf``: for every backbone (model and
weights, with its image setting) and known-label proportion, one point — the backbone's negation
accuracy (x: ``promptsim negbench``'s MCQ accuracy on negation-type questions, its bootstrap
95 % CI as a horizontal bar; chance 0.25 dotted) against the DualCoOp − PositiveCoOp mAP gap (y,
mAP points, from the ``mlrtrain sweep`` results: the mean over the seeds where both methods
finished, so it is the difference of the table's cells when no run failed; the seeds' min–max as
a vertical bar). One colour per backbone, each point marked with its proportion; the y axis always
holds 0, drawn as a line (above it DualCoOp's learned negative prompts help, below they cost).
``negation_gap_<dataset>.csv`` beside it holds every drawn point
(:data:`corpora.schema.NEGATION_GAP`).

A sweep backbone meets the negbench result of the same model and weights (``weights_id``; where a
file lacks it, the same ``pretrained``); of several (other datasets or splits) the one on the
sweep's dataset. Backbones without a negbench result, without both methods, or whose negbench
result has no MCQ are left out, and the figure says so. Random weights follow the tables' policy:
left out (noted) unless ``allow_random``, and then named in the RANDOM WEIGHTS banner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import polars as pl

from corpora import schema as S
from corpora.runio import atomic_write_text
from corpora.schema import C
from corpora.sweep_runs import load_sweeps, refuse_duplicates
from figures import style
from figures.inputs import EmptyInput, Model, note, random_weights_banner
from figures.negbench import MAKER, load_results

DUAL, POS = "dualcoop", "positivecoop"
GROUP = (C.dataset, *S.SWEEP_GROUP, C.backbone)  # one point series (a table of mlrtrain table)
CHANCE = 0.25  # four options per question
RANDOM_NOTE = "not drawn: random weights (paperfigs negation-gap --allow-random draws them)"


Notes = list[tuple[str, str]]  # (dataset, what was left out and why)


def seed_gaps(sweep_dirs: list[Path]) -> tuple[pl.DataFrame, Notes]:
    """Per (dataset, backbone, setting, proportion) of the sweeps: both methods' mean mAP and
    the gap over the seeds where both finished (``gap_min``/``gap_max``: the seeds' extremes,
    ``n_seeds``), with ``random_weights``; and notes on the backbones that lack a method."""
    runs = load_sweeps(sweep_dirs)
    ok = runs.filter(pl.col("ok"))
    refuse_duplicates(ok, ", ".join(map(str, sweep_dirs)))
    notes: Notes = []
    for _, part in ok.group_by(list(GROUP), maintain_order=True):
        lacking = [m for m in (DUAL, POS) if m not in part[C.method].to_list()]
        if lacking:
            ds, label = part[C.dataset][0], part[C.backbone][0]
            notes.append((ds, f"{label}: not drawn, no finished {lacking[0]} run"))
    index = [*GROUP, C.partial, C.seed]
    wide = ok.filter(pl.col(C.method).is_in([DUAL, POS])).pivot(
        on=C.method, index=index, values=C.map, aggregate_function="first"
    )
    if DUAL not in wide.columns or POS not in wide.columns:
        return pl.DataFrame(schema={C.dataset: pl.String, C.backbone: pl.String}), notes
    paired = wide.drop_nulls([DUAL, POS]).with_columns(_gap=pl.col(DUAL) - pl.col(POS))
    random = ok.group_by(GROUP).agg(pl.col(C.random_weights).fill_null(False).any())
    agg = paired.group_by([*GROUP, C.partial]).agg(
        pl.col(DUAL).mean().alias(C.map_dualcoop),
        pl.col(POS).mean().alias(C.map_positivecoop),
        pl.col("_gap").mean().alias(C.gap),
        pl.col("_gap").min().alias(C.gap_min),
        pl.col("_gap").max().alias(C.gap_max),
        pl.len().cast(pl.Int64).alias(C.n_seeds),
    )
    agg = agg.join(random, on=list(GROUP), how="left", nulls_equal=True)
    return agg.sort(C.dataset, C.backbone, C.partial, nulls_last=True), notes


def _same_weights(row: dict, summary: dict) -> bool:
    if summary.get(C.model) != row[C.model]:
        return False
    wid = summary.get(C.weights_id)
    if wid is not None and row[C.weights_id] is not None:
        return wid == row[C.weights_id]
    return summary.get(C.pretrained) == row[C.pretrained]


def match_negbench(row: dict, results: list[tuple[Path, dict]]) -> tuple[Path, dict] | None:
    """The negbench result of ``row``'s backbone (:func:`_same_weights`), None when there is
    none; of several, the one on ``row``'s dataset, else a ``ValueError`` naming them."""
    found = [r for r in results if _same_weights(row, r[1])]
    if len(found) > 1:
        found = [r for r in found if r[1].get(C.dataset) == row[C.dataset]] or found
    if len(found) > 1:
        dirs = ", ".join(str(d) for d, _ in found)
        raise ValueError(
            f"{row[C.model]} / {row[C.pretrained]}: {len(found)} negbench results ({dirs}); "
            "give one per backbone"
        )
    return found[0] if found else None


def points(
    sweep_dirs: list[Path], negbench_dirs: list[Path], *, allow_random: bool = False
) -> tuple[pl.DataFrame, dict[str, dict], Notes]:
    """The points to draw (:data:`~corpora.schema.NEGATION_GAP` rows), the negbench summaries
    they use (by directory), and notes on every backbone left out and why."""
    gaps, notes = seed_gaps(sweep_dirs)
    results = load_results(negbench_dirs)
    rows: list[dict] = []
    used: dict[str, dict] = {}
    for key in gaps.select(C.dataset, C.backbone).unique(maintain_order=True).to_dicts():
        ds, label = key[C.dataset], key[C.backbone]
        part = gaps.filter((pl.col(C.dataset) == ds) & (pl.col(C.backbone) == label))
        first = part.row(0, named=True)
        found = match_negbench(first, results)
        if found is None:
            notes.append((ds, f"{label}: not drawn, no negbench result of its weights (`{MAKER}`)"))
            continue
        d, summary = found
        est = summary[C.metrics].get("mcq", {}).get("by_type", {}).get("negation") or {}
        if est.get(C.value) is None:
            notes.append((ds, f"{label}: not drawn, {d} has no negation MCQ accuracy"))
            continue
        random = bool(first[C.random_weights] or summary[C.random_weights])
        if random and not allow_random:
            notes.append((ds, f"{label}: {RANDOM_NOTE}"))
            continue
        value = est[C.value]
        extra = {
            C.random_weights: random,
            C.negation_accuracy: value,
            C.negation_ci_low: value if est.get(C.ci_low) is None else est[C.ci_low],
            C.negation_ci_high: value if est.get(C.ci_high) is None else est[C.ci_high],
            C.negbench_dataset: summary.get(C.dataset),
            C.negbench_split: summary.get(C.split),
            C.negbench_dir: str(d),
        }
        rows += [r | extra for r in part.iter_rows(named=True)]
        used[str(d)] = summary
    frame = pl.DataFrame(rows, schema=S.NEGATION_GAP, orient="row")
    return frame, used, notes


def short_labels(frame: pl.DataFrame) -> dict[str, str]:
    """backbone label → the name a reader needs: ``model / weights`` (a file or folder by its
    name), widened by the weights' id, then to the full label, where two would look alike."""
    full = {r[C.backbone]: r for r in frame.unique(C.backbone, maintain_order=True).to_dicts()}

    def short(r: dict) -> str:
        weights = str(r[C.pretrained]).removeprefix("local-dir:").rstrip("/")
        return f"{r[C.model]} / {Path(weights).name or weights}"

    names = {b: short(r) for b, r in full.items()}
    random = {b for b, r in full.items() if r[C.random_weights]}
    for widen in ("id", "full"):
        taken = list(names.values())
        names = {
            b: (f"{n} ({full[b][C.weights_id]})" if widen == "id" else b)
            if taken.count(n) > 1
            else n
            for b, n in names.items()
        }
    return {b: f"{n} (RANDOM WEIGHTS)" if b in random else n for b, n in names.items()}


def _bars(values: list[float], low: pl.Series, high: pl.Series) -> list[list[float]]:
    """Error-bar lengths below and above each value."""
    return [
        [v - lo for v, lo in zip(values, low, strict=True)],
        [hi - v for v, hi in zip(values, high, strict=True)],
    ]


def _draw(ax: Any, mine: pl.DataFrame, color: Any, gid: str) -> None:
    """One backbone's points: a gap per proportion at its negation accuracy, both bars."""
    x, y = mine[C.negation_accuracy].to_list(), mine[C.gap].to_list()
    bars = ax.errorbar(
        x,
        y,
        xerr=_bars(x, mine[C.negation_ci_low], mine[C.negation_ci_high]),
        yerr=_bars(y, mine[C.gap_min], mine[C.gap_max]),
        fmt="o",
        ms=4,
        lw=0.8,
        capsize=2,
        color=color,
        zorder=3,
    )
    bars.lines[0].set_gid(gid)
    for xi, yi, p in zip(x, y, mine[C.partial], strict=True):
        kw: dict[str, Any] = {"xytext": (4, 2), "textcoords": "offset points", "fontsize": 5}
        ax.annotate(f"{p * 100:g}%", (xi, yi), color=color, **kw)


def gap_vs_negation(
    sweep_dirs: list[Path],
    negbench_dirs: list[Path],
    out_dir: Path,
    *,
    dpi: int = style.DEFAULT_DPI,
    allow_random: bool = False,
) -> list[Path]:
    """``negation_gap_<dataset>.png/.pdf/.csv`` per dataset of the sweeps (module docstring)."""
    import seaborn as sns
    from matplotlib.lines import Line2D

    frame, used, notes = points(sweep_dirs, negbench_dirs, allow_random=allow_random)
    drawn = frame[C.dataset].unique(maintain_order=True).to_list()
    for ds, text in notes:  # no figure to say it on
        if ds not in drawn:
            note(f"dataset {ds!r}, no figure: {text}")
    if frame.is_empty():
        why = "; ".join(t for _, t in notes) or "no sweep has both DualCoOp and PositiveCoOp runs"
        raise EmptyInput(f"nothing to draw: {why}")
    written: list[Path] = []
    for ds in drawn:
        part = frame.filter(pl.col(C.dataset) == ds)
        labels = short_labels(part)
        colors = dict(zip(labels, sns.color_palette("colorblind", len(labels)), strict=True))
        fig, ax = style.new_figure(style.COLUMN + 0.8, 3.8)
        for backbone in labels:
            _draw(ax, part.filter(pl.col(C.backbone) == backbone), colors[backbone], backbone)
        handles = [
            Line2D([], [], color=colors[b], marker="o", ls="", label=label)
            for b, label in labels.items()
        ]
        ax.axhline(0, color=style.REFERENCE_COLOR, lw=0.8)
        ax.axvline(CHANCE, ls=":", lw=0.8, color=style.REFERENCE_COLOR)
        lo, hi = min(0.0, *part[C.gap_min]), max(0.0, *part[C.gap_max])
        pad = 0.12 * (hi - lo) or 1.0
        ax.set(xlim=(0, 1), ylim=(lo - pad, hi + pad))
        ax.set(
            xlabel=f"negation accuracy (MCQ, negation type; chance {CHANCE})",
            ylabel="mAP gap: DualCoOp − PositiveCoOp (points)",
        )
        fig.legend(handles=handles, fontsize="x-small", loc="outside lower center")
        lo_n, hi_n = cast(int, part[C.n_seeds].min()), cast(int, part[C.n_seeds].max())
        seeds = f"{lo_n}" if lo_n == hi_n else f"{lo_n}–{hi_n}"
        summaries = [used[d] for d in part[C.negbench_dir].unique(maintain_order=True)]
        data = (f"{(s.get(C.dataset) or '?').upper()} {s.get(C.split) or ''}" for s in summaries)
        title = f"{ds.upper()}: DualCoOp − PositiveCoOp gap vs negation accuracy"
        details = [
            f"y: mean mAP gap over {seeds} seed(s) per point, the bar the seeds' min–max; "
            "x: negbench MCQ accuracy on negation-type questions with its bootstrap 95 % CI, "
            f"on {', '.join(dict.fromkeys(data)).strip()}; one colour per backbone, one point "
            f"per known-label proportion; dotted line: chance ({CHANCE}).",
            f"gap range: {lo:.2f} to {hi:.2f} mAP points.",
        ]
        rnd = part.filter(pl.col(C.random_weights)).unique(C.backbone).to_dicts()
        banner = random_weights_banner([Model(r[C.model], r[C.pretrained], True) for r in rnd])
        caption = style.headline(
            fig, banner, [t for d, t in notes if d == ds], title=title, details=details
        )
        stem = f"negation_gap_{ds}"
        written += style.save(fig, out_dir, stem, dpi, caption=caption)
        written.append(atomic_write_text(Path(out_dir) / f"{stem}.csv", part.write_csv()))
    return written
