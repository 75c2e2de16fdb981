"""Multi-label image datasets in their standard layouts (no conversion step).

Every loader returns :class:`MultiLabelSplit` objects: an ordered list of image ids, an ``(N, C)``
int8 label matrix (1 positive, 0 negative, −1 ignored), and a way to open image ``i``.

Layouts (``root`` is the directory given with ``--root``):

- ``coco`` — ``train2014/``, ``val2014/``, ``annotations/instances_{train,val}2014.json``.
  80 classes in sorted category-id order; only images with at least one annotation, in image-id
  order; crowd and tiny boxes kept (as the anchors). Splits ``train`` → train2014, ``test`` →
  val2014.
- ``voc`` — ``VOCdevkit/VOC2007/`` (or ``root`` itself) with ``ImageSets/Main/{trainval,test}.txt``,
  ``Annotations/<id>.xml``, ``JPEGImages/<id>.jpg``. ``difficult="ignore"`` (official protocol):
  a class whose only instances are difficult gets −1; ``"negative"`` (the anchors) gets 0.
- ``nuswide`` — the official NUS-WIDE release files: ``ImageList/TrainImagelist.txt`` and
  ``ImageList/TestImagelist.txt`` (one relative image path a line; ``\\`` separators allowed),
  images under ``Flickr/``, and ``Groundtruth/TrainTestLabels/Labels_<concept>_{Train,Test}.txt``
  (one 0/1 a line, aligned with the image list) for each of the 81 concepts of
  ``Concepts81.txt`` (or the built-in list when that file is absent).
- ``generic`` — ``train.csv``/``train.jsonl`` and ``test.csv``/``test.jsonl``. JSONL rows:
  ``{"image": "rel/path.jpg", "labels": ["cat", "dog"]}``; CSV columns ``image,labels`` with labels
  separated by ``|``. Paths are relative to ``root``. Classes: ``--classes`` (a class set spec),
  else ``classes.txt`` in ``root``, else the sorted union of the labels in the train file.
- ``hf`` — a Hugging Face dataset saved with ``save_to_disk`` (a ``DatasetDict`` with ``train`` and
  ``test``), an image column and a label column holding lists of class indices
  (``Sequence(ClassLabel)`` gives the class names) or of class names.

Images are read by :func:`corpora.images.open_image` (8-bit RGB whatever their mode). Missing
images raise :class:`BadImageError` naming the file; with ``skip_bad_images=True`` they are left out
and listed in ``split.skipped`` (:func:`verify_images` does the same for images that cannot be
decoded).
"""

from __future__ import annotations

import csv
import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpora.classes import ClassSet, load_classes
from corpora.identity import file_identities
from corpora.images import BadImageError, open_image, to_rgb

DATASETS = ("coco", "voc", "nuswide", "generic", "hf")
SPLITS = ("train", "test")


@dataclass
class MultiLabelSplit:
    """One split of a multi-label dataset."""

    dataset: str
    split: str
    classes: ClassSet
    ids: list[str]
    labels: np.ndarray  # (N, C) int8: 1 / 0 / -1
    opener: Callable[[int], object] = field(repr=False)
    skipped: list[dict] = field(default_factory=list)
    # what the images' content identity is read from (content_digest): the file of each image, or,
    # for images not stored one per file, a function giving the identity of them all
    files: list[Path] | None = field(default=None, repr=False)
    content: Callable[[], str] | None = field(default=None, repr=False)
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    def image(self, i: int):
        """Image ``i`` as an RGB PIL image (BadImageError naming the file when unreadable)."""
        return self.opener(i)

    def content_digest(self, on_hashing: Callable[[int], None] | None = None) -> str:
        """The identity of the images' content, in order, never of their paths: a SHA-256 over
        each image file's SHA-256 (:func:`corpora.identity.file_identities`: a file is read once,
        then known by its size, times and inode; ``on_hashing(n)`` is told how many files are
        read), or over what ``content`` gives. Computed once per split object."""
        if self._digest is None:
            if self.files is not None:
                parts = [r["sha256"] for r in file_identities(self.files, on_hashing)]
            elif self.content is not None:
                parts = [self.content()]
            else:
                raise ValueError(
                    f"{self.dataset} {self.split}: its images are neither files nor of a known "
                    "content, so their features cannot be cached (use --no-cache)"
                )
            self._digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        return self._digest

    def subset(self, keep: list[int] | np.ndarray) -> MultiLabelSplit:
        keep = [int(k) for k in keep]
        base, content = self.opener, self.content
        return MultiLabelSplit(
            self.dataset,
            self.split,
            self.classes,
            [self.ids[k] for k in keep],
            self.labels[keep],
            lambda i: base(keep[i]),
            list(self.skipped),
            None if self.files is None else [self.files[k] for k in keep],
            None if content is None else lambda: f"{content()} rows {keep}",
        )


