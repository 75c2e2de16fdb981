"""One style for every figure: seaborn theme, a fixed colour per method, figure sizes, and saving
PNG + PDF (TrueType fonts embedded in the PDF, ``pdf.fonttype 42``) atomically.

matplotlib and seaborn are imported lazily (inside :func:`apply` and the figure modules), so
importing :mod:`figures` stays cheap; the non-interactive Agg backend is selected before seaborn
imports pyplot. :func:`apply` sets the theme in matplotlib's global ``rcParams``.
"""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpora.runio import atomic_write_bytes
from figures.inputs import note

# Figure sizes in inches: a single column and a full page width of a two-column paper.
COLUMN = 3.4
PAGE = 7.0
DEFAULT_DPI = 200

# Colour-blind-safe colours (seaborn "colorblind"), fixed per method so every figure agrees.
METHOD_COLORS = {
    "dualcoop": "#0173b2",
    "scpnet": "#949494",
    "baseline": "#de8f05",
    "negativecoop": "#cc78bc",  # not vermillion: it must not pass for Baseline's orange
    "positivecoop": "#029e73",
}
OTHER_COLORS = ("#d55e00", "#ca9161", "#fbafe4", "#56b4e9", "#ece133")
REFERENCE_COLOR = "#555555"
ALERT_COLOR = "#c00000"  # the RANDOM WEIGHTS banner


def apply() -> None:
    """Select the Agg backend (unless pyplot is already in use, e.g. in a notebook, whose backend
    is left alone — figures are drawn outside pyplot either way) and set the seaborn theme and the
    PDF/PS font embedding."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=0.9)
    matplotlib.rcParams.update(
        {
            "pdf.fonttype": 42,  # TrueType, embedded: editable text, accepted by venues
            "ps.fonttype": 42,
            "svg.fonttype": "none",
            "axes.titlesize": "medium",
            "legend.frameon": False,
            "figure.constrained_layout.use": True,
        }
    )


def method_color(method: str) -> str:
    """The method's colour; unknown methods get stable extra colours by name."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return OTHER_COLORS[sum(map(ord, method)) % len(OTHER_COLORS)]


def new_figure(width: float, height: float, **subplots: Any) -> tuple[Any, Any]:
    """A (figure, axes) pair of exactly ``width`` × ``height`` inches, outside pyplot's global
    state (nothing to close, nothing leaks between figures)."""
    fig = blank_figure(width, height)
    axes = fig.subplots(**subplots) if subplots else fig.subplots()
    return fig, axes


def blank_figure(width: float, height: float) -> Any:
    """A figure of ``width`` × ``height`` inches without axes (for a grid of one's own), outside
    pyplot's global state."""
    from matplotlib.figure import Figure

    apply()
    return Figure(figsize=(width, height), layout="constrained")


def headline(
    fig: Any, banner: str | None = None, notes: Sequence[str] = (), title: str | None = None
) -> None:
    """The figure's title: the RANDOM WEIGHTS ``banner`` (the whole title then red and bold), the
    ``title``, and the ``notes`` on what was left out and why — one text, so that the constrained
    layout makes room for all of it. Every note also goes to the command's output
    (:func:`figures.inputs.note`)."""
    lines = [line for line in (banner, title, *(f"Note: {n}" for n in notes)) if line]
    if lines:
        chars = fig.get_figwidth() * (17 if notes else 11)  # characters per line that fit
        fig.suptitle(
            "\n".join(textwrap.fill(line, round(chars)) for line in lines),
            fontsize="x-small" if notes else "small",
            color=ALERT_COLOR if banner else ("black" if title and not notes else REFERENCE_COLOR),
            fontweight="bold" if banner else "normal",
        )
    for n in notes:
        note(n)


def save(fig: Any, out_dir: Path, stem: str, dpi: int = DEFAULT_DPI) -> list[Path]:
    """Write ``out_dir/stem.png`` (at ``dpi``) and ``out_dir/stem.pdf`` atomically; the page size
    is the figure size (no tight cropping), so a PNG is exactly width·dpi × height·dpi pixels."""
    out = []
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        meta = {"Software": None} if ext == "png" else {"Creator": None, "CreationDate": None}
        fig.savefig(buf, format=ext, dpi=dpi, metadata=meta)
        out.append(atomic_write_bytes(Path(out_dir) / f"{stem}.{ext}", buf.getvalue()))
    return out


def compact(v: float) -> str:
    """A tick label: ``0.5``, ``20``, ``20k``, ``1.3M``."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def log_axis(ax: Any, which: str = "x") -> None:
    """Log scale with compact labels (``0.1``, ``20k``, ``1.3M``). When the visible range spans
    less than two decades the 2× and 5× ticks are labelled too (within one decade, every tick),
    so a short axis never shows one label or none."""
    import math

    import matplotlib
    from matplotlib.ticker import FuncFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")

    def minor(v: float, _pos: int) -> str:
        lo, hi = sorted(axis.get_view_interval())
        if v <= 0 or lo <= 0 or hi / lo > 100:
            return ""
        if hi / lo <= 10:  # within one decade: every minor tick
            return compact(v)
        mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
        return compact(v) if min(abs(mantissa - 2), abs(mantissa - 5)) < 1e-6 else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: compact(v)))
    axis.set_minor_formatter(FuncFormatter(minor))
    rc: Any = matplotlib.rcParams  # minor labels on the same baseline as the major ones
    axis.set_tick_params(
        which="minor", size=rc[f"{which}tick.major.size"], pad=rc[f"{which}tick.major.pad"]
    )


def spans_decades(values: Sequence[float]) -> bool:
    """Whether positive ``values`` span a decade or more: then a log axis, else a linear one (a
    log axis over 26–88 makes 26 look like nothing)."""
    positive = [v for v in values if v > 0]
    return bool(positive) and len(positive) == len(values) and max(positive) >= 10 * min(positive)


def value_axis(ax: Any, values: Sequence[float], which: str = "x") -> bool:
    """A log axis (:func:`log_axis`) when ``values`` span decades, else linear from 0; returns
    whether it is log."""
    if spans_decades(values):
        log_axis(ax, which)
        return True
    (ax.set_xlim if which == "x" else ax.set_ylim)(0, max(values, default=1) * 1.15 or 1)
    return False
