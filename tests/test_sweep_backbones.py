"""mlrtrain sweep over several backbones (--models-file, repeated --model/--pretrained): one grid
per backbone, each in its own folder; skip, resume, job-array slices, the Ray path's feature
builds and the table keep the backbones apart. Two random-weight checkpoints of the tiny ViT,
saved to files, stand for a CLIP and its negation-tuned version."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
import test_sweep as sweep_test
import torch
from mlr_data import write_voc
from typer.testing import CliRunner

import mlr.distributed as distributed
from backbone import BackboneConfig, load_backbone
from backbone.model_list import identity_name, pair_backbones
from corpora.executors import LocalExecutor, take_slice
from mlr.cli import app
from mlr.sweep import SweepConfig, SweepReporter, run_state, run_sweep
from mlr.train import FitConfig

runner = CliRunner()
METHODS = "baseline,positivecoop"


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory):
    return write_voc(tmp_path_factory.mktemp("voc"), n_trainval=16, n_test=8)


@pytest.fixture(scope="module")
def checkpoints(tiny_models, tmp_path_factory) -> list[str]:
    """Two weights files of the tiny ViT (two random draws): two backbones of one model."""
    d = tmp_path_factory.mktemp("weights")
    out = []
    for seed in (1, 2):
        bb = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", seed=seed))
        torch.save(bb.model.state_dict(), d / f"vit-{seed}.pt")
        out.append(str(d / f"vit-{seed}.pt"))
    return out


def sweep_args(root: Path, out: Path, cache: Path) -> list[str]:
    return [
        *("sweep", "--dataset", "voc", "--root", str(root), "--out", str(out)),
        *("--methods", METHODS, "--partial", "0.5", "--seeds", "0", "--device", "cpu"),
        *("--epochs", "2", "--batch-size", "8", "--lr", "0.5", "--val-fraction", "0.25"),
        *("--feature-cache", str(cache), "--quiet"),
    ]


@pytest.fixture(scope="module")
def models_sweep(voc_root, tiny_models, checkpoints, tmp_path_factory):
    """2 backbones × 2 methods × 1 proportion × 1 seed through the CLI's --models-file."""
    tmp = tmp_path_factory.mktemp("backbones")
    models = tmp / "models.txt"
    models.write_text("".join(f"{tiny_models[1]},{c}\n" for c in checkpoints))
    args = [*sweep_args(voc_root, tmp / "sweep", tmp / "features"), "--models-file", str(models)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return tmp / "sweep", args


def test_each_backbone_runs_the_grid_in_its_own_folder(models_sweep, tiny_models, checkpoints):
    sweep, _ = models_sweep
    res = pl.read_parquet(sweep / "results.parquet")
    assert res.height == 4 and set(res["status"]) == {"complete"}
    folders = [identity_name(tiny_models[1], c) for c in checkpoints]
    assert sorted(res["run_dir"]) == sorted(
        f"{f}/voc/{m}/p0.5/seed0" for f in folders for m in METHODS.split(",")
    )
    # every row names its backbone: the weights file and its identity, never random weights
    by = res.group_by("pretrained").agg(pl.col("weights_id").unique(), pl.col("run_dir"))
    assert sorted(by["pretrained"]) == sorted(checkpoints)
    ids = [w for ws in by["weights_id"] for w in ws]
    assert len(ids) == 2 and len(set(ids)) == 2 and "random" not in ids
    assert not res["random_weights"].any()
    for row in res.iter_rows(named=True):  # each run in its backbone's folder was made on it
        assert row["run_dir"].startswith(identity_name(tiny_models[1], row["pretrained"]) + "/")


def test_the_table_keeps_each_backbone_in_its_own_cells(models_sweep, tiny_models, checkpoints):
    sweep, _ = models_sweep
    res = runner.invoke(app, ["table", str(sweep), "--no-paper", "--format", "csv"])
    assert res.exit_code == 0, res.output
    t = pl.read_csv(res.stdout.encode()).sort("pretrained")
    assert t.height == 4  # 2 backbones × 2 methods, one seed behind every cell
    assert t["map_50_n"].to_list() == [1, 1, 1, 1]
    assert sorted(set(t["pretrained"])) == sorted(checkpoints)
    runs = pl.read_parquet(sweep / "results.parquet")
    for row in t.iter_rows(named=True):  # each cell is its own backbone's run, not a mean
        mine = runs.filter(
            (pl.col("pretrained") == row["pretrained"]) & (pl.col("method") == row["method"])
        )
        assert row["map_50_mean"] == pytest.approx(mine["map"].item())
    md = runner.invoke(app, ["table", str(sweep), "--no-paper"]).output
    for c in checkpoints:
        assert f"### VOC · {tiny_models[1]} / {c} / 32 px (weights " in md


def test_a_rerun_skips_and_a_killed_run_of_the_second_backbone_resumes(models_sweep, tiny_models):
    sweep, args = models_sweep
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert set(pl.read_parquet(sweep / "results.parquet")["status"]) == {"skipped"}
    # the second backbone's positivecoop run killed after its first epoch: it resumes, alone
    models = Path(args[args.index("--models-file") + 1])
    second = models.read_text().splitlines()[1].split(",")
    victim = f"{identity_name(*second)}/voc/positivecoop/p0.5/seed0"
    metrics = sweep / victim / "metrics.json"
    metrics.unlink()
    (sweep / victim / "checkpoints" / "last.pt").rename(sweep / victim / "checkpoints/prev.pt")
    assert run_state(sweep / victim) == "partial"
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    after = pl.read_parquet(sweep / "results.parquet")
    status = dict(zip(after["run_dir"], after["status"], strict=True))
    assert status.pop(victim) == "complete" and set(status.values()) == {"skipped"}
    assert after.height == 4 and metrics.is_file()


def test_adding_a_backbone_keeps_the_first_sweeps_runs_where_they_are(
    voc_root, tiny_models, checkpoints, tmp_path
):
    """A sweep on the base CLIP alone, then the same --out with its tuned version added: the base
    runs stay in the one-backbone layout and are skipped (not trained again); the new backbone
    gets its own folder; a third invocation agrees."""
    out = tmp_path / "sweep"
    args = sweep_args(voc_root, out, tmp_path / "features")
    first = ["--model", tiny_models[1], "--pretrained", checkpoints[0]]
    res = runner.invoke(app, [*args, *first])
    assert res.exit_code == 0, res.output
    kept = out / "voc/baseline/p0.5/seed0/metrics.json"
    made = kept.stat().st_mtime_ns
    both = [*first, "--model", tiny_models[1], "--pretrained", checkpoints[1]]
    for _ in range(2):
        res = runner.invoke(app, [*args, *both])
        assert res.exit_code == 0, res.output
        rows = pl.read_parquet(out / "results.parquet").sort("pretrained", "method")
        assert rows.height == 4
        status = {(r["pretrained"], r["run_dir"]): r["status"] for r in rows.iter_rows(named=True)}
        new = identity_name(tiny_models[1], checkpoints[1])
        for m in METHODS.split(","):
            assert status[(checkpoints[0], f"voc/{m}/p0.5/seed0")] == "skipped"
            assert status[(checkpoints[1], f"{new}/voc/{m}/p0.5/seed0")] in ("complete", "skipped")
    assert kept.stat().st_mtime_ns == made  # never trained again
    assert not (out / identity_name(tiny_models[1], checkpoints[0])).exists()


def base_config(root: Path, model: str, cache: Path) -> FitConfig:
    return replace(sweep_test.base_config(root, model, cache), epochs=1)


def test_job_array_slices_and_the_template_follow_the_backbones(voc_root, tiny_models, tmp_path):
    vit = tiny_models[1]
    cfg = SweepConfig(
        base=base_config(voc_root, vit, tmp_path / "f"),
        out=str(tmp_path / "s"),
        methods=("baseline", "positivecoop"),
        partials=(0.5,),
        seeds=(0, 1),
        backbones=((vit, "a.pt"), (vit, "b.pt")),
    )
    plan = cfg.plan()
    assert len(plan) == 8 and cfg.resolved_template().startswith("{backbone}/")
    # contiguous slices of the plan, backbone first: each job-array element one backbone here
    for i, weights in enumerate(("a.pt", "b.pt")):
        part = take_slice(plan, i, 2)
        assert {r.config.pretrained for r in part} == {weights}
        assert {r.config.model for r in part} == {vit}
        assert all(r.rel.startswith(identity_name(vit, weights) + "/voc/") for r in part)
    # one backbone: the layout of earlier versions; a template without {backbone}: refused
    assert replace(cfg, backbones=((vit, "a.pt"),)).plan()[0].rel == "voc/baseline/p0.5/seed0"
    with pytest.raises(ValueError, match=r"same directory.*backbone"):
        replace(cfg, template="{method}/p{partial:.1f}/s{seed}").plan()
    with pytest.raises(ValueError, match="listed twice"):
        replace(cfg, backbones=((vit, "a.pt"), (vit, str(Path("a.pt").resolve())))).plan()


def test_repeated_model_and_pretrained_pair_up():
    default = ("RN101", "openai")
    assert pair_backbones([], [], default) == [default]
    assert pair_backbones(["M"], ["a", "b"], default) == [("M", "a"), ("M", "b")]
    assert pair_backbones(["M", "N"], ["a", "b"], default) == [("M", "a"), ("N", "b")]
    assert pair_backbones([], ["a", "b"], default) == [("RN101", "a"), ("RN101", "b")]
    with pytest.raises(ValueError, match="3 --model and 2 --pretrained"):
        pair_backbones(["M", "N", "O"], ["a", "b"], default)


def test_cli_backbone_options(voc_root, tiny_models, tmp_path, monkeypatch):
    args = sweep_args(voc_root, tmp_path / "s", tmp_path / "f")
    seen = []

    def fake(cfg, *a, **k):
        seen.append(cfg)
        raise KeyboardInterrupt

    monkeypatch.setattr("mlr.sweep.run_sweep", fake)
    res = runner.invoke(app, [*args, "--model", "M", "--pretrained", "a.pt", "--pretrained", "b"])
    assert res.exit_code == 130 and "2 backbone(s) × 2 method(s)" in res.output
    assert seen[-1].backbone_list() == [("M", "a.pt"), ("M", "b")]
    assert seen[-1].base.model == "M" and seen[-1].base.pretrained == "a.pt"
    models = tmp_path / "models.txt"
    models.write_text(f"# base and tuned\n{tiny_models[1]},none\n")
    res = runner.invoke(app, [*args, "--models-file", str(models), "--model", "M"])
    assert res.exit_code == 2 and "not with --model" in res.output
    three = ["--pretrained", "a", "--pretrained", "b", "--pretrained", "c"]
    res = runner.invoke(app, [*args, "--model", "M", "--model", "N", *three])
    assert res.exit_code == 2 and "2 --model and 3 --pretrained" in res.output
    res = runner.invoke(app, [*args, "--models-file", str(models)])
    assert res.exit_code == 130  # one line is a backbone list: {backbone}/ folders all the same
    assert seen[-1].resolved_template().startswith("{backbone}/")
    models.write_text(f"{tiny_models[1]}\n")
    res = runner.invoke(app, [*args, "--models-file", str(models)])
    assert res.exit_code == 1 and "line 1: expected 'model,pretrained'" in res.output
    assert not (tmp_path / "s").exists()


class ParallelHere(LocalExecutor):
    """The parallel code path (mlr.distributed), run in this process."""

    parallel = True


def test_the_parallel_path_builds_each_backbones_features_first(
    voc_root, tiny_models, checkpoints, tmp_path, monkeypatch
):
    built = []
    real = distributed.features_task

    def features(item):
        built.append(item[0].pretrained)
        return real(item)

    monkeypatch.setattr(distributed, "features_task", features)
    vit = tiny_models[1]
    cfg = SweepConfig(
        base=base_config(voc_root, vit, tmp_path / "f"),
        out=str(tmp_path / "s"),
        methods=("baseline",),
        partials=(0.5,),
        seeds=(0,),
        backbones=tuple((vit, c) for c in checkpoints),
    )
    result = run_sweep(cfg, SweepReporter(), executor=ParallelHere())
    assert built == checkpoints  # one build per backbone, before any run trains
    assert set(result.results["status"]) == {"complete"}
    assert result.results["pretrained"].to_list() == checkpoints


def test_rows_of_two_image_settings_never_replace_each_other(tmp_path):
    """A crop sweep and a squash sweep of one backbone into one directory keep both rows; a row
    of an earlier version (no setting recorded) is replaced by the run's new row."""
    from corpora.runio import atomic_write_parquet
    from mlr.sweep_io import merge_results

    key = {"dataset": "voc", "model": "M", "pretrained": "p", "weights_id": "w", "image_size": 32}
    key |= {"augmentation": "none", "method": "baseline", "partial": 0.5, "seed": 0}
    squash = key | {"preprocess": "squash", "map": 1.0, "status": "complete"}
    crop = key | {"preprocess": "crop", "map": 2.0, "status": "complete"}
    path = tmp_path / "results.parquet"
    atomic_write_parquet(path, merge_results(path, [squash]))
    both = merge_results(path, [crop])
    assert sorted(both["preprocess"]) == ["crop", "squash"] and sorted(both["map"]) == [1.0, 2.0]
    old = merge_results(tmp_path / "none.parquet", [squash]).drop("preprocess", "augmentation")
    atomic_write_parquet(path, old.with_columns(map=pl.lit(0.5)))
    assert merge_results(path, [crop])["map"].to_list() == [2.0]
