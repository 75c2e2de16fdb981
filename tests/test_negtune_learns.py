"""negtune's offline proof in small (benchmarks/negtune_bench.py has the full one): a tiny CLIP
trained from random weights on affirmative captions only cannot answer negated MCQ questions;
trained on the label-exact negated captions too, it can — evaluated on the held-out split with
negbench's own sentences, which the training captions never use."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from corpora.toydata import write_generic
from negation.negtune.config import TuneConfig
from negation.negtune.runner import negtune

MODEL = Path(__file__).parent / "negtune_model.json"  # 32 px ResNet, 32-d, one text block


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_generic(tmp_path_factory.mktemp("toy"), n_train=384, n_test=48)


def _negation_accuracy(root: Path, out: Path, negations: str) -> dict[str, float]:
    cfg = TuneConfig(
        dataset="generic",
        root=str(root),
        out=str(out),
        model=str(MODEL),
        pretrained="none",
        device="cpu",
        train="all",
        negations=negations,
        epochs=6,
        lr=2e-3,
        batch_size=64,
        cache=False,
        eval_tasks="mcq",
        bootstrap=10,
    )
    table = negtune(cfg).table
    assert table is not None
    after = table.filter((pl.col("stage") == "after") & (pl.col("task") == "mcq"))
    return dict(zip(after["type"], after["value"], strict=True))


def test_negated_captions_teach_negation_and_affirmative_ones_do_not(toy, tmp_path):
    control = _negation_accuracy(toy, tmp_path / "none", "none")
    tuned = _negation_accuracy(toy, tmp_path / "labels", "labels")
    assert tuned["negation"] >= control["negation"] + 0.3, (tuned, control)
    assert tuned["affirmation"] >= control["affirmation"] - 0.15, (tuned, control)
