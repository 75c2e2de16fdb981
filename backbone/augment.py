"""The anchors' training augmentation (docs/METHODS.md §1.3), seeded: square resize →
CutoutPIL(0.5) → RandAugment (2 ops drawn from 15, magnitude 1..9, each applied with probability
0.5), with the operations and magnitudes of the ``randaugment==1.0.2`` package the anchors use.

Written from that package's description with PIL operations, not the package itself (its draws
come from the global ``random`` and ``numpy`` state). Magnitude m takes m/9 of each op's largest
value: shear 0.3 (bicubic), translate 150/331 of the side, rotate 30° (counter-clockwise only, as
the package), enhance factors 1 ± 0.9, posterize 8 − 4·m/9 bits (rounded), solarize threshold
256·(1 − m/9), the small cutout a square of round(20·m/9) pixels filled with (125, 122, 113); the
geometric ops fill with grey 128. Every draw comes from a ``random.Random`` seeded by the caller,
so a cached augmented view is reproducible.
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

# The identity of the augmentation, in the feature cache's keys: change it with any change to a
# view, so that views cached by another version are never reused.
VERSION = 2
GREY = (128, 128, 128)


def cutout(img: Image.Image, rng: random.Random, frac: float = 0.5) -> Image.Image:
    """CutoutPIL: one rectangle of ``frac`` of the width and height (rounded to the nearest
    pixel), centred at a uniform random pixel, clipped to the image, filled with a uniform random
    RGB colour (always applied)."""
    w, h = img.size
    cw, ch = int(frac * w + 0.5), int(frac * h + 0.5)
    cx, cy = rng.randrange(w), rng.randrange(h)
    box = (max(0, cx - cw // 2), max(0, cy - ch // 2), min(w, cx + cw // 2), min(h, cy + ch // 2))
    out = img.copy()
    colour = tuple(rng.randrange(256) for _ in range(3))
    ImageDraw.Draw(out).rectangle(box, fill=colour)
    return out


def _level(top: float, m: int, bottom: float = 0.0) -> float:
    """Magnitude ``m`` (1..9) of an op ranging from ``bottom`` to ``top``: the package's
    ``linspace(bottom, top, 10)[m]``, computed as it is (``m = 9`` gives ``top`` exactly)."""
    return top if m == 9 else m * ((top - bottom) / 9) + bottom


def _sign(rng: random.Random) -> int:
    return 1 if rng.random() < 0.5 else -1


def _enhance(cls):
    return lambda img, m, rng: cls(img).enhance(1 + _level(0.9, m) * _sign(rng))


def _affine(kind):
    def op(img, m, rng):
        w, h = img.size
        s = _sign(rng)
        if kind == "shearx":
            data, resample = (1, _level(0.3, m) * s, 0, 0, 1, 0), Image.Resampling.BICUBIC
        elif kind == "sheary":
            data, resample = (1, 0, 0, _level(0.3, m) * s, 1, 0), Image.Resampling.BICUBIC
        elif kind == "translatex":
            data, resample = (1, 0, _level(150 / 331, m) * w * s, 0, 1, 0), Image.Resampling.NEAREST
        else:
            data, resample = (1, 0, 0, 0, 1, _level(150 / 331, m) * h * s), Image.Resampling.NEAREST
        return img.transform(img.size, Image.Transform.AFFINE, data, resample, fillcolor=GREY)

    return op


def _small_cutout(img, m, rng):
    """A square of round(20·m/9) pixels (at least 2) centred at a uniform random pixel, clipped,
    filled with (125, 122, 113)."""
    w, h = img.size
    half = round(_level(20, m)) // 2
    cx, cy = rng.randrange(w), rng.randrange(h)
    x0, y0, x1, y1 = max(0, cx - half), max(0, cy - half), min(w, cx + half), min(h, cy + half)
    out = img.copy()
    ImageDraw.Draw(out).rectangle((x0, y0, x1 - 1, y1 - 1), fill=(125, 122, 113))
    return out


OPS = {
    "Invert": lambda img, m, rng: ImageOps.invert(img),
    "Cutout": _small_cutout,
    "Sharpness": _enhance(ImageEnhance.Sharpness),
    "AutoContrast": lambda img, m, rng: ImageOps.autocontrast(img),
    "Posterize": lambda img, m, rng: ImageOps.posterize(img, round(_level(4, m, 8))),
    "ShearX": _affine("shearx"),
    "ShearY": _affine("sheary"),
    "TranslateX": _affine("translatex"),
    "TranslateY": _affine("translatey"),
    "Rotate": lambda img, m, rng: img.rotate(_level(30, m), fillcolor=GREY),
    "Equalize": lambda img, m, rng: ImageOps.equalize(img),
    "Contrast": _enhance(ImageEnhance.Contrast),
    "Color": _enhance(ImageEnhance.Color),
    # pixels below the package's fractional threshold t are kept: below ⌈t⌉, as an integer
    "Solarize": lambda img, m, rng: ImageOps.solarize(img, math.ceil(_level(0, m, 256))),
    "Brightness": _enhance(ImageEnhance.Brightness),
}


# Hand-written, not torchvision's RandAugment: every draw comes from the caller's seeded rng, so
# a view is reproducible from (seed, epoch, image).
def rand_augment(img: Image.Image, rng: random.Random, n_ops: int = 2, p: float = 0.5):
    """``n_ops`` ops drawn uniformly from :data:`OPS`, magnitude uniform in 1..9, each kept with
    probability ``p``."""
    names = list(OPS)
    for _ in range(n_ops):
        name, m, apply = rng.choice(names), rng.randint(1, 9), rng.random() < p
        if apply:
            img = OPS[name](img, m, rng)
    return img


def train_augment(img: Image.Image, size: int, rng: random.Random) -> Image.Image:
    """Square resize to ``size``, CutoutPIL(0.5), RandAugment(2 ops, p 0.5)."""
    img = img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    return rand_augment(cutout(img, rng, 0.5), rng)