def _file_split(dataset, split, classes, paths, labels, skip_bad) -> MultiLabelSplit:
    """Build a split of on-disk images, checking that every file exists."""
    keep, skipped = [], []
    for i, p in enumerate(paths):
        if p.is_file():
            keep.append(i)
        elif skip_bad:
            skipped.append({"image": str(p), "error": "missing"})
        else:
            raise BadImageError(
                f"image not found: {p} (use --skip-bad-images to leave unreadable images out)"
            )
    kept_paths = [paths[i] for i in keep]
    return MultiLabelSplit(
        dataset,
        split,
        classes,
        [str(p) for p in kept_paths],
        np.ascontiguousarray(labels[keep], dtype=np.int8),
        lambda i: open_image(kept_paths[i]),
        skipped,
        kept_paths,
    )


def verify_images(split: MultiLabelSplit, *, skip_bad: bool) -> MultiLabelSplit:
    """Decode every image once; unreadable ones raise, or with ``skip_bad`` are dropped and
    recorded."""
    bad = []
    for i in range(len(split)):
        try:
            split.image(i)
        except BadImageError as exc:
            if not skip_bad:
                raise
            bad.append((i, str(exc)))
    if not bad:
        return split
    bad_idx = {i for i, _ in bad}
    out = split.subset([i for i in range(len(split)) if i not in bad_idx])
    out.skipped += [{"image": split.ids[i], "error": e} for i, e in bad]
    return out


# ---------------------------------------------------------------- COCO-2014
def load_coco(root: Path, split: str, *, skip_bad: bool = False) -> MultiLabelSplit:
    year = {"train": "train2014", "test": "val2014"}[split]
    ann = Path(root) / "annotations" / f"instances_{year}.json"
    if not ann.is_file():
        raise FileNotFoundError(f"COCO annotations not found: {ann}")
    data = json.loads(ann.read_text("utf-8"))
    cats = sorted(data["categories"], key=lambda c: c["id"])
    col = {c["id"]: k for k, c in enumerate(cats)}
    names = tuple(c["name"] for c in cats)
    classes = ClassSet("coco", names, names)
    files = {im["id"]: im["file_name"] for im in data["images"]}
    labels: dict[int, np.ndarray] = {}
    for a in data["annotations"]:
        row = labels.setdefault(a["image_id"], np.zeros(len(cats), dtype=np.int8))
        row[col[a["category_id"]]] = 1
    ids = sorted(labels)
    paths = [Path(root) / year / files[i] for i in ids]
    mat = np.stack([labels[i] for i in ids]) if ids else np.zeros((0, len(cats)), np.int8)
    return _file_split("coco", split, classes, paths, mat, skip_bad)


# ---------------------------------------------------------------- VOC-2007
def voc_dir(root: Path) -> Path:
    root = Path(root)
    for cand in (root / "VOCdevkit" / "VOC2007", root / "VOC2007", root):
        if (cand / "ImageSets" / "Main").is_dir():
            return cand
    raise FileNotFoundError(f"no VOC-2007 layout under {root} (expected VOCdevkit/VOC2007/)")


