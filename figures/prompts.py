"""Figures from ``promptsim --out DIR``: per-class cosine distributions of cos(P1, N1) (negation)
and cos(P1, P2) (paraphrase) in raw and centred space, and the per-class scatter of one against
the other.

A result with random weights says so in the title; rows without a number (centring undefined,
NaN) are left out with a note on the figure and in the output; the poster's CLIP means are never
drawn beside a sentence-transformers control."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import polars as pl

from corpora import schema as S
from corpora.labels import model_label_column
from corpora.reference import paper_cosines
from corpora.schema import C
from figures import style
from figures.inputs import (
    CONTROL,
    EmptyInput,
    drop_undrawable,
    random_weights_banner,
    read_json,
    read_models,
    read_table,
)

COLUMNS = S.names(
    S.PROMPTSIM_PER_CLASS,
    C.model,
    C.pretrained,
    C.class_,
    C.templates,
    C.style,
    C.pair,
    C.space,
    C.cosine,
)
SPACES = ("raw", "centred")
POSTER = "poster, COCO-80"  # the published table's scope (docs/METHODS.md §4.1b)
POSTER_CLASSES = "coco"  # the class set its means were computed over: drawn only over that one
POSTER_LINES = {"P1-N1": "--", "P1-P2": ":"}
NOT_THE_POSTERS = "the poster's CLIP means are not drawn beside the sentence-transformers control"
ABOVE = (
    "% above the diagonal: share of classes with cos(P1,N1) > cos(P1,P2),\n"
    "i.e. the negated prompt closer to P1 than a paraphrase is"
)


def poster_means() -> dict[tuple[str, str], float]:
    """``{(templates, pair): mean}`` of the poster's cosine table (``single``, ``ensemble85``)."""
    return {(r[C.templates], r[C.pair]): r["mean"] for r in paper_cosines().iter_rows(named=True)}


def load_per_class(promptsim_dir: Path) -> pl.DataFrame:
    """``per_class.parquet`` with a ``setting`` column (templates/style, prefixed by the model when
    the file holds several)."""
    path = Path(promptsim_dir) / "per_class.parquet"
    df = read_table(path, "promptsim", COLUMNS, optional=S.names(S.PROMPTSIM_PER_CLASS, C.note))
    if df.is_empty():
        raise EmptyInput(f"{path}: no rows to draw")
    setting = pl.col(C.templates) + pl.when(pl.col(C.style).is_not_null()).then(
        "/" + pl.col(C.style)
    ).otherwise(pl.lit(""))
    if df.select(pl.struct(C.model, C.pretrained).n_unique()).item() > 1:
        setting = model_label_column(pl.col(C.model), pl.col(C.pretrained)) + " · " + setting
    return df.with_columns(setting=setting)


def _is_control() -> pl.Expr:
    return (pl.col(C.pretrained) == CONTROL) | pl.col(C.model).str.starts_with("st:")


def _drawable(promptsim_dir: Path) -> tuple[pl.DataFrame, str | None, list[str], str, bool]:
    """The per-class rows with a cosine, the RANDOM WEIGHTS banner, the notes (rows left out —
    centring undefined, NaN —, a control model not set beside the poster, a class set that is not
    the poster's), the title (models, class set) and whether the poster's COCO-80 means belong
    on the figure (only over a COCO run: they were computed over COCO's 80 classes)."""
    per_class = load_per_class(promptsim_dir)
    banner = random_weights_banner(read_models(promptsim_dir))
    summary = read_json(Path(promptsim_dir) / "summary.json", "promptsim")
    classes = summary.get(C.classes)
    df, notes = drop_undrawable(per_class, [C.cosine], "per-class cosines", (C.space, "setting"))
    if df.is_empty():
        raise EmptyInput(f"{Path(promptsim_dir) / 'per_class.parquet'}: {notes[0]}")
    controls = df.filter(_is_control())[C.model].unique(maintain_order=True).to_list()
    if controls:
        notes.append(f"{NOT_THE_POSTERS} ({', '.join(controls)})")
    coco = classes == POSTER_CLASSES
    if not coco:
        notes.append(
            f"the poster's COCO-80 means are not drawn: this run's class set is "
            f"{classes or 'not recorded'}"
        )
    models = df.select(model_label_column(pl.col(C.model), pl.col(C.pretrained)))
    models = models.unique(maintain_order=True)
    n = summary.get(C.n_classes, per_class[C.class_].n_unique())
    title = f"{', '.join(models.to_series().to_list())} · classes: {classes or '?'} ({n})"
    return df, banner, notes, title, coco


def _spaces(df: pl.DataFrame) -> list[str]:
    have = df[C.space].unique().to_list()
    return [s for s in SPACES if s in have] + sorted(s for s in have if s not in SPACES)


