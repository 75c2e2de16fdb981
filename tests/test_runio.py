import json

import polars as pl
import pytest

from corpora.runio import atomic_write_json, atomic_write_parquet, run_info, write_run_json


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
