"""Similarity-map grids from ``promptsim maps … --out DIR`` (the poster's Figure 1): per image, one
row per class, the image and its similarity maps with the positive and the negated prompt.

The photo is the copy inside the maps directory (``image_file``), so a moved result still draws
it; when it cannot be found the grid shows the maps alone and says so."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl

from figures import style
from figures.inputs import (
    EmptyInput,
    MissingInput,
    random_weights_banner,
    read_models,
    read_table,
)

COLUMNS = ("image", "class", "prompt", "text", "npy")
CELL = 1.35  # inches per grid cell


def _resolve(value: str, base: Path) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _load_image(rows: pl.DataFrame, base: Path) -> tuple[np.ndarray | None, str | None]:
    """The source image as an array, from its copy in the maps directory (``image_file``; results
    written before that column: the path as written, or relative to the directory), or ``None``
    and a note saying which file is missing — the grid then shows the maps alone."""
    from PIL import Image

    image = rows["image"][0]
    copy = rows["image_file"][0] if "image_file" in rows.columns else None
    candidates = [base / copy] if copy else [Path(image), base / image]
    for p in candidates:
        if p.is_file():
            with Image.open(p) as im:
                return np.asarray(im.convert("RGB")), None
    return None, f"{image}: photo not found ({candidates[0]}); its maps are drawn without it"


def _stem(image: str, used: set[str]) -> str:
    stem = "maps_" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(image).stem) or "image")
    out, i = stem, 1
    while out in used:
        i += 1
        out = f"{stem}_{i}"
    used.add(out)
    return out


def similarity_grids(
    maps_dir: Path, out_dir: Path, *, max_classes: int = 6, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``maps_<image>.png/.pdf`` per image: rows = its first ``max_classes`` classes; columns = the
    image (when found), the positive-prompt map and the negated-prompt map, drawn over the image.
    Both maps of a row share one colour scale (their joint min–max), so their strengths compare."""
    maps_dir = Path(maps_dir)
    df = read_table(maps_dir / "maps.parquet", "maps", COLUMNS, optional=("image_file",))
    if df.is_empty():
        raise EmptyInput(f"{maps_dir / 'maps.parquet'}: no maps to draw")
    banner = random_weights_banner(read_models(maps_dir))
    written: list[Path] = []
    used: set[str] = set()
    for image in df["image"].unique(maintain_order=True).to_list():
        rows = df.filter(pl.col("image") == image)
        classes = rows["class"].unique(maintain_order=True).to_list()[:max_classes]
        picture, missing = _load_image(rows, maps_dir)
        ncols = 3 if picture is not None else 2
        fig, axes = style.new_figure(
            CELL * ncols, CELL * len(classes) + 0.3, nrows=len(classes), ncols=ncols, squeeze=False
        )
        for ax_row, cls in zip(axes, classes, strict=True):
            maps = {}
            for prompt in ("positive", "negative"):
                hit = rows.filter((pl.col("class") == cls) & (pl.col("prompt") == prompt))
                if hit.is_empty():
                    raise MissingInput(
                        f"{maps_dir / 'maps.parquet'}: no {prompt} map for image {image!r}, "
                        f"class {cls!r} — rerun `promptsim maps`"
                    )
                npy = _resolve(hit["npy"][0], maps_dir)
                if not npy.is_file():
                    raise MissingInput(
                        f"{npy} not found — rerun `promptsim maps … --out {maps_dir}`"
                    )
                maps[prompt] = (np.load(npy).astype(np.float32).squeeze(), hit["text"][0])
            lo = min(float(m.min()) for m, _ in maps.values())
            hi = max(float(m.max()) for m, _ in maps.values())
            cells = list(ax_row)
            if picture is not None:
                cells[0].imshow(picture)
                cells[0].set_title(str(cls), fontsize="x-small")
                cells = cells[1:]
            # the colours are min–max over the row; say what they stand for in cosine
            cells[0].set_xlabel(f"row scale: cos {lo:.3f} … {hi:.3f}", fontsize="xx-small")
            for ax, (m, text) in zip(cells, maps.values(), strict=True):
                extent = None
                if picture is not None:
                    ax.imshow(picture)
                    h, w = picture.shape[:2]
                    extent = (0, w, h, 0)
                ax.imshow(
                    m,
                    cmap="jet",
                    vmin=lo,
                    vmax=hi if hi > lo else lo + 1e-6,
                    alpha=0.5 if picture is not None else 1.0,
                    extent=extent,
                    interpolation="bilinear",
                )
                ax.set_title(text, fontsize="xx-small")
            for ax in ax_row:  # no frame or ticks; the scale label stays
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                for spine in ax.spines.values():
                    spine.set_visible(False)
        style.headline(fig, banner, [missing] if missing else [], title=Path(image).name)
        written += style.save(fig, out_dir, _stem(image, used), dpi)
    return written
