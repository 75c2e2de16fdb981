"""Figures from ``promptsim --out DIR``: per-class cosine distributions of cos(P1, N1) (negation)
and cos(P1, P2) (paraphrase) in raw and centred space, and the per-class scatter of one against
the other.

A result with random weights says so in the title; rows without a number (centring undefined,
NaN) are left out with a note on the figure and in the output; the poster's CLIP means are never
drawn beside a sentence-transformers control."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from corpora.reference import paper_cosines
from figures import style
from figures.inputs import (
    CONTROL,
    EmptyInput,
    drop_undrawable,
    random_weights_banner,
    read_models,
    read_table,
)

COLUMNS = ("model", "pretrained", "class", "templates", "style", "pair", "space", "cosine")
PAIR_COLORS = {
    "P1-N1": style.METHOD_COLORS["negativecoop"],
    "P1-P2": style.METHOD_COLORS["dualcoop"],
}
SPACES = ("raw", "centred")
POSTER = "poster, COCO-80"  # the published table's scope (docs/METHODS.md §4.1b)
POSTER_LINES = {"P1-N1": "--", "P1-P2": ":"}
NOT_THE_POSTERS = "the poster's CLIP means are not drawn beside the sentence-transformers control"


def poster_means() -> dict[tuple[str, str], float]:
    """``{(templates, pair): mean}`` of the poster's cosine table (``single``, ``ensemble85``)."""
    return {(r["templates"], r["pair"]): r["mean"] for r in paper_cosines().iter_rows(named=True)}


def load_per_class(promptsim_dir: Path) -> pl.DataFrame:
    """``per_class.parquet`` with a ``setting`` column (templates/style, prefixed by the model when
    the file holds several)."""
    path = Path(promptsim_dir) / "per_class.parquet"
    df = read_table(path, "promptsim", COLUMNS, optional=("note",))
    if df.is_empty():
        raise EmptyInput(f"{path}: no rows to draw")
    setting = pl.col("templates") + pl.when(pl.col("style").is_not_null()).then(
        "/" + pl.col("style")
    ).otherwise(pl.lit(""))
    if df.select(pl.struct("model", "pretrained").n_unique()).item() > 1:
        setting = pl.col("model") + ":" + pl.col("pretrained") + " " + setting
    return df.with_columns(setting=setting)


def _is_control() -> pl.Expr:
    return (pl.col("pretrained") == CONTROL) | pl.col("model").str.starts_with("st:")


def _drawable(promptsim_dir: Path) -> tuple[pl.DataFrame, str | None, list[str]]:
    """The per-class rows with a cosine, the RANDOM WEIGHTS banner, and the notes: rows left out
    (centring undefined, NaN) and a control model that is not set beside the poster."""
    per_class = load_per_class(promptsim_dir)
    banner = random_weights_banner(read_models(promptsim_dir))
    df, notes = drop_undrawable(per_class, ["cosine"], "per-class cosines", ("space", "setting"))
    if df.is_empty():
        raise EmptyInput(f"{Path(promptsim_dir) / 'per_class.parquet'}: {notes[0]}")
    controls = df.filter(_is_control())["model"].unique(maintain_order=True).to_list()
    if controls:
        notes.append(f"{NOT_THE_POSTERS} ({', '.join(controls)})")
    return df, banner, notes


def _spaces(df: pl.DataFrame) -> list[str]:
    have = df["space"].unique().to_list()
    return [s for s in SPACES if s in have] + sorted(s for s in have if s not in SPACES)


