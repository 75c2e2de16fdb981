"""Similarity maps (the poster's Figure 1): where in an image does CLIP see "A photo of a {class}",
and where "Not a photo of a {class}"?

For one image through the backbone's transform at its input size (``config.preprocess``:
``squash``, the whole image resized to a square with no crop, as the anchors' dense features; or
``crop``, the model's own eval transform, shortest side + centre crop), the dense features ``f_r``
(:meth:`~backbone.model.Backbone.dense_features`, spatial tokens only) are compared with the
L2-normalised text feature ``t`` of each prompt: ``m_r = cos(f_r, t)`` on the ``h × w`` feature
grid. The raw grid is saved as ``.npy``; the PNG shows it min–max normalised to 0–1 per map
(as CLIP-Surgery's ``get_similarity_map``), bilinearly upsampled over the image as the model saw
it (resized and cropped: each grid cell covers its own patch of it), in the perceptually uniform
viridis colour map blended half-and-half over that view, with a colour bar below it stating the
map's cosine range (its minimum at the dark end, its maximum at the bright end; also the PNG's
``Comment``). Min–max normalisation hides the absolute level: compare the raw ranges
(``min``/``max`` in ``maps.parquet``, and on each bar) across prompts, not colours.

The output directory is self-contained: each source image is copied into it as
``images/<content hash><suffix>`` and the model's view of it saved as
``views/<content hash>-<preprocess><size>.png`` (the table names both relative to the directory,
with the ``preprocess`` and input ``image_size``), so a moved or shared result still draws its
photos, exactly as the model saw them.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F

from backbone import require_images
from corpora.images import BadImageError, open_image
from corpora.runio import atomic_write_bytes, atomic_write_parquet
from corpora.schema import MAPS, C

PROMPTS = ("positive", "negative")
IMAGES_DIR = "images"  # the copies of the source images, inside the output directory
VIEWS_DIR = "views"  # each image as the model saw it (resized, cropped), inside the directory
DEFAULT_POSITIVE = "A photo of a {}"
DEFAULT_NEGATIVE = "Not a photo of a {}"


def similarity_grid(dense: torch.Tensor, text: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    """Cosine of each spatial token with each text feature: ``[K, h, w]``.

    ``dense``: ``[1 + h*w, D]`` (token 0, the global token, is dropped); ``text``: ``[K, D]``."""
    h, w = grid
    spatial = F.normalize(dense[1:].float(), dim=-1)
    if spatial.shape[0] != h * w:
        raise ValueError(f"{spatial.shape[0]} spatial tokens do not fill a {h}x{w} grid")
    sims = F.normalize(text.float().to(spatial.device), dim=-1) @ spatial.T  # [K, h*w]
    return sims.reshape(-1, h, w).cpu().numpy()


def minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-12:
        return np.zeros_like(x, dtype=np.float64)
    return (x - lo) / (hi - lo)


# matplotlib's viridis at 17 even steps, linear in between (within 6/255 of the full table)
VIRIDIS = (
    "#440154", "#48186a", "#472d7b", "#424086", "#3b528b", "#33638d", "#2c728e", "#26828e",
    "#21918c", "#1fa088", "#28ae80", "#3fbc73", "#5ec962", "#84d44b", "#addc30", "#d8e219",
    "#fde725",
)  # fmt: skip
BAR_PX, LABEL_PX = 6, 12  # the colour bar under the image, and its labels' row


def viridis(x: np.ndarray) -> np.ndarray:
    """The viridis colour map of values in [0, 1] → ``uint8 [..., 3]``."""
    anchors = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in VIRIDIS], float)
    steps = np.linspace(0.0, 1.0, len(VIRIDIS))
    x = np.clip(x, 0.0, 1.0)
    rgb = np.stack([np.interp(x, steps, anchors[:, c]) for c in range(3)], axis=-1)
    return rgb.round().astype(np.uint8)


def range_note(grid: np.ndarray) -> str:
    """What the colours of a map's PNG span: ``viridis: dark = cosine -0.123, bright = 0.456``."""
    return f"viridis: dark = cosine {float(grid.min()):.3f}, bright = {float(grid.max()):.3f}"


