"""One style for every figure: seaborn theme, one fixed colour per method and per prompt setting
(the same in every figure), figure sizes, short titles, and saving PNG + PDF (TrueType fonts
embedded in the PDF, ``pdf.fonttype 42``) atomically with the figure's caption beside them.

Titles and captions: a figure carries at most two title lines — the RANDOM WEIGHTS banner (when
an input had random weights) and a short title; everything else a reader needs (dataset, model,
seeds, scan options, the data range behind an axis, what was left out and why) goes into the
caption file ``<stem>.caption.txt`` written beside ``<stem>.png`` and ``<stem>.pdf``.

matplotlib and seaborn are imported lazily (inside :func:`apply` and the figure modules), so
importing :mod:`figures` stays cheap; the non-interactive Agg backend is selected before seaborn
imports pyplot. :func:`apply` sets the theme in matplotlib's global ``rcParams``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpora.runio import atomic_write_bytes, atomic_write_text
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
# Prompt settings (promptsim): the paraphrase pair and each negation style
# (``negation.promptsim.templates.STYLES``), in the other five colours of the same palette, so
# that no colour means a method in one figure and a prompt setting in another.
SETTING_COLORS = {
    "paraphrase": "#ca9161",
    "not-prefix": "#d55e00",
    "no": "#56b4e9",
    "without": "#ece133",
    "there-is-no": "#fbafe4",
}
# methods and settings of no fixed colour (a custom head, a style from a templates file): stable
# by name, none of the colours above
OTHER_COLORS = ("#6a3d9a", "#1b7837", "#8c510a", "#01665e", "#762a83")
# one marker per template set (promptsim), so colour can stay the negation style's
TEMPLATE_MARKERS = {"single": "o", "imagenet80": "s", "ensemble85": "^"}
OTHER_MARKERS = ("D", "v", "P", "X")
REFERENCE_COLOR = "#555555"
ALERT_COLOR = "#c00000"  # the RANDOM WEIGHTS banner
TITLE_LINES = 2  # banner + short title: the rest goes into the caption file
CAPTION_SUFFIX = ".caption.txt"


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


def _by_name(name: str, fixed: dict[str, str], others: Sequence[str]) -> str:
    return fixed[name] if name in fixed else others[sum(map(ord, name)) % len(others)]


def method_color(method: str) -> str:
    """The method's colour (``positivecoop`` → green, in every figure); unknown methods get
    stable extra colours by name."""
    return _by_name(method, METHOD_COLORS, OTHER_COLORS)


def setting_color(setting: str) -> str:
    """The prompt setting's colour: ``paraphrase`` (the P1-P2 pair) or a negation style
    (``not-prefix``, ``no``, …), the same in every figure; unknown styles get stable extra
    colours by name."""
    return _by_name(setting, SETTING_COLORS, OTHER_COLORS)


def template_marker(templates: str) -> str:
    """The marker of a template set (``single`` ● , ``ensemble85`` ▲, …)."""
    return _by_name(templates, TEMPLATE_MARKERS, OTHER_MARKERS)


def new_figure(width: float, height: float, **subplots: Any) -> tuple[Any, Any]:
    """A (figure, axes) pair of exactly ``width`` × ``height`` inches, outside pyplot's global
    state (nothing to close, nothing leaks between figures)."""
    fig = blank_figure(width, height)
    axes = fig.subplots(**subplots) if subplots else fig.subplots()
    return fig, axes


def blank_figure(width: float, height: float) -> Any:
    """A figure of ``width`` × ``height`` inches without axes (for a grid of one's own), outside
    pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    apply()
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # a renderer to measure text with (:func:`fit_width`)
    return fig


def headline(
    fig: Any,
    banner: str | None = None,
    notes: Sequence[str] = (),
    title: str | None = None,
    details: Sequence[str] = (),
) -> str:
    """Title the figure and return its caption.

    On the figure, at most :data:`TITLE_LINES` lines, each fitted to the figure's width: the
    RANDOM WEIGHTS ``banner`` (red, bold) and the short ``title``, which says how many notes the
    caption holds. The caption (for :func:`save`): the title, the banner, the ``details`` (what
    produced the figure, what its marks and axes mean) and the ``notes`` on what was left out and
    why. Every note also goes to the command's output (:func:`figures.inputs.note`)."""
    shown = title or ""
    if notes:
        many = "s" if len(notes) > 1 else ""
        shown += f"{' · ' if shown else ''}{len(notes)} note{many}: see caption"
    lines = [line for line in (banner, shown) if line]
    if lines:
        text = fig.suptitle(
            "\n".join(lines),
            color=ALERT_COLOR if banner else "black",
            fontweight="bold" if banner else "normal",
        )
        fit_width(fig, text)
    for n in notes:
        note(n)
    parts = [title, banner, *details, *(f"Note: {n}" for n in notes)]
    return "\n".join(p for p in parts if p) + "\n"


def fit_width(fig: Any, text: Any, sizes: Sequence[float] = (8, 7, 6, 5, 4.5)) -> None:
    """The largest font size of ``sizes`` at which ``text`` fits the figure's width."""
    renderer = fig.canvas.get_renderer()
    for size in sizes:
        text.set_fontsize(size)
        if text.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            return


def save(fig: Any, out_dir: Path, stem: str, dpi: int = DEFAULT_DPI, *, caption: str) -> list[Path]:
    """Write ``out_dir/stem.png`` (at ``dpi``), ``out_dir/stem.pdf`` and the ``caption`` (from
    :func:`headline`) as ``out_dir/stem.caption.txt``, each atomically; the page size is the
    figure size (no tight cropping), so a PNG is exactly width·dpi × height·dpi pixels."""
    settle(fig)
    out = []
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        meta = {"Software": None} if ext == "png" else {"Creator": None, "CreationDate": None}
        fig.savefig(buf, format=ext, dpi=dpi, metadata=meta)
        out.append(atomic_write_bytes(Path(out_dir) / f"{stem}.{ext}", buf.getvalue()))
    out.append(atomic_write_text(Path(out_dir) / f"{stem}{CAPTION_SUFFIX}", caption))
    return out


def settle(fig: Any) -> None:
    """One layout pass before the figure is drawn for good: constrained layout settles over two
    (after the first, a two-line title can still cover the axes' titles)."""
    fig.draw_without_rendering()


def compact(v: float) -> str:
    """A tick label: ``0.5``, ``20``, ``20k``, ``1.3M``."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def log_axis(ax: Any, which: str = "x", *, counts: bool = False) -> None:
    """Log scale with compact labels (``0.1``, ``20k``, ``1.3M``). When the visible range spans
    less than two decades the 2× and 5× ticks are labelled too (within one decade, every tick),
    so a short axis never shows one label or none. ``counts``: only whole numbers are labelled
    (no "0.2 captions")."""
    import math

    import matplotlib
    from matplotlib.ticker import FuncFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")

    def shown(v: float) -> str:
        return "" if counts and abs(v - round(v)) > 1e-9 else compact(v)

    def minor(v: float, _pos: int) -> str:
        lo, hi = sorted(axis.get_view_interval())
        if v <= 0 or lo <= 0 or hi / lo > 100:
            return ""
        if hi / lo <= 10:  # within one decade: every minor tick
            return shown(v)
        mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
        return shown(v) if min(abs(mantissa - 2), abs(mantissa - 5)) < 1e-6 else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: shown(v)))
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


def value_axis(ax: Any, values: Sequence[float], which: str = "x", *, counts: bool = False) -> bool:
    """A log axis (:func:`log_axis`) when ``values`` span decades, else linear from 0 (whole
    ticks only for ``counts``); returns whether it is log. Bars belong on a linear axis only:
    on a log one, draw points (a bar's length there means nothing)."""
    if spans_decades(values):
        log_axis(ax, which, counts=counts)
        return True
    (ax.set_xlim if which == "x" else ax.set_ylim)(0, max(values, default=1) * 1.15 or 1)
    if counts:
        from matplotlib.ticker import MaxNLocator

        (ax.xaxis if which == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    return False
