"""Reading images (corpora.images): every mode comes out as correctly scaled 8-bit RGB or is refused
in one line; a decompression bomb is a named bad image (skipped and listed with
--skip-bad-images), never a traceback."""

from __future__ import annotations

import numpy as np
import pytest
from mlr_data import write_generic
from PIL import Image
from typer.testing import CliRunner

from corpora.images import BadImageError, open_image
from corpora.multilabel import load_split
from mlr.cli import app
from mlr.config import FitConfig
from mlr.inputs import load_splits

runner = CliRunner()


def _gray16(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, size=(64, 64), dtype=np.uint16)


def test_16_bit_png_is_scaled_to_8_bits_not_clipped_to_white(tmp_path):
    values = _gray16(0)
    Image.fromarray(values).save(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as stored:
        assert stored.mode == "I;16"
    rgb = np.asarray(open_image(tmp_path / "a.png"))
    expected = np.round(values / 65535 * 255).astype(np.uint8)
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    np.testing.assert_array_equal(rgb[..., 0], expected)  # PIL's own convert: all 255
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_16_bit_dataset_images_keep_their_differences(tmp_path):
    root = write_generic(tmp_path, n_train=3, n_test=2)
    for i in range(3):
        Image.fromarray(_gray16(i)).save(root / "img" / f"train_{i}.png")
    split = load_split("generic", root, "train")
    images = [np.asarray(split.image(i)) for i in range(3)]
    assert all(abs(im.mean() - 127.5) < 5 for im in images)  # uniform noise, not white
    assert np.abs(images[0].astype(int) - images[1]).mean() > 50


@pytest.mark.parametrize("mode", ["F", "I"])
def test_pixels_without_a_white_point_are_refused_in_one_line(tmp_path, mode):
    path = tmp_path / "x.tiff"
    Image.new(mode, (8, 8)).save(path)
    with pytest.raises(BadImageError, match=rf"image {path}: .* \(mode {mode}\)"):
        open_image(path)


def test_eight_bit_modes_are_converted_as_pil_does(tmp_path):
    for mode in ("L", "LA", "P", "RGBA", "CMYK", "1"):
        image = Image.new(mode, (4, 4))
        image.save(tmp_path / f"{mode}.{'jpg' if mode == 'CMYK' else 'png'}")
        got = open_image(tmp_path / f"{mode}.{'jpg' if mode == 'CMYK' else 'png'}")
        assert got.mode == "RGB" and got.size == (4, 4)


@pytest.fixture
def bomb(tmp_path, monkeypatch):
    """A dataset whose train_1.png has more than twice PIL's pixel limit (the limit lowered so
    that a 128×128 image is a bomb and the 64×64 ones are not: tiny data, the same check)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    root = write_generic(tmp_path / "data", n_train=4, n_test=2)
    Image.new("L", (128, 128)).save(root / "img" / "train_1.png")
    return root


def test_a_decompression_bomb_is_a_bad_image(bomb):
    with pytest.raises(BadImageError, match=r"cannot read image .*train_1\.png: .*decompression"):
        open_image(bomb / "img" / "train_1.png")
    cfg = FitConfig(dataset="generic", root=str(bomb), skip_bad_images=True)
    train, _ = load_splits(cfg)
    assert len(train) == 3 and [s["image"] for s in train.skipped] == [
        str(bomb / "img" / "train_1.png")
    ]
    assert "decompression" in train.skipped[0]["error"]


def test_a_decompression_bomb_in_mlrtrain_is_one_line(bomb, tiny_models, tmp_path):
    args = ["cache", "--dataset", "generic", "--root", str(bomb), "--model", tiny_models[1]]
    args += ["--pretrained", "none", "--device", "cpu", "--quiet"]
    res = runner.invoke(app, [*args, "--feature-cache", str(tmp_path / "fc")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "error: cannot read image" in res.output and "train_1.png" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, [*args, "--feature-cache", str(tmp_path / "fc"), "--skip-bad-images"])
    assert res.exit_code == 0, res.output
    assert "cached 3 train" in res.output


def test_a_decompression_bomb_in_promptsim_maps_is_one_line(bomb, tiny_models, tmp_path):
    from negation.promptsim.cli import app as promptsim

    args = ["maps", str(bomb / "img" / "train_1.png"), "--classes", "cat", "--out"]
    args += [str(tmp_path / "o"), "--model", tiny_models[0], "--pretrained", "none"]
    res = runner.invoke(promptsim, [*args, "--no-text-cache"])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "train_1.png" in res.output and "decompression" in res.output
    assert not (tmp_path / "o" / "maps.parquet").exists()
