"""Figures from ``negscan … --out DIR`` outputs, one directory per corpus: per-word caption counts
and the negation rate (log scales, the paper's LAION 0.47 % as a reference), the top negated
bigrams, and the class-negation counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from corpora.reference import laion_negation_rate
from figures import style
from figures.inputs import EmptyInput, left_out, read_json, read_table

SUMMARY_KEYS = ("n_rows", "n_with_negation", "rate_all_rows", "rate_non_null")


@dataclass(frozen=True)
class Corpus:
    name: str
    path: Path
    summary: dict


def load_corpora(dirs: list[Path]) -> list[Corpus]:
    """Each directory's ``summary.json``, named by its ``corpus`` (``(synthetic)`` marked), made
    unique with the directory name when two directories scan the same corpus."""
    out: list[Corpus] = []
    for d in map(Path, dirs):
        summary = read_json(d / "summary.json", "negscan", SUMMARY_KEYS)
        name = str(summary.get("corpus") or d.name)
        if summary.get("synthetic"):
            name += " (synthetic)"
        out.append(Corpus(name, d, summary))
    names = [c.name for c in out]
    return [
        Corpus(f"{c.name} [{c.path.name}]", c.path, c.summary) if names.count(c.name) > 1 else c
        for c in out
    ]


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


def word_counts(
    negscan_dirs: list[Path], out_dir: Path, *, top: int = 25, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``negscan_words.png/.pdf``: left, captions containing each word (the ``top`` words by total
    captions, log scale, one colour per corpus); right, the share of all rows with any negation
    per corpus (log scale) beside the paper's LAION-400M 0.47 %."""
    import seaborn as sns

    corpora = load_corpora(negscan_dirs)
    words = _stack(corpora, "per_word.parquet", ("word", "captions", "occurrences"))
    words = words.filter(pl.col("captions") > 0)  # a zero has no place on a log axis
    if words.is_empty():
        raise EmptyInput(f"{', '.join(str(c.path) for c in corpora)}: no negation word found")
    order = (
        words.group_by("word")
        .agg(pl.col("captions").sum())
        .sort(["captions", "word"], descending=[True, False])
        .head(top)["word"]
        .to_list()
    )
    palette = _palette(corpora)
    fig, (ax_w, ax_r) = style.new_figure(style.PAGE, 3.6, ncols=2, width_ratios=[1.6, 1])
    sns.barplot(
        data=words.filter(pl.col("word").is_in(order)).to_pandas(),
        y="word",
        x="captions",
        hue="corpus",
        order=order,
        palette=palette,
        orient="h",
        ax=ax_w,
    )
    style.log_axis(ax_w)
    ax_w.set(xlabel="captions containing the word", ylabel="", title="per-word caption counts")
    ax_w.tick_params(axis="y", labelsize="x-small")
    ax_w.legend(fontsize="x-small", title=None)

    all_rates = pl.DataFrame(
        {
            "corpus": [c.name for c in corpora],
            "rate": [c.summary["rate_all_rows"] for c in corpora],  # null for an empty corpus
        },
        schema={"corpus": pl.String, "rate": pl.Float64},
    )
    drawable = (pl.col("rate") > 0).fill_null(False) & pl.col("rate").is_not_nan()
    rates = all_rates.filter(drawable).with_columns(pl.col("rate") * 100)
    gone = all_rates.filter(~drawable)
    why = "rate null/NaN (no rows) or 0 (no place on a log axis)"
    notes = (
        [left_out(gone, all_rates.height, "corpus rates", why, ("corpus",))] if gone.height else []
    )
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
    laion = laion_negation_rate()
    ax_r.axvline(100 * laion["rate"], ls="--", lw=0.9, color=style.REFERENCE_COLOR)
    ax_r.annotate(
        f"paper: {laion['corpus']} {100 * laion['rate']:.2f} %",
        (100 * laion["rate"], 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, -10),
        textcoords="offset points",
        fontsize="x-small",
        color=style.REFERENCE_COLOR,
    )
    style.log_axis(ax_r)
    span = [*rates["rate"].to_list(), 100 * laion["rate"]]
    ax_r.set_xlim(min(span) / 10, max(span) * 10)
    ax_r.set(xlabel="% of all rows", ylabel="", title="captions with a negation word")
    ax_r.tick_params(axis="y", labelsize="x-small")
    style.headline(fig, notes=notes)
    return style.save(fig, out_dir, "negscan_words", dpi)


def _ranked_bars(df: pl.DataFrame, corpora: list[Corpus], key: str, title: str, ax_row) -> None:
    palette = _palette(corpora)
    for ax, c in zip(ax_row, corpora, strict=True):
        part = df.filter(pl.col("corpus") == c.name)
        if part.is_empty():
            ax.text(0.5, 0.5, "none found", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.barh(part[key].to_list()[::-1], part["count"].to_list()[::-1], color=palette[c.name])
            style.log_axis(ax)
        ax.set(title=f"{c.name}", xlabel=title, ylabel="")
        ax.tick_params(axis="y", labelsize="xx-small")


def top_bigrams(
    negscan_dirs: list[Path], out_dir: Path, *, top: int = 20, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``negscan_bigrams.png/.pdf``: one panel per corpus, its ``top`` "negator next-word" bigrams
    by count (log scale)."""
    corpora = load_corpora(negscan_dirs)
    df = _stack(corpora, "bigrams.parquet", ("negator", "next_word", "count"))
    df = (
        df.filter(pl.col("count") > 0)
        .with_columns(bigram=pl.col("negator") + " " + pl.col("next_word"))
        .sort(["corpus", "count", "bigram"], descending=[False, True, False])
        .group_by("corpus", maintain_order=True)
        .head(top)
    )
    if df.is_empty():
        raise EmptyInput(f"{', '.join(str(c.path / 'bigrams.parquet') for c in corpora)}: empty")
    fig, axes = style.new_figure(style.PAGE, 3.6, ncols=len(corpora), squeeze=False)
    _ranked_bars(df, corpora, "bigram", "captions", axes[0])
    return style.save(fig, out_dir, "negscan_bigrams", dpi)


def class_negations(
    negscan_dirs: list[Path], out_dir: Path, *, top: int = 25, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``negscan_classes.png/.pdf``: one panel per corpus, the ``top`` classes most often negated
    (a negator followed within the scan's window by the class name; log scale)."""
    corpora = load_corpora(negscan_dirs)
    df = _stack(corpora, "classes.parquet", ("class", "count"))
    df = (
        df.filter(pl.col("count") > 0)
        .sort(["corpus", "count", "class"], descending=[False, True, False])
        .group_by("corpus", maintain_order=True)
        .head(top)
    )
    if df.is_empty():
        files = ", ".join(str(c.path / "classes.parquet") for c in corpora)
        raise EmptyInput(
            f"{files}: no class negations — run negscan with --classes coco|voc|nuswide|FILE"
        )
    fig, axes = style.new_figure(style.PAGE, 3.6, ncols=len(corpora), squeeze=False)
    _ranked_bars(df, corpora, "class", "captions negating the class", axes[0])
    return style.save(fig, out_dir, "negscan_classes", dpi)
