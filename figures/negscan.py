"""Figures from ``negscan … --out DIR`` outputs, one directory per corpus (named by its folder or
``--label``): per-word caption shares and the negation rate (the paper's LAION 0.47 % as a
reference), the top negated bigrams, and the class-negation counts; each titled with the scan's
lexicon and options. Log axes only where the values span decades."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from corpora import schema as S
from corpora.reference import LAION_DENOMINATOR, laion_negation_rate
from corpora.schema import C
from figures import style
from figures.inputs import EmptyInput, left_out, read_json, read_table

SUMMARY_KEYS = (C.n_rows, C.n_with_negation, "rate_all_rows", "rate_non_null")


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


def _palette(corpora: list[Corpus]) -> dict[str, tuple]:
    import seaborn as sns

    names = [c.name for c in corpora]
    return dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))


def _label_bars(ax, fmt) -> None:
    for bars in ax.containers:
        ax.bar_label(bars, labels=[fmt(b.get_width()) for b in bars], fontsize=5, padding=1.5)


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
    """``negscan_words.png/.pdf`` (scans that counted different words are refused:
    :func:`same_counting`): left, per word, the captions containing it — as a share of each
    corpus's rows when the corpora differ in size, else counts — for the ``top`` words by that
    value, one colour per corpus, value labels, log scale when the values span decades; right,
    the share of all rows with any negation per corpus beside the paper's LAION-400M 0.47 %
    (dashed, named in the legend below), on an axis that never passes 100 %."""
    import seaborn as sns
    from matplotlib.lines import Line2D

    corpora = load_corpora(negscan_dirs, labels)
    same_counting(corpora, "negscan-words")
    words = _stack(corpora, "per_word.parquet", S.names(S.NEGSCAN_PER_WORD))
    words = words.filter(pl.col(C.captions) > 0)  # a zero has no place on a log axis
    if words.is_empty():
        raise EmptyInput(f"{', '.join(str(c.path) for c in corpora)}: no negation word found")
    sizes = {c.name: c.summary[C.n_rows] for c in corpora}
    shares = len(set(sizes.values())) > 1
    if shares:  # corpora of different sizes compare by share, never by count
        n_rows = pl.col("corpus").replace_strict(sizes, return_dtype=pl.Float64)
        words = words.with_columns(drawn=100 * pl.col(C.captions) / n_rows)
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
    sns.barplot(
        data=words.to_pandas(),
        y=C.word,
        x="drawn",
        hue="corpus",
        hue_order=[c.name for c in corpora if c.name in set(words["corpus"])],
        order=order,
        palette=palette,
        orient="h",
        ax=ax_w,
        legend=False,
    )
    if style.value_axis(ax_w, words["drawn"].to_list()):
        ax_w.set_xlim(right=ax_w.get_xlim()[1] * 3)  # room for the value labels
    if shares:
        ax_w.set_xlim(right=min(100.0, ax_w.get_xlim()[1]))
    _label_bars(ax_w, fmt)
    ax_w.set(xlabel=xlabel, ylabel="", title="per negation word")
    ax_w.tick_params(axis="y", labelsize="x-small")

    all_rates = pl.DataFrame(
        {
            "corpus": [c.name for c in corpora],
            "rate": [c.summary["rate_all_rows"] for c in corpora],  # null for an empty corpus
        },
        schema={"corpus": pl.String, "rate": pl.Float64},
    )
    drawable = pl.col("rate").is_not_null() & pl.col("rate").is_not_nan()
    rates = all_rates.filter(drawable).with_columns(pl.col("rate") * 100)
    gone = all_rates.filter(~drawable)
    why = "rate null/NaN (no rows)"
    notes = (
        [left_out(gone, all_rates.height, "corpus rates", why, ("corpus",))] if gone.height else []
    )
    laion = laion_negation_rate()
    ref = 100 * laion["rate"]
    if not rates.is_empty():
        sns.barplot(
            data=rates.to_pandas(),
            y="corpus",
            x="rate",
            hue="corpus",
            palette=palette,
            orient="h",
            legend=False,
            ax=ax_r,
        )
    ax_r.axvline(ref, ls="--", lw=0.9, color=style.REFERENCE_COLOR, gid="paper")
    span = [*rates["rate"].to_list(), ref]
    if style.value_axis(ax_r, span):  # log only when every rate is positive and they span decades
        ax_r.set_xlim(min(span) / 3, max(span) * 5)
    ax_r.set_xlim(right=min(100.0, ax_r.get_xlim()[1]))  # a share never passes 100 %
    _label_bars(ax_r, _pct)
    ax_r.set(xlabel=f"% {LAION_DENOMINATOR}", ylabel="", title="captions with any negation word")
    ax_r.tick_params(axis="y", labelsize="x-small")
    handles = [
        Line2D([], [], ls="", marker="s", color=palette[c.name], label=c.name) for c in corpora
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
    style.headline(fig, notes=notes, title=describe(corpora, "negation words"))
    return style.save(fig, out_dir, "negscan_words", dpi)


def _ranked_bars(df: pl.DataFrame, corpora: list[Corpus], key: str, title: str, ax_row) -> None:
    """One panel per corpus (titled with its scan's options when the corpora's differ):
    horizontal bars, value labels, a log axis only when the counts span decades."""
    palette = _palette(corpora)
    differ = len({options(c.summary) for c in corpora}) > 1
    for ax, c in zip(ax_row, corpora, strict=True):
        part = df.filter(pl.col("corpus") == c.name)
        if part.is_empty():
            ax.text(0.5, 0.5, "none found", ha="center", va="center", transform=ax.transAxes)
        else:
            counts = part[C.count].to_list()
            ax.barh(part[key].to_list()[::-1], counts[::-1], color=palette[c.name])
            if style.value_axis(ax, counts):
                ax.set_xlim(right=max(counts) * 4)  # room for the value labels
            _label_bars(ax, style.compact)
        # scans with different options share no axis: each panel names its own
        ax.set(title=f"{c.name}\n({options(c.summary)})" if differ else c.name)
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
    """``negscan_bigrams.png/.pdf``: one panel per corpus, its ``top`` "negator next-word" bigrams
    by count (log scale only when the counts span decades)."""
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
    _ranked_bars(df, corpora, "bigram", "captions", axes[0])
    style.headline(fig, title=describe(corpora, "top negator–next-word bigrams"))
    return style.save(fig, out_dir, "negscan_bigrams", dpi)


def class_negations(
    negscan_dirs: list[Path],
    out_dir: Path,
    *,
    top: int = 25,
    dpi: int = style.DEFAULT_DPI,
    labels: list[str] | None = None,
) -> list[Path]:
    """``negscan_classes.png/.pdf``: one panel per corpus, the ``top`` classes of its class set most
    often negated (a negator followed within the scan's window by the class name; log scale only
    when the counts span decades)."""
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
    _ranked_bars(df, corpora, C.class_, "captions negating the class", axes[0])
    style.headline(fig, title=describe(corpora, "classes most often negated"))
    return style.save(fig, out_dir, "negscan_classes", dpi)
