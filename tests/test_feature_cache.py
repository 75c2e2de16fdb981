"""The dense-feature cache: keyed on the weights' content, rebuilt when a file of it is unreadable;
random weights follow the run's seed."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from mlr_data import write_coco

from corpora.multilabel import load_split
from mlr.backbone import BackboneConfig, load_backbone
from mlr.features import cache_entry
from mlr.train import FitConfig, load_backbone_for


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = write_coco(tmp_path_factory.mktemp("coco"), n_train=6, n_test=2)
    return load_split("coco", root, "train")


def _features(backbone, root, split):
    entry, meta = cache_entry(root, backbone.info(), backbone.image_size, split, 0, 0)
    return entry, np.asarray(entry.build(backbone, split, 0, backbone.image_size, 0, meta))


def test_weights_changed_in_place_get_new_features(tiny_models, tmp_path, split):
    path = tmp_path / "tiny.pt"
    for seed in (1, 2):
        source = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", seed=seed))
        torch.save(source.model.state_dict(), path)  # the same file, overwritten in place
        backbone = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=str(path)))
        entry, cached = _features(backbone, tmp_path / "cache", split)
        _, fresh = _features(backbone, tmp_path / f"fresh{seed}", split)
        np.testing.assert_array_equal(cached, fresh)
        if seed == 1:
            first, first_entry = cached, entry
    assert entry.path != first_entry.path and first_entry.complete  # the old entry is kept
    assert not np.allclose(cached, first, atol=1e-2)
    assert entry.index["meta"]["weights"]["id"] == backbone.weights_id


@pytest.mark.parametrize("damage", ["features", "index"])
def test_unreadable_feature_cache_is_named_and_rebuilt(tiny_models, tmp_path, split, damage):
    backbone = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    entry, expected = _features(backbone, tmp_path, split)
    target = entry.file if damage == "features" else entry.index_path
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])  # truncated
    kind = "file" if damage == "features" else "index"
    with pytest.warns(UserWarning, match=rf"feature cache {kind} {re.escape(str(target))}"):
        assert not entry.complete
    with pytest.warns(UserWarning, match="building the entry again"):
        _, rebuilt = _features(backbone, tmp_path, split)
    np.testing.assert_array_equal(rebuilt, expected)
    assert entry.complete


def test_random_backbone_of_a_fit_follows_its_seed(tiny_models):
    cfg = FitConfig(model=tiny_models[1], pretrained="none", device="cpu", seed=1)
    backbone = load_backbone_for(cfg)
    assert backbone.config.seed == 1 and backbone.info()["seed"] == 1
    zero = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", seed=0))
    assert backbone.weights_id != zero.weights_id
    tokens = zero.tokenize(["a photo of a dog"])
    assert not torch.allclose(backbone.model.encode_text(tokens), zero.model.encode_text(tokens))


def test_augmented_views_of_another_augmentation_version_are_not_reused(
    tiny_models, tmp_path, split, monkeypatch
):
    backbone = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    size = backbone.image_size
    entry, meta = cache_entry(tmp_path, backbone.info(), size, split, 1, 0)
    entry.build(backbone, split, 1, size, 0, meta)
    monkeypatch.setattr("mlr.features.AUGMENT_VERSION", 99)  # the augmentation changed
    other, other_meta = cache_entry(tmp_path, backbone.info(), size, split, 1, 0)
    assert other.path != entry.path and not other.complete and entry.complete
    assert other_meta["augment_version"] == 99
    clean, _ = cache_entry(tmp_path, backbone.info(), size, split, 0, 0)
    assert clean.path.name == "view0"  # clean features do not depend on it
