"""A GENERATED multi-label shapes dataset, never real data: each image shows 1–3 shapes of distinct
classes (circle, square, triangle, cross, star, ring), each in its own cell of a 2×2 grid, at a
random size, offset and bright colour, on a dark noisy background. Which classes an image shows,
and which it does not, is known exactly, so negated captions built from its labels are exact.

It serves ``negtune``'s offline proof (``benchmarks/negtune_bench.py``) and its tests: a tiny CLIP
trained from random weights learns to name the shapes, and, given negated captions, to say which
are absent. ``python -m corpora.shapes DIR`` writes the ``generic`` layout (``train.jsonl``,
``test.jsonl``, ``classes.txt``, ``img/``; :func:`corpora.toydata.write_index`).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from corpora.toydata import write_index

CLASSES = ("circle", "square", "triangle", "cross", "star", "ring")
SIZE = 64
MAX_SHAPES = 3


def draw_labels(n: int, seed: int, n_classes: int = len(CLASSES)) -> np.ndarray:
    """``(n, C)`` int8 labels: 1 to :data:`MAX_SHAPES` distinct classes per image, uniformly."""
    rng = np.random.default_rng([seed, 0])
    y = np.zeros((n, n_classes), dtype=np.int8)
    for i in range(n):
        k = int(rng.integers(1, MAX_SHAPES + 1))
        y[i, rng.choice(n_classes, k, replace=False)] = 1
    return y


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.45
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def _shape(draw: ImageDraw.ImageDraw, name: str, cx: float, cy: float, r: float, colour) -> None:
    box = (cx - r, cy - r, cx + r, cy + r)
    if name == "circle":
        draw.ellipse(box, fill=colour)
    elif name == "square":
        draw.rectangle(box, fill=colour)
    elif name == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif name == "cross":
        w = r / 3
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=colour)
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=colour)
    elif name == "star":
        draw.polygon(_star(cx, cy, r * 1.15), fill=colour)
    elif name == "ring":
        draw.ellipse(box, outline=colour, width=max(2, round(r / 3.5)))
    else:
        raise ValueError(f"unknown shape {name!r}")


def make_image(labels: np.ndarray, seed: int, size: int = SIZE) -> Image.Image:
    """The image of one label row: each present class drawn in its own (drawn) grid cell."""
    rng = np.random.default_rng([seed, 1])
    noise = rng.integers(0, 50, size=(size, size, 3)).astype(np.uint8)
    img = Image.fromarray(noise)
    draw = ImageDraw.Draw(img)
    cell = size / 2
    present = np.flatnonzero(labels)
    cells = rng.permutation(4)[: present.size]
    for c, k in zip(cells, present, strict=True):
        r = float(rng.uniform(0.26, 0.4) * cell)
        row, col = divmod(int(c), 2)
        cx = col * cell + cell / 2 + float(rng.uniform(-1, 1)) * (cell / 2 - r)
        cy = row * cell + cell / 2 + float(rng.uniform(-1, 1)) * (cell / 2 - r)
        colour = tuple(int(v) for v in rng.integers(130, 256, size=3))
        _shape(draw, CLASSES[k], cx, cy, r, colour)
    return img


def write_shapes(root: Path, n_train: int = 3000, n_test: int = 100, seed: int = 0) -> Path:
    """The ``generic`` layout under ``root``: ``train``/``test`` splits drawn with separate seeds
    (no image is in both), ``classes.txt`` (the class order) and ``img/``."""
    root = Path(root)
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    for split, n, part in (("train", n_train, 0), ("test", n_test, 1)):
        y = draw_labels(n, seed * 2 + part)
        rows = []
        for i in range(n):
            rel = f"img/{split}_{i}.png"
            make_image(
                y[i], int(np.random.SeedSequence([seed, part, i]).generate_state(1)[0])
            ).save(root / rel)
            rows.append((rel, [CLASSES[k] for k in np.flatnonzero(y[i])]))
        write_index(root, split, rows, "jsonl")
    return root


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m corpora.shapes",
        description="Write a GENERATED multi-label shapes dataset (generic layout).",
    )
    ap.add_argument("dir", type=Path, help="Output directory.")
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    write_shapes(args.dir, args.n_train, args.n_test, args.seed)
    print(f"generated shapes dataset (not real data): {args.dir}")


if __name__ == "__main__":
    main()
