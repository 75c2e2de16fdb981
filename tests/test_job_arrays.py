"""Job arrays without Ray: negscan --shard-index/--num-shards and mlrtrain sweep
--run-index/--num-runs slice the work exactly; merge / table over the slices equal one run."""

from __future__ import annotations

import json
import pickle
import sys
from itertools import chain

import polars as pl
import pytest
from mlr_data import write_voc
from test_negscan_cli import invoke, write_shard
from test_sweep import METHODS
from typer.testing import CliRunner

from corpora.captions import CorruptShardError, SchemaError
from corpora.executors import take_slice
from corpora.runio import atomic_write_parquet
from mlr.cli import app as mlr_app


def test_slices_partition_the_list_in_order_and_are_balanced():
    for n in range(12):
        items = list(range(n))
        for count in range(1, 6):
            parts = [take_slice(items, i, count) for i in range(count)]
            assert list(chain.from_iterable(parts)) == items
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    for index, count in ((3, 3), (-1, 2), (0, 0)):
        with pytest.raises(ValueError, match="slice index"):
            take_slice([1, 2], index, count)


def test_shard_errors_survive_pickling():  # they cross process boundaries (Ray tasks)
    for exc in (CorruptShardError("s3://b/part-1.parquet", "truncated"), SchemaError("a", "b")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and (back.shard, back.message) == (exc.shard, exc.message)
        assert str(back) == str(exc)


def test_negscan_slices_partition_the_shards_and_merge_equals_one_run(tmp_path):
    words = ["no dog", "not a cat", "a cat", "never", None, "", "no. 5", "without"]
    for i in range(7):
        captions = [words[(i + k) % len(words)] for k in range(9 + i)]
        write_shard(tmp_path / "in" / f"part-{i:05d}.parquet", captions)
    whole = tmp_path / "whole"
    assert invoke("laion", tmp_path / "in", "--out", whole, "--unique", "-q").exit_code == 0
    outs = [tmp_path / f"slice{i}" for i in range(3)]
    for i, out in enumerate(outs):
        res = invoke(
            "laion", tmp_path / "in", "--out", out, "--unique", "-q",
            "--shard-index", i, "--num-shards", 3,
        )  # fmt: skip
        assert res.exit_code == 0, res.output
    scanned = [pl.read_parquet(o / "per_shard.parquet")["shard"].to_list() for o in outs]
    expected = pl.read_parquet(whole / "per_shard.parquet")["shard"].to_list()
    assert list(chain.from_iterable(scanned)) == expected  # contiguous slices, in order, once
    assert [len(s) for s in scanned] == [2, 2, 3]
    assert invoke("merge", *outs, "--out", tmp_path / "merged", "-q").exit_code == 0
    merged = json.loads((tmp_path / "merged" / "summary.json").read_text())
    expected = json.loads((whole / "summary.json").read_text())
    assert merged.pop("merged_from") and merged.pop("duplicate_shards_counted_once") == []
    assert expected.pop("duplicate_shards_counted_once") == []
    expected.pop("patterns")  # what the scan's shard patterns matched; a merge has none
    assert merged == expected
    for name in ("per_word", "bigrams", "classes", "samples"):
        a = (tmp_path / "merged" / f"{name}.parquet").read_bytes()
        assert a == (whole / f"{name}.parquet").read_bytes(), name
    per_shard = pl.read_parquet(tmp_path / "merged" / "per_shard.parquet").sort("shard")
    assert per_shard.equals(pl.read_parquet(whole / "per_shard.parquet"))
    for bad in (["--shard-index", 3, "--num-shards", 3], ["--shard-index", 0]):
        res = invoke("laion", tmp_path / "in", "-q", *bad)
        assert res.exit_code == 2 and "--shard-index" in res.output


def test_sweep_slices_partition_the_plan_and_the_table_joins_them(tiny_models, tmp_path):
    root = write_voc(tmp_path / "voc", n_trainval=16, n_test=8)
    runner = CliRunner()
    common = ["sweep", "--dataset", "voc", "--root", str(root), "--methods", ",".join(METHODS)]
    common += ["--partial", "0.3,0.7", "--model", tiny_models[1], "--pretrained", "none"]
    common += ["--device", "cpu", "--epochs", "1", "--batch-size", "8", "--val-fraction", "0.25"]
    common += ["--feature-cache", str(tmp_path / "features"), "--quiet"]
    outs = [tmp_path / f"part{i}" for i in range(3)]
    for i, out in enumerate(outs):
        res = runner.invoke(
            mlr_app, [*common, "--out", str(out), "--run-index", str(i), "--num-runs", "3"]
        )
        assert res.exit_code == 0, res.output
    parts = [pl.read_parquet(o / "results.parquet") for o in outs]
    assert [p.height for p in parts] == [1, 1, 2]
    plan = [f"voc/{m}/p{p}/seed0" for p in (0.3, 0.7) for m in METHODS]
    assert list(chain.from_iterable(p["run_dir"] for p in parts)) == plan
    # the table over the slices is the table of one directory holding every run
    atomic_write_parquet(tmp_path / "all" / "results.parquet", pl.concat(parts))
    joined = runner.invoke(mlr_app, ["table", *map(str, outs)])
    single = runner.invoke(mlr_app, ["table", str(tmp_path / "all")])
    assert joined.exit_code == 0 and joined.output == single.output
    twice = runner.invoke(mlr_app, ["table", str(outs[0]), str(tmp_path / "all")])
    assert twice.exit_code == 1 and "more than one of" in twice.output
    res = runner.invoke(
        mlr_app, [*common, "--out", str(outs[0]), "--run-index", "3", "--num-runs", "3"]
    )
    assert res.exit_code == 2 and "--run-index" in res.output


def test_engine_ray_without_ray_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    res = invoke("laion", "--engine", "ray", "--out", tmp_path / "o", "-q")
    assert res.exit_code == 1 and "pip install 'notclip[ray]'" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = invoke("laion", "--address", "auto", "-q")  # Ray options without --engine ray
    assert res.exit_code == 2 and "--engine ray" in res.output


def test_a_local_ray_keeps_its_session_outside_the_result_directory(tmp_path, monkeypatch):
    """Ray's session (sockets, logs) never goes into --out, where its sockets would stop the
    folder from being copied. Ray is faked: its init records where its files would go."""
    import shutil
    import tempfile
    import types
    from pathlib import Path

    # short paths, so that a socket path under either would fit Ray's limit
    out = Path(tempfile.mkdtemp(prefix="o", dir="/tmp"))
    home = Path(tempfile.mkdtemp(prefix="h", dir="/tmp"))
    monkeypatch.setenv("HOME", str(home))
    temp_dirs = []

    def init(**kwargs):
        temp_dirs.append(kwargs["_temp_dir"])
        raise RuntimeError("fake Ray stops here")

    monkeypatch.setitem(
        sys.modules, "ray", types.SimpleNamespace(is_initialized=lambda: False, init=init)
    )
    try:
        scan = invoke("laion", "--engine", "ray", "--out", out / "scan", "-q")
        sweep = CliRunner().invoke(
            mlr_app,
            ["sweep", "--root", str(tmp_path), "--out", str(out / "sweep"), "--engine", "ray"],
        )
        for res in (scan, sweep):
            assert isinstance(res.exception, RuntimeError), res.output
        assert temp_dirs == [str(home / ".cache" / "notclip" / "ray")] * 2
        assert not list(out.rglob(".ray"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
