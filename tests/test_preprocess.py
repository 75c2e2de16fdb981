"""The image transform (``--preprocess``): image-level tasks see an image through the model's own
open_clip eval transform (shortest side resized, centre crop), dense work squashes the whole image
to a square; each result records which, caches keep the two apart, and the maps figure shows the
image as the model saw it. Tiny random open_clip models (the ViT's image features depend on the
image) on generated non-square images."""

from __future__ import annotations

import csv
import json

import numpy as np
import open_clip
import polars as pl
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from negation.promptsim.cli import app as promptsim

runner = CliRunner()
SIZES = [(96, 32), (32, 80), (120, 45), (50, 110), (64, 64), (150, 40), (40, 100), (90, 60)]
WORDS = ["dog", "cat", "car", "tree", "boat", "chair", "bird", "cup", "house", "road", "sky"]


def noise_image(path, size, seed):
    """Smooth random colours: the centre and the edges of the image differ."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.Resampling.BILINEAR).save(path)
    return path


@pytest.fixture(scope="module")
def vit_file(tiny_models, tmp_path_factory):
    """The tiny ViT's random weights as a checkpoint file: notclip and the reference below load
    the same model from it."""
    path = tmp_path_factory.mktemp("weights") / "tiny-vit.pt"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(tiny_models[1])
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def negbench_csv(tmp_path_factory):
    """A NegBench-format MCQ CSV over non-square images (answer at index 0, as NegBench's)."""
    d = tmp_path_factory.mktemp("negbench")
    (d / "images").mkdir()
    rng = np.random.default_rng(7)
    rows = []
    for i, size in enumerate(SIZES):
        name = f"img{i}.png"
        noise_image(d / "images" / name, size, i)
        for q in range(12):
            words = rng.choice(WORDS, size=(4, 2), replace=False)  # four distinct captions
            captions = [f"a photo of a {a} but not a {b} {q}" for a, b in words]
            kind = ("positive", "negative", "hybrid")[q % 3]
            rows.append([name, *captions, 0, kind])
    head = ["image_path", *(f"caption_{k}" for k in range(4))]
    head += ["correct_answer", "correct_answer_template"]
    with (d / "mcq.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([head, *rows])
    return d


def model_view(path, size: int, *, crop: bool = True) -> Image.Image:
    """NegBench's ``preprocess_val``, rewritten with PIL: the shortest side resized bicubically
    to ``size`` (the long side truncated, as torchvision's Resize), a centre crop (offsets
    rounded), RGB. ``crop=False``: the whole image squashed to ``size × size``."""
    image = Image.open(path)
    w, h = image.size
    if not crop:
        return image.resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
    long = int(size * max(w, h) / min(w, h))
    nw, nh = (size, long) if w <= h else (long, size)
    image = image.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = round((nw - size) / 2), round((nh - size) / 2)  # as int(round()) does
    return image.crop((left, top, left + size, top + size)).convert("RGB")


def normalised(image: Image.Image, mean, std) -> torch.Tensor:
    """``[3, H, W]``: pixels / 255, minus ``mean``, over ``std`` (float32)."""
    x = np.asarray(image, dtype=np.float32) / np.float32(255)
    return torch.from_numpy((x - np.float32(mean)) / np.float32(std)).permute(2, 0, 1)


def negbench_reference(csv_path, images, model_name, weights, *, crop=True) -> list[str]:
    """NegBench's MCQ scoring, rewritten here: each image through :func:`model_view` at the
    model's size and :func:`normalised`; ``encode_image`` and ``encode_text`` L2-normalised; the
    caption with the highest cosine (ties to the lower index: ``argmax``)."""
    model = open_clip.create_model(model_name, pretrained=str(weights)).eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    cfg = model.visual.preprocess_cfg
    size = cfg["size"][0] if isinstance(cfg["size"], tuple | list) else cfg["size"]

    def pixels(path):
        return normalised(model_view(path, size, crop=crop), cfg["mean"], cfg["std"])

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    files = sorted({r["image_path"] for r in rows})
    captions = [[r[f"caption_{k}"] for k in range(4)] for r in rows]
    with torch.no_grad():  # each image and caption once, in one batch each
        img = model.encode_image(torch.stack([pixels(images / f) for f in files]))
        txt = model.encode_text(tokenizer([c for four in captions for c in four]))
    img, txt = F.normalize(img, dim=-1), F.normalize(txt, dim=-1).reshape(len(rows), 4, -1)
    chosen = []
    for r, row in enumerate(rows):
        logits = txt[r] @ img[files.index(row["image_path"])]
        top2 = logits.topk(2).values
        assert top2[0] > top2[1]  # no tie: notclip counts one wrong, NegBench takes index 0
        chosen.append(captions[r][int(torch.argmax(logits))])
    return chosen


def test_negbench_csv_predictions_equal_negbench_scoring(
    tiny_models, vit_file, negbench_csv, tmp_path
):
    out = tmp_path / "nb"
    args = ["negbench", "--negbench-csv", str(negbench_csv / "mcq.csv")]
    args += ["--images", str(negbench_csv / "images"), "--bootstrap", "10", "-q"]
    args += ["--model", tiny_models[1], "--pretrained", str(vit_file), "--device", "cpu"]
    res = runner.invoke(promptsim, [*args, "--no-text-cache", "--out", str(out)])
    assert res.exit_code == 0, res.output
    q = pl.read_parquet(out / "questions.parquet").sort("qid")
    ours = [opts[p] for opts, p in zip(q["options"], q["prediction"], strict=True)]
    csv_path, images = negbench_csv / "mcq.csv", negbench_csv / "images"
    theirs = negbench_reference(csv_path, images, tiny_models[1], vit_file)
    assert ours == theirs  # every prediction
    squashed = negbench_reference(csv_path, images, tiny_models[1], vit_file, crop=False)
    assert ours != squashed  # the transform matters here: a square resize disagrees
    # the default is recorded: run.json's model section, summary.json, each CLIP_benchmark file
    run = json.loads((out / "run.json").read_text())
    seen = run["model"]["preprocessing"]
    assert seen["preprocess"] == "crop" and run["config"]["preprocess"] == "crop"
    assert seen["resize"] == "shortest-side bicubic 32 + centre crop 32"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preprocessing"] == seen and "centre crop 32" in summary["image_features"]
    for name in summary["clip_benchmark_files"].values():
        assert json.loads((out / name).read_text())["preprocessing"] == seen


def test_backbone_transforms(tiny_models, tmp_path):
    """crop is open_clip's own eval transform of the model (``preprocess_val``), squash a square
    resize; ``view_image`` is the input before normalisation; ``info`` says which."""
    from backbone import BackboneConfig, load_backbone

    path = noise_image(tmp_path / "wide.png", (90, 40), 0)
    for name in tiny_models:
        _, _, preprocess_val = open_clip.create_model_and_transforms(name)
        bb = load_backbone(BackboneConfig(model=name, pretrained="none", preprocess="crop"))
        size = bb.image_size
        with Image.open(path) as im:
            assert torch.equal(bb.image_transform()(im), preprocess_val(im))
            assert torch.equal(
                bb.image_transform()(im), normalised(model_view(path, size), bb.mean, bb.std)
            )
            squash = bb.image_transform(preprocess="squash")(im)
            want = normalised(model_view(path, size, crop=False), bb.mean, bb.std)
            assert torch.allclose(squash, want, atol=1e-6)
            assert np.array_equal(np.asarray(bb.view_image(im)), np.asarray(model_view(path, size)))
        info = bb.info()["preprocessing"]
        assert info["preprocess"] == "crop"
        assert info["resize"] == f"shortest-side bicubic {size} + centre crop {size}"
        square = bb.preprocessing(2 * size, "squash")
        assert square["resize"] == f"square bicubic {2 * size}x{2 * size}, no crop"
    assert BackboneConfig().preprocess == "squash"  # the library default: dense work
    with pytest.raises(ValueError, match="preprocess must be one of crop, squash"):
        BackboneConfig(preprocess="pad")


def wide_generic(root):
    """The ``generic`` toy layout with each image widened to 160 × 64 (noise on both sides)."""
    from mlr_data import write_generic

    write_generic(root, n_train=6, n_test=6)
    for i, path in enumerate(sorted((root / "img").glob("*.png"))):
        with Image.open(noise_image(root / "edge.png", (160, 64), 100 + i)) as edges:
            canvas = edges.convert("RGB")
        with Image.open(path) as im:
            canvas.paste(im.convert("RGB"), (48, 0))  # the 64 × 64 original in the middle
        canvas.save(path)
    return root


def test_absence_global_crop_dense_squash_by_default(tiny_models, vit_file, tmp_path):
    from backbone import BackboneConfig, load_backbone
    from negation.promptsim.absence import auroc, prompt_features
    from negation.promptsim.templates import load_template_set, setting

    root = wide_generic(tmp_path / "data")
    out = tmp_path / "absence"
    args = ["absence", "--dataset", "generic", "--root", str(root), "--model", tiny_models[1]]
    args += ["--pretrained", str(vit_file), "--device", "cpu", "--image-size", "64"]
    res = runner.invoke(promptsim, [*args, "--no-text-cache", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    seen = run["model"]["preprocessing"]
    assert seen["global"]["resize"] == "shortest-side bicubic 32 + centre crop 32"
    assert seen["dense"]["resize"] == "square bicubic 64x64, no crop"
    assert run["config"]["backbone"]["preprocess"] == "crop"
    variants = json.loads((out / "summary.json").read_text())["variants"]
    assert "centre crop 32" in variants["global"] and "square bicubic 64x64" in variants["dense"]
    # the global scores are those of the model's own eval view: each class's AUROC of P from
    # scores computed here by hand
    bb = load_backbone(BackboneConfig(tiny_models[1], str(vit_file), device="cpu"))
    rows = [json.loads(line) for line in (root / "test.jsonl").read_text().splitlines()]
    train = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    classes = sorted({c for r in train for c in r["labels"]})  # generic: train's labels, sorted
    x = torch.stack([normalised(model_view(root / r["image"], 32), bb.mean, bb.std) for r in rows])
    with torch.no_grad():
        g = F.normalize(bb.model.encode_image(x), dim=-1)
    single = setting(load_template_set("single"), "not-prefix")
    text = prompt_features(lambda t: bb.encode_text(t), single, classes)["P"]
    scores = (g @ F.normalize(text, dim=-1).T).numpy()
    pc = pl.read_parquet(out / "per_class.parquet").filter(
        (pl.col("variant") == "global") & (pl.col("prompt") == "P")
    )
    for c, key in enumerate(classes):
        labels = np.array([int(key in r["labels"]) for r in rows])
        got = pc.filter(pl.col("class") == key)["auroc"][0]
        want = auroc(scores[:, c], labels)
        assert (got is None and want is None) or got == pytest.approx(want, abs=1e-9)


def maps_args(images, out, model, weights) -> list[str]:
    args = ["maps", *map(str, images), "--classes", "cat", "--out", str(out), "--model", model]
    return [*args, "--pretrained", str(weights), "--device", "cpu", "--no-text-cache", "-q"]


@pytest.mark.parametrize("mode", ["squash", "crop"])
def test_maps_are_of_the_model_view_and_record_it(tiny_models, vit_file, tmp_path, mode):
    from backbone import BackboneConfig, load_backbone
    from negation.promptsim.maps import BAR_PX, LABEL_PX, similarity_grid

    images = [noise_image(tmp_path / "wide.png", (120, 40), 1)]
    images.append(noise_image(tmp_path / "tall.png", (30, 75), 2))
    out = tmp_path / "maps"
    args = maps_args(images, out, tiny_models[1], vit_file)
    res = runner.invoke(promptsim, args if mode == "squash" else [*args, "--preprocess", mode])
    assert res.exit_code == 0, res.output  # squash: the default
    index = pl.read_parquet(out / "maps.parquet")
    assert set(index["preprocess"]) == {mode} and set(index["image_size"]) == {32}
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["preprocessing"]["preprocess"] == mode
    assert run["config"]["backbone"]["preprocess"] == mode
    bb = load_backbone(BackboneConfig(tiny_models[1], str(vit_file), device="cpu"))
    crop = mode == "crop"
    for path in images:
        rows = index.filter(pl.col("image") == str(path))
        view = model_view(path, 32, crop=crop)  # NegBench's view, or the square one
        with Image.open(out / rows["view_file"][0]) as saved:
            assert np.array_equal(np.asarray(saved), np.asarray(view))  # exactly what it saw
        with torch.no_grad():
            dense = bb.dense_features(normalised(view, bb.mean, bb.std)[None])[0]
        row = rows.filter(pl.col("prompt") == "positive").row(0, named=True)
        want = similarity_grid(dense, bb.encode_text([row["text"]]), (4, 4))[0]
        np.testing.assert_allclose(np.load(out / row["npy"]), want, atol=1e-5)
        with Image.open(out / row["png"]) as png:  # drawn over the view: cells line up
            assert png.size == (32, 32 + BAR_PX + LABEL_PX)


def test_maps_figure_draws_the_model_view(tiny_models, vit_file, tmp_path, monkeypatch):
    from figures import maps as figure_maps
    from figures import style

    images = [noise_image(tmp_path / "wide.png", (120, 40), 1)]
    out = tmp_path / "maps"
    args = [*maps_args(images, out, tiny_models[1], vit_file), "--preprocess", "crop"]
    assert runner.invoke(promptsim, args).exit_code == 0
    figs: list = []
    monkeypatch.setattr(style, "save", lambda fig, *a, **k: figs.append(fig) or [])
    figure_maps.similarity_grids(out, tmp_path / "figs", render="nearest")
    (fig,) = figs
    photo = next(ax for ax in fig.axes if ax.get_gid() == "photo")
    shown = photo.get_images()[0].get_array()
    assert np.array_equal(np.asarray(shown), np.asarray(model_view(images[0], 32)))  # not 120×40
    maps_drawn = [im for ax in fig.axes if ax is not photo for im in ax.get_images()]
    assert maps_drawn and {im.get_interpolation() for im in maps_drawn} == {"nearest"}
    titles = [" ".join(t.get_text().split()) for t in fig.texts]  # wrapped lines joined
    assert any("4×4 grid · crop 32 px" in t for t in titles)
    # a result written before views were saved: its photo squashed to the grid's shape
    index = pl.read_parquet(out / "maps.parquet").drop("view_file", "preprocess", "image_size")
    index.write_parquet(out / "maps.parquet")
    figs.clear()
    figure_maps.similarity_grids(out, tmp_path / "figs")
    photo = next(ax for ax in figs[0].axes if ax.get_gid() == "photo")
    assert photo.get_images()[0].get_array().shape[:2] == (120, 120)


def test_feature_cache_keeps_crop_and_squash_apart(tiny_models, vit_file, tmp_path, monkeypatch):
    import backbone.features as features
    from backbone import BackboneConfig, load_backbone
    from corpora.multilabel import load_split

    split = load_split("generic", wide_generic(tmp_path / "data"), "train")
    built = {}
    for mode in ("squash", "crop"):
        cfg = BackboneConfig(tiny_models[1], str(vit_file), device="cpu", preprocess=mode)
        bb = load_backbone(cfg)
        entry, meta = features.cache_entry(tmp_path / "fc", bb.info(), 32, split, 0, 0)
        cached = np.asarray(entry.build(bb, split, 0, 32, 0, meta), dtype=np.float32)
        x = torch.stack([bb.image_transform()(split.image(i)) for i in range(len(split))])
        np.testing.assert_allclose(cached, bb.dense_features(x).numpy(), atol=2e-3)  # fp16
        built[mode] = (entry, cached, meta)
    (squash, a, meta), (crop, b, _) = built["squash"], built["crop"]
    assert squash.path != crop.path and squash.complete and crop.complete  # both kept
    assert not np.allclose(a, b, atol=1e-2)  # the crop is another input
    assert "-crop__" in str(crop.path) and "-crop" not in str(squash.path)


def test_mlrtrain_records_its_transform_and_eval_reuses_it(tiny_models, vit_file, tmp_path):
    from mlr.cli import app as mlrtrain

    root = wide_generic(tmp_path / "data")
    out, fc = tmp_path / "run", tmp_path / "fc"
    args = ["fit", "--dataset", "generic", "--root", str(root), "--model", tiny_models[1]]
    args += ["--pretrained", str(vit_file), "--device", "cpu", "--feature-cache", str(fc)]
    args += ["--method", "baseline", "--epochs", "1", "--batch-size", "4", "--select", "last", "-q"]
    res = runner.invoke(mlrtrain, [*args, "--preprocess", "crop", "--out", str(out)])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["preprocess"] == "crop"
    assert run["model"]["preprocessing"]["resize"] == "shortest-side bicubic 32 + centre crop 32"
    assert json.loads((out / "metrics.json").read_text())["preprocess"] == "crop"
    res = runner.invoke(mlrtrain, ["eval", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "eval.json").read_text())["preprocess"] == "crop"
    assert [p.name.split("__")[1] for p in fc.iterdir()] == ["32-crop"]  # no squash features


def test_each_command_defaults_and_documents_its_transform():
    import typer

    from mlr.cli import app as mlrtrain
    from mlr.config import FitConfig

    def option(command):
        return next(p for p in command.params if p.name == "preprocess")

    commands = typer.main.get_command(promptsim).commands  # type: ignore[attr-defined]
    defaults = {name: option(commands[name]).default for name in ("negbench", "absence", "maps")}
    assert defaults == {"negbench": "crop", "absence": "crop", "maps": "squash"}
    mlr = typer.main.get_command(mlrtrain).commands  # type: ignore[attr-defined]
    assert all(option(mlr[name]) for name in ("fit", "sweep", "cache"))
    assert FitConfig().preprocess == "squash"  # dense work: the anchors' square resize
    assert not any(p.name == "preprocess" for p in mlr["eval"].params)  # the run's own
    for app, args in ((promptsim, ["negbench"]), (promptsim, ["absence"]), (mlrtrain, ["fit"])):
        shown = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "400"}).output
        text = " ".join(shown.replace("│", " ").split())  # the help panel's lines joined
        assert "--preprocess" in text and "centre crop" in text, args
    with pytest.raises(ValueError, match="--preprocess must be one of crop, squash"):
        FitConfig(preprocess="centre")
