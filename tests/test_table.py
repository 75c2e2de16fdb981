"""mlr.table: the paper table from fabricated sweep results, numbers checked by hand; and the
paper's reference numbers (corpora.reference)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import polars as pl
import pytest

from corpora.reference import (
    laion_negation_rate,
    load_reference,
    method_order,
    paper_cosines,
    paper_map,
    paper_methods,
)
from corpora.runio import atomic_write_json, atomic_write_parquet
from mlr.table import build_table, load_runs, render


def run(method, partial, seed, map_, *, dataset="voc", n_params=None, secs=3600.0, **kw):
    default_params = {"baseline": 20_520, "positivecoop": 184_320, "dualcoop": 327_680}
    return {
        "dataset": dataset,
        "method": method,
        "partial": partial,
        "seed": seed,
        "map": map_,
        "cf1_harmonic": 60.0,
        "of1": 70.0,
        "n_params": n_params or default_params[method],
        "wall_seconds": secs,
        "device": "cuda:0",
        "status": kw.get("status", "complete"),
        "error": kw.get("error"),
    }


def write_results(d: Path, rows: list[dict]) -> Path:
    atomic_write_parquet(d / "results.parquet", pl.DataFrame(rows))
    return d


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    rows = [
        # baseline: three seeds at 10 % and 50 %
        run("baseline", 0.1, 0, 80.0),
        run("baseline", 0.1, 1, 82.0),
        run("baseline", 0.1, 2, 84.0),
        run("baseline", 0.5, 0, 90.0),
        run("baseline", 0.5, 1, 91.0),
        run("baseline", 0.5, 2, 95.0),
        # positivecoop: seed 1 has no 50 % run, and a failed run that must not count
        run("positivecoop", 0.1, 0, 70.0, secs=7200.0),
        run("positivecoop", 0.1, 1, 71.0, secs=7200.0),
        run("positivecoop", 0.5, 0, 75.0, secs=7200.0),
        run("positivecoop", 0.5, 1, None, status="failed", error="CUDA OOM", secs=60.0),
        run("positivecoop", 0.5, 2, 99.0, status="failed", error="NaN loss", secs=60.0),
    ]
    return write_results(tmp_path / "sweep", rows)


def row_of(df: pl.DataFrame, method: str) -> dict:
    return df.filter(pl.col("method") == method).row(0, named=True)


def test_cells_are_mean_and_sample_std_over_seeds(sweep: Path) -> None:
    t = build_table(sweep)
    assert t["method"].to_list() == ["baseline", "positivecoop"]  # the paper's row order
    b = row_of(t, "baseline")
    # 80, 82, 84: mean 82, sample std sqrt((4 + 0 + 4) / 2) = 2
    assert b["map_10_mean"] == pytest.approx(82.0)
    assert b["map_10_std"] == pytest.approx(2.0)
    assert b["map_10_n"] == 3
    # 90, 91, 95: mean 92, sample std sqrt((4 + 1 + 9) / 2) = sqrt(7)
    assert b["map_50_mean"] == pytest.approx(92.0)
    assert b["map_50_std"] == pytest.approx(math.sqrt(7))
    # Avg per seed: 85, 86.5, 89.5 -> mean 87, sample std sqrt((4 + 0.25 + 6.25) / 2)
    assert b["map_avg_mean"] == pytest.approx(87.0)
    assert b["map_avg_std"] == pytest.approx(math.sqrt(10.5 / 2))
    assert b["map_avg_n"] == 3


def test_failed_runs_and_holes(sweep: Path) -> None:
    p = row_of(build_table(sweep), "positivecoop")
    assert p["map_10_mean"] == pytest.approx(70.5)
    assert p["map_10_std"] == pytest.approx(math.sqrt(0.5))
    # one finished seed at 50 %: no std; the failed runs (even the one with a map) do not count
    assert p["map_50_mean"] == pytest.approx(75.0)
    assert p["map_50_std"] is None
    assert p["map_50_n"] == 1
    # only seed 0 finished every partial: Avg = (70 + 75) / 2 over one seed
    assert p["map_avg_mean"] == pytest.approx(72.5)
    assert p["map_avg_std"] is None
    assert p["map_avg_n"] == 1
    assert (p["n_runs"], p["n_failed"], p["n_missing"]) == (3, 2, 1)


RN101 = {"model": "RN101", "pretrained": "openai", "image_size": 448, "weights_id": "abc"}
# what a sweep records of a run that failed before it loaded its weights (no metrics.json)
NEVER_LOADED = {"image_size": None, "weights_id": None, "n_params": None, "wall_seconds": None}


def failed(method: str, partial: float, seed: int) -> dict:
    error = "OutOfMemoryError: CUDA out of memory"
    return run(method, partial, seed, None, status="failed", error=error) | RN101 | NEVER_LOADED


def test_runs_that_failed_before_loading_their_weights_are_counted_and_said(tmp_path):
    rows = [run("dualcoop", p, s, m) | RN101 for p, s, m in [(0.1, 0, 68.4), (0.1, 1, 70.0)]]
    rows += [run("dualcoop", p, 0, m) | RN101 for p, m in [(0.5, 73.6), (0.9, 75.0)]]
    rows += [failed("dualcoop", p, 1) for p in (0.5, 0.9)]
    rows += [failed("positivecoop", 0.5, s) for s in (0, 1)]  # a method with no finished run
    rows += [failed("baseline", 0.3, 0)]  # a proportion with no finished run
    t = build_table(write_results(tmp_path / "s", rows))
    assert t["method"].to_list() == ["dualcoop", "baseline", "positivecoop"]
    d, p = row_of(t, "dualcoop"), row_of(t, "positivecoop")
    assert (d["map_50_n"], d["map_50_failed"], d["map_90_failed"], d["n_failed"]) == (1, 1, 1, 2)
    assert (p["n_runs"], p["map_50_failed"], p["map_50_mean"]) == (0, 2, None)
    assert row_of(t, "baseline")["map_30_failed"] == 1
    assert d["map_30_missing"] == 2  # seeds 0 and 1 at 30 %: no dualcoop run recorded
    assert d["map_avg_mean"] is None  # no seed finished every proportion (30 % included)
    assert t["n_failed"].sum() == 5
    md = render(t, "markdown")
    assert "| 30% |" in md and "| PositiveCoOp | — | — | — | — | — | — | — | 0 |" in md
    said = "5 failed or unfinished runs (DualCoOp 50% ×1, 90% ×1; Baseline 30% ×1; "
    said += "PositiveCoOp 50% ×2)"
    assert f"Not averaged: {said}." in md
    assert "not averaged: 5 failed" in render(t, "latex")
    assert pl.read_csv(io.StringIO(render(t, "csv")))["n_failed"].sum() == 5


def test_an_avg_over_fewer_seeds_than_its_cells_is_marked(tmp_path: Path) -> None:
    # seeds 1 and 2 finished 10 % only: the cells are over 3 and 1 seeds, the Avg over seed 0
    rows = [run("dualcoop", 0.1, s, m) for s, m in [(0, 68.4), (1, 70.0), (2, 71.6)]]
    rows += [run("dualcoop", 0.5, 0, 73.6)]
    t = build_table(write_results(tmp_path / "s", rows))
    r = row_of(t, "dualcoop")
    assert (r["map_10_n"], r["map_50_n"], r["map_avg_n"]) == (3, 1, 1)
    assert r["map_avg_mean"] == pytest.approx(71.0)  # (68.4 + 73.6) / 2: seed 0 only
    md = render(t, "markdown")
    assert "| DualCoOp | 327.7k | 70.0 ± 1.6 | 73.6 (n=1) | 71.0 (n=1) | — | 3 |" in md
    assert "(n=K): a mean over K seeds, not over the row's seeds" in md
    said = (
        "Missing (no result recorded, though other cells have the seed): 2 runs (DualCoOp 50% ×2)."
    )
    assert said in md
    assert "| DualCoOp | ours | 70.0 | 73.6 (n=1) | 71.0 (n=1) |" in md
    # every cell over the same seeds: nothing marked, no note
    whole = build_table(write_results(tmp_path / "w", rows[:1] + rows[3:]))
    md = render(whole, "markdown")
    assert "(n=" not in md and "missing" not in md and "averaged" not in md


def test_failed_runs_of_a_backbone_without_a_finished_run_get_their_own_table(tmp_path):
    vit = {"model": "ViT-B-16", "pretrained": "openai", "image_size": None, "weights_id": None}
    rows = [run("baseline", 0.1, 0, 80.0) | RN101, failed("baseline", 0.1, 1) | vit]
    t = build_table(write_results(tmp_path / "s", rows))
    assert t.height == 2 and t["n_failed"].to_list() == [0, 1]
    md = render(t, "markdown")
    assert "### VOC · ViT-B-16 / openai / ? px (weights ?): mAP" in md
    assert "Not averaged: 1 failed or unfinished run (Baseline 10% ×1)." in md
    # a failed run that could belong to two finished backbones is counted once, on its own
    rn224 = RN101 | {"image_size": 224, "weights_id": "abc"}
    rows = [run("baseline", 0.1, 0, 80.0) | RN101, run("baseline", 0.1, 0, 70.0) | rn224]
    rows.append(failed("baseline", 0.1, 1) | {"image_size": None})
    t = build_table(write_results(tmp_path / "two", rows))
    assert t["n_failed"].to_list() == [0, 0, 1]


def test_params_and_compute(sweep: Path) -> None:
    t = build_table(sweep)
    b, p = row_of(t, "baseline"), row_of(t, "positivecoop")
    assert b["n_params"] == 20_520
    assert (b["params_paper"], b["params_label"]) == (20_000, "20k")
    assert b["hours_per_run"] == pytest.approx(1.0)
    assert b["hours_total"] == pytest.approx(6.0)
    assert p["hours_per_run"] == pytest.approx(2.0)
    assert p["hours_total"] == pytest.approx(6.0)
    assert p["paper_gpu_hours"] == pytest.approx(3.0)
    assert b["devices"] == "cuda:0"


def test_difference_to_the_paper(sweep: Path) -> None:
    b = row_of(build_table(sweep), "baseline")
    # VOC Baseline published: 90.5 at 10 %, 93.3 at 50 %
    assert b["paper_10"] == pytest.approx(90.5)
    assert b["diff_10"] == pytest.approx(82.0 - 90.5)
    assert b["diff_50"] == pytest.approx(92.0 - 93.3)
    # only two proportions: the paper's Avg over the same two, (90.5 + 93.3) / 2
    assert b["paper_avg"] == pytest.approx(91.9)
    assert b["diff_avg"] == pytest.approx(87.0 - 91.9)
    no_paper = row_of(build_table(sweep, paper=False), "baseline")
    assert no_paper["paper_10"] is None and no_paper["diff_avg"] is None


def test_full_sweep_uses_the_published_avg(tmp_path: Path) -> None:
    rows = [run("baseline", p / 10, 0, 90.0 + p / 10) for p in range(1, 10)]
    rows[2]["partial"] = 0.30000000000000004  # what 0.1:0.9:0.1 produces
    b = row_of(build_table(write_results(tmp_path, rows)), "baseline")
    assert b["map_30_mean"] == pytest.approx(90.3)
    assert b["map_avg_mean"] == pytest.approx(90.5)
    assert b["paper_avg"] == pytest.approx(93.1)  # printed, not recomputed
    assert b["diff_avg"] == pytest.approx(90.5 - 93.1)


def test_metrics_json_run_dirs_when_no_results_parquet(tmp_path: Path) -> None:
    for seed, value in [(0, 60.0), (1, 64.0)]:
        d = tmp_path / "voc" / "dualcoop" / "p0.5" / f"seed{seed}"
        atomic_write_json(
            d / "metrics.json",
            {**run("dualcoop", 0.5, seed, value), "complete": True, "history": []},
        )
    # a run still training: no map, no wall_seconds yet
    d = tmp_path / "voc" / "dualcoop" / "p0.5" / "seed2"
    unfinished = {
        k: v for k, v in run("dualcoop", 0.5, 2, 0.0).items() if k not in ("map", "wall_seconds")
    }
    atomic_write_json(d / "metrics.json", {**unfinished, "complete": False, "history": []})
    runs = load_runs(tmp_path)
    assert runs.height == 3 and runs["ok"].sum() == 2
    r = row_of(build_table(tmp_path), "dualcoop")
    assert r["map_50_mean"] == pytest.approx(62.0)
    assert r["map_50_std"] == pytest.approx(math.sqrt(8))
    assert r["n_failed"] == 1


def test_datasets_are_separate_rows_and_selectable(tmp_path: Path) -> None:
    rows = [run("baseline", 0.5, 0, 90.0), run("baseline", 0.5, 0, 80.0, dataset="coco")]
    d = write_results(tmp_path, rows)
    t = build_table(d)
    assert t.select("dataset", "map_50_mean").rows() == [("coco", 80.0), ("voc", 90.0)]
    assert build_table(d, dataset="coco").height == 1
    with pytest.raises(ValueError, match=r"no runs for dataset 'nuswide'.*\['coco', 'voc'\]"):
        build_table(d, dataset="nuswide")


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"results\.parquet not found.*mlrtrain sweep"):
        build_table(tmp_path)
    atomic_write_parquet(
        tmp_path / "results.parquet", pl.DataFrame([run("baseline", 0.5, 0, 90.0)]).drop("seed")
    )
    with pytest.raises(ValueError, match=r"results\.parquet: missing column\(s\) \['seed'\]"):
        build_table(tmp_path)
    rows = [run("baseline", 0.5, 0, 90.0), run("baseline", 0.5, 1, 91.0, n_params=5)]
    with pytest.raises(ValueError, match="disagree on n_params"):
        build_table(write_results(tmp_path, rows))
    rows = [run("baseline", 0.5, 0, None, status="failed", error="boom")]
    with pytest.raises(ValueError, match="none of its 1 run"):
        build_table(write_results(tmp_path, rows))


def test_render_markdown_latex_csv(sweep: Path) -> None:
    t = build_table(sweep)
    md = render(t, "markdown")
    head = "| Method | Params | 10% | 50% | Avg | last ep. | seeds | h/run | h total | device |"
    assert head in md
    # results without the last epoch's mAP (earlier versions): "—", never a number
    assert (
        "| Baseline | 20.5k | 82.0 ± 2.0 | 92.0 ± 2.6 | 87.0 ± 2.3 | — | 3 | 1.00 | 6.00 | cuda:0 |"
        in md
    )
    # a cell (and an Avg) over fewer seeds than the row's says so
    assert "| PositiveCoOp | 184.3k | 70.5 ± 0.7 | 75.0 (n=1) | 72.5 (n=1) | — | 2 |" in md
    # beside the mAP: params and hours per run, ours vs the paper's (20k, 1.5 GPU h), differenced
    assert "| Method |  | 10% | 50% | Avg | Params | h/run |" in md
    assert "| Baseline | ours | 82.0 | 92.0 | 87.0 | 20.5k | 1.00 |" in md
    assert "|  | paper | 90.5 | 93.3 | 91.9 | 20k | 1.50 |" in md
    assert "|  | ours − paper | -8.5 | -1.3 | -4.9 | +520 | -0.50 |" in md
    assert "ours vs the paper" not in render(t, "markdown", compare=False)
    # failed runs are said under the table, per cell, not only counted in the csv
    note = "not averaged: 2 failed or unfinished runs (PositiveCoOp 50% ×2)"
    assert f"\n\nN{note[1:]}." in md
    assert "(PositiveCoOp 10% ×1)." in md  # seed 2 at 10 %: no run recorded
    tex = render(t, "latex")
    assert r"\toprule" in tex and r"82.0 $\pm$ 2.0" in tex and r"10\%" in tex
    assert r"& $-$8.5 & $-$1.3 & $-$4.9 & +520 & $-$0.50 \\" in tex  # minus signs, not hyphens
    assert r"& 75.0 (n=1) & 72.5 (n=1) & — & 2 &" in tex
    assert (
        r"over seeds; not averaged: 2 failed or unfinished runs (PositiveCoOp 50\% $\times$2)"
        in tex
    )
    back = pl.read_csv(io.StringIO(render(t, "csv")))
    assert back["map_50_std"][0] == pytest.approx(math.sqrt(7))
    p = back.row(1, named=True)
    assert (p["map_50_n"], p["map_50_failed"], p["map_50_missing"]) == (1, 2, 0)
    assert (p["map_10_n"], p["map_10_failed"], p["map_10_missing"]) == (2, 0, 1)
    assert (p["map_avg_n"], p["n_failed"], p["n_missing"]) == (1, 2, 1)
    with pytest.raises(ValueError, match="unknown table format 'html'"):
        render(t, "html")


def test_reference_numbers_are_complete_and_consistent() -> None:
    ref = load_reference()
    assert "85ef181" in ref["source"]
    pm = paper_map()
    assert pm.height == 2 * 5 * 9
    assert set(pm["method"]) == set(method_order())
    meta = paper_methods()
    # the printed Avg is the mean of the printed cells within rounding, except one printed row
    means = pm.group_by("dataset", "method").agg(pl.col("map").mean())
    off = meta.join(means, on=["dataset", "method"]).filter(
        (pl.col("map") - pl.col("map_avg")).abs() > 0.1
    )
    assert off.select("dataset", "method").rows() == [("voc", "negativecoop")]
    coco = {r["method"]: r for r in paper_methods("coco").iter_rows(named=True)}
    assert coco["dualcoop"]["params_exact"] == 2 * 80 * 16 * 512
    assert coco["baseline"]["params_exact"] == 2 * 80 * 512 + 2 * 80
    assert coco["positivecoop"]["params_exact"] == 80 * 16 * 512 + 2 * 80 * 512
    assert coco["baseline"]["gpu_hours"] == pytest.approx(7.97)
    cos = paper_cosines()
    assert cos.filter((pl.col("templates") == "single") & (pl.col("pair") == "P1-N1"))[
        "mean"
    ].item() == pytest.approx(0.58)
    laion = laion_negation_rate()
    assert laion["rate"] * laion["corpus_rows"] == pytest.approx(1.88e6)
    with pytest.raises(ValueError, match="no numbers for dataset 'nuswide'"):
        paper_map("nuswide")
    json.dumps(ref)  # plain data


def test_promptsim_prints_the_poster_beside_ours_with_the_difference(tiny_models, tmp_path):
    from typer.testing import CliRunner

    from negation.promptsim.cli import app as promptsim

    args = ["table", "--classes", "coco", "--templates", "single", "--model", tiny_models[0]]
    args += ["--pretrained", "none", "--device", "cpu", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(promptsim, [*args, "--no-text-cache"], terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "o" / "summary.json").read_text())["rows"]
    raw = next(
        r["mean"]
        for r in rows
        if (r["templates"], r["pair"], r["style"], r["space"])
        == ("single", "P1-N1", "not-prefix", "raw")
    )
    line = next(x for x in result.output.splitlines() if "0.58 ± 0.06 (0.37, 0.69)" in x)
    assert f"{raw:.2f} ({raw - 0.58:+.2f})" in line
    # no ensemble85 run: its poster rows show no numbers of ours
    line = next(x for x in result.output.splitlines() if "0.56 ± 0.06 (0.37, 0.67)" in x)
    assert line.count("—") == 2


def test_backbones_are_never_pooled(tmp_path: Path) -> None:
    vit = {"model": "ViT-B-16", "pretrained": "openai", "image_size": 224, "weights_id": "a1"}
    rn = {"model": "RN101", "pretrained": "openai", "image_size": 448, "weights_id": "b2"}
    rows = [run("baseline", 0.1, 0, 80.0) | vit, run("baseline", 0.1, 0, 60.0) | rn]
    rows.append(run("baseline", 0.1, 1, 62.0) | rn)
    t = build_table(write_results(tmp_path / "s", rows))
    assert t["backbone"].to_list() == [
        "RN101 / openai / 448 px (weights b2)",
        "ViT-B-16 / openai / 224 px (weights a1)",
    ]
    assert t["map_10_mean"].to_list() == [61.0, 80.0] and t["map_10_n"].to_list() == [2, 1]
    md = render(t, "markdown")
    assert "### VOC · RN101 / openai / 448 px (weights b2): mAP" in md
    assert "### VOC · ViT-B-16 / openai / 224 px (weights a1): mAP" in md
    # the same weights file changed in place (another identity) is another backbone too
    other = build_table(write_results(tmp_path / "w", [rows[1], rows[2] | {"weights_id": "c3"}]))
    assert other.height == 2 and other["map_10_n"].to_list() == [1, 1]


def test_run_directories_of_two_models_are_two_backbones_not_two_seeds(tmp_path: Path) -> None:
    for name, model, m in [("vit", "ViT-B-16", 80.0), ("rn", "RN101", 60.0)]:
        d = tmp_path / "s" / name
        metrics = run("baseline", 0.1, 0, m) | {"model": model, "pretrained": "openai"}
        atomic_write_json(d / "metrics.json", metrics | {"complete": True})
    t = build_table(tmp_path / "s")
    assert t.height == 2 and t["map_10_n"].to_list() == [1, 1]
    assert sorted(t["map_10_mean"].to_list()) == [60.0, 80.0]
    # a copied run directory: two finished runs of one key are an error naming both, not 2 seeds
    copy = tmp_path / "s" / "vit-copy" / "metrics.json"
    atomic_write_json(copy, json.loads((tmp_path / "s" / "vit" / "metrics.json").read_text()))
    with pytest.raises(ValueError, match=r"2 finished runs of baseline p=0.1 seed 0 .*vit, vit-c"):
        build_table(tmp_path / "s")


def test_random_weights_are_marked_and_not_compared_with_the_paper_unless_asked(
    tmp_path: Path,
) -> None:
    rnd = {"model": "RN101", "pretrained": "none", "image_size": 448, "weights_id": "random"}
    rows = [run("baseline", 0.1, s, 50.0 + s) | rnd | {"random_weights": True} for s in (0, 1)]
    sweep = write_results(tmp_path / "s", rows)
    t = build_table(sweep)
    b = row_of(t, "baseline")
    assert b["random_weights"] and b["paper_refused"] and b["paper_10"] is None
    md = render(t, "markdown")
    assert "### VOC · RN101 / none / 448 px (RANDOM WEIGHTS): mAP" in md
    assert "RANDOM WEIGHTS: this backbone was never trained" in md
    assert "ours vs the paper" not in md and "--allow-random to compare" in md
    allowed = build_table(sweep, allow_random=True)
    assert row_of(allowed, "baseline")["paper_10"] == 90.5  # VOC Baseline, 10 %
    assert "ours vs the paper" in render(allowed, "markdown")


def test_last_epoch_avg_beside_the_selected_one(tmp_path: Path) -> None:
    runs = [(0.1, 0, 80, 70), (0.5, 0, 90, 86), (0.1, 1, 82, 74), (0.5, 1, 92, 90)]
    rows = [run("baseline", p, s, m) | {"map_last": ml, "select": "best"} for p, s, m, ml in runs]
    t = build_table(write_results(tmp_path / "s", rows))
    b = row_of(t, "baseline")
    # Avg per seed: 85, 87 → 86 ± 1.4; last epoch per seed: 78, 82 → 80 ± 2.8
    assert b["map_avg_mean"] == pytest.approx(86.0)
    assert (b["map_last_avg_mean"], b["map_last_avg_std"]) == pytest.approx((80.0, math.sqrt(8)))
    assert "| 86.0 ± 1.4 | 80.0 ± 2.8 | 2 |" in render(t, "markdown")
    rows.append(run("baseline", 0.9, 0, 95.0) | {"select": "last"})
    with pytest.raises(ValueError, match="disagree on --select"):
        build_table(write_results(tmp_path / "mixed", rows))


def test_a_truncated_results_file_is_named(tmp_path: Path, sweep: Path) -> None:
    data = (sweep / "results.parquet").read_bytes()
    (sweep / "results.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"results\.parquet: unreadable results file \(truncated"):
        load_runs(sweep)


def test_runs_of_different_image_settings_are_never_pooled(tmp_path: Path) -> None:
    """The same backbone trained on squashed vs cropped images, or with vs without augmentation:
    separate tables in every format, each heading naming its setting."""
    rn = {"model": "RN101", "pretrained": "openai", "image_size": 448, "weights_id": "b2"}
    settings = [("squash", "online", 80.0), ("crop", "online", 60.0), ("squash", "none", 40.0)]
    rows = [
        run("baseline", 0.1, seed, m + seed) | rn | {"preprocess": pre, "augmentation": aug}
        for pre, aug, m in settings
        for seed in (0, 1)
    ]
    t = build_table(write_results(tmp_path / "s", rows))
    assert t.height == 3 and t["map_10_n"].to_list() == [2, 2, 2]
    got = {(r["preprocess"], r["augmentation"]): r["map_10_mean"] for r in t.iter_rows(named=True)}
    assert got == {("squash", "online"): 80.5, ("crop", "online"): 60.5, ("squash", "none"): 40.5}
    md = render(t, "markdown")
    for pre, aug, _ in settings:
        assert f"### VOC · RN101 / openai / 448 px (weights b2) · {pre}, augmentation {aug}: " in md
    csv = pl.read_csv(io.StringIO(render(t, "csv")))
    assert csv.select("preprocess", "augmentation").unique().height == 3
    assert render(t, "latex", compare=False).count(r"\begin{table}") == 3
    # a file of an earlier version (no setting columns) is one table, its label as before
    old = [{k: v for k, v in r.items() if k not in ("preprocess", "augmentation")} for r in rows]
    t_old = build_table(write_results(tmp_path / "old", old[:2]))
    assert t_old.height == 1 and t_old["map_10_n"].to_list() == [2]
    assert t_old["backbone"].to_list() == ["RN101 / openai / 448 px (weights b2)"]
