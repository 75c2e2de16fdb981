"""paperfigs negation-gap: per backbone, negation accuracy (promptsim negbench) against the
DualCoOp − PositiveCoOp mAP gap (mlrtrain sweep), from fabricated result files whose numbers are
checked by hand."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from test_paperfigs import DPI, caption, drawn_figures, flat, legend_texts
from typer.testing import CliRunner

from corpora.runio import atomic_write_json, atomic_write_parquet
from figures.cli import app
from figures.gallery import draw_all

runner = CliRunner()
TUNED = "/models/negclip.pt"
# backbone → (pretrained, weights_id, random, {(p, seed): (dualcoop, positivecoop) mAP})
BACKBONES = {
    "base": (
        "openai",
        "aaaaaaaaaaaa",
        False,
        {
            (0.1, 0): (60.0, 63.0),
            (0.1, 1): (62.0, 67.0),
            (0.5, 0): (80.0, 82.0),
            (0.5, 1): (81, 81),
        },
    ),
    "tuned": (
        TUNED,
        "bbbbbbbbbbbb",
        False,
        {
            (0.1, 0): (66.0, 63.0),
            (0.1, 1): (68.0, 64.0),
            (0.5, 0): (84.0, 82.0),
            (0.5, 1): (85, 82),
        },
    ),
}
# the gap (dualcoop − positivecoop) per backbone and proportion: mean, min, max over seeds
GAPS = {
    ("base", 0.1): (-4.0, -5.0, -3.0),
    ("base", 0.5): (-1.0, -2.0, 0.0),
    ("tuned", 0.1): (3.5, 3.0, 4.0),
    ("tuned", 0.5): (2.5, 2.0, 3.0),
}
NEGATION = {"base": 0.1, "tuned": 0.8}  # negbench negation-type MCQ accuracy


def make_sweep(d: Path, backbones: dict = BACKBONES) -> Path:
    rows = []
    for pretrained, wid, random, maps in backbones.values():
        for (p, seed), pair in maps.items():
            for method, m in zip(("dualcoop", "positivecoop"), pair, strict=True):
                rows.append(
                    {
                        "dataset": "voc",
                        "model": "RN50",
                        "pretrained": pretrained,
                        "weights_id": wid,
                        "image_size": 224,
                        "random_weights": random,
                        "preprocess": "squash",
                        "augmentation": "none",
                        "method": method,
                        "partial": p,
                        "seed": seed,
                        "map": float(m),
                        "cf1_harmonic": 50.0,
                        "of1": 50.0,
                        "n_params": 1000,
                        "wall_seconds": 60.0,
                        "device": "cpu",
                        "status": "complete",
                        "error": None,
                    }
                )
    atomic_write_parquet(d / "results.parquet", pl.DataFrame(rows))
    return d


def make_negbench(d: Path, name: str, pretrained: str, wid: str, acc: float) -> Path:
    """One model's `promptsim negbench --out` folder (as a --models-file folder holds it)."""
    est = {"value": acc, "ci_low": acc - 0.05, "ci_high": acc + 0.05}
    by_type = {"affirmation": {"value": 0.9}, "negation": est, "hybrid": {"value": 0.5}}
    summary = {
        "model": "RN50",
        "pretrained": pretrained,
        "weights_id": wid,
        "random_weights": wid == "random",
        "dataset": "voc",
        "split": "test",
        "n_images": 40,
        "metrics": {"mcq": {"by_type": by_type}},
    }
    atomic_write_json(d / name / "summary.json", summary)
    atomic_write_json(d / name / "run.json", {"command": "promptsim negbench"})
    return d


def make_models_folder(d: Path, backbones: dict = BACKBONES) -> Path:
    for name, (pretrained, wid, _, _) in backbones.items():
        make_negbench(d, name, pretrained, wid, NEGATION.get(name, 0.3))
    atomic_write_json(d / "models.json", [])  # a --models-file folder
    return d


