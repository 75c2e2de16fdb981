"""Figures from ``negscan … --out DIR`` outputs, one directory per corpus (named by its folder or
``--label``): per-word caption shares and the negation rate (the paper's LAION 0.47 % as a
reference), the top negated bigrams, and the class-negation counts; captions name the scan's
lexicon and options.

Every corpus is shown with its number of rows ``n``; a *tiny* corpus (fewer than
:data:`TINY_ROWS` rows) is flagged, since a 10-row file with 6 negated captions reads as 60 %.
Log axes only where the values span decades, and there values are points, never bars (a bar's
length on a log axis means nothing); count axes tick whole numbers only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from corpora import schema as S
from corpora.reference import LAION_DENOMINATOR, laion_negation_rate
from corpora.schema import C
from figures import style
from figures.inputs import EmptyInput, left_out, read_json, read_table

SUMMARY_KEYS = (C.n_rows, C.n_with_negation, "rate_all_rows", "rate_non_null")
TINY_ROWS = 1_000  # fewer rows than this: a corpus's shares rest on a handful of captions
TINY = f"tiny: fewer than {TINY_ROWS:,} rows, so its shares rest on few captions"


@dataclass(frozen=True)
class Corpus:
    name: str
    path: Path
    summary: dict


def load_corpora(dirs: list[Path], labels: list[str] | None = None) -> list[Corpus]:
    """Each directory's ``summary.json``, named by its ``labels`` entry or else by the folder's name
    (``(synthetic)`` marked); two folders of one name are told apart by their parent."""
    dirs = [Path(d) for d in dirs]
    if labels and len(labels) != len(dirs):
        raise ValueError(f"--label given {len(labels)} times for {len(dirs)} negscan directories")
    names = list(labels) if labels else [d.resolve().name or str(d) for d in dirs]
    if not labels:
        names = [
            f"{d.resolve().parent.name}/{n}" if names.count(n) > 1 else n
            for d, n in zip(dirs, names, strict=True)
        ]
    out: list[Corpus] = []
    for d, name in zip(dirs, names, strict=True):
        summary = read_json(d / "summary.json", "negscan", SUMMARY_KEYS)
        out.append(Corpus(name + (" (synthetic)" if summary.get("synthetic") else ""), d, summary))
    return out


def counting(summary: dict) -> str:
    """Which words a scan counted: ``lexicon standard`` (``, numbered lists excluded``)."""
    parts = [f"lexicon {summary.get('lexicon', '?')}"]
    if summary.get("exclude_numbering"):
        parts.append("numbered lists excluded")
    return ", ".join(parts)


def options(summary: dict) -> str:
    """What a scan counted: ``lexicon standard, window 4, class set coco``."""
    parts = [counting(summary)]
    if summary.get("window") is not None:
        parts.append(f"window {summary['window']}")
    if summary.get(C.classes):
        parts.append(f"class set {summary[C.classes]}")
    return ", ".join(parts)


def same_counting(corpora: list[Corpus], figure: str) -> None:
    """Refuse to put on one axis scans that counted different words (another lexicon, or its
    entries, or ``--exclude-numbering``): their counts and rates do not compare."""
    keys = {(counting(c.summary), tuple(c.summary.get("lexicon_entries") or ())) for c in corpora}
    if len(keys) > 1:
        each = "; ".join(f"{c.name}: {counting(c.summary)}" for c in corpora)
        if len({k[0] for k in keys}) == 1:
            each += " (the lexicons' entries differ)"
        raise ValueError(
            f"{figure}: these scans counted different words ({each}), so one axis would compare "
            "unlike counts; draw each on its own, or rescan with the same --lexicon and "
            "--exclude-numbering"
        )


def describe(corpora: list[Corpus], what: str) -> str:
    """The figure's title: ``what``, each corpus (with its ``corpus`` field when that differs from
    its name) and the scan options, once when every corpus shares them."""
    opts = [options(c.summary) for c in corpora]
    shared = len(set(opts)) == 1
    named = []
    for c, o in zip(corpora, opts, strict=True):
        field = c.summary.get("corpus")
        label = c.name + (f" [corpus {field}]" if field and not c.name.startswith(field) else "")
        named.append(label if shared else f"{label} ({o})")
    return f"{what} — " + "; ".join(named) + (f" · {opts[0]}" if shared else "")


def _stack(corpora: list[Corpus], file: str, columns: tuple[str, ...]) -> pl.DataFrame:
    parts = [
        read_table(c.path / file, "negscan", columns).with_columns(corpus=pl.lit(c.name))
        for c in corpora
    ]
    return pl.concat(parts, how="vertical_relaxed")


def sized(c: Corpus) -> str:
    """``laion · n = 1M`` (``, tiny`` when under :data:`TINY_ROWS` rows)."""
    n = int(c.summary[C.n_rows])
    return f"{c.name} · n = {style.compact(n)}" + (", tiny" if n < TINY_ROWS else "")


def sizes(corpora: list[Corpus]) -> str:
    """For the caption: every corpus's rows, and what *tiny* means when one is."""
    each = "; ".join(f"{c.name}: {int(c.summary[C.n_rows]):,} rows" for c in corpora)
    tiny = any(int(c.summary[C.n_rows]) < TINY_ROWS for c in corpora)
    return f"n = {each}." + (f" Flagged {TINY}." if tiny else "")


