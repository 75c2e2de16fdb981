"""--engine ray on a local 2-CPU Ray (one per test session): the same files as a local run, a
killed task retried, results saved as they arrive, and sweep runs as tasks."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from conftest import MODEL_CONFIGS
from mlr_data import write_voc
from test_negscan_cli import invoke, panicking_shard, write_shard
from test_sweep import METHODS, sweep_config

from corpora.captions import parquet_captions, parquet_footer
from corpora.executors import RayExecutor, start_ray
from corpora.shards import DEFAULT_RETRIES, expand
from negation.negscan import records
from negation.negscan.distributed import scan_in_parallel
from negation.negscan.lexicon import load_lexicon
from negation.negscan.scan import ScanOptions
from negation.negscan.scanning import Unit, scan_units
from negation.negscan.store import REPORT_FILES, ResultStore

pytestmark = pytest.mark.ray

COMPARED = [f for f in REPORT_FILES if f != "run.json"]


REGISTRY_VAR = "NOTCLIP_TEST_HASH_REGISTRY"  # tells the workers conftest's hash_registry
CRASH = "crash-after-first-checkpoint"  # in a run directory: its worker dies once, mid-run


def _worker_setup() -> None:
    """Every worker: the tiny open_clip models, the session's file-hash registry (never ~), and a
    checkpoint writer that kills the worker right after a run's first checkpoint when the run's
    directory holds a CRASH file."""
    import open_clip

    import corpora.identity
    import mlr.train

    open_clip.add_model_config(MODEL_CONFIGS)
    corpora.identity.REGISTRY = Path(os.environ[REGISTRY_VAR])
    save = mlr.train.atomic_torch_save

    def save_then_die(obj, path, **kwargs):
        save(obj, path, **kwargs)
        trigger = Path(path).parents[1] / CRASH
        if Path(path).name == "last.pt" and trigger.exists():
            trigger.unlink()
            os._exit(1)

    mlr.train.atomic_torch_save = save_then_die


@pytest.fixture(scope="session")
def ray_cluster(hash_registry):
    ray = pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Unix socket paths <= 107 bytes
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        for module in (__name__, "conftest"):  # test helpers travel by value to the workers
            ray.cloudpickle.register_pickle_by_value(sys.modules[module])
        setup = {
            "worker_process_setup_hook": _worker_setup,
            "env_vars": {REGISTRY_VAR: str(hash_registry)},
        }
        ray, owned = start_ray(
            num_cpus=2, temp_dir=temp, object_store_bytes=100 << 20, runtime_env=setup
        )
        assert owned
        yield ray
        ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory):
    return write_voc(tmp_path_factory.mktemp("voc"), n_trainval=16, n_test=8)


def corpus(tmp_path: Path) -> list[Path]:
    """Five shards with negations, repeats (for --unique), nulls and empties."""
    words = ["no dog", "not a cat", "a cat", "never", "nothing here", "no. 5", "", None]
    paths = []
    for i in range(5):
        captions = [words[(i * 3 + k) % len(words)] for k in range(40)] + [f"no cat {i}"]
        paths.append(write_shard(tmp_path / "in" / f"part-{i:05d}.parquet", captions))
    return paths


def same_reports(a: Path, b: Path) -> None:
    for name in COMPARED:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_ray_engine_writes_the_local_report_byte_for_byte(ray_cluster, tmp_path, monkeypatch):
    corpus(tmp_path)
    bad = tmp_path / "in" / "part-00009.parquet"  # a corrupt data page: a task's bad shard
    pl.DataFrame({"TEXT": [f"no caption {i} " * 3 for i in range(20_000)]}).write_parquet(bad)
    data = bytearray(bad.read_bytes())
    for k in range(len(data) // 4, len(data) // 2):
        data[k] = (data[k] * 7 + 3) % 256
    bad.write_bytes(bytes(data))
    panics = panicking_shard(tmp_path / "in" / "part-00008.parquet")  # Polars panics on it
    copy = tmp_path / "in" / "zcopy" / "part-00001.parquet"  # in another task: counted once
    copy.parent.mkdir()
    shutil.copy(tmp_path / "in" / "part-00001.parquet", copy)
    common = ["laion", tmp_path / "in", "--unique", "--skip-bad", "--quiet"]
    local = invoke(*common, "--out", tmp_path / "local")
    assert local.exit_code == 0, local.output
    monkeypatch.setattr(records, "SPILL", 2)  # the driver's records in files, not in memory
    remote = invoke(*common, "--out", tmp_path / "ray", "--engine", "ray", "--workers", "2")
    assert remote.exit_code == 0, remote.output
    same_reports(tmp_path / "local", tmp_path / "ray")
    body = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert body["n_shards"] == 5 and [b["shard"] for b in body["bad_shards"]] == [
        str(panics.resolve()),
        str(bad.resolve()),
    ]
    assert body["duplicate_shards_counted_once"] == [str(copy.resolve())]
    run = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert run["execution"]["engine"] == "ray"
    # without --skip-bad the bad shard stops the scan with its name, as a local scan does
    stopped = invoke("laion", bad, "--quiet", "--engine", "ray")
    assert stopped.exit_code == 1 and "part-00009.parquet: cannot be read" in stopped.output
    # text files: the readers travel to the tasks too
    (tmp_path / "txt").mkdir()
    for i in range(3):
        (tmp_path / "txt" / f"c{i}.txt").write_text(f"no dog {i}\na cat\nnot here\n")
    for engine in ("local", "ray"):
        res = invoke(
            "text",
            tmp_path / "txt",
            "--quiet",
            "--engine",
            engine,
            "--out",
            tmp_path / f"t-{engine}",
        )
        assert res.exit_code == 0, res.output
    same_reports(tmp_path / "t-local", tmp_path / "t-ray")


def crash_once(marker: str, shard, column):
    """Kill the worker process the first time this shard is scanned (Ray then retries)."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return parquet_captions(shard, column)


