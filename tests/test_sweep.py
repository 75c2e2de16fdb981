"""mlrtrain sweep and mlrtrain table on real tiny runs (random tiny ViT, generated VOC layout)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import fsspec
import numpy as np
import polars as pl
import pytest
from mlr_data import write_voc
from typer.testing import CliRunner

import backbone.features as features_mod
from corpora.runio import atomic_write_parquet
from mlr.cli import app
from mlr.sweep import (
    SweepConfig,
    SweepReporter,
    parse_methods,
    parse_partials,
    parse_seeds,
    run_state,
    run_sweep,
)
from mlr.train import FitConfig

runner = CliRunner()
METHODS = ("baseline", "positivecoop")


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory):
    return write_voc(tmp_path_factory.mktemp("voc"), n_trainval=16, n_test=8)


def base_config(root: Path, tiny_vit: str, cache: Path) -> FitConfig:
    return FitConfig(
        dataset="voc",
        root=str(root),
        model=tiny_vit,
        pretrained="none",
        image_size=None,
        device="cpu",
        epochs=2,
        batch_size=8,
        lr=0.5,
        val_fraction=0.25,
        feature_cache=str(cache),
    )


def sweep_config(root, tiny_vit, tmp_path, **kw) -> SweepConfig:
    return SweepConfig(
        base=base_config(root, tiny_vit, tmp_path / "features"),
        out=str(tmp_path / "sweep"),
        methods=kw.get("methods", METHODS),
        partials=kw.get("partials", (0.3, 0.7)),
        seeds=kw.get("seeds", (0,)),
    )


@pytest.fixture(scope="module")
def done_sweep(voc_root, tiny_models, tmp_path_factory):
    """A finished 2 methods × 2 proportions × 1 seed sweep run through the CLI, with feature
    cache builds counted."""
    tmp = tmp_path_factory.mktemp("cli_sweep")
    builds = []
    real = features_mod.FeatureCache.build
    mp = pytest.MonkeyPatch()
    mp.setattr(
        features_mod.FeatureCache,
        "build",
        lambda self, *a, **k: builds.append(self.path) or real(self, *a, **k),
    )
    args = [
        "sweep",
        "--dataset",
        "voc",
        "--root",
        str(voc_root),
        "--methods",
        ",".join(METHODS),
        "--partial",
        "0.3,0.7",
        "--seeds",
        "0",
        "--out",
        str(tmp / "sweep"),
        # fit options, passed through
        "--model",
        tiny_models[1],
        "--pretrained",
        "none",
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--lr",
        "0.5",
        "--val-fraction",
        "0.25",
        "--feature-cache",
        str(tmp / "features"),
        "--quiet",
    ]
    res = runner.invoke(app, args)
    mp.undo()
    assert res.exit_code == 0, res.output
    return tmp / "sweep", builds, args


def test_partial_grammar_is_inclusive_and_float_safe():
    assert parse_partials("0.1:0.9:0.1") == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert parse_partials("0.9, 0.1,0.5,0.5") == [0.1, 0.5, 0.9]
    assert parse_partials("0.25:1:0.25") == [0.25, 0.5, 0.75, 1.0]
    for bad in ("0.1:0.9", "0:0.5:0.1", "0.5,1.5", "a,b", "0.9:0.1:0.1"):
        with pytest.raises(ValueError, match="--partial"):
            parse_partials(bad)
    assert parse_seeds("0:2") == [0, 1, 2] and parse_seeds("3,1,3") == [3, 1]
    for bad in ("-5", "-1:1", str(2**64)):  # as --seed: 0 … 2**64 - 1
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)
    with pytest.raises(ValueError, match="--methods"):
        parse_methods("baseline,coop")


def test_template_collisions_and_unknown_fields_are_refused(voc_root, tiny_models, tmp_path):
    cfg = sweep_config(voc_root, tiny_models[1], tmp_path, partials=(0.25, 0.2))
    with pytest.raises(ValueError, match="same directory"):
        cfg.plan()  # p0.2 twice with the default {partial:.1f}
    assert len(replace(cfg, template="{method}/p{partial:.2f}/s{seed}").plan()) == 4
    with pytest.raises(ValueError, match="unknown field"):
        replace(cfg, template="{method}/{lr}").plan()


def test_sweep_writes_every_run_and_results(done_sweep):
    sweep, builds, _ = done_sweep
    res = pl.read_parquet(sweep / "results.parquet")
    assert res.height == 4 and set(res["status"]) == {"complete"}
    assert res["error"].is_null().all() and res["map"].is_not_null().all()
    assert sorted(res["partial"].unique().to_list()) == [0.3, 0.7]
    # every row names its backbone, flags random weights and has the last epoch's mAP
    assert set(res["model"]) == {"notclip-tiny-ViT"} and set(res["pretrained"]) == {"none"}
    assert set(res["image_size"]) == {32}  # the tiny ViT's own size, resolved
    assert set(res["weights_id"]) == {"random"}
    assert res["random_weights"].all() and set(res["select"]) == {"best"}
    assert res["map_last"].is_not_null().all()
    for row in res.iter_rows(named=True):
        run_dir = sweep / row["run_dir"]
        assert row["run_dir"] == f"voc/{row['method']}/p{row['partial']:.1f}/seed0"
        m = json.loads((run_dir / "metrics.json").read_text())
        assert m["complete"] and m["map"] == row["map"] and m["method"] == row["method"]
        assert json.loads((run_dir / "run.json").read_text())["config"]["epochs"] == 2
    # one feature computation for the whole sweep: train view 0 and test view 0, built once each
    assert len(builds) == 2 and len(set(builds)) == 2


def test_a_sweep_directory_names_its_command_and_other_commands_refuse_it(done_sweep, tmp_path):
    from negation.negscan.cli import app as negscan

    sweep, _, _ = done_sweep
    run = json.loads((sweep / "run.json").read_text())
    assert run["command"] == "mlrtrain sweep" and run["seeds"] == [0]
    assert run["config"]["methods"] == list(METHODS) and run["config"]["partials"] == [0.3, 0.7]
    before = {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()}
    fit = runner.invoke(app, ["fit", "--root", str(tmp_path), "--out", str(sweep)])
    assert fit.exit_code == 1 and "holds results of `mlrtrain sweep`" in fit.output
    captions = tmp_path / "captions.txt"
    captions.write_text("no dog\n", "utf-8")
    scan = runner.invoke(negscan, ["text", str(captions), "--out", str(sweep), "--quiet"])
    assert scan.exit_code == 1 and "holds results of `mlrtrain sweep`" in scan.output
    assert {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()} == before


def test_the_mask_is_shared_across_methods_and_drawn_per_proportion(done_sweep):
    sweep, _, _ = done_sweep

    def mask(method, p):
        return (sweep / f"voc/{method}/p{p}/seed0/mask.npy").read_bytes()

    assert mask("baseline", 0.3) == mask("positivecoop", 0.3)
    assert mask("baseline", 0.7) == mask("positivecoop", 0.7)
    assert mask("baseline", 0.3) != mask("baseline", 0.7)
    known = np.load(sweep / "voc/baseline/p0.7/seed0/mask.npy").mean()
    assert 0.5 < known < 0.9


def test_rerun_skips_complete_runs(done_sweep):
    sweep, _, args = done_sweep
    before = pl.read_parquet(sweep / "results.parquet")
    stamp = (sweep / "voc/baseline/p0.3/seed0/metrics.json").stat().st_mtime_ns
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "RANDOM WEIGHTS" in res.output  # said even when every run is skipped, and --quiet
    after = pl.read_parquet(sweep / "results.parquet")
    assert set(after["status"]) == {"skipped"}
    assert after["map"].to_list() == before["map"].to_list()
    assert (sweep / "voc/baseline/p0.3/seed0/metrics.json").stat().st_mtime_ns == stamp
    res = runner.invoke(app, [*args[:-1], "--epochs", "3", "--quiet"])
    assert res.exit_code == 1 and "made with other options" in res.output
    kept = pl.read_parquet(sweep / "results.parquet")
    # intact runs made with other options: kept with their numbers, the differing option named
    assert set(kept["status"]) == {"conflict"}
    assert kept["error"].str.contains("epochs 2 → 3").all()
    assert kept["map"].to_list() == before["map"].to_list()
    res = runner.invoke(app, ["table", str(sweep), "--no-paper", "--format", "csv"])
    assert res.exit_code == 0, res.output  # the table still shows their numbers
    assert "none of its" not in res.output
    assert runner.invoke(app, args).exit_code == 0  # back to skipped rows for the table tests


class StopAfterFirstEpoch(SweepReporter):
    def __init__(self, victim: str):
        self.victim, self.current, self.events = victim, None, []

    def run_start(self, index, total, run, action):
        self.current = run.rel
        self.events.append((run.rel, action))

    def message(self, text):
        if self.current == self.victim and text.startswith("epoch 1/"):
            raise KeyboardInterrupt


def test_interrupted_run_resumes_and_failed_run_does_not_stop_the_sweep(
    voc_root, tiny_models, tmp_path
):
    cfg = sweep_config(voc_root, tiny_models[1], tmp_path, partials=(0.5,))
    sweep = Path(cfg.out)
    victim = "voc/positivecoop/p0.5/seed0"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, StopAfterFirstEpoch(victim))
    assert run_state(sweep / victim) == "partial"
    assert run_state(sweep / "voc/baseline/p0.5/seed0") == "complete"
    # a second proportion whose baseline run cannot write its directory: it fails, the rest runs
    blocked = sweep / "voc/baseline/p0.9/seed0"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a directory")
    rep = StopAfterFirstEpoch("none")
    result = run_sweep(replace(cfg, partials=(0.5, 0.9)), rep)
    assert rep.events == [
        ("voc/baseline/p0.5/seed0", "skip"),
        (victim, "resume"),
        ("voc/baseline/p0.9/seed0", "start"),
        ("voc/positivecoop/p0.9/seed0", "start"),
    ]
    res = pl.read_parquet(sweep / "results.parquet")
    status = dict(zip(res["run_dir"], res["status"], strict=True))
    assert status == {
        "voc/baseline/p0.5/seed0": "skipped",
        victim: "complete",
        "voc/baseline/p0.9/seed0": "failed",
        "voc/positivecoop/p0.9/seed0": "complete",
    }
    assert [r["run_dir"] for r in result.failed] == ["voc/baseline/p0.9/seed0"]
    err = res.filter(pl.col("status") == "failed")
    assert err["map"].is_null().all() and "Error" in err["error"].item()
    resumed = json.loads((sweep / victim / "metrics.json").read_text())
    assert resumed["complete"] and [h["epoch"] for h in resumed["history"]] == [0, 1]
    # the failure clears: the next invocation retries only that run
    blocked.unlink()
    rep = StopAfterFirstEpoch("none")
    run_sweep(replace(cfg, partials=(0.9,)), rep)
    assert [a for _, a in rep.events] == ["start", "skip"]
    res = pl.read_parquet(sweep / "results.parquet")
    assert res.height == 4 and set(res["status"]) == {"skipped", "complete"}


def test_a_run_another_process_trains_is_left_to_it(voc_root, tiny_models, tmp_path):
    """A run directory whose lock another process holds (a second sweep, a fit) is not trained
    twice at once: that run fails with the reason, the sweep goes on."""
    import fcntl

    cfg = sweep_config(voc_root, tiny_models[1], tmp_path, methods=("baseline",), partials=(0.5,))
    run_dir = Path(cfg.out) / "voc/baseline/p0.5/seed0"
    run_dir.mkdir(parents=True)
    with open(run_dir / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_sweep(cfg)
    assert [r["run_dir"] for r in result.failed] == ["voc/baseline/p0.5/seed0"]
    assert f"another mlrtrain fit is writing {run_dir}" in result.failed[0]["error"]
    assert not (run_dir / "run.json").exists()


def test_cli_rejects_options_the_sweep_sets(voc_root, tiny_models, tmp_path):
    base = ["sweep", "--root", str(voc_root), "--out", str(tmp_path / "s"), "--dataset", "voc"]
    base += ["--model", tiny_models[1], "--pretrained", "none", "--offline", "--epochs", "1"]
    res = runner.invoke(app, [*base, "--resume"])
    assert res.exit_code == 2 and "set by the sweep" in res.output
    res = runner.invoke(app, [*base, "--epochz", "3"])
    assert res.exit_code == 2 and "epochz" in res.output
    res = runner.invoke(app, [*base, "--partial", "0.5:0.1:0.1"])
    assert res.exit_code == 2 and "--partial" in res.output
    res = runner.invoke(app, [*base, "--work-dir", str(tmp_path / "w")])
    assert res.exit_code == 2 and "--work-dir" in res.output  # only for a URL --out
    url = [*base[:4], "nosuch://bucket/s", *base[5:]]
    res = runner.invoke(app, url)
    assert res.exit_code == 2 and "nosuch://bucket/s" in res.output


def test_table_on_a_real_sweep(done_sweep, tmp_path):
    sweep, _, _ = done_sweep
    res = runner.invoke(app, ["table", str(sweep), "--out", str(tmp_path / "t.md")])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "t.md").read_text()
    # the table names its backbone and says that its weights are random
    # and the image setting its runs were trained with
    title = (
        "VOC · notclip-tiny-ViT / none / 32 px (RANDOM WEIGHTS) · squash, augmentation none: "
        "mAP (%) by known-label"
    )
    assert title in text and "| 30% | 70% | Avg | last ep. |" in text
    assert "RANDOM WEIGHTS: this backbone was never trained" in text
    # random weights are not compared with the paper unless asked
    assert "ours vs the paper" not in text and "--allow-random to compare" in text
    maps = pl.read_parquet(sweep / "results.parquet").filter(pl.col("method") == "baseline")
    cell = maps.filter(pl.col("partial") == 0.3)["map"].item()
    assert f"{cell:.1f}" in text
    res = runner.invoke(app, ["table", str(sweep), "--allow-random"])
    assert res.exit_code == 0 and "ours vs the paper" in res.output and "PositiveCoOp" in res.output
    res = runner.invoke(app, ["table", str(sweep), "--format", "latex", "--no-paper"])
    assert res.exit_code == 0 and r"\begin{tabular}" in res.output
    assert "paper" not in res.output
    res = runner.invoke(app, ["table", str(sweep), "--format", "csv"])
    assert res.exit_code == 0 and res.output.startswith("dataset,model,pretrained,image_size")
    assert "random_weights" in res.output.splitlines()[0]
    # paperfigs draws the same results
    from figures.sweeps import map_vs_partial

    files = map_vs_partial([sweep], tmp_path / "figs")
    assert sorted(f.name for f in files) == [
        "map_vs_partial_voc.caption.txt",
        "map_vs_partial_voc.pdf",
        "map_vs_partial_voc.png",
    ]


def test_table_on_fabricated_runs_and_errors(tmp_path):
    rows = [
        {"dataset": "coco", "method": "baseline", "partial": p, "seed": s, "map": m}
        | {"cf1_harmonic": 1.0, "of1": 1.0, "n_params": 80_000, "wall_seconds": 1800.0}
        | {"device": "cuda:0", "status": "complete", "error": None, "run_dir": "x"}
        for p, s, m in [(0.1, 0, 78.0), (0.1, 1, 80.0), (0.9, 0, 83.0), (0.9, 1, 84.0)]
    ]
    rows.append(rows[0] | {"seed": 2, "map": None, "status": "failed", "error": "OOM"})
    atomic_write_parquet(tmp_path / "s" / "results.parquet", pl.DataFrame(rows))
    res = runner.invoke(app, ["table", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    # 78, 80 → 79.0 ± 1.4; 83, 84 → 83.5 ± 0.7; avg per seed 80.5, 82 → 81.2 ± 1.1
    line = next(ln for ln in res.output.splitlines() if ln.startswith("| Baseline | 80.0k"))
    assert "79.0 ± 1.4 | 83.5 ± 0.7 | 81.2 ± 1.1 | — | 2 | 0.50 | 2.00" in line
    assert "78.9" in res.output  # the paper's COCO baseline at 10 %
    res = runner.invoke(app, ["table", str(tmp_path / "s"), "--dataset", "voc"])
    assert res.exit_code == 1 and "no runs for dataset 'voc'" in res.output
    res = runner.invoke(app, ["table", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "mlrtrain sweep" in res.output
    res = runner.invoke(app, ["table", str(tmp_path / "s"), "--format", "html"])
    assert res.exit_code == 2


def test_two_backbones_in_one_sweep_directory_keep_their_own_rows(voc_root, tiny_models, tmp_path):
    rn, vit = tiny_models
    cfg = sweep_config(voc_root, vit, tmp_path, methods=("baseline",), partials=(0.5,))
    cfg = replace(cfg, base=replace(cfg.base, epochs=1))
    run_sweep(cfg)
    # the same directory for another model: refused, saying how to keep both
    on_rn = replace(cfg, base=replace(cfg.base, model=rn))
    conflicts = run_sweep(on_rn).conflicts
    assert len(conflicts) == 1 and "{backbone} in --template" in conflicts[0]["error"]
    # the kept row describes the run as made: the other model, not the one just asked for
    assert conflicts[0]["model"] == vit and conflicts[0]["map"] is not None
    run_sweep(replace(on_rn, template="{model}/{method}/p{partial:.1f}/seed{seed}"))
    res = pl.read_parquet(Path(cfg.out) / "results.parquet")
    ok = res.filter(pl.col("status").is_in(["complete", "conflict"])).sort("model")
    assert ok["model"].to_list() == [rn, vit] and ok["image_size"].to_list() == [64, 32]
    assert ok["run_dir"].to_list() == [f"{rn}/baseline/p0.5/seed0", "voc/baseline/p0.5/seed0"]
    res = runner.invoke(app, ["table", cfg.out, "--no-paper"])
    assert res.exit_code == 0, res.output
    assert f"VOC · {rn} / none / 64 px (RANDOM WEIGHTS)" in res.output
    assert f"VOC · {vit} / none / 32 px (RANDOM WEIGHTS)" in res.output


# --- --out as an fsspec URL (memory:// is process-local: the local engine) -------------------


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    yield fs
    for top in ("/url-sweep", "/url-resume", "/url-table", "/url-table-runs"):
        if fs.exists(top):
            fs.rm(top, recursive=True)


def _read_remote(fs, path: str) -> pl.DataFrame:
    with fs.open(path, "rb") as f:
        return pl.read_parquet(f)


def test_a_sweep_into_a_url_equals_a_local_one_and_reruns_skip(done_sweep, memfs, tmp_path):
    sweep, _, args = done_sweep
    at = args.index("--out") + 1
    url_args = [*args[:at], "memory://url-sweep", *args[at + 1 :]]
    url_args += ["--work-dir", str(tmp_path / "work")]
    res = runner.invoke(app, url_args)
    assert res.exit_code == 0, res.output
    local = pl.read_parquet(sweep / "results.parquet").sort("run_dir")
    remote = _read_remote(memfs, "/url-sweep/results.parquet").sort("run_dir")
    assert set(remote["status"]) == {"complete"}
    assert remote["run_dir"].to_list() == local["run_dir"].to_list()
    assert remote["map"].to_list() == local["map"].to_list()
    for rel in remote["run_dir"]:
        m = json.loads(memfs.cat_file(f"/url-sweep/{rel}/metrics.json"))
        assert m["complete"] and memfs.isfile(f"/url-sweep/{rel}/checkpoints/last.pt")
        assert memfs.isfile(f"/url-sweep/{rel}/mask.npy")
        assert memfs.isfile(f"/url-sweep/{rel}/run.json")
    assert not Path("memory:").exists()  # nothing written to a local look-alike path
    assert not [p for p in (tmp_path / "work").rglob("*") if p.is_file()]  # staging cleared
    # a rerun reads the state from the URL: every run skipped, even without the staging copies
    shutil.rmtree(tmp_path / "work")
    res = runner.invoke(app, url_args)
    assert res.exit_code == 0, res.output
    again = _read_remote(memfs, "/url-sweep/results.parquet").sort("run_dir")
    assert set(again["status"]) == {"skipped"}
    assert again["map"].to_list() == local["map"].to_list()
    assert not (tmp_path / "work").exists()


class StopAfterSecondEpoch(StopAfterFirstEpoch):
    """Stops the victim after its first epoch's upload (epoch 2's message precedes its own)."""

    def message(self, text):
        if self.current == self.victim and text.startswith("epoch 2/"):
            raise KeyboardInterrupt


def test_an_interrupted_run_at_a_url_resumes_from_its_uploaded_checkpoint(
    voc_root, tiny_models, tmp_path, memfs
):
    cfg = sweep_config(voc_root, tiny_models[1], tmp_path, partials=(0.5,))
    cfg = replace(cfg, out="memory://url-resume", work_dir=str(tmp_path / "work"))
    victim = "voc/positivecoop/p0.5/seed0"
    with pytest.raises(KeyboardInterrupt):  # after epoch 0 was uploaded, before epoch 1 was
        run_sweep(cfg, StopAfterSecondEpoch(victim))
    assert run_state(f"memory://url-resume/{victim}") == "partial"
    assert run_state("memory://url-resume/voc/baseline/p0.5/seed0") == "complete"
    shutil.rmtree(tmp_path / "work")  # the URL alone holds the state
    rep = StopAfterFirstEpoch("none")
    result = run_sweep(cfg, rep)
    assert rep.events == [("voc/baseline/p0.5/seed0", "skip"), (victim, "resume")]
    assert isinstance(result.path, str) and result.path.startswith("memory://")
    res = _read_remote(memfs, "/url-resume/results.parquet").sort("run_dir")
    assert res["status"].to_list() == ["skipped", "complete"]
    resumed = json.loads(memfs.cat_file(f"/url-resume/{victim}/metrics.json"))
    assert resumed["complete"] and [h["epoch"] for h in resumed["history"]] == [0, 1]
    # epoch 0 came from the checkpoint: only epoch 1 was trained again
    assert resumed["map"] == res.filter(pl.col("run_dir") == victim)["map"].item()


def test_table_of_a_url_equals_the_local_table(done_sweep, memfs, tmp_path):
    sweep, _, _ = done_sweep
    memfs.put(str(sweep), "/url-table", recursive=True)
    assert memfs.isfile("/url-table/results.parquet")
    # a directory of fit runs only (no results.parquet): its metrics.json files are read
    runs_only = tmp_path / "runs"
    shutil.copytree(sweep, runs_only, ignore=shutil.ignore_patterns("results.parquet"))
    for p in memfs.find("/url-table"):
        if p.endswith("/metrics.json"):
            memfs.pipe_file(p.replace("/url-table/", "/url-table-runs/"), memfs.cat_file(p))
    for local, url in ((sweep, "memory://url-table"), (runs_only, "memory://url-table-runs")):
        for args in (["--no-paper", "--format", "csv"], ["--allow-random"]):
            want = runner.invoke(app, ["table", str(local), *args])
            assert want.exit_code == 0, want.output
            got = runner.invoke(app, ["table", url, *args])
            assert got.exit_code == 0, got.output
            assert got.output == want.output
    res = runner.invoke(app, ["table", "memory://url-nowhere"])
    assert res.exit_code == 1 and "memory://url-nowhere: no such sweep directory" in res.output
