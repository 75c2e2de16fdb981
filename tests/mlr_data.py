"""Tiny generated multi-label image datasets for the mlrtrain tests (COCO, VOC, NUS-WIDE, generic,
HF layouts), from the toy generator of :mod:`corpora.toydata` (class k present when quadrant k of
the image is filled with colour k)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from corpora.toydata import CLASSES, make_image, make_labels, write_generic  # noqa: F401

COCO_IDS = (9, 1, 7, 3)  # deliberately unsorted: the loader must order classes by id
VOC_USED = ("aeroplane", "bicycle", "bird", "boat")  # the VOC classes given to quadrants 0..3


def write_coco(root: Path, n_train: int = 24, n_test: int = 16, seed: int = 0) -> Path:
    """COCO-2014 layout; each split also has one image without annotations (to be excluded)."""
    root = Path(root)
    for split, n, s in (("train2014", n_train, seed), ("val2014", n_test, seed + 1)):
        (root / split).mkdir(parents=True, exist_ok=True)
        y = make_labels(n, s)
        images, anns = [], []
        for i in range(n + 1):
            image_id = 1000 + 7 * i
            name = f"COCO_{split}_{image_id:012d}.jpg"
            lab = y[i] if i < n else np.zeros(4, np.int8)
            make_image(lab, s * 1000 + i).save(root / split / name, quality=95)
            images.append({"id": image_id, "file_name": name, "width": 64, "height": 64})
            for k in np.flatnonzero(lab):
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": image_id,
                        "category_id": COCO_IDS[k],
                        "bbox": [0, 0, 32, 32],
                        "area": 1024.0,
                        "iscrowd": 0,
                    }
                )
        cats = [{"id": COCO_IDS[k], "name": CLASSES[k], "supercategory": "x"} for k in range(4)]
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"images": images, "annotations": anns, "categories": cats})
        )
    return root


def write_voc(root: Path, n_trainval: int = 24, n_test: int = 16, seed: int = 0) -> Path:
    """VOC-2007 layout. Image 0 of each split has a difficult-only 'person'; image 1 a difficult
    and a normal 'dog' (must be positive)."""
    base = Path(root) / "VOCdevkit" / "VOC2007"
    for d in ("ImageSets/Main", "Annotations", "JPEGImages"):
        (base / d).mkdir(parents=True, exist_ok=True)
    for split, n, s in (("trainval", n_trainval, seed), ("test", n_test, seed + 1)):
        y = make_labels(n, s)
        ids = [f"{s}{i:05d}" for i in range(n)]
        (base / "ImageSets/Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for i, img_id in enumerate(ids):
            make_image(y[i], s * 1000 + i).save(base / "JPEGImages" / f"{img_id}.jpg", quality=95)
            objs = [(VOC_USED[k], 0) for k in np.flatnonzero(y[i])]
            if i == 0:
                objs.append(("person", 1))
            if i == 1:
                objs += [("dog", 1), ("dog", 0)]
            body = "".join(
                f"<object><name>{nm}</name><difficult>{d}</difficult></object>" for nm, d in objs
            )
            (base / "Annotations" / f"{img_id}.xml").write_text(
                f"<annotation><filename>{img_id}.jpg</filename>{body}</annotation>"
            )
    return Path(root)


def write_nuswide(root: Path, n_train: int = 6, n_test: int = 4) -> Path:
    """Official NUS-WIDE layout with a 4-concept Concepts81.txt (enough for the loader)."""
    root = Path(root)
    (root / "ImageList").mkdir(parents=True, exist_ok=True)
    (root / "Groundtruth" / "TrainTestLabels").mkdir(parents=True, exist_ok=True)
    (root / "Concepts81.txt").write_text("\n".join(CLASSES) + "\n")
    for part, n, s in (("Train", n_train, 0), ("Test", n_test, 1)):
        y = make_labels(n, s)
        rel = [f"actor\\{part}_{i:04d}.jpg" for i in range(n)]
        for i, r in enumerate(rel):
            p = root / "Flickr" / r.replace("\\", "/")
            p.parent.mkdir(parents=True, exist_ok=True)
            make_image(y[i], s * 1000 + i).save(p)
        (root / "ImageList" / f"{part}Imagelist.txt").write_text("\r\n".join(rel) + "\r\n")
        for k, c in enumerate(CLASSES):
            (root / "Groundtruth/TrainTestLabels" / f"Labels_{c}_{part}.txt").write_text(
                "".join(f"{v}\n" for v in y[:, k])
            )
    return root


def write_hf(root: Path, n_train: int = 6, n_test: int = 4) -> Path:
    import datasets

    feats = datasets.Features(
        {
            "image": datasets.Image(),
            "labels": datasets.Sequence(datasets.ClassLabel(names=list(CLASSES))),
        }
    )
    parts = {}
    for split, n, s in (("train", n_train, 0), ("test", n_test, 1)):
        y = make_labels(n, s)
        parts[split] = datasets.Dataset.from_dict(
            {
                "image": [make_image(y[i], s * 1000 + i) for i in range(n)],
                "labels": [[int(k) for k in np.flatnonzero(y[i])] for i in range(n)],
            },
            features=feats,
        )
    datasets.DatasetDict(parts).save_to_disk(str(root))
    return Path(root)