def fails(shard, column):
    raise RuntimeError(f"a bug while reading {shard.url}")


def units(paths, captions=None):
    captions = captions or {}
    out = []
    for shard in expand([str(p) for p in paths])[0]:
        shard = replace(shard, content=parquet_footer(shard, "TEXT").content)
        read = captions.get(shard.name, parquet_captions)
        out.append(Unit(shard, None, partial(read, shard, "TEXT")))
    return out


def on_ray(executor, units, opts, store):
    """The scan of ``units`` as Ray tasks (what ``negscan --engine ray`` runs)."""
    return scan_in_parallel(
        executor, units, opts, store, False, None, None, retries=DEFAULT_RETRIES
    )


def test_a_killed_task_is_retried_and_finished_shards_are_kept(ray_cluster, tmp_path, monkeypatch):
    paths = corpus(tmp_path)
    opts = ScanOptions(load_lexicon("standard"), unique=True)
    config = {**opts.config(), "corpus": "t"}
    executor = RayExecutor(ray_cluster, owned=False)
    local = scan_units(units(paths), opts, ResultStore(tmp_path / "local", config))
    # the worker scanning part-00002 dies on its first attempt
    marker = str(tmp_path / "crashed")
    victim = {"part-00002.parquet": partial(crash_once, marker)}
    store = ResultStore(tmp_path / "ray", config)
    with monkeypatch.context() as here:  # the tasks write their results, not this process
        here.setattr(ResultStore, "save_batch", None)
        killed = on_ray(executor, units(paths, victim), opts, store)
    assert os.path.exists(marker)  # it did die
    assert killed.records.equals(local.records) and killed.reused == 0
    for name in ("per_word", "bigrams", "classes", "samples", "unique_all", "unique_neg"):
        a, b = getattr(killed.result, name), getattr(local.result, name)
        assert a.sort(a.columns).equals(b.sort(b.columns)), name
    # a driver that dies mid-job (here: an unexpected error in one task) loses no finished shard
    store = ResultStore(tmp_path / "mid", config)
    with pytest.raises(RuntimeError, match="a bug while reading"):
        on_ray(executor, units(paths, {"part-00003.parquet": fails}), opts, store)
    saved = len(store.finished())
    assert saved >= 1  # saved as they arrived (the tasks still pending were cancelled)
    rerun = on_ray(executor, units(paths), opts, store)
    assert rerun.reused == saved and rerun.records.equals(local.records)


def test_sweep_runs_as_ray_tasks_give_the_serial_maps(ray_cluster, voc_root, tiny_models, tmp_path):
    from mlr.sweep import run_sweep

    serial_cfg = sweep_config(voc_root, tiny_models[1], tmp_path / "serial", partials=(0.5,))
    serial = run_sweep(serial_cfg)
    cfg = sweep_config(voc_root, tiny_models[1], tmp_path / "ray", partials=(0.5,))
    victim = Path(cfg.out) / "voc/positivecoop/p0.5/seed0"  # its worker dies after epoch 1
    victim.mkdir(parents=True)
    (victim / CRASH).touch()
    executor = RayExecutor(ray_cluster, owned=False)
    result = run_sweep(cfg, executor=executor)
    assert not (victim / CRASH).exists()  # it did die, and the retried task resumed the run
    history = json.loads((victim / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0, 1]
    assert result.results["status"].to_list() == ["complete"] * len(METHODS)
    assert result.results["map"].to_list() == serial.results["map"].to_list()
    saved = pl.read_parquet(Path(cfg.out) / "results.parquet")
    assert saved["map"].to_list() == serial.results["map"].to_list()
    again = run_sweep(cfg, executor=executor)  # skip rules as a serial sweep
    assert again.results["status"].to_list() == ["skipped"] * len(METHODS)


def test_sweep_cli_engine_ray(ray_cluster, voc_root, tiny_models, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mlr.cli import app

    args = ["sweep", "--dataset", "voc", "--root", str(voc_root), "--methods", "baseline"]
    args += ["--partial", "0.5", "--model", tiny_models[1], "--pretrained", "none"]
    args += ["--device", "cpu", "--epochs", "1", "--batch-size", "8", "--val-fraction", "0.25"]
    monkeypatch.chdir(tmp_path)  # relative paths mean to the tasks what they mean here
    args += ["--feature-cache", "features", "--out", "s", "-q"]
    res = CliRunner().invoke(app, [*args, "--engine", "ray", "--cpus-per-run", "1"])
    assert res.exit_code == 0, res.output
    rows = pl.read_parquet(tmp_path / "s" / "results.parquet")
    assert rows["status"].to_list() == ["complete"] and rows["device"].to_list() == ["cpu"]
    assert (tmp_path / "s" / rows["run_dir"].item() / "metrics.json").is_file()
    assert (tmp_path / "features").is_dir()
    res = CliRunner().invoke(app, [*args, "--engine", "spark"])
    assert res.exit_code == 2 and "--engine" in res.output
