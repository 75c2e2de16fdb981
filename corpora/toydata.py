"""A TOY multi-label image dataset and a tiny CLIP config, for trying the pipeline: never real data.

Class k is present when quadrant k of the image is filled with colour k (with noise), so the labels
are learnable from dense features even with a random backbone. The tests build their datasets in
every layout from the same generator (``tests/mlr_data.py``).

``python -m corpora.toydata DIR`` writes ``DIR/data`` (the ``generic`` layout: ``train.jsonl``,
``test.jsonl``, ``img/``; classes cat, dog, car, tree) and ``DIR/model.json`` (a tiny open_clip
ResNet config, 64 px input, to use with ``--model DIR/model.json --pretrained none``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "car", "tree")
COLOURS = ((230, 30, 30), (30, 230, 30), (30, 30, 230), (230, 230, 30))


def toy_model_config() -> Path:
    """The tiny open_clip model config shipped with the package (random weights only)."""
    return Path(str(resources.files("corpora").joinpath("data/toy_model.json")))


def make_labels(n: int, seed: int, n_classes: int = 4) -> np.ndarray:
    """Random multi-hot labels with at least one positive per image."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_classes)) < 0.45).astype(np.int8)
    y[y.sum(1) == 0, rng.integers(0, n_classes)] = 1
    return y


def make_image(labels: np.ndarray, seed: int, size: int = 64) -> Image.Image:
    """A noisy dark image with quadrant k filled with colour k for each positive class k < 4."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
    h = size // 2
    for k, on in enumerate(labels[:4]):
        if on:
            r, c = divmod(k, 2)
            patch = np.asarray(COLOURS[k]) + rng.integers(-20, 21, size=(h, h, 3))
            img[r * h : (r + 1) * h, c * h : (c + 1) * h] = patch.clip(0, 255)
    return Image.fromarray(img)


def write_generic(root: Path, fmt: str = "jsonl", n_train: int = 12, n_test: int = 8) -> Path:
    """The ``generic`` layout: ``train.{jsonl,csv}``, ``test.{jsonl,csv}`` and ``img/``."""
    root = Path(root)
    (root / "img").mkdir(parents=True, exist_ok=True)
    for split, n, s in (("train", n_train, 0), ("test", n_test, 1)):
        y = make_labels(n, s)
        rows = []
        for i in range(n):
            rel = f"img/{split}_{i}.png"
            make_image(y[i], s * 1000 + i).save(root / rel)
            rows.append((rel, [CLASSES[k] for k in np.flatnonzero(y[i])]))
        write_index(root, split, rows, fmt)
    return root


def write_index(root: Path, split: str, rows: list[tuple[str, list[str]]], fmt: str) -> None:
    """A ``generic`` split's index file: ``split.jsonl`` or ``split.csv`` of (image, labels)."""
    if fmt == "jsonl":
        text = "".join(json.dumps({"image": r, "labels": labs}) + "\n" for r, labs in rows)
        (Path(root) / f"{split}.jsonl").write_text(text)
    else:
        text = "image,labels\n" + "".join(f"{r},{'|'.join(labs)}\n" for r, labs in rows)
        (Path(root) / f"{split}.csv").write_text(text)


def write_toy(root: Path, n_train: int = 48, n_test: int = 24) -> tuple[Path, Path]:
    """``root/data`` (generic layout) and ``root/model.json``; returns both paths."""
    root = Path(root)
    data = write_generic(root / "data", n_train=n_train, n_test=n_test)
    model = root / "model.json"
    shutil.copyfile(toy_model_config(), model)
    return data, model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m corpora.toydata",
        description="Write a TOY multi-label dataset (generic layout) and a tiny CLIP config.",
    )
    ap.add_argument("dir", type=Path, help="Output directory (DIR/data, DIR/model.json).")
    ap.add_argument("--n-train", type=int, default=48)
    ap.add_argument("--n-test", type=int, default=24)
    args = ap.parse_args(argv)
    data, model = write_toy(args.dir, args.n_train, args.n_test)
    print(f"toy dataset (not real data): {data}; tiny model config: {model}")


if __name__ == "__main__":
    main()
