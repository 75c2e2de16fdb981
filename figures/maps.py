"""Similarity-map grids from ``promptsim maps … --out DIR`` (the poster's Figure 1): per image, the
photo once and one row per class with its similarity maps for the positive and the negated prompt
and the row's colour bar.

The photo is drawn exactly as the model saw it: the view saved inside the maps directory
(``view_file``: resized and squashed or cropped), so each map cell lines up with the patch of the
photo it describes; results written before views were saved show their photo copy
(``image_file``) squashed to the grid's shape, as the model saw it then. When no photo can be
found the grid shows the maps alone and says so. The title states the feature grid (``7×7
grid``) and the transform; maps are drawn smooth (``bicubic``) or one block per cell
(``nearest``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from corpora import schema as S
from corpora.images import open_image
from corpora.runio import slug
from corpora.schema import C
from figures import style
from figures.inputs import (
    EmptyInput,
    MissingInput,
    random_weights_banner,
    read_models,
    read_table,
)

COLUMNS = S.names(S.MAPS, C.image, C.class_, C.prompt, C.text, C.npy, C.height, C.width)
OPTIONAL = S.names(S.MAPS, C.image_file, C.view_file, C.preprocess, C.image_size)
CELL = 1.35  # inches per grid cell
BAR = 0.5  # inches for a row's colour bar
CMAP = "viridis"  # perceptually uniform: equal steps in cosine look like equal steps in colour


def _resolve(value: str, base: Path) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _load_image(rows: pl.DataFrame, base: Path) -> tuple[np.ndarray | None, str | None]:
    """The image as the model saw it, as an array: its saved view (``view_file``); for results
    written before views were saved, the photo copy (``image_file``; earlier still: the path as
    written, or relative to the directory) squashed to the feature grid's shape, as the model
    saw it then. ``None`` and a note saying which file is missing: the grid then shows the maps
    alone."""
    from PIL import Image

    image = rows[C.image][0]
    view = rows[C.view_file][0] if C.view_file in rows.columns else None
    copy = rows[C.image_file][0] if C.image_file in rows.columns else None
    candidates = [base / view] if view else [base / copy] if copy else [Path(image), base / image]
    for p in candidates:
        if p.is_file():
            rgb = open_image(p)
            if not view:  # squashed to the input's shape (that of the grid)
                h, w = int(rows[C.height][0]), int(rows[C.width][0])
                side = max(rgb.size)
                rgb = rgb.resize((side, round(side * h / w)), Image.Resampling.BICUBIC)
            return np.asarray(rgb), None
    return None, f"{image}: photo not found ({candidates[0]}); its maps are drawn without it"


def _seen_as(rows: pl.DataFrame) -> str:
    """The feature grid and the transform, for the title: ``7×7 grid · crop 224 px``."""
    grid = f"{rows[C.height][0]}×{rows[C.width][0]} grid"
    if C.preprocess not in rows.columns or rows[C.preprocess][0] is None:
        return f"{grid} · squash"
    return f"{grid} · {rows[C.preprocess][0]} {rows[C.image_size][0]} px"


def _stem(image: str, used: set[str]) -> str:
    stem = "maps_" + (slug(Path(image).stem) or "image")
    out, i = stem, 1
    while out in used:
        i += 1
        out = f"{stem}_{i}"
    used.add(out)
    return out


def similarity_grids(
    maps_dir: Path,
    out_dir: Path,
    *,
    max_classes: int = 6,
    dpi: int = style.DEFAULT_DPI,
    render: str = "bicubic",
) -> list[Path]:
    """``maps_<image>.png/.pdf`` per image, titled with the image, the model, the feature grid
    and the transform: the photo once as the model saw it (when found), left of the rows; one row
    per class (its first ``max_classes``) with the map of the positive and of the negated prompt
    in a perceptually uniform colormap, drawn with matplotlib's ``render`` interpolation
    (bicubic: smooth; nearest: one block per grid cell), and the row's colour bar in cosine.
    Both maps of a row share one colour scale (their joint min–max), so their strengths
    compare."""
    maps_dir = Path(maps_dir)
    df = read_table(maps_dir / "maps.parquet", "maps", COLUMNS, optional=OPTIONAL)
    if df.is_empty():
        raise EmptyInput(f"{maps_dir / 'maps.parquet'}: no maps to draw")
    models = read_models(maps_dir)
    banner = random_weights_banner(models)
    model = ", ".join(m.label for m in models) or "model not recorded"
    written: list[Path] = []
    used: set[str] = set()
    for image in df[C.image].unique(maintain_order=True).to_list():
        rows = df.filter(pl.col(C.image) == image)
        classes = rows[C.class_].unique(maintain_order=True).to_list()[:max_classes]
        picture, missing = _load_image(rows, maps_dir)
        photo = picture is not None
        fig = style.blank_figure(CELL * (2 + photo) + BAR, CELL * len(classes) + 0.45)
        grid = fig.add_gridspec(len(classes), 2 + photo)
        if photo:  # once, beside all rows: every map is of this photo
            ax = fig.add_subplot(grid[:, 0], gid="photo")
            ax.imshow(picture)
            ax.set_title(Path(image).name, fontsize="xx-small")
            _bare(ax)
        for r, cls in enumerate(classes):
            maps = {}
            for prompt in ("positive", "negative"):
                hit = rows.filter((pl.col(C.class_) == cls) & (pl.col(C.prompt) == prompt))
                if hit.is_empty():
                    raise MissingInput(
                        f"{maps_dir / 'maps.parquet'}: no {prompt} map for image {image!r}, "
                        f"class {cls!r} — rerun `promptsim maps`"
                    )
                npy = _resolve(hit[C.npy][0], maps_dir)
                if not npy.is_file():
                    raise MissingInput(
                        f"{npy} not found — rerun `promptsim maps … --out {maps_dir}`"
                    )
                maps[prompt] = (np.load(npy).astype(np.float32).squeeze(), hit[C.text][0])
            lo = min(float(m.min()) for m, _ in maps.values())
            hi = max(float(m.max()) for m, _ in maps.values())
            cells = [fig.add_subplot(grid[r, c]) for c in (photo, photo + 1)]
            scale = {"cmap": CMAP, "vmin": lo, "vmax": hi if hi > lo else lo + 1e-6}
            for ax, (m, text) in zip(cells, maps.values(), strict=True):
                shown = ax.imshow(m, interpolation=render, **scale)
                ax.set_title(text, fontsize="xx-small")
                _bare(ax)
            cells[0].set_ylabel(str(cls), fontsize="x-small")
            bar = fig.colorbar(shown, ax=cells, fraction=0.08, pad=0.02, shrink=0.85)
            bar.set_label("cosine", fontsize="xx-small")
            bar.ax.tick_params(labelsize=4)
        details = [
            f"{Path(image).name} · {model} · {_seen_as(rows)}",
            "The photo as the model saw it; per class (rows) the similarity map of the positive "
            f"and of the negated prompt ({CMAP}, {render}); both maps of a row share its colour "
            "bar, in cosine (each row its own range).",
        ]
        caption = style.headline(
            fig,
            banner,
            [missing] if missing else [],
            title=f"{Path(image).name} · {_seen_as(rows)}",
            details=details,
        )
        written += style.save(fig, out_dir, _stem(image, used), dpi, caption=caption)
    return written


def _bare(ax) -> None:
    """No frame, ticks or grid; the axis labels stay."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