def _palette(corpora: list[Corpus]) -> dict[str, tuple]:
    import seaborn as sns

    names = [c.name for c in corpora]
    return dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))


def _ranks(
    ax, rows: Sequence[tuple[float, float, object]], fmt, height: float, *, log: bool
) -> None:
    """Horizontal ``(y, value, colour)`` marks with a value label each: bars on a linear axis,
    points on a log one."""
    for y, v, color in rows:
        if log:
            ax.plot([v], [y], ls="", marker="o", ms=3.5, color=color, zorder=3)
        else:
            ax.barh([y], [v], height=height, color=color)
        ax.annotate(
            fmt(v), (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=5
        )


def _pct(v: float) -> str:
    return f"{v:#.2g} %" if v < 1 else f"{v:.1f} %"


def word_counts(
    negscan_dirs: list[Path],
    out_dir: Path,
    *,
    top: int = 25,
    dpi: int = style.DEFAULT_DPI,
    labels: list[str] | None = None,
) -> list[Path]:
    """``negscan_words.png/.pdf`` (+ caption; scans that counted different words are refused:
    :func:`same_counting`): left, per word, the captions containing it — as a share of each
    corpus's rows when the corpora differ in size, else counts — for the ``top`` words by that
    value, one colour per corpus, value labels (bars, or points on a log axis when the values span
    decades); right, the share of all rows with any negation per corpus (named with its ``n``,
    tiny corpora flagged) beside the paper's LAION-400M 0.47 % (dashed, named in the legend
    below), on an axis that never passes 100 %."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    corpora = load_corpora(negscan_dirs, labels)
    same_counting(corpora, "negscan-words")
    words = _stack(corpora, "per_word.parquet", S.names(S.NEGSCAN_PER_WORD))
    words = words.filter(pl.col(C.captions) > 0)  # a zero has no place on a log axis
    if words.is_empty():
        raise EmptyInput(f"{', '.join(str(c.path) for c in corpora)}: no negation word found")
    n_rows = {c.name: c.summary[C.n_rows] for c in corpora}
    shares = len(set(n_rows.values())) > 1
    if shares:  # corpora of different sizes compare by share, never by count
        rows_of = pl.col("corpus").replace_strict(n_rows, return_dtype=pl.Float64)
        words = words.with_columns(drawn=100 * pl.col(C.captions) / rows_of)
        xlabel, fmt = "% of the corpus's rows containing the word", _pct
    else:
        words = words.with_columns(drawn=pl.col(C.captions).cast(pl.Float64))
        xlabel, fmt = "captions containing the word", style.compact
    order = (
        words.group_by(C.word)
        .agg(pl.col("drawn").sum())
        .sort(["drawn", C.word], descending=[True, False])
        .head(top)[C.word]
        .to_list()
    )
    words = words.filter(pl.col(C.word).is_in(order))
    palette = _palette(corpora)
    height = max(3.6, 1.2 + 0.09 * len(order) * len(corpora))
    fig, (ax_w, ax_r) = style.new_figure(style.PAGE, height, ncols=2, width_ratios=[1.6, 1])
    log_w = style.value_axis(ax_w, words["drawn"].to_list(), counts=not shares)
    step = 0.8 / len(corpora)
    value = {(w, c): v for w, c, v in words.select(C.word, "corpus", "drawn").iter_rows()}
    marks = [
        (i + (k - (len(corpora) - 1) / 2) * step, value[(w, c.name)], palette[c.name])
        for i, w in enumerate(order)
        for k, c in enumerate(corpora)
        if (w, c.name) in value
    ]
    _ranks(ax_w, marks, fmt, step, log=log_w)
    right = ax_w.get_xlim()[1] * (3 if log_w else 1.1)  # room for the value labels
    ax_w.set_xlim(right=min(100.0, right) if shares else right)
    ax_w.set_yticks(range(len(order)), order)
    ax_w.set_ylim(len(order) - 0.5, -0.5)
    ax_w.set(xlabel=xlabel, ylabel="", title="per negation word")
    ax_w.tick_params(axis="y", labelsize="x-small")

    rate = {c.name: c.summary["rate_all_rows"] for c in corpora}  # null for an empty corpus
    drawable = [c for c in corpora if rate[c.name] is not None and rate[c.name] == rate[c.name]]
    gone = pl.DataFrame({"corpus": [c.name for c in corpora if c not in drawable]})
    why = "rate null/NaN (no rows)"
    notes = [left_out(gone, len(corpora), "corpus rates", why, ("corpus",))] if gone.height else []
    laion = laion_negation_rate()
    ref = 100 * laion["rate"]
    rates = [100 * rate[c.name] for c in drawable]
    span = [*rates, ref]
    log_r = style.value_axis(ax_r, span)  # log only when every rate is positive, over decades
    # room right of the marks for their value labels; a share never passes 100 %
    ax_r.set_xlim(*(min(span) / 3, max(span) * 5) if log_r else (0, max(span) * 1.35))
    ax_r.set_xlim(right=min(100.0, ax_r.get_xlim()[1]))
    _ranks(
        ax_r,
        [(i, r, palette[c.name]) for i, (c, r) in enumerate(zip(drawable, rates, strict=True))],
        _pct,
        0.7,
        log=log_r,
    )
    ax_r.axvline(ref, ls="--", lw=0.9, color=style.REFERENCE_COLOR, gid="paper")
    ax_r.set_yticks(range(len(drawable)), [sized(c).replace(" · ", "\n") for c in drawable])
    ax_r.set_ylim(len(drawable) - 0.5, -0.5)
    xlabel_r = f"% {LAION_DENOMINATOR}".replace(", ", ",\n")  # one line would not fit
    ax_r.set(xlabel=xlabel_r, ylabel="", title="captions with any negation word")
    ax_r.tick_params(axis="y", labelsize="x-small")
    handles: list = [
        Line2D([], [], ls="", marker="o", ms=3.5, color=palette[c.name], label=sized(c))
        if log_w
        else Patch(color=palette[c.name], label=sized(c))
        for c in corpora
    ]
    handles.append(
        Line2D(
            [],
            [],
            ls="--",
            lw=0.9,
            color=style.REFERENCE_COLOR,
            label=f"paper: {laion['corpus']} {ref:.2f} % of rows",
        )
    )
    # below the panels: the reference is named there, never over a bar
    fig.legend(handles=handles, fontsize="x-small", loc="outside lower center", ncols=3)
    details = [
        describe(corpora, "negation words"),
        sizes(corpora),
        "Log axes show points (values span decades); linear axes show bars from 0.",
    ]
    caption = style.headline(fig, notes=notes, title="Negation words per corpus", details=details)
    return style.save(fig, out_dir, "negscan_words", dpi, caption=caption)


def _ranked(df: pl.DataFrame, corpora: list[Corpus], key: str, title: str, ax_row) -> None:
    """One panel per corpus (titled with its name and ``n``, and its scan's options when the
    corpora's differ): counts with value labels — bars, or points on a log axis when the counts
    span decades; whole-number ticks."""
    palette = _palette(corpora)
    differ = len({options(c.summary) for c in corpora}) > 1
    for ax, c in zip(ax_row, corpora, strict=True):
        part = df.filter(pl.col("corpus") == c.name)
        if part.is_empty():
            ax.text(0.5, 0.5, "none found", ha="center", va="center", transform=ax.transAxes)
        else:
            counts = part[C.count].to_list()
            log = style.value_axis(ax, counts, counts=True)
            _ranks(
                ax,
                [(i, v, palette[c.name]) for i, v in enumerate(counts)],
                style.compact,
                0.8,
                log=log,
            )
            ax.set_xlim(right=ax.get_xlim()[1] * (4 if log else 1.1))  # room for the labels
            ax.set_yticks(range(len(counts)), part[key].to_list())
            ax.set_ylim(len(counts) - 0.5, -0.5)
        # scans with different options share no axis: each panel names its own
        ax.set(title=f"{sized(c)}\n({options(c.summary)})" if differ else sized(c))
        ax.set(xlabel=title, ylabel="")
        ax.tick_params(axis="y", labelsize="xx-small")


def top_bigrams(
    negscan_dirs: list[Path],
    out_dir: Path,
    *,
    top: int = 20,
    dpi: int = style.DEFAULT_DPI,
    labels: list[str] | None = None,
) -> list[Path]:
    """``negscan_bigrams.png/.pdf`` (+ caption): one panel per corpus, its ``top`` "negator
    next-word" bigrams by count (:func:`_ranked`)."""
    corpora = load_corpora(negscan_dirs, labels)
    df = _stack(corpora, "bigrams.parquet", S.names(S.NEGSCAN_BIGRAMS))
    df = (
        df.filter(pl.col(C.count) > 0)
        .with_columns(bigram=pl.col(C.negator) + " " + pl.col(C.next_word))
        .sort(["corpus", C.count, "bigram"], descending=[False, True, False])
        .group_by("corpus", maintain_order=True)
        .head(top)
    )
    if df.is_empty():
        raise EmptyInput(f"{', '.join(str(c.path / 'bigrams.parquet') for c in corpora)}: empty")
    fig, axes = style.new_figure(style.PAGE, 3.6, ncols=len(corpora), squeeze=False)
    _ranked(df, corpora, "bigram", "captions", axes[0])
    details = [describe(corpora, "top negator–next-word bigrams"), sizes(corpora)]
    caption = style.headline(fig, title="Top negator–next-word bigrams", details=details)
    return style.save(fig, out_dir, "negscan_bigrams", dpi, caption=caption)


def class_negations(
    negscan_dirs: list[Path],
    out_dir: Path,
    *,
    top: int = 25,
    dpi: int = style.DEFAULT_DPI,
    labels: list[str] | None = None,
) -> list[Path]:
    """``negscan_classes.png/.pdf`` (+ caption): one panel per corpus, the ``top`` classes of its
    class set most often negated (a negator followed within the scan's window by the class name;
    :func:`_ranked`)."""
    corpora = load_corpora(negscan_dirs, labels)
    df = _stack(corpora, "classes.parquet", S.names(S.NEGSCAN_CLASSES))
    df = (
        df.filter(pl.col(C.count) > 0)
        .sort(["corpus", C.count, C.class_], descending=[False, True, False])
        .group_by("corpus", maintain_order=True)
        .head(top)
    )
    if df.is_empty():
        files = ", ".join(str(c.path / "classes.parquet") for c in corpora)
        raise EmptyInput(
            f"{files}: no class negations — run negscan with --classes coco|voc|nuswide|FILE"
        )
    fig, axes = style.new_figure(style.PAGE, 3.6, ncols=len(corpora), squeeze=False)
    _ranked(df, corpora, C.class_, "captions negating the class", axes[0])
    details = [describe(corpora, "classes most often negated"), sizes(corpora)]
    caption = style.headline(fig, title="Classes most often negated", details=details)
    return style.save(fig, out_dir, "negscan_classes", dpi, caption=caption)