def cosine_distributions(
    promptsim_dir: Path, out_dir: Path, *, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``promptsim_violin.png/.pdf``: one panel per space (raw, centred); per template set, violins
    of the per-class cosines: the paraphrase pair cos(P1,P2) and the negation pair cos(P1,N1) for
    each negation style (quartiles inside); for the poster's template sets (``single``,
    ``ensemble85``) its published means as a dashed (P1-N1) and a dotted (P1-P2) line."""
    import seaborn as sns
    from matplotlib.lines import Line2D

    df, banner, notes = _drawable(promptsim_dir)
    group = pl.col("templates")
    if df.select(pl.struct("model", "pretrained").n_unique()).item() > 1:
        group = pl.col("model") + ":" + pl.col("pretrained") + " " + group
    series = (
        pl.when(pl.col("pair") == "P1-P2")
        .then(pl.lit("P1-P2 paraphrase"))
        .otherwise(pl.col("pair") + " " + pl.col("style").fill_null(""))
    )
    df = df.with_columns(group=group, series=series)
    neg_series = sorted(s for s in df["series"].unique().to_list() if s != "P1-P2 paraphrase")
    hue_order = [*neg_series, "P1-P2 paraphrase"]
    palette = dict(zip(neg_series, sns.color_palette("flare", len(neg_series)), strict=True))
    palette["P1-P2 paraphrase"] = PAIR_COLORS["P1-P2"]
    spaces = _spaces(df)
    fig, axes = style.new_figure(style.PAGE, 2.8, ncols=len(spaces), squeeze=False)
    order = df["group"].unique(maintain_order=True).to_list()
    templates_of = dict(df.select("group", "templates").unique().iter_rows())
    control = {g for g, c in df.select("group", _is_control()).unique().iter_rows() if c}
    ref = poster_means()
    for ax, space in zip(axes[0], spaces, strict=True):
        part = df.filter(pl.col("space") == space).to_pandas()
        sns.violinplot(
            data=part,
            x="group",
            y="cosine",
            hue="series",
            order=order,
            hue_order=[h for h in hue_order if h in set(part["series"])],
            palette=palette,
            inner="quart",
            cut=0,
            linewidth=0.6,
            density_norm="width",
            ax=ax,
        )
        # the poster's means, in both panels: its space is not stated (docs/METHODS.md §4.1b)
        for i, grp in enumerate(order):
            for pair, ls in POSTER_LINES.items():
                mean = None if grp in control else ref.get((templates_of[grp], pair))
                if mean is not None:
                    ax.hlines(
                        mean,
                        i - 0.45,
                        i + 0.45,
                        colors=PAIR_COLORS[pair],
                        ls=ls,
                        lw=1.1,
                        gid=POSTER,
                    )
        ax.set(title=f"{space} text features", xlabel="", ylabel="cosine per class")
        ax.tick_params(axis="x", labelsize="x-small")
        handles, labels = ax.get_legend_handles_labels()
        for pair, ls in POSTER_LINES.items():
            if any((templates_of[g], pair) in ref for g in order if g not in control):
                handles.append(Line2D([], [], color=PAIR_COLORS[pair], ls=ls, lw=1.1))
                labels.append(f"{POSTER} mean {pair}")
        ax.legend(handles, labels, fontsize="xx-small", title=None)
    style.headline(fig, banner, notes)
    return style.save(fig, out_dir, "promptsim_violin", dpi)


def pair_table(df: pl.DataFrame) -> pl.DataFrame:
    """One row per (setting, space, class): ``negation`` = cos(P1,N1), ``paraphrase`` = cos(P1,P2).

    The paraphrase pair does not depend on the negation style; when the file stores it once per
    templates set (or identically per style) it is joined on the templates, else on the setting.
    """
    keys = ["model", "pretrained", "templates", "space", "class"]
    neg = df.filter(pl.col("pair") == "P1-N1").select(*keys, "style", "setting", negation="cosine")
    par = df.filter(pl.col("pair") == "P1-P2")
    by_templates = par.group_by(keys).agg(pl.col("cosine").n_unique().alias("k"))["k"].max()
    if by_templates is not None and by_templates == 1:
        par = par.unique(subset=keys).select(*keys, paraphrase="cosine")
        out = neg.join(par, on=keys, how="inner")
    else:
        out = neg.join(par.select(*keys, "style", paraphrase="cosine"), on=[*keys, "style"])
    if out.is_empty():
        raise EmptyInput("no class has both a P1-N1 and a P1-P2 cosine to scatter")
    return out


def cosine_scatter(
    promptsim_dir: Path, out_dir: Path, *, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``promptsim_scatter.png/.pdf``: per class, cos(P1,P2) (x) vs cos(P1,N1) (y), one panel per
    space, one colour per setting; above the diagonal the negated prompt is closer to the positive
    one than a paraphrase is (the legend gives that fraction of classes). A star in the same
    colour marks the poster's means (P1-P2, P1-N1) for each of its template sets present."""
    import seaborn as sns

    df, banner, notes = _drawable(promptsim_dir)
    pairs = pair_table(df)
    unpaired = df.filter(pl.col("pair") == "P1-N1").height - pairs.height
    if unpaired:
        notes.append(f"{unpaired} P1-N1 cosines without a P1-P2 cosine to pair with not drawn")
    spaces = _spaces(pairs)
    fig, axes = style.new_figure(style.PAGE, 3.0, ncols=len(spaces), squeeze=False)
    settings = pairs["setting"].unique(maintain_order=True).to_list()
    palette = dict(zip(settings, sns.color_palette("colorblind", len(settings)), strict=True))
    ref = poster_means()
    for ax, space in zip(axes[0], spaces, strict=True):
        part = pairs.filter(pl.col("space") == space)
        for s in settings:
            sub = part.filter(pl.col("setting") == s)
            if sub.is_empty():
                continue
            frac = (sub["negation"] > sub["paraphrase"]).mean()
            ax.scatter(
                sub["paraphrase"].to_list(),
                sub["negation"].to_list(),
                s=8,
                alpha=0.7,
                color=palette[s],
                label=f"{s} ({frac:.0%} of {sub.height} above)",
            )
        lo = min(part["negation"].min(), part["paraphrase"].min())
        hi = max(part["negation"].max(), part["paraphrase"].max())
        pad = 0.02 * (hi - lo or 1)
        ax.plot(
            [lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", lw=0.8, color=style.REFERENCE_COLOR
        )
        for t, label in (("single", "1 prompt"), ("ensemble85", "85 prompts")):
            x, y = ref.get((t, "P1-P2")), ref.get((t, "P1-N1"))
            mine = part.filter((pl.col("templates") == t) & ~_is_control())
            mine = mine["setting"].unique(maintain_order=True)
            if mine.len() and x is not None and y is not None:
                ax.scatter(
                    x,
                    y,
                    marker="*",
                    s=110,
                    color=palette[mine[0]],  # the colour of our points of that template set
                    edgecolors="black",
                    linewidths=0.6,
                    zorder=4,
                    label=f"{POSTER}: {label}",
                )
        ax.set(
            title=f"{space} text features",
            xlabel="cos(P1, P2) paraphrase",
            ylabel="cos(P1, N1) negation",
        )
        ax.legend(fontsize="xx-small", loc="upper left")
    style.headline(fig, banner, notes)
    return style.save(fig, out_dir, "promptsim_scatter", dpi)
