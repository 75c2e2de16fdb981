"""Reading images: every image notclip encodes or draws is opened by :func:`open_image` (a file or
its bytes) or converted by :func:`to_rgb` (a decoded image, e.g. from a Hugging Face dataset), and
comes out as an 8-bit RGB PIL image.

- 8-bit modes go through PIL's ``convert("RGB")`` (palettes applied, alpha dropped, as CLIP's own
  preprocessing does).
- 16-bit grayscale (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``, and a PNG that an older Pillow opens
  as ``I``) is scaled to 8 bits: ``v → round(v · 255 / 65535)``, so 65535 is white (PIL's own
  conversion clips every value above 255 to white).
- Images whose pixels have no defined white point are refused: 32-bit integer (``I``, other than
  a PNG's) and floating-point (``F``) images; so is a mode PIL cannot convert to RGB.
- A file that cannot be decoded (missing, truncated, not an image), and a decompression bomb (more
  than twice PIL's ``Image.MAX_IMAGE_PIXELS``, 179 million pixels by default), is
  :class:`BadImageError`: one line naming the file, which ``--skip-bad-images`` turns into a
  skipped, listed image where a command offers it.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


class BadImageError(ValueError):
    """An image is missing, cannot be decoded, or has pixels that cannot be read as 8-bit RGB."""


def _decode_errors() -> tuple[type[BaseException], ...]:
    """What PIL raises on a file it cannot decode (its messages name the problem)."""
    from PIL import Image

    return (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
            Image.DecompressionBombError)  # fmt: skip


def to_rgb(image: Any, name: str = "image") -> Any:
    """``image`` (a PIL image of any mode) as a new 8-bit RGB image (see the module docstring);
    :class:`BadImageError` naming ``name`` when its pixels have no 8-bit reading."""
    from PIL import Image

    try:
        image.load()  # decoded here (PIL opens lazily): a damaged file fails now, named
    except _decode_errors() as exc:
        raise BadImageError(f"cannot read image {name}: {exc}") from exc
    mode = image.mode
    if mode in SIXTEEN_BIT or (mode == "I" and image.format == "PNG"):
        values = np.asarray(image).astype(np.uint32)
        scaled = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(scaled).convert("RGB")
    if mode in ("I", "F"):
        kind = "32-bit integer" if mode == "I" else "floating-point"
        raise BadImageError(
            f"image {name}: {kind} pixels (mode {mode}) have no defined white point; convert it "
            "to an 8- or 16-bit image first"
        )
    try:
        return image.convert("RGB")
    except ValueError as exc:  # a mode PIL has no conversion to RGB for
        raise BadImageError(f"image {name}: mode {mode} cannot be read as RGB ({exc})") from exc


def open_image(source: str | Path | bytes, name: str | None = None) -> Any:
    """The image in a file (a path) or in its ``bytes`` as 8-bit RGB (:func:`to_rgb`);
    :class:`BadImageError` ``cannot read image NAME: …`` when it cannot be decoded (``name``: what
    the message calls it, by default the path)."""
    from PIL import Image, UnidentifiedImageError

    name = name if name is not None else str(source)
    try:
        opened = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except UnidentifiedImageError:
        raise BadImageError(f"cannot read image {name}: not an image format PIL reads") from None
    except _decode_errors() as exc:
        raise BadImageError(f"cannot read image {name}: {exc}") from exc
    with opened:
        return to_rgb(opened, name)
