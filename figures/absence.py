"""The ``promptsim absence`` figure: do negated prompts detect absence? Per class, the AUROC of the
positive prompt for presence against the AUROC of the negated prompt for absence."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from corpora import schema as S
from corpora.schema import C
from figures import style
from figures.inputs import (
    EmptyInput,
    drop_undrawable,
    random_weights_banner,
    read_json,
    read_models,
    read_table,
)

COLUMNS = S.names(S.ABSENCE_PER_CLASS, C.class_, C.variant, C.prompt, C.target, C.auroc, C.ap)
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
    out = df.select(C.variant, C.class_).unique(maintain_order=True)
    for name, (prompt, target) in wide.items():
        part = df.filter((pl.col(C.prompt) == prompt) & (pl.col(C.target) == target))
        out = out.join(
            part.select(C.variant, C.class_, pl.col(C.auroc).alias(name)),
            on=[C.variant, C.class_],
            how="left",
        )
    out, notes = drop_undrawable(
        out, ["p_presence", "n_absence"], "(variant, class) rows", (C.variant, C.class_)
    )
    if out.is_empty():
        raise EmptyInput(f"{path}: no class has both P-presence and N-absence AUROC")
    return out, notes


def describe(absence_dir: Path) -> str:
    """``VOC test, 4952 images · RN101 / openai · N = "a photo without a {}"``, from the run's
    ``summary.json`` (what an older file lacks is left out)."""
    path = Path(absence_dir) / "summary.json"
    s = read_json(path, "absence") if path.is_file() else {}
    data = " ".join([str(s.get(C.dataset) or "").upper(), str(s.get(C.split) or "")]).strip()
    if s.get(C.n_images):
        data += f", {s[C.n_images]} images"
    models = ", ".join(m.label for m in read_models(absence_dir)) or "model not recorded"
    parts = [data or "dataset not recorded", models]
    if s.get(C.negative):
        parts.append(f"N = {s[C.negative]!r}")
    return " · ".join(parts)


def absence_scatter(
    absence_dir: Path, out_dir: Path, *, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``absence_auroc.png/.pdf``: one panel per variant (global, dense); per class, AUROC of P for
    presence (x) vs AUROC of N for absence (y), with the diagonal and chance (0.5), titled with
    the dataset and the model. Below the diagonal the negated prompt detects absence worse than
    the positive prompt detects presence. (N's AUROC for presence is 1 − its AUROC for absence:
    it stays in :func:`auroc_table`, not on the figure.)"""
    df, notes = auroc_table(absence_dir)
    variants = df[C.variant].unique(maintain_order=True).to_list()
    fig, axes = style.new_figure(
        style.COLUMN * len(variants), style.COLUMN + 0.5, ncols=len(variants), squeeze=False
    )
    neg = style.METHOD_COLORS["negativecoop"]
    for ax, variant in zip(axes[0], variants, strict=True):
        part = df.filter(pl.col(C.variant) == variant)
        x = part["p_presence"].to_list()
        ax.scatter(x, part["n_absence"].to_list(), s=14, color=neg, zorder=3)
        if part.height <= MAX_LABELS:
            for row in part.iter_rows(named=True):
                px, py = row["p_presence"], row["n_absence"]
                right, top = px > 0.75, py > 0.9  # near the frame: write the label inwards
                ax.annotate(
                    str(row[C.class_]),
                    (px, py),
                    xytext=(-2 if right else 2, -2 if top else 2),
                    textcoords="offset points",
                    ha="right" if right else "left",
                    va="top" if top else "bottom",
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
            ylabel="AUROC of N for absence",
        )
    details = [
        describe(absence_dir),
        "One point per class; dashed: y = x; dotted: chance (0.5). Below the diagonal the negated "
        "prompt detects absence worse than the positive prompt detects presence.",
    ]
    banner = random_weights_banner(read_models(absence_dir))
    caption = style.headline(
        fig, banner, notes, title="Does the negated prompt detect absence?", details=details
    )
    return style.save(fig, out_dir, "absence_auroc", dpi, caption=caption)
