import json
import os
import stat

import numpy as np
import polars as pl
import pytest
import torch

from corpora.reference import method_rank
from corpora.runio import (
    atomic_write_dir,
    atomic_write_json,
    atomic_write_parquet,
    claim_out_dir,
    markdown_table,
    run_info,
    slug,
    write_run_json,
)


def test_atomic_write_leaves_no_temp_file_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out" / "summary.json"
    atomic_write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}

    class Boom:
        def write_parquet(self, path):
            path.write_bytes(b"half")
            raise KeyboardInterrupt

    pq = tmp_path / "out" / "t.parquet"
    atomic_write_parquet(pq, pl.DataFrame({"x": [1]}))
    with pytest.raises(KeyboardInterrupt):
        atomic_write_parquet(pq, Boom())
    assert pl.read_parquet(pq)["x"].to_list() == [1]
    assert sorted(p.name for p in target.parent.iterdir()) == ["summary.json", "t.parquet"]


def test_run_json_records_config_versions_and_sections(tmp_path):
    info = run_info("negscan laion", {"lexicon": "core"}, seed=0, inputs=[{"path": "a"}])
    path = write_run_json(tmp_path, info)
    got = json.loads(path.read_text())
    assert got["config"] == {"lexicon": "core"} and got["seed"] == 0
    assert "polars" in got["versions"] and "python" in got["versions"]
    assert got["inputs"] == [{"path": "a"}]


@pytest.fixture
def umask():
    """Set the process umask for one test (restored afterwards)."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mask):
    from backbone.runstate import atomic_torch_save
    from backbone.textcache import TextCache

    umask(mask)
    files = [
        atomic_write_json(tmp_path / "summary.json", {"a": 1}),
        atomic_write_parquet(tmp_path / "t.parquet", pl.DataFrame({"x": [1]})),
        write_run_json(tmp_path / "run", run_info("test", {})),
    ]
    atomic_torch_save({"w": torch.zeros(2)}, tmp_path / "checkpoints" / "last.pt")
    files.append(tmp_path / "checkpoints" / "last.pt")
    cache = TextCache(tmp_path / "cache", "namespace")
    cache.put(["a"], np.zeros((1, 3), np.float32))
    files += [*cache.dir.glob("part-*.npz"), cache.dir / "namespace.txt"]
    assert len(files) == 6
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
    for folder in (tmp_path / "run", tmp_path / "checkpoints", cache.dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask, folder


def test_a_result_directory_belongs_to_one_command(tmp_path):
    write_run_json(tmp_path, run_info("negscan laion", {}))
    claim_out_dir(tmp_path, "negscan")  # a negscan subcommand: the same layout
    claim_out_dir(tmp_path, "negscan", overwrite=False)
    with pytest.raises(ValueError) as err:
        claim_out_dir(tmp_path, "promptsim table")
    assert str(err.value) == (
        f"{tmp_path} holds results of `negscan laion` ({tmp_path / 'run.json'}); "
        "use another --out or --overwrite"
    )
    with pytest.raises(ValueError, match=r"use another --out$"):  # a command without --overwrite
        claim_out_dir(tmp_path, "mlrtrain fit", overwrite=None)
    with pytest.raises(ValueError, match="negscan laion"):
        claim_out_dir(tmp_path, "negscan-other")  # a prefix is not a program
    claim_out_dir(tmp_path, "promptsim table", overwrite=True)
    claim_out_dir(tmp_path / "new", "promptsim table")  # nothing there yet
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"unreadable run\.json"):
        claim_out_dir(tmp_path, "negscan")


def test_atomic_write_dir_replaces_whole_or_keeps_the_old_directory(tmp_path):
    target = tmp_path / "part"

    def fill(text):
        def write(tmp):
            tmp.mkdir()
            (tmp / "a.txt").write_text(text)

        return write

    atomic_write_dir(target, fill("old"))

    def boom(tmp):
        fill("half")(tmp)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_dir(target, boom)
    assert (target / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part"]  # no temporary directory left
    atomic_write_dir(target, fill("new"))
    assert [p.name for p in target.iterdir()] == ["a.txt"]
    assert (target / "a.txt").read_text() == "new"


def test_slug_markdown_table_and_method_rank():
    assert slug("ViT-B/32 (x)") == "ViT-B_32_x_"
    assert slug("laion2b+s34b b79k", "-", "._+-") == "laion2b+s34b-b79k"
    assert markdown_table([["a", "b"], ["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"
    assert markdown_table([["a", "b"], ["1", "2"]], "lr") == "| a | b |\n|---|---:|\n| 1 | 2 |"
    methods = ["zeta", "positivecoop", "alpha", "dualcoop", "baseline"]
    assert sorted(methods, key=method_rank) == [
        "dualcoop",
        "baseline",
        "positivecoop",
        "alpha",
        "zeta",
    ]
