"""The GPU check (benchmarks/gpu_check.py) in its dry run: CPU, tiny random models, tiny sizes.

It keeps the check from rotting between the rare runs on a lent GPU: every part runs and reports a
status, the summary has its keys, an exhausted budget is reported with what was finished, and a
child process that outlives its time is killed. No timing is asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from benchmarks import gpu_check, gpu_check_parts
from corpora.reference import load_reference
from mlr.heads import METHODS


def test_dry_run_writes_every_part_and_key(tmp_path):
    assert gpu_check.main([str(tmp_path), "--dry-run"]) == 0
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["dry_run"] is True
    assert {"environment", "weights", "budgets_s", "parts", "versions", "total_s"} <= set(summary)
    assert "random weights" in summary["weights"]
    parts = summary["parts"]
    assert set(parts) == set(gpu_check.PARTS)
    assert all(isinstance(p["seconds"], float) for p in parts.values())
    statuses = {name: p["status"] for name, p in parts.items()}
    assert statuses == {
        "mlrtrain": "ok",
        "promptsim": "ok",
        "negbench": statuses["negbench"],
        "precision": "ok",
    }
    negbench = parts["negbench"]
    if negbench["status"] != "ok":  # the command is not in this revision
        assert negbench["status"] == "not available"
        assert "not available in this revision" in negbench["note"]
    else:
        assert negbench["n_questions"] > 0

    m = parts["mlrtrain"]
    for precision in ("fp32", "bf16"):
        for mode in ("cached", "online"):
            for method in METHODS:
                assert set(m["step_s"][precision][mode][method]) == {"2", "32"}
                assert m["projected_coco_hours"][precision][mode][method] > 0  # B = 32 was timed
    paper = load_reference()["gpu_hours"]["coco"]
    assert m["paper_gpu_hours"] == {k: paper[k] for k in METHODS}

    (row,) = parts["promptsim"]["rows"]
    assert row["model"] == "notclip-tiny-RN" and row["random_weights"] is True
    assert parts["promptsim"]["n_prompts"] == 2 * 85 * 2
    assert row["max_abs_diff"] <= 1e-5 and row["equal_within_1e-5"] is True

    p = parts["precision"]
    assert set(p["max_abs_diff"]) == {"bf16", "fp16"}
    for diffs in p["max_abs_diff"].values():
        assert set(diffs) == {"text", "image_dense", "image_global"}
        assert all(0 <= d < 0.1 for d in diffs.values())  # normalised features, low precision
    for method in METHODS:
        loss = p["step_loss"][method]
        assert set(loss) == {"fp32", "bf16", "fp16", "bf16_abs_diff", "fp16_abs_diff"}
        assert all(math.isfinite(v) for v in loss.values())

    md = (tmp_path / "gpu_check.md").read_text()
    assert "DRY RUN" in md and "paper GPU h" in md and "promptsim text encoding" in md


def test_a_part_out_of_budget_reports_what_it_finished(tmp_path, monkeypatch):
    checks = iter(range(10**6))

    def check(self):  # the budget runs out at the fourth measurement
        if next(checks) >= 3:
            raise gpu_check.PartTimeout

    monkeypatch.setattr(gpu_check.Budget, "check", check)
    assert gpu_check.main([str(tmp_path), "--dry-run", "--parts", "mlrtrain"]) == 1
    parts = json.loads((tmp_path / "gpu_check.json").read_text())["parts"]
    assert {k: v["status"] for k, v in parts.items()} == {
        "mlrtrain": "timeout",
        "promptsim": "skipped",
        "negbench": "skipped",
        "precision": "skipped",
    }
    m = parts["mlrtrain"]
    assert "budget ran out" in m["note"]
    cached = m["step_s"]["fp32"]["cached"]
    assert set(cached) == {"baseline", "dualcoop"} and set(cached["dualcoop"]) == {"2"}
    proj = m["projected_coco_hours"]["fp32"]["cached"]
    assert proj["baseline"] > 0 and proj["dualcoop"] is None  # no B = 32 step for dualcoop


def test_a_child_process_past_its_time_is_killed(monkeypatch):
    started = []
    popen = subprocess.Popen

    def spy(*args, **kwargs):
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(gpu_check_parts.subprocess, "Popen", spy)
    with pytest.raises(gpu_check.PartTimeout):
        gpu_check_parts.run_child([sys.executable, "-c", "import time; time.sleep(60)"], 0.5)
    (proc,) = started
    assert proc.returncode is not None and gpu_check_parts.children == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA machine would run the full check")
def test_without_cuda_the_full_check_refuses(tmp_path, capsys):
    assert gpu_check.main([str(tmp_path)]) == 1
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "gpu_check.json").exists()


def test_the_watchdog_writes_the_summary_and_ends_the_process(tmp_path):
    code = (
        "import sys, time\n"
        "from benchmarks import gpu_check as g\n"
        "g.RUNNERS['promptsim'] = lambda s, res, budget: time.sleep(60)\n"
        "g.run_check(g.Path(sys.argv[1]), g.DRY_RUN, ('promptsim', 'negbench'), hard_limit=1.0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=gpu_check_parts.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 124, done.stderr
    parts = json.loads((tmp_path / "gpu_check.json").read_text())["parts"]
    assert {k: v["status"] for k, v in parts.items()} == {
        "mlrtrain": "skipped",
        "promptsim": "timeout",
        "negbench": "timeout",
        "precision": "skipped",
    }
    assert parts["promptsim"]["note"].endswith("ran out here")
    assert parts["negbench"]["note"].endswith("before this part started")
    assert (tmp_path / "gpu_check.md").is_file()
