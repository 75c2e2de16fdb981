"""negscan from Python: the runner (negation.negscan.runner) scans, resumes after a Ctrl-C and
merges with one import and one call each, printing nothing."""

import json
from pathlib import Path

import pytest
from test_negscan_cli import interrupt_second_shard, shards

import negation.negscan.scanning
from negation import negscan


def test_a_notebook_scans_resumes_after_a_ctrl_c_and_merges_with_one_call_each(
    tmp_path, monkeypatch, capsys
):
    shards(tmp_path)
    files = sorted(str(p) for p in (tmp_path / "in").iterdir())
    opts = negscan.scan_options(classes="none")
    real_scan = interrupt_second_shard(monkeypatch)
    with pytest.raises(negscan.Interrupted) as stopped:
        negscan.run(negscan.laion_inputs(files), opts, tmp_path / "a")
    assert (stopped.value.saved, stopped.value.out) == (1, tmp_path / "a")
    monkeypatch.setattr(negation.negscan.scanning, "prefilter", real_scan)

    resumed = negscan.run(negscan.laion_inputs(files), opts, tmp_path / "a")
    assert resumed.body["reused_shards"] == 1
    assert resumed.notes == [f"reused 1 finished shard(s) from {tmp_path / 'a'}"]
    whole = negscan.run(negscan.laion_inputs(files), opts)  # no --out: nothing written
    assert whole.out is None and whole.body["reused_shards"] == 0
    for key in ("n_rows", "n_null", "n_with_negation", "per_word", "n_shards"):
        assert resumed.body[key] == whole.body[key]
    assert resumed.outcome.records["url"].to_list() == [str(Path(f).resolve()) for f in files]

    first = negscan.run(negscan.laion_inputs(files[:2]), opts, tmp_path / "b")
    assert first.body["n_shards"] == 2
    merged = negscan.merge([tmp_path / "b", tmp_path / "a"], tmp_path / "m")
    assert merged.notes == ["2 shard(s) appear in several inputs; each counted once"]
    assert merged.body["n_rows"] == whole.body["n_rows"]
    assert merged.body["n_with_negation"] == whole.body["n_with_negation"]
    on_disk = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(merged.body, default=str))
    assert capsys.readouterr() == ("", "")  # runners never print
