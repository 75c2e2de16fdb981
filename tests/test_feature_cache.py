"""The dense-feature cache: keyed on the content of the weights and of the images (never their
paths), rebuilt for real when any file of it is damaged, a full disk is one line, Ctrl-C is never
lost; random weights follow the run's seed."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from mlr_data import make_image, write_coco, write_hf
from typer.testing import CliRunner

from backbone import BackboneConfig, load_backbone
from backbone.features import cache_entry
from corpora.multilabel import load_split
from mlr.cli import app
from mlr.train import FitConfig, load_backbone_for

runner = CliRunner()


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = write_coco(tmp_path_factory.mktemp("coco"), n_train=6, n_test=2)
    return load_split("coco", root, "train")


def _features(backbone, root, split, **kw):
    """The entry of ``split``'s clean view under ``root`` and its features, copied into memory (a
    memmap of the file would see the damage the tests do to it)."""
    entry, meta = cache_entry(root, backbone.info(), backbone.image_size, split, 0, 0)
    return entry, np.array(entry.build(backbone, split, 0, backbone.image_size, 0, meta, **kw))


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


def test_the_same_weights_at_another_path_share_the_entry(tiny_models, tmp_path, split):
    source = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", seed=3))
    torch.save(source.model.state_dict(), tmp_path / "a.pt")
    shutil.copyfile(tmp_path / "a.pt", tmp_path / "b.pt")
    a, b = (
        load_backbone(BackboneConfig(model=tiny_models[1], pretrained=str(tmp_path / name)))
        for name in ("a.pt", "b.pt")
    )
    first, _ = _features(a, tmp_path / "cache", split)
    second, _ = cache_entry(tmp_path / "cache", b.info(), b.image_size, split, 0, 0)
    assert second.path == first.path and second.complete
    assert a.cache_namespace() == b.cache_namespace()  # the text cache's key too


def _write_images(root, seed):
    for i, path in enumerate(sorted((root / "train2014").iterdir())):
        make_image(np.ones(4, np.int8), seed * 100 + i).save(path, quality=95)


def test_images_regenerated_in_place_are_encoded_again(tiny_models, tmp_path):
    root = write_coco(tmp_path / "coco", n_train=4, n_test=1)
    backbone = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    _, old = _features(backbone, tmp_path / "cache", load_split("coco", root, "train"))
    stamps = {p: p.stat().st_mtime_ns for p in (root / "train2014").iterdir()}
    _write_images(root, seed=7)  # same folder and names, new pictures
    for p, ns in stamps.items():
        os.utime(p, ns=(ns, ns))  # and even the old modification times (cp -p, rsync -a)
    split = load_split("coco", root, "train")
    entry, new = _features(backbone, tmp_path / "cache", split)
    _, fresh = _features(backbone, tmp_path / "fresh", split)
    np.testing.assert_array_equal(new, fresh)
    assert not np.allclose(new, old, atol=1e-2)
    moved = shutil.copytree(root, tmp_path / "elsewhere", copy_function=shutil.copy)
    at_another_path, _ = cache_entry(
        tmp_path / "cache", backbone.info(), backbone.image_size,
        load_split("coco", moved, "train"), 0, 0,
    )  # fmt: skip
    assert at_another_path.path == entry.path and at_another_path.complete  # content, not paths


def test_hf_images_are_keyed_on_their_arrow_files(tmp_path):
    train = load_split("hf", write_hf(tmp_path / "hf", n_train=4, n_test=2), "train")
    moved = load_split("hf", shutil.copytree(tmp_path / "hf", tmp_path / "moved"), "train")
    assert moved.content_digest() == train.content_digest()  # content, not the folder
    assert train.subset([0, 1]).content_digest() != train.content_digest()
    assert load_split("hf", tmp_path / "hf", "test").content_digest() != train.content_digest()


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _extend(path):
    path.write_bytes(path.read_bytes() + bytes(64))


def _overstate(path):  # an index that claims rows that are not there
    idx = json.loads(path.read_text())
    path.write_text(json.dumps({**idx, "done": idx["shape"][0] + 5}))


@pytest.mark.parametrize(
    ("part", "damage", "says"),
    [
        ("features", _truncate, "mmap length is greater than file size"),
        ("features", _extend, "not exactly"),
        ("features", Path.unlink, "No such file"),
        ("index", _truncate, ""),
        ("index", _overstate, "done"),
    ],
)
def test_a_damaged_entry_is_named_and_rebuilt_for_real(
    tiny_models, tmp_path, split, part, damage, says
):
    backbone = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    entry, expected = _features(backbone, tmp_path, split)
    target = entry.file if part == "features" else entry.index_path
    damage(target)
    kind = "file" if part == "features" else "index"
    with pytest.warns(
        UserWarning, match=rf"feature cache {kind} {re.escape(str(target))} .*{says}"
    ):
        assert not entry.complete
    with pytest.warns(UserWarning, match="building the entry again"):
        _, rebuilt = _features(backbone, tmp_path, split)
    np.testing.assert_array_equal(rebuilt, expected)  # every row encoded, none left as zeros
    assert entry.complete


def test_an_interrupted_build_with_a_damaged_file_starts_again(tiny_models, tmp_path):
    split = load_split("coco", write_coco(tmp_path / "coco", n_train=12, n_test=1), "train")
    backbone = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    _, expected = _features(backbone, tmp_path / "ref", split)

    def stop(done, n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _features(backbone, tmp_path / "c", split, batch_size=1, on_progress=stop)
    entry, _ = cache_entry(tmp_path / "c", backbone.info(), backbone.image_size, split, 0, 0)
    assert entry.index["done"] == 8
    _truncate(entry.file)  # the 8 rows done are not all there any more
    with pytest.warns(UserWarning, match="building the entry again"):
        _, rebuilt = _features(backbone, tmp_path / "c", split, batch_size=1)
    np.testing.assert_array_equal(rebuilt, expected)


def test_mlrtrain_cache_repairs_a_damaged_view(tiny_models, tmp_path):
    root = write_coco(tmp_path / "coco", n_train=6, n_test=2)
    args = ["cache", "--dataset", "coco", "--root", str(root), "--model", tiny_models[1]]
    args += ["--pretrained", "none", "--device", "cpu", "--aug-views", "1", "--quiet"]
    for cache in ("fc", "fresh"):
        assert runner.invoke(app, [*args, "--feature-cache", str(tmp_path / cache)]).exit_code == 0
    files = sorted((tmp_path / "fc").rglob("features.npy"))
    assert len(files) == 3  # train clean, train augmented, test clean
    damaged = next(f for f in files if f.parent.name.startswith("aug1"))
    _truncate(damaged)
    with pytest.warns(UserWarning, match=rf"{re.escape(str(damaged))} .*building the entry again"):
        res = runner.invoke(app, [*args, "--feature-cache", str(tmp_path / "fc")])
    assert res.exit_code == 0, res.output
    for f in files:
        fresh = tmp_path / "fresh" / f.relative_to(tmp_path / "fc")
        np.testing.assert_array_equal(np.load(f), np.load(fresh))


def test_a_full_disk_is_one_line_naming_the_file(tiny_models, tmp_path, monkeypatch):
    """The cache file's space is reserved before anything is written into it: a full disk is an
    error naming the file (not a SIGBUS of a memory map, rc 135 and nothing said)."""
    root = write_coco(tmp_path / "coco", n_train=4, n_test=1)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    args = ["cache", "--dataset", "coco", "--root", str(root), "--model", tiny_models[1]]
    args += ["--pretrained", "none", "--device", "cpu", "--quiet"]
    res = runner.invoke(app, [*args, "--feature-cache", str(tmp_path / "fc")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert re.fullmatch(
        r"error: feature cache file \S+features\.npy: no space left .*\n", res.output
    )
    assert not list((tmp_path / "fc").rglob("features.npy"))


def test_without_space_reservation_the_cache_is_still_built(
    tiny_models, tmp_path, split, monkeypatch
):
    def unsupported(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    backbone = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    _, expected = _features(backbone, tmp_path / "ref", split)
    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    _, got = _features(backbone, tmp_path / "c", split)
    np.testing.assert_array_equal(got, expected)


class _SwallowsCtrlC:
    """Ctrl-C arriving while a finaliser runs: Python prints "Exception ignored" and goes on."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)
        sum(range(1000))  # Python code: where the handler runs and raises KeyboardInterrupt


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_swallowed_by_a_finaliser_still_stops_the_build(tiny_models, tmp_path, split):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    backbone = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    base = split.opener

    def opener(i):
        if i == 2:
            _SwallowsCtrlC()  # made and dropped at once: its __del__ swallows the interrupt
        return base(i)

    interrupted = dataclasses.replace(split, opener=opener)
    with pytest.raises(KeyboardInterrupt):
        _features(backbone, tmp_path, interrupted, batch_size=1)
    entry, _ = cache_entry(tmp_path, backbone.info(), backbone.image_size, split, 0, 0)
    assert not entry.complete and entry.index["done"] == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


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
    monkeypatch.setattr("backbone.features.AUGMENT_VERSION", 99)  # the augmentation changed
    other, other_meta = cache_entry(tmp_path, backbone.info(), size, split, 1, 0)
    assert other.path != entry.path and not other.complete and entry.complete
    assert other_meta["augment_version"] == 99
    clean, _ = cache_entry(tmp_path, backbone.info(), size, split, 0, 0)
    assert clean.path.name == "view0"  # clean features do not depend on it