def overlay(image: Any, grid: np.ndarray, alpha: float = 0.5) -> Any:
    """A PIL image: ``grid`` min–max normalised, upsampled to the image, in viridis, blended over
    it; below, a colour bar labelled with the map's cosine minimum (left) and maximum (right)."""
    from PIL import Image, ImageDraw

    rgb = image.convert("RGB")
    w, h = rgb.size
    up = F.interpolate(
        torch.from_numpy(minmax(grid)).float()[None, None], size=(h, w), mode="bilinear"
    )
    heat = Image.fromarray(viridis(up[0, 0].numpy()))
    canvas = Image.new("RGB", (w, h + BAR_PX + LABEL_PX), "white")
    canvas.paste(Image.blend(rgb, heat, alpha), (0, 0))
    bar = np.repeat(viridis(np.linspace(0.0, 1.0, w))[None], BAR_PX, axis=0)
    canvas.paste(Image.fromarray(bar), (0, h))
    draw = ImageDraw.Draw(canvas)
    lo, hi = f"{float(grid.min()):.3f}", f"{float(grid.max()):.3f}"
    draw.text((1, h + BAR_PX), lo, fill="black")
    draw.text((w - 1 - draw.textlength(hi), h + BAR_PX), hi, fill="black", anchor="la")
    if draw.textlength(f"{lo} cosine {hi}") + 8 < w:
        draw.text((w / 2, h + BAR_PX), "cosine", fill="black", anchor="ma")
    return canvas


def _stems(paths: Sequence[Path]) -> list[str]:
    stems = [p.stem for p in paths]
    return [s if stems.count(s) == 1 else f"{i:03d}-{s}" for i, s in enumerate(stems)]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_maps(
    backbone: Any,
    images: Sequence[str | Path],
    class_keys: Sequence[str],
    class_names: Sequence[str],
    out_dir: str | Path,
    positive: str = DEFAULT_POSITIVE,
    negative: str = DEFAULT_NEGATIVE,
    cache: Any = None,
    progress: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Write ``.npy`` + ``.png`` per (image, class, prompt) and ``maps.parquet``; return the index.

    Files: ``OUT/<image stem>/<class key>.<positive|negative>.{npy,png}``, the image's copy
    ``OUT/images/<sha256[:16]><suffix>`` and the model's view of it
    ``OUT/views/<sha256[:16]>-<preprocess><size>.png``. ``progress(1)`` is called after each
    image."""
    for template in (positive, negative):
        if template.count("{}") != 1:
            raise ValueError(f"prompt template {template!r} must contain '{{}}' exactly once")
    out_dir = Path(out_dir)
    paths = [Path(p) for p in images]
    texts = [t.replace("{}", n) for n in class_names for t in (positive, negative)]
    require_images(backbone, "an image transform")  # first: before any text is encoded
    transform = backbone.image_transform()
    preprocessing = backbone.preprocessing()
    mode, size = preprocessing[C.preprocess], preprocessing[C.image_size]
    text_feats = backbone.encode_text(texts, cache=cache).reshape(len(class_names), 2, -1)
    records = []
    for path, stem in zip(paths, _stems(paths), strict=True):
        try:
            data = path.read_bytes()
        except OSError as err:
            raise BadImageError(f"cannot read image {path}: {err}") from err
        image = open_image(data, str(path))
        digest = hashlib.sha256(data).hexdigest()[:16]
        copy = out_dir / IMAGES_DIR / f"{digest}{path.suffix.lower()}"
        if not copy.is_file():  # named by content: the same image is stored once
            atomic_write_bytes(copy, data)
        view = backbone.view_image(image)  # what the maps are drawn over
        view_file = out_dir / VIEWS_DIR / f"{digest}-{mode}{size}.png"
        if not view_file.is_file():
            note = f"the model's view: {preprocessing['resize']}"
            atomic_write_bytes(view_file, _png_bytes(view, note))
        batch = transform(image).unsqueeze(0)
        dense = backbone.dense_features(batch)[0]
        side = math.isqrt(dense.shape[0] - 1)  # square input → square feature grid
        grid = (side, side)
        for c, (key, name) in enumerate(zip(class_keys, class_names, strict=True)):
            sims = similarity_grid(dense, text_feats[c], grid)
            for k, prompt in enumerate(PROMPTS):
                base = out_dir / _safe(stem) / f"{_safe(key)}.{prompt}"
                npy, png = Path(f"{base}.npy"), Path(f"{base}.png")
                atomic_write_bytes(npy, _npy_bytes(sims[k]))
                png_data = _png_bytes(overlay(view, sims[k]), range_note(sims[k]))
                atomic_write_bytes(png, png_data)
                records.append(
                    {
                        C.image: str(path),
                        C.image_file: str(copy.relative_to(out_dir)),
                        C.view_file: str(view_file.relative_to(out_dir)),
                        C.preprocess: mode,
                        C.image_size: size,
                        C.class_: key,
                        C.prompt: prompt,
                        C.text: (positive, negative)[k].replace("{}", name),
                        C.npy: str(npy.relative_to(out_dir)),
                        C.png: str(png.relative_to(out_dir)),
                        C.height: int(sims.shape[1]),
                        C.width: int(sims.shape[2]),
                        C.min: float(sims[k].min()),
                        C.max: float(sims[k].max()),
                    }
                )
        if progress is not None:
            progress(1)
    index = pl.DataFrame(records, schema=MAPS, orient="row")
    atomic_write_parquet(out_dir / "maps.parquet", index)
    return index


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def _png_bytes(image: Any, comment: str) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", comment)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()