def cosine_distributions(
    promptsim_dir: Path, out_dir: Path, *, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``promptsim_violin.png/.pdf``: one panel per space (raw, centred); per template set, violins
    of the per-class cosines: the paraphrase pair cos(P1,P2) and the negation pair cos(P1,N1) for
    each negation style (quartiles inside); for the poster's template sets (``single``,
    ``ensemble85``) its published means as a dashed (P1-N1) and a dotted (P1-P2) black line, over
    a COCO run only. One legend, below the panels."""
    import seaborn as sns
    from matplotlib.lines import Line2D

    df, banner, notes, title, coco = _drawable(promptsim_dir)
    group = pl.col(C.templates)
    if df.select(pl.struct(C.model, C.pretrained).n_unique()).item() > 1:
        group = pl.col(C.model) + ":" + pl.col(C.pretrained) + " " + group
    series = (
        pl.when(pl.col(C.pair) == "P1-P2")
        .then(pl.lit("P1-P2 paraphrase"))
        .otherwise(pl.col(C.pair) + " " + pl.col(C.style).fill_null(""))
    )
    df = df.with_columns(group=group, series=series)
    styles = dict(df.select("series", C.style).unique("series").iter_rows())
    neg_series = sorted(s for s in styles if s != "P1-P2 paraphrase")
    hue_order = [*neg_series, "P1-P2 paraphrase"]
    # the settings' colours of every figure (figures.style)
    palette = {s: style.setting_color(str(styles[s])) for s in neg_series}
    palette["P1-P2 paraphrase"] = style.setting_color("paraphrase")
    spaces = _spaces(df)
    fig, axes = style.new_figure(style.PAGE, 2.8, ncols=len(spaces), squeeze=False)
    order = df["group"].unique(maintain_order=True).to_list()
    templates_of = dict(df.select("group", C.templates).unique().iter_rows())
    control = {g for g, c in df.select("group", _is_control()).unique().iter_rows() if c}
    ref = poster_means() if coco else {}
    legend: dict[str, object] = {}
    for ax, space in zip(axes[0], spaces, strict=True):
        part = df.filter(pl.col(C.space) == space).to_pandas()
        sns.violinplot(
            data=part,
            x="group",
            y=C.cosine,
            hue="series",
            order=order,
            hue_order=[h for h in hue_order if h in set(part["series"])],
            palette=palette,
            saturation=1,  # the palette's colours as they are, as in every other figure
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
                        colors="black",
                        ls=ls,
                        lw=1.1,
                        gid=POSTER,
                    )
        ax.set(title=f"{space} text features", xlabel="", ylabel="cosine per class")
        ax.tick_params(axis="x", labelsize="x-small")
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(text, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for pair, ls in POSTER_LINES.items():
        if any((templates_of[g], pair) in ref for g in order if g not in control):
            legend[f"{POSTER} mean {pair}"] = Line2D([], [], color="black", ls=ls, lw=1.1)
    # below the panels: a legend inside would sit on the violins
    labels = [t for t in hue_order if t in legend] + [t for t in legend if t not in hue_order]
    fig.legend(
        [legend[t] for t in labels], labels, fontsize="x-small", loc="outside lower center", ncols=4
    )
    details = [
        title,
        "Violins: the per-class cosines of each pair (quartiles inside); colours: the paraphrase "
        "pair and each negation style, as in every figure.",
    ]
    if any(isinstance(h, Line2D) for h in legend.values()):
        details.append(
            f"Black lines: the {POSTER} means (dashed P1-N1, dotted P1-P2), in both panels: the "
            "poster does not say which space it used."
        )
    caption = style.headline(fig, banner, notes, title="Prompt cosines per class", details=details)
    return style.save(fig, out_dir, "promptsim_violin", dpi, caption=caption)


def pair_table(df: pl.DataFrame) -> pl.DataFrame:
    """One row per (setting, space, class): ``negation`` = cos(P1,N1), ``paraphrase`` = cos(P1,P2).

    The paraphrase pair does not depend on the negation style; when the file stores it once per
    templates set (or identically per style) it is joined on the templates, else on the setting.
    """
    keys = [C.model, C.pretrained, C.templates, C.space, C.class_]
    neg = df.filter(pl.col(C.pair) == "P1-N1").select(*keys, C.style, "setting", negation=C.cosine)
    par = df.filter(pl.col(C.pair) == "P1-P2")
    by_templates = par.group_by(keys).agg(pl.col(C.cosine).n_unique().alias("k"))["k"].max()
    if by_templates is not None and by_templates == 1:
        par = par.unique(subset=keys).select(*keys, paraphrase=C.cosine)
        out = neg.join(par, on=keys, how="inner")
    else:
        out = neg.join(par.select(*keys, C.style, paraphrase=C.cosine), on=[*keys, C.style])
    if out.is_empty():
        raise EmptyInput("no class has both a P1-N1 and a P1-P2 cosine to scatter")
    return out


def cosine_scatter(
    promptsim_dir: Path, out_dir: Path, *, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``promptsim_scatter.png/.pdf``: per class, cos(P1,P2) (x) vs cos(P1,N1) (y), one square
    panel per space, colour = the negation style and marker = the template set (as in every
    figure), the diagonal across the whole axis range; above it the negated prompt is closer to
    the positive one than a paraphrase is (the legend, below the panels, gives that share of
    classes per space). Over a COCO run, a large black-edged marker of its template set, in the
    not-prefix colour, marks the poster's means (P1-P2, P1-N1) for each template set present."""
    from matplotlib.lines import Line2D

    df, banner, notes, title, coco = _drawable(promptsim_dir)
    pairs = pair_table(df)
    unpaired = df.filter(pl.col(C.pair) == "P1-N1").height - pairs.height
    if unpaired:
        notes.append(f"{unpaired} P1-N1 cosines without a P1-P2 cosine to pair with not drawn")
    spaces = _spaces(pairs)
    fig, axes = style.new_figure(style.PAGE, 4.4, ncols=len(spaces), squeeze=False)
    settings = pairs["setting"].unique(maintain_order=True).to_list()
    # colour: the negation style (figures.style, as in every figure); marker: the template set
    of = {r["setting"]: r for r in pairs.unique("setting").iter_rows(named=True)}
    palette = {s: style.setting_color(str(of[s][C.style])) for s in settings}
    markers = {s: style.template_marker(str(of[s][C.templates])) for s in settings}
    ref = poster_means() if coco else {}
    above: dict[str, list[str]] = {s: [] for s in settings}
    stars: dict[str, Line2D] = {}
    for ax, space in zip(axes[0], spaces, strict=True):
        part = pairs.filter(pl.col(C.space) == space)
        xs, ys = part["paraphrase"].to_list(), part["negation"].to_list()
        for s in settings:
            sub = part.filter(pl.col("setting") == s)
            if sub.is_empty():
                continue
            frac = cast(float, (sub["negation"] > sub["paraphrase"]).mean())
            above[s].append(f"{frac:.0%} of {sub.height} {space}")
            ax.scatter(
                sub["paraphrase"].to_list(),
                sub["negation"].to_list(),
                s=10,
                alpha=0.8,
                color=palette[s],
                marker=markers[s],
            )
        for t, label in (("single", "1 prompt"), ("ensemble85", "85 prompts")):
            x, y = ref.get((t, "P1-P2")), ref.get((t, "P1-N1"))
            mine = part.filter((pl.col(C.templates) == t) & ~_is_control())["setting"]
            mine = mine.unique(maintain_order=True)
            if mine.len() and x is not None and y is not None:
                # the poster's N1 is "Not a photo of a {}": the not-prefix style's colour
                color = style.setting_color("not-prefix")
                star: dict[str, Any] = {
                    "marker": style.template_marker(t),
                    "color": color,
                    "mec": "black",
                }
                ax.plot(x, y, ls="", ms=8, mew=1.0, zorder=4, gid=POSTER, **star)
                stars[f"{POSTER}: {label}"] = Line2D([], [], ls="", ms=6, mew=1.0, **star)
                xs.append(x)
                ys.append(y)
        # the diagonal spans the whole (square) axis range, stars included
        lo, hi = min(*xs, *ys), max(*xs, *ys)
        pad = 0.04 * (hi - lo or 1)
        lim = (lo - pad, hi + pad)
        ax.plot(lim, lim, ls="--", lw=0.8, color=style.REFERENCE_COLOR, gid="diagonal")
        ax.set_box_aspect(1)
        ax.set(
            xlim=lim,
            ylim=lim,
            title=f"{space} text features",
            xlabel="cos(P1, P2) paraphrase",
            ylabel="cos(P1, N1) negation",
        )
    handles = [
        Line2D(
            [], [], ls="", marker=markers[s], ms=4, color=palette[s], label=f"{s}: {', '.join(a)}"
        )
        for s, a in above.items()
        if a
    ]
    handles += [Line2D([], [], ls="--", lw=0.8, color=style.REFERENCE_COLOR, label="y = x")]
    for t, h in stars.items():
        h.set_label(t)
        handles.append(h)
    # below the panels: a legend inside would sit on points
    fig.legend(
        handles=handles,
        fontsize="x-small",
        title=ABOVE,
        title_fontsize="x-small",
        loc="outside lower center",
        ncols=2,
    )
    details = [
        title,
        "One point per class: colour = negation style, marker = template set (as in every "
        "figure); dashed: y = x.",
        ABOVE.replace("\n", " "),
    ]
    if stars:
        details.append(
            f"Large black-edged markers: the {POSTER} means (P1-P2, P1-N1) of its template sets "
            "(marker = template set)."
        )
    caption = style.headline(
        fig, banner, notes, title="Negation vs paraphrase cosine", details=details
    )
    return style.save(fig, out_dir, "promptsim_scatter", dpi, caption=caption)
