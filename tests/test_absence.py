"""promptsim absence: AUROC against scikit-learn, and the command end to end on a tiny VOC layout
with a tiny random ResNet (its numbers mean nothing; the files and their shape do)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from mlr_data import VOC_USED, write_voc
from PIL import Image
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from figures.absence import absence_scatter
from negation.promptsim.absence import auroc, prompt_features, target_labels
from negation.promptsim.cli import app
from negation.promptsim.templates import Setting

runner = CliRunner()


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_sklearn_with_ties_and_ignored_entries(seed):
    rng = np.random.default_rng(seed)
    n = 60
    scores = rng.integers(0, 6, n).astype(float)  # few distinct values: many ties
    labels = rng.integers(-1, 2, n)
    labels[:2] = (0, 1)
    keep = labels >= 0
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels[keep], scores[keep]))
    cont = rng.normal(size=n)
    assert auroc(cont, labels) == pytest.approx(roc_auc_score(labels[keep], cont[keep]))


def test_auroc_edge_cases():
    assert auroc(np.array([0.1, 0.9]), np.array([0, 1])) == 1.0
    assert auroc(np.array([0.5, 0.5, 0.5]), np.array([0, 1, 1])) == 0.5
    assert auroc(np.array([0.1, 0.2]), np.array([1, 1])) is None  # no negative
    assert auroc(np.array([0.1, 0.2]), np.array([-1, 0])) is None
    y = np.array([1, 0, -1, 0])
    assert target_labels(y, "absence").tolist() == [0, 1, -1, 1]


def test_prompt_features_are_normalised_template_ensembles():
    import torch

    rng = np.random.default_rng(3)
    table: dict[str, np.ndarray] = {}

    def encode(texts):
        rows = [table.setdefault(t, rng.normal(size=8) * rng.uniform(0.1, 9)) for t in texts]
        return torch.from_numpy(np.stack(rows).astype(np.float32))

    pos, neg = ("a {}", "b {}", "c {}"), ("not a {}", "no {}")
    names = ["cat", "dog"]
    text = prompt_features(encode, Setting("t", "x", pos, neg, None, "halves"), names)
    for prompt, templates in (("P", pos), ("N", neg)):
        emb = np.stack([[table[t.replace("{}", n)] for t in templates] for n in names])
        unit = emb.astype(np.float32) / np.linalg.norm(
            emb.astype(np.float32), axis=-1, keepdims=True
        )
        want = unit.mean(axis=1) / np.linalg.norm(unit.mean(axis=1), axis=-1, keepdims=True)
        assert text[prompt].dtype == torch.float32 and text[prompt].shape == (2, 8)
        np.testing.assert_allclose(text[prompt].numpy(), want, rtol=0, atol=1e-6)


def test_absence_end_to_end_on_voc(tmp_path, tiny_models):
    root = write_voc(tmp_path / "voc", n_trainval=2, n_test=12)
    out = tmp_path / "absence"
    res = runner.invoke(
        app,
        [
            "absence",
            "--dataset",
            "voc",
            "--root",
            str(root),
            "--model",
            tiny_models[0],
            "--pretrained",
            "none",
            "--device",
            "cpu",
            "--image-size",
            "96",
            "--batch-size",
            "5",
            "--no-text-cache",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "RANDOM WEIGHTS" in res.output and "N → absence" in res.output
    pc = pl.read_parquet(out / "per_class.parquet")
    assert pc.columns[:6] == ["class", "variant", "prompt", "target", "auroc", "ap"]
    assert pc.height == 20 * 2 * 3  # VOC's 20 classes × 2 variants × 3 comparisons
    assert set(pc["variant"]) == {"global", "dense"}
    # the generated images use 4 VOC classes (+ difficult 'person' / 'dog'); the others have no
    # positive in the split: undefined AUROC, never a made-up number
    used = pc.filter(pl.col("class").is_in(list(VOC_USED)))
    assert used["auroc"].is_not_null().all()
    assert used["auroc"].is_between(0, 1).all() and used["ap"].is_between(0, 1).all()
    assert pc.filter(pl.col("class") == "cow")["auroc"].is_null().all()
    # difficult-only 'person' on image 0 is left out, not counted as absent
    person = pc.filter((pl.col("class") == "person") & (pl.col("target") == "absence"))
    assert person["n_target"].to_list() == [11, 11] and person["n_other"].to_list() == [0, 0]

    # N for presence and N for absence are complementary AUROCs of the same scores
    def n_auroc(target):
        return used.filter((pl.col("prompt") == "N") & (pl.col("target") == target))["auroc"]

    np.testing.assert_allclose(n_auroc("presence"), 1 - n_auroc("absence"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["random_weights"] is True and "warning" in summary
    assert summary["positive"] == ["photo of a {}"]
    assert summary["negative"] == ["Not a photo of a {}"]
    assert len(summary["rows"]) == 6
    row = next(r for r in summary["rows"] if (r["variant"], r["prompt"]) == ("dense", "P"))
    assert row["n_classes"] == 5  # the four quadrant classes and 'dog' (image 1)
    assert row["auroc_mean"] == pytest.approx(
        pc.filter(
            (pl.col("variant") == "dense")
            & (pl.col("prompt") == "P")
            & pl.col("auroc").is_not_null()
        )["auroc"].mean()
    )
    info = json.loads((out / "run.json").read_text())
    assert info["command"] == "promptsim absence" and info["model"]["random_weights"] is True
    # paperfigs draws it
    files = absence_scatter(out, tmp_path / "figs")
    assert {f.suffix for f in files} == {".png", ".pdf", ".txt"} and all(
        f.stat().st_size > 0 for f in files
    )


def test_absence_errors_are_one_line(tmp_path, tiny_models):
    res = runner.invoke(
        app,
        ["absence", "--dataset", "voc", "--root", str(tmp_path / "none"), "--pretrained", "none"],
    )
    assert res.exit_code == 2 and "no such" in res.output and "none" in res.output
    res = runner.invoke(
        app, ["absence", "--dataset", "imagenet", "--root", str(tmp_path), "--pretrained", "none"]
    )
    assert res.exit_code == 2 and "--dataset" in res.output  # a bad option value: usage


def test_absence_refuses_dataset_classes_that_differ_only_in_case(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded for a class list with case duplicates")

    monkeypatch.setattr("negation.promptsim.inputs.load_backbone", boom)
    monkeypatch.setenv("COLUMNS", "400")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    for split in ("train", "test"):
        rows = [{"image": "a.png", "labels": ["Cat", "dog"]}, {"image": "a.png", "labels": ["cat"]}]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    res = runner.invoke(app, ["absence", "--dataset", "generic", "--root", str(tmp_path)])
    assert res.exit_code == 1, res.output  # bad input
    assert "classes 'Cat' and 'cat' differ only in case" in res.output
