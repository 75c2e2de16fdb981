"""Multi-label dataset loaders on tiny generated datasets in their standard layouts."""

from __future__ import annotations

import re

import numpy as np
import pytest
from mlr_data import (
    CLASSES,
    make_labels,
    write_coco,
    write_generic,
    write_hf,
    write_nuswide,
    write_voc,
)

from corpora.multilabel import BadImageError, load_split, verify_images


def test_coco_classes_in_sorted_id_order_and_only_annotated_images(tmp_path):
    root = write_coco(tmp_path, n_train=10, n_test=6)
    train = load_split("coco", root, "train")
    assert train.classes.keys == ("dog", "tree", "car", "cat")  # ids 1, 3, 7, 9
    assert len(train) == 10  # the image without annotations is left out
    # class k of the generator (CLASSES[k]) sits at its sorted-id position
    pos = {c: train.classes.keys.index(c) for c in CLASSES}
    expect = make_labels(10, 0)
    np.testing.assert_array_equal(train.labels[:, [pos[c] for c in CLASSES]], expect)
    assert train.image(0).size == (64, 64)
    assert len(load_split("coco", root, "test")) == 6


def test_voc_difficult_ignore_and_negative(tmp_path):
    root = write_voc(tmp_path, n_trainval=6, n_test=4)
    ign = load_split("voc", root, "train")
    neg = load_split("voc", root, "train", voc_difficult="negative")
    person, dog = ign.classes.keys.index("person"), ign.classes.keys.index("dog")
    assert len(ign.classes) == 20 and len(ign) == 6
    assert ign.labels[0, person] == -1 and neg.labels[0, person] == 0
    assert ign.labels[1, dog] == 1 and neg.labels[1, dog] == 1  # a non-difficult instance wins
    assert len(load_split("voc", root, "test")) == 4
    with pytest.raises(ValueError, match="--voc-difficult"):
        load_split("voc", root, "train", voc_difficult="drop")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_generic_formats(tmp_path, fmt):
    root = write_generic(tmp_path, fmt)
    train = load_split("generic", root, "train")
    assert train.classes.keys == tuple(sorted(CLASSES))
    order = [train.classes.keys.index(c) for c in CLASSES]
    np.testing.assert_array_equal(train.labels[:, order], make_labels(12, 0))
    given = load_split("generic", root, "test", classes="cat,dog,car,tree")
    assert given.classes.keys == CLASSES
    with pytest.raises(ValueError, match="label 'tree' is not in the class list"):
        load_split("generic", root, "train", classes="cat,dog,car")


def test_nuswide_official_layout(tmp_path):
    root = write_nuswide(tmp_path)
    train = load_split("nuswide", root, "train")
    assert train.classes.keys == CLASSES
    np.testing.assert_array_equal(train.labels, make_labels(6, 0))
    assert train.image(5).size == (64, 64)


def test_hf_dataset_from_disk(tmp_path):
    root = write_hf(tmp_path / "hf")
    test = load_split("hf", root, "test")
    assert test.classes.keys == CLASSES
    np.testing.assert_array_equal(test.labels, make_labels(4, 1))
    assert test.image(0).mode == "RGB"


def test_missing_image_is_named_or_skipped_and_recorded(tmp_path):
    root = write_coco(tmp_path, n_train=5, n_test=3)
    victim = sorted((root / "train2014").iterdir())[2]
    victim.unlink()
    with pytest.raises(BadImageError, match=re.escape(victim.name)):
        load_split("coco", root, "train")
    split = load_split("coco", root, "train", skip_bad_images=True)
    assert len(split) == 4 and split.skipped[0]["image"].endswith(victim.name)


def test_corrupt_image_is_named_or_skipped(tmp_path):
    root = write_generic(tmp_path, "jsonl")
    (root / "img" / "train_3.png").write_bytes(b"not a png")
    split = load_split("generic", root, "train")
    with pytest.raises(BadImageError, match=r"train_3\.png"):
        verify_images(split, skip_bad=False)
    kept = verify_images(split, skip_bad=True)
    assert len(kept) == 11 and "train_3.png" in kept.skipped[0]["image"]
    assert kept.image(3).size == (64, 64)  # indices shift past the dropped image


def test_missing_root_and_unknown_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_split("coco", tmp_path / "nowhere", "train")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_split("imagenet", tmp_path, "train")