def test_one_point_per_backbone_and_proportion_with_the_gaps(tmp_path, monkeypatch):
    sweep, negbench = make_sweep(tmp_path / "sweep"), make_models_folder(tmp_path / "nb")
    figs = drawn_figures(monkeypatch)
    out = tmp_path / "figs"
    res = runner.invoke(
        app, ["negation-gap", str(sweep), "--negbench", str(negbench), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert (out / "negation_gap_voc.csv").is_file()  # the inputs, tidy, beside the figure
    csv = pl.read_csv(out / "negation_gap_voc.csv")
    assert csv.height == 4 and set(csv["n_seeds"]) == {2}
    for row in csv.iter_rows(named=True):
        name = "tuned" if row["pretrained"] == TUNED else "base"
        got = (row["gap"], row["gap_min"], row["gap_max"])
        assert got == pytest.approx(GAPS[(name, row["partial"])])
        assert row["gap"] == pytest.approx(row["map_dualcoop"] - row["map_positivecoop"])
        assert row["negation_accuracy"] == pytest.approx(NEGATION[name])
        assert row["negbench_dir"] == str(negbench / name)
    (fig,) = figs
    (ax,) = fig.axes
    series = {ln.get_gid(): ln for ln in ax.get_lines() if str(ln.get_gid()).startswith("RN50")}
    assert len(series) == 2  # one colour per backbone, a point per proportion
    colors = set()
    for gid, line in series.items():
        name = "tuned" if TUNED in gid else "base"
        assert list(line.get_xdata()) == pytest.approx([NEGATION[name]] * 2)
        assert list(line.get_ydata()) == pytest.approx([GAPS[(name, p)][0] for p in (0.1, 0.5)])
        colors.add(
            line.get_color() if isinstance(line.get_color(), str) else tuple(line.get_color())
        )
    assert len(colors) == 2
    assert sorted(legend_texts(fig)) == ["RN50 / negclip.pt", "RN50 / openai"]
    lo, hi = ax.get_ylim()
    assert lo < -5.0 and hi > 4.0 and lo < 0 < hi  # honest axes: 0 and every bar inside
    zero = [ln for ln in ax.get_lines() if list(ln.get_ydata()) == [0, 0]]
    assert zero  # the zero line
    assert "VOC" in caption(fig) and "RANDOM WEIGHTS" not in caption(fig)


def test_random_weights_are_left_out_unless_allowed_and_then_flagged(tmp_path, monkeypatch):
    backbones = dict(BACKBONES)
    backbones["rand"] = ("none", "random", True, BACKBONES["base"][3])
    sweep = make_sweep(tmp_path / "sweep", backbones)
    negbench = make_models_folder(tmp_path / "nb", backbones)
    figs = drawn_figures(monkeypatch)
    args = ["negation-gap", str(sweep), "--negbench", str(negbench), "-o", str(tmp_path / "f")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "paperfigs negation-gap --allow-random draws them" in flat(res.output)
    assert "RANDOM WEIGHTS" not in caption(figs[0]).split("Note")[0]
    assert len(pl.read_csv(tmp_path / "f" / "negation_gap_voc.csv")) == 4
    res = runner.invoke(app, [*args, "--allow-random"])
    assert res.exit_code == 0, res.output
    assert caption(figs[1]).startswith("RANDOM WEIGHTS — RN50 / none")
    csv = pl.read_csv(tmp_path / "f" / "negation_gap_voc.csv")
    assert len(csv) == 6 and csv.filter(pl.col("random_weights"))[
        "pretrained"
    ].unique().to_list() == ["none"]


def test_backbones_without_a_pair_are_said_and_nothing_is_an_error(tmp_path, monkeypatch):
    sweep = make_sweep(tmp_path / "sweep")
    negbench = tmp_path / "nb"
    make_negbench(negbench, "base", "openai", "aaaaaaaaaaaa", 0.1)  # none for the tuned weights
    figs = drawn_figures(monkeypatch)
    args = [
        "negation-gap",
        str(sweep),
        "--negbench",
        str(negbench / "base"),
        "-o",
        str(tmp_path / "f"),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    said = "not drawn, no negbench result of its weights"
    assert said in flat(res.output) and said in caption(figs[0])
    assert len(pl.read_csv(tmp_path / "f" / "negation_gap_voc.csv")) == 2
    # a sweep without DualCoOp: nothing to draw, one error line naming why
    path = sweep / "results.parquet"
    atomic_write_parquet(path, pl.read_parquet(path).filter(pl.col("method") != "dualcoop"))
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "no finished dualcoop run" in flat(res.output)


def test_all_draws_it_from_the_sweeps_and_negbench_parts(tmp_path):
    root = tmp_path / "results"
    make_sweep(root / "sweeps" / "voc")
    make_models_folder(root / "negbench")
    outcomes = {o.figure: o for o in draw_all(root, tmp_path / "figs", dpi=DPI)}
    assert outcomes["negation_gap"].status == "drawn"
    names = sorted(p.name for p in outcomes["negation_gap"].files)
    assert names == [
        "negation_gap_voc.caption.txt",
        "negation_gap_voc.csv",
        "negation_gap_voc.pdf",
        "negation_gap_voc.png",
    ]
    (tmp_path / "only").mkdir()
    make_sweep(tmp_path / "only" / "sweeps" / "voc")
    skipped = {o.figure: o for o in draw_all(tmp_path / "only", tmp_path / "g", dpi=DPI)}
    assert (
        skipped["negation_gap"].status == "skipped" and "negbench" in skipped["negation_gap"].reason
    )
