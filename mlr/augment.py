"""The anchors' training augmentation (docs/METHODS.md §1.3), seeded: square resize →
CutoutPIL(0.5) → RandAugment (2 ops drawn from 15, magnitude 1..9, each applied with probability
0.5).

Written from the description with PIL operations (no third-party RandAugment). Magnitude ranges at
m = 10 (scaled linearly by m/10, as in the AutoAugment table): shear 0.3, translate 45 % of the
side, rotate 30°, enhance factors 1 ± 0.9, posterize down to 4 bits, solarize threshold 256 → 0,
cutout 20 % of the side. Every draw comes from a ``random.Random`` seeded by the caller, so a cached
augmented view is reproducible.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageEnhance, ImageOps


def cutout(img: Image.Image, rng: random.Random, frac: float = 0.5) -> Image.Image:
    """One ``frac·W × frac·H`` rectangle centred at a uniform random pixel, clipped to the image,
    filled with a uniform random RGB colour (always applied)."""
    w, h = img.size
    cw, ch = int(frac * w), int(frac * h)
    cx, cy = rng.randrange(w), rng.randrange(h)
    box = (max(0, cx - cw // 2), max(0, cy - ch // 2), min(w, cx + cw // 2), min(h, cy + ch // 2))
    out = img.copy()
    colour = tuple(rng.randrange(256) for _ in range(3))
    ImageDraw.Draw(out).rectangle(box, fill=colour)
    return out


def _sign(rng: random.Random) -> int:
    return 1 if rng.random() < 0.5 else -1


def _enhance(cls):
    return lambda img, m, rng: cls(img).enhance(1.0 + _sign(rng) * 0.9 * m / 10)


def _affine(kind):
    def op(img, m, rng):
        w, h = img.size
        s = _sign(rng)
        if kind == "shearx":
            data = (1, s * 0.3 * m / 10, 0, 0, 1, 0)
        elif kind == "sheary":
            data = (1, 0, 0, s * 0.3 * m / 10, 1, 0)
        elif kind == "translatex":
            data = (1, 0, s * 0.45 * m / 10 * w, 0, 1, 0)
        else:
            data = (1, 0, 0, 0, 1, s * 0.45 * m / 10 * h)
        return img.transform(img.size, Image.Transform.AFFINE, data, fillcolor=(128, 128, 128))

    return op


def _small_cutout(img, m, rng):
    return cutout(img, rng, frac=0.2 * m / 10)


OPS = {
    "Invert": lambda img, m, rng: ImageOps.invert(img),
    "Cutout": _small_cutout,
    "Sharpness": _enhance(ImageEnhance.Sharpness),
    "AutoContrast": lambda img, m, rng: ImageOps.autocontrast(img),
    "Posterize": lambda img, m, rng: ImageOps.posterize(img, 8 - round(4 * m / 10)),
    "ShearX": _affine("shearx"),
    "ShearY": _affine("sheary"),
    "TranslateX": _affine("translatex"),
    "TranslateY": _affine("translatey"),
    "Rotate": lambda img, m, rng: img.rotate(_sign(rng) * 30 * m / 10, fillcolor=(128, 128, 128)),
    "Equalize": lambda img, m, rng: ImageOps.equalize(img),
    "Contrast": _enhance(ImageEnhance.Contrast),
    "Color": _enhance(ImageEnhance.Color),
    "Solarize": lambda img, m, rng: ImageOps.solarize(img, 256 - round(256 * m / 10)),
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