def load_voc(root: Path, split: str, *, skip_bad: bool = False, difficult: str = "ignore"):
    if difficult not in ("ignore", "negative"):
        raise ValueError(f"--voc-difficult must be 'ignore' or 'negative', got {difficult!r}")
    base = voc_dir(root)
    classes = load_classes("voc")
    col = {k: i for i, k in enumerate(classes.keys)}
    listing = base / "ImageSets" / "Main" / ("trainval.txt" if split == "train" else "test.txt")
    if not listing.is_file():
        raise FileNotFoundError(f"VOC image list not found: {listing}")
    ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    mat = np.zeros((len(ids), len(classes)), dtype=np.int8)
    for r, img_id in enumerate(ids):
        xml = base / "Annotations" / f"{img_id}.xml"
        try:
            objects = ET.parse(xml).getroot().findall("object")
        except (OSError, ET.ParseError) as exc:
            raise FileNotFoundError(f"VOC annotation unreadable: {xml} ({exc})") from exc
        for obj in objects:
            name = obj.findtext("name", "").strip()
            if name not in col:
                raise ValueError(f"{xml}: unknown VOC class {name!r}")
            c = col[name]
            if (obj.findtext("difficult", "0").strip() or "0") == "1":
                if mat[r, c] != 1 and difficult == "ignore":
                    mat[r, c] = -1
            else:
                mat[r, c] = 1
    paths = [base / "JPEGImages" / f"{i}.jpg" for i in ids]
    return _file_split("voc", split, classes, paths, mat, skip_bad)


# ---------------------------------------------------------------- NUS-WIDE
def load_nuswide(root: Path, split: str, *, skip_bad: bool = False) -> MultiLabelSplit:
    root = Path(root)
    concepts_file = root / "Concepts81.txt"
    classes = load_classes(str(concepts_file) if concepts_file.is_file() else "nuswide")
    part = {"train": "Train", "test": "Test"}[split]
    listing = root / "ImageList" / f"{part}Imagelist.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"NUS-WIDE image list not found: {listing}")
    rel = [line.strip().replace("\\", "/") for line in listing.read_text().splitlines()]
    rel = [r for r in rel if r]
    mat = np.zeros((len(rel), len(classes)), dtype=np.int8)
    for c, key in enumerate(classes.keys):
        f = root / "Groundtruth" / "TrainTestLabels" / f"Labels_{key}_{part}.txt"
        if not f.is_file():
            raise FileNotFoundError(f"NUS-WIDE label file not found: {f}")
        col = [line.strip() for line in f.read_text().splitlines() if line.strip()]
        if len(col) != len(rel):
            raise ValueError(f"{f}: {len(col)} labels for {len(rel)} images in {listing}")
        mat[:, c] = np.asarray(col, dtype=np.int8)
    paths = [root / "Flickr" / r for r in rel]
    return _file_split("nuswide", split, classes, paths, mat, skip_bad)


# ---------------------------------------------------------------- generic CSV / JSONL
def _generic_rows(path: Path) -> list[tuple[str, list[str]]]:
    rows = []
    if path.suffix == ".jsonl":
        for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                rows.append((str(rec["image"]), [str(x) for x in rec["labels"]]))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}, line {n}: need {{'image', 'labels'}} ({exc})") from exc
    else:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"image", "labels"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
            for rec in reader:
                labs = [x.strip() for x in (rec["labels"] or "").split("|") if x.strip()]
                rows.append((rec["image"], labs))
    return rows


def _generic_file(root: Path, split: str) -> Path:
    for ext in (".jsonl", ".csv"):
        p = Path(root) / f"{split}{ext}"
        if p.is_file():
            return p
    raise FileNotFoundError(f"generic dataset: neither {split}.jsonl nor {split}.csv in {root}")


