"""The ``promptsim absence`` figure: do negated prompts detect absence? Per class, the AUROC of the
positive prompt for presence against the AUROC of the negated prompt for absence."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from figures import style
from figures.inputs import (
    EmptyInput,
    drop_undrawable,
    random_weights_banner,
    read_models,
    read_table,
)

COLUMNS = ("class", "variant", "prompt", "target", "auroc", "ap")
MAX_LABELS = 25  # classes are named on the plot when there are at most this many


def auroc_table(absence_dir: Path) -> tuple[pl.DataFrame, list[str]]:
    """One row per (variant, class): ``p_presence`` (AUROC of P for presence), ``n_absence`` (N for
    absence) and ``n_presence`` (N for presence; > 0.5 means the negated prompt fires on the
    object), the last null when the file does not hold it; and a note on the classes left out
    (AUROC undefined: the class is in every image or in none)."""
    path = Path(absence_dir) / "per_class.parquet"
    df = read_table(path, "absence", COLUMNS)
    wide = {
        "p_presence": ("P", "presence"),
        "n_absence": ("N", "absence"),
        "n_presence": ("N", "presence"),
    }
    out = df.select("variant", "class").unique(maintain_order=True)
    for name, (prompt, target) in wide.items():
        part = df.filter((pl.col("prompt") == prompt) & (pl.col("target") == target))
        out = out.join(
            part.select("variant", "class", pl.col("auroc").alias(name)),
            on=["variant", "class"],
            how="left",
        )
    out, notes = drop_undrawable(
        out, ["p_presence", "n_absence"], "(variant, class) rows", ("variant", "class")
    )
    if out.is_empty():
        raise EmptyInput(f"{path}: no class has both P-presence and N-absence AUROC")
    return out, notes


def absence_scatter(
    absence_dir: Path, out_dir: Path, *, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``absence_auroc.png/.pdf``: one panel per variant (global, dense); per class, AUROC of P for
    presence (x) vs AUROC of N for absence (filled) and of N for presence (hollow), with the
    diagonal and chance (0.5). Below the diagonal the negated prompt detects absence worse than
    the positive prompt detects presence."""
    df, notes = auroc_table(absence_dir)
    variants = df["variant"].unique(maintain_order=True).to_list()
    fig, axes = style.new_figure(
        style.COLUMN * len(variants), style.COLUMN + 0.7, ncols=len(variants), squeeze=False
    )
    pos, neg = style.METHOD_COLORS["positivecoop"], style.METHOD_COLORS["negativecoop"]
    for ax, variant in zip(axes[0], variants, strict=True):
        part = df.filter(pl.col("variant") == variant)
        x = part["p_presence"].to_list()
        ax.scatter(x, part["n_absence"].to_list(), s=14, color=neg, label="N for absence")
        if part["n_presence"].is_not_null().any():
            sub = part.drop_nulls("n_presence")
            ax.scatter(
                sub["p_presence"].to_list(),
                sub["n_presence"].to_list(),
                s=14,
                facecolors="none",
                edgecolors=pos,
                label="N for presence",
            )
        if part.height <= MAX_LABELS:
            for row in part.iter_rows(named=True):
                ax.annotate(
                    str(row["class"]),
                    (row["p_presence"], row["n_absence"]),
                    xytext=(2, 2),
                    textcoords="offset points",
                    fontsize=5,
                )
        ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color=style.REFERENCE_COLOR)
        ax.axhline(0.5, ls=":", lw=0.8, color=style.REFERENCE_COLOR)
        ax.axvline(0.5, ls=":", lw=0.8, color=style.REFERENCE_COLOR)
        ax.set_box_aspect(1)  # square panels; aspect="equal" made constrained layout cut titles
        ax.set(
            xlim=(-0.03, 1.03),  # AUROC 0 and 1 happen (few images): keep those points whole
            ylim=(-0.03, 1.03),
            title=f"{variant}",
            xlabel="AUROC of P for presence",
            ylabel="AUROC of N",
        )
    # one legend below the panels: inside, it would sit on points
    fig.legend(
        *axes[0][0].get_legend_handles_labels(),
        fontsize="x-small",
        loc="outside lower center",
        ncols=2,
    )
    style.headline(fig, random_weights_banner(read_models(absence_dir)), notes)
    return style.save(fig, out_dir, "absence_auroc", dpi)
