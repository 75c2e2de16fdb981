"""negtune: captions built exactly from labels, the objective, what --train trains, the local-dir:
export, resume after a kill, the divergence guard and bad input (one error line, nothing
written). The end-to-end proof that negated captions teach negation is in test_negtune_learns.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from corpora.shapes import write_shapes
from corpora.toydata import toy_model_config, write_index
from negation.negbench.families import FAMILIES, MCQ_TYPES, TRAINING
from negation.negtune.cli import app
from negation.negtune.data import CaptionBuilder, Meaning, check_labels, read_extra_captions
from negation.negtune.objective import contrastive_loss, hard_negative_loss, objective
from negation.negtune.towers import parse_train, reinit_random, select_trainable

runner = CliRunner(env={"COLUMNS": "200"})
FAMS = [FAMILIES["photo"], FAMILIES["scene"]]
NAMES = ("circle", "square", "triangle", "cross", "star", "ring")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _labels(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 6)) < 0.35).astype(np.int8)
    y[rng.random((n, 6)) < 0.05] = -1  # unknown (VOC difficult): never affirmed, never negated
    y[(y == 1).sum(1) == 0, 0] = 1
    return y


def _meaning(text: str, names=NAMES) -> Meaning:
    """The classes a photo/scene caption affirms and negates, read back from its words."""
    words = text.replace(".", "").split()
    affirmed, negated = [], []
    negating = False
    for w in words:
        if w in ("no", "without", "not", "neither", "nor"):
            negating = True
        elif w == "but":
            negating = False
        if w in names:
            (negated if negating else affirmed).append(names.index(w))
    return tuple(affirmed), tuple(negated)


def test_captions_are_exact_true_and_false_from_labels():
    y = _labels()
    builder = CaptionBuilder(y, NAMES, FAMS, "labels", seed=3)
    batch = builder.batch(np.arange(len(y)), epoch=0)
    assert set(batch.kinds) == set(MCQ_TYPES)
    for i in range(len(y)):
        true = batch.texts[batch.true[i]]
        affirmed, negated = _meaning(true)
        assert all(y[i, c] == 1 for c in affirmed) and all(y[i, c] == 0 for c in negated), true
        options = [batch.texts[k] for k in batch.options[i]]
        assert options[0] == true and len(set(options)) == 4
        for wrong in options[1:]:  # each false: an absent class affirmed or a present one negated
            a, n = _meaning(wrong)
            assert any(y[i, c] == 0 for c in a) or any(y[i, c] == 1 for c in n), wrong
    again = CaptionBuilder(y, NAMES, FAMS, "labels", seed=3).batch(np.arange(len(y)), epoch=0)
    assert again.texts == batch.texts  # seeded
    other = builder.batch(np.arange(len(y)), epoch=1)
    assert other.texts != batch.texts  # a new draw each epoch


def test_no_default_training_family_tells_a_negated_class_by_its_article():
    # "a" before every class name of a family or before none, in all three types: otherwise a model
    # trained from scratch can take the article as the negation cue (photo: "a A" / "no A")
    def articles(family) -> set[bool]:
        templates = [*family.affirmation.values(), *family.negation.values(), family.hybrid]
        slots = [t.split(f"{{{k}}}")[0] for t in templates for k in (0, 1) if f"{{{k}}}" in t]
        return {s.split()[-1:] == ["a"] for s in slots}

    training = TRAINING.split(",")
    assert "negbench" not in training and len(training) >= 5  # the evaluation's stays unseen
    assert all(len(articles(FAMILIES[n])) == 1 for n in training)
    assert len(articles(FAMILIES["photo"])) == 2


def test_the_control_trains_on_affirmative_captions_only():
    y = _labels()
    batch = CaptionBuilder(y, NAMES, FAMS, "none", seed=0).batch(np.arange(len(y)), epoch=0)
    assert set(batch.kinds) == {"affirmation"}
    assert not any(w in t.split() for t in batch.texts for w in ("no", "not", "without"))


def test_the_truth_matrix_says_which_captions_are_not_false_of_which_images():
    y = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [1, 0, -1, 0]], dtype=np.int8)
    builder = CaptionBuilder(y, NAMES[:4], [FAMILIES["photo"]], "none", seed=0)
    batch = builder.batch(np.arange(4), epoch=0)
    for j in range(4):
        a, n = _meaning(batch.texts[batch.true[j]], NAMES[:4])
        for i in range(4):
            expect = all(y[i, c] != 0 for c in a) and all(y[i, c] != 1 for c in n)
            assert batch.truth[i, j] == expect


def test_an_image_showing_no_class_is_captioned_by_what_it_does_not_show():
    # rows 1 and 2 show none of the classes (row 2 knows only one absent class): a negated
    # caption of their absent classes is true of them; no false variants, so no hard negatives
    y = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [-1, -1, 0, -1], [1, 0, 0, 1]], dtype=np.int8)
    batch = CaptionBuilder(y, NAMES[:4], FAMS, "labels", seed=0).batch(np.arange(4), epoch=0)
    for i in (1, 2):
        assert batch.kinds[i] == "negation" and batch.true[i] >= 0
        assert (batch.options[i] == -1).all()
        affirmed, negated = _meaning(batch.texts[batch.true[i]], NAMES[:4])
        assert not affirmed and negated and all(y[i, c] == 0 for c in negated)
        assert batch.truth[:, i].tolist() == [all(r[c] != 1 for c in negated) for r in y]
    assert _meaning(batch.texts[batch.true[2]], NAMES[:4])[1] == (2,)
    control = CaptionBuilder(y, NAMES[:4], FAMS, "none", seed=0).batch(np.arange(4), epoch=0)
    assert control.kinds[1] is None and control.true[1] == -1  # affirmative only: nothing to say


def test_extra_captions_join_the_affirmative_pool(tmp_path: Path):
    keys = ["img/train_0.png", "img/train_1.png"]
    coco = {
        "images": [{"id": 7, "file_name": "train_1.png"}],
        "annotations": [{"image_id": 7, "caption": "A bright ring on black."}],
    }
    (tmp_path / "c.json").write_text(json.dumps(coco))
    extra = read_extra_captions(tmp_path / "c.json", keys)
    assert extra == {1: ["A bright ring on black."]}
    y = np.array([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]], dtype=np.int8)
    builder = CaptionBuilder(y, NAMES, FAMS, "none", seed=0, extra=extra)
    drawn = {builder.batch(np.array([1]), e).texts[0] for e in range(20)}
    assert "A bright ring on black." in drawn and len(drawn) > 1
    (tmp_path / "other.jsonl").write_text('{"image": "val/x.png", "caption": "x"}\n')
    with pytest.raises(ValueError, match="names an image of the training split"):
        read_extra_captions(tmp_path / "other.jsonl", keys)


def test_a_dataset_with_one_class_cannot_be_negated():
    with pytest.raises(ValueError, match="1 class — negation needs at least two"):
        check_labels(np.ones((5, 1), dtype=np.int8), "d")


def test_the_contrastive_loss_leaves_captions_that_may_be_true_out_of_the_softmax():
    torch.manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    scale = torch.tensor(10.0)
    none = torch.eye(3, dtype=torch.bool)
    logits = scale * img @ txt.T
    ce = torch.nn.functional.cross_entropy
    plain = (ce(logits, torch.arange(3)) + ce(logits.T, torch.arange(3))) / 2
    assert torch.allclose(contrastive_loss(img, txt, scale, none), plain)
    truth = none.clone()
    truth[0, 1] = True  # caption 1 is also true of image 0: not image 0's negative
    masked = logits.clone()
    masked[0, 1] = float("-inf")
    expect = (ce(masked, torch.arange(3)) + ce(masked.T, torch.arange(3))) / 2
    assert torch.allclose(contrastive_loss(img, txt, scale, truth), expect)


def test_the_hard_negative_term_is_cross_entropy_over_the_true_caption_and_its_variants():
    torch.manual_seed(1)
    img = torch.randn(2, 4)
    opts = torch.randn(2, 4, 4)
    logits = 5.0 * torch.einsum("bd,bkd->bk", img, opts)
    expect = torch.nn.functional.cross_entropy(logits, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(hard_negative_loss(img, opts, torch.tensor(5.0)), expect)
    text = torch.randn(5, 4)
    true = torch.tensor([0, -1])  # image 1 has no caption: left out of both terms
    options = torch.tensor([[0, 1, 2, 3], [-1, -1, -1, -1]])
    loss, parts = objective(
        img,
        text,
        true,
        options,
        torch.eye(2, dtype=torch.bool),
        torch.tensor(1.0),
        clip_weight=1.0,
        hard_negative_weight=2.0,
    )
    assert parts["contrastive"] == 0.0  # one image left: no contrast
    assert loss.item() == pytest.approx(2.0 * parts["hard_negative"])


@pytest.fixture(scope="module")
def toy_model():
    from backbone import BackboneConfig, load_backbone

    return load_backbone(
        BackboneConfig(model=str(toy_model_config()), pretrained="none", device="cpu")
    )


def test_train_modes_train_what_they_say(toy_model):
    model = toy_model.model
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    select_trainable(model, parse_train("text"))
    text = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith("visual.") for n in text)
    assert {"token_embedding.weight", "text_projection", "ln_final.weight", "logit_scale"} <= text
    select_trainable(model, parse_train("text-front:1"))
    front = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "transformer.resblocks.0.attn.in_proj_weight" in front
    assert not any(
        n.startswith(("transformer.resblocks.1.", "ln_final", "text_proj")) for n in front
    )
    select_trainable(model, parse_train("all"))
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="has 2 block"):
        select_trainable(model, parse_train("text-front:3"))
    for bad in ("text-front:0", "text-front", "image", "text:2"):
        with pytest.raises(ValueError, match="use text"):
            parse_train(bad)
    model.requires_grad_(False)
    for n, p in model.named_parameters():
        p.requires_grad_(n in trained)


def test_random_weights_are_reinitialised_so_that_images_matter(toy_model):
    from backbone import BackboneConfig, load_backbone
    from corpora.shapes import make_image

    fresh = load_backbone(
        BackboneConfig(model=str(toy_model_config()), pretrained="none", device="cpu", seed=5)
    )
    tf = fresh.image_transform(64)
    y = np.eye(6, dtype=np.int8)
    x = torch.stack([tf(make_image(y[k], k)) for k in range(6)])

    def spread() -> float:  # 1 − the lowest cosine between two images' embeddings
        with torch.no_grad():
            f = torch.nn.functional.normalize(fresh.model.encode_image(x), dim=-1)
        return 1 - float((f @ f.T)[~torch.eye(6, dtype=torch.bool)].min())

    before = spread()  # about 1e-6: the image barely matters
    reinit_random(fresh.model, 5)
    assert spread() > 100 * before


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return write_shapes(tmp_path_factory.mktemp("shapes"), n_train=48, n_test=12, seed=1)


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--dataset",
        "generic",
        "--root",
        str(root),
        "--model",
        str(toy_model_config()),
        "--pretrained",
        "none",
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        "--no-cache",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


def test_a_run_writes_an_export_every_command_loads_and_flags_random_weights(shapes, tmp_path):
    import polars as pl

    from backbone import BackboneConfig, load_backbone, weights_id
    from corpora.schema import NEGTUNE_EVAL

    out = tmp_path / "run"
    args = _args(shapes, out, "--train", "all", "--bootstrap", "10")
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    assert "RANDOM WEIGHTS" in res.stderr and f"--pretrained local-dir:{out}" in res.stderr
    frame = pl.read_parquet(out / "eval.parquet")
    assert json.loads(res.stdout) == json.loads(frame.write_json())  # --format json: its rows
    assert frame.schema == pl.Schema(NEGTUNE_EVAL)
    assert set(frame["stage"]) == {"before", "after"} and frame["random_weights"].to_list()[0]
    assert {"mcq", "existence", "retrieval", "zeroshot"} == set(frame["task"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["random_weights"] and "RANDOM WEIGHTS" in summary["warning"]
    assert len(summary["history"]) == 2 and summary["tuned_pretrained"] == f"local-dir:{out}"
    run = json.loads((out / "run.json").read_text())
    assert run["command"] == "negtune" and "Kaiming" in run["init"]
    tuned = load_backbone(
        BackboneConfig(model=str(out), pretrained=f"local-dir:{out}", device="cpu")
    )  # the export's folder is a --model too
    assert not tuned.random_weights and weights_id(tuned) == summary["tuned_weights_id"]
    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["params"]
    assert torch.equal(tuned.model.state_dict()["text_projection"], saved["text_projection"])


def test_a_killed_run_resumes_to_the_same_weights(shapes, tmp_path, monkeypatch):
    from negation.negtune import train as T

    whole = tmp_path / "whole"
    assert runner.invoke(app, _args(shapes, whole, "--no-eval")).exit_code == 0
    killed = tmp_path / "killed"
    real = T.atomic_torch_save

    def save_then_die(obj, path, keep_previous=None):
        real(obj, path, keep_previous)
        raise KeyboardInterrupt  # killed right after the first epoch's checkpoint

    monkeypatch.setattr(T, "atomic_torch_save", save_then_die)
    res = runner.invoke(app, _args(shapes, killed, "--no-eval"))
    assert res.exit_code == 130 and not (killed / "summary.json").exists()
    monkeypatch.setattr(T, "atomic_torch_save", real)
    again = runner.invoke(app, _args(shapes, killed, "--no-eval"))
    assert again.exit_code == 1 and "pass --resume" in again.stderr
    changed = runner.invoke(app, [*_args(shapes, killed, "--no-eval", "--resume"), "--lr", "1"])
    assert (
        changed.exit_code == 1 and "options differ" in changed.stderr and "--lr" in changed.stderr
    )
    assert runner.invoke(app, _args(shapes, killed, "--no-eval", "--resume")).exit_code == 0
    a = torch.load(whole / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert all(torch.equal(a["params"][k], b["params"][k]) for k in a["params"])


def test_a_diverging_run_stops_with_one_line(shapes, tmp_path):
    res = runner.invoke(app, [*_args(shapes, tmp_path / "r", "--no-eval"), "--lr", "1e12"])
    assert res.exit_code == 1, res.output
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("error: the ") and "stopped" in line and "--lr" in line


def _one_error_line(res, out: Path) -> str:
    assert res.exit_code == 1, res.output
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.output
    assert not out.exists()  # nothing written
    return errors[0]


def test_bad_input_is_one_line_and_writes_nothing(shapes, tmp_path):
    import shutil

    one = tmp_path / "one"
    shutil.copytree(shapes, one)
    for split in ("train", "test"):  # every image labelled circle, the only class
        rows = [json.loads(r) for r in (one / f"{split}.jsonl").read_text().splitlines()]
        write_index(one, split, [(r["image"], ["circle"]) for r in rows], "jsonl")
    (one / "classes.txt").write_text("circle\n")
    out = tmp_path / "out"
    assert "1 class — negation needs at least two" in _one_error_line(
        runner.invoke(app, _args(one, out)), out
    )
    line = _one_error_line(runner.invoke(app, _args(shapes, out, "--train", "text-front:9")), out)
    assert "has 2 block(s); K must be 1 to 2" in line


def test_a_checkpoint_of_another_architecture_is_one_line(shapes, tmp_path, tiny_models):
    import open_clip

    other = open_clip.create_model(tiny_models[0])  # a 512-d ResNet, not the toy model
    torch.save(other.state_dict(), tmp_path / "other.pt")
    out = tmp_path / "out"
    args = _args(shapes, out)
    args[args.index("none")] = str(tmp_path / "other.pt")
    line = _one_error_line(runner.invoke(app, args), out)
    assert "do not fit" in line and "other.pt" in line


def test_usage_errors_exit_2(shapes, tmp_path):
    for extra in (["--negations", "some"], ["--train", "image"], ["--batch-size", "1"]):
        res = runner.invoke(app, _args(shapes, tmp_path / "o", *extra))
        assert res.exit_code == 2, (extra, res.output)
    assert not (tmp_path / "o").exists()


def test_training_and_evaluation_see_images_through_the_same_transform(
    shapes, tmp_path, monkeypatch
):
    # --preprocess squash: the cached training embeddings, negbench's scoring and the zero-shot
    # check all squash (a crop anywhere would train on other pixels than it evaluates)
    from backbone import dense

    modes: list[str] = []
    transform = dense.image_transform

    def recorded(size, mean, std, preprocess="squash", *args, **kw):
        modes.append(preprocess)
        return transform(size, mean, std, preprocess, *args, **kw)

    monkeypatch.setattr(dense, "image_transform", recorded)
    args = [a for a in _args(shapes, tmp_path / "run") if a != "--no-cache"]
    cache = ["--feature-cache", str(tmp_path / "cache"), "--eval-tasks", "mcq"]
    res = runner.invoke(app, [*args, *cache, "--preprocess", "squash", "--bootstrap", "5"])
    assert res.exit_code == 0, res.output
    assert len(modes) >= 5 and set(modes) == {"squash"}  # embeddings + 2 stages × (mcq, map)
    export = json.loads((tmp_path / "run" / "open_clip_config.json").read_text())
    assert export["negtune"]["preprocess"] == "squash"  # what the tuned model expects