def load_generic(root: Path, split: str, *, skip_bad: bool = False, classes: str | None = None):
    root = Path(root)
    if classes:
        cs = load_classes(classes)
    elif (root / "classes.txt").is_file():
        cs = load_classes(str(root / "classes.txt"))
    else:
        union = sorted(
            {lab for _, labs in _generic_rows(_generic_file(root, "train")) for lab in labs}
        )
        if not union:
            raise ValueError(f"{root}: no labels in the train file; give --classes")
        cs = ClassSet("generic", tuple(union), tuple(union))
    col = {k: i for i, k in enumerate(cs.keys)}
    path = _generic_file(root, split)
    rows = _generic_rows(path)
    mat = np.zeros((len(rows), len(cs)), dtype=np.int8)
    for r, (_, labs) in enumerate(rows):
        for lab in labs:
            if lab not in col:
                raise ValueError(f"{path}, row {r + 1}: label {lab!r} is not in the class list")
            mat[r, col[lab]] = 1
    paths = [root / img for img, _ in rows]
    return _file_split("generic", split, cs, paths, mat, skip_bad)


# ---------------------------------------------------------------- Hugging Face datasets
def load_hf(
    root: Path,
    split: str,
    classes: str | None = None,
    image_column: str = "image",
    label_column: str = "labels",
) -> MultiLabelSplit:
    import datasets

    dd = datasets.load_from_disk(str(root))
    if split not in dd:
        raise ValueError(f"HF dataset {root}: no split {split!r} (has {list(dd)})")
    ds = dd[split]
    for c in (image_column, label_column):
        if c not in ds.column_names:
            raise ValueError(f"HF dataset {root}: no column {c!r} (has {ds.column_names})")
    feat = ds.features[label_column]
    inner = getattr(feat, "feature", None)
    if classes:
        cs = load_classes(classes)
    elif isinstance(inner, datasets.ClassLabel):
        cs = ClassSet("hf", tuple(inner.names), tuple(inner.names))
    else:
        raise ValueError(
            f"HF dataset {root}: column {label_column!r} has no class names; give --classes"
        )
    col = {k: i for i, k in enumerate(cs.keys)}
    values = ds[label_column]
    mat = np.zeros((len(ds), len(cs)), dtype=np.int8)
    for r, labs in enumerate(values):
        for lab in labs:
            i = lab if isinstance(lab, int) else col.get(str(lab))
            if i is None or not 0 <= i < len(cs):
                raise ValueError(f"HF dataset {root}, {split} row {r}: label {lab!r} not a class")
            mat[r, i] = 1
    images = ds.select_columns([image_column])

    def opener(i: int):
        name = f"row {i} of {root}/{split}"
        try:
            image = images[i][image_column]
        except Exception as exc:  # datasets' decoding errors come in many types
            raise BadImageError(f"cannot read image {name}: {exc}") from exc
        return to_rgb(image, name)

    def content() -> str:  # the Arrow files that hold the rows (images stored as paths: the paths)
        arrow = [f["filename"] for f in ds.cache_files]
        if not arrow:
            raise ValueError(f"HF dataset {root}: no Arrow files, so no content identity")
        return " ".join(r["sha256"] for r in file_identities(arrow)) + f" {split}"

    ids = [f"{split}/{i}" for i in range(len(ds))]
    return MultiLabelSplit("hf", split, cs, ids, mat, opener, content=content)


def load_split(
    dataset: str,
    root: Path | str,
    split: str,
    *,
    skip_bad_images: bool = False,
    voc_difficult: str = "ignore",
    classes: str | None = None,
) -> MultiLabelSplit:
    """Load ``split`` (``train`` or ``test``) of ``dataset`` (one of :data:`DATASETS`)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"--root {root}: no such directory")
    if dataset == "coco":
        return load_coco(root, split, skip_bad=skip_bad_images)
    if dataset == "voc":
        return load_voc(root, split, skip_bad=skip_bad_images, difficult=voc_difficult)
    if dataset == "nuswide":
        return load_nuswide(root, split, skip_bad=skip_bad_images)
    if dataset == "generic":
        return load_generic(root, split, skip_bad=skip_bad_images, classes=classes)
    if dataset == "hf":
        return load_hf(root, split, classes)  # images are decoded lazily: see verify_images
    raise ValueError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
