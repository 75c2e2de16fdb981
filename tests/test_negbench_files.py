"""promptsim negbench's files that travel: NegBench CSVs read strictly (a malformed row is one line
naming file and line), CLIP_benchmark JSONs that `clip_benchmark build` reads as they are written
(and that name the weights), and one result folder per model identity, reused only for the same
options."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
import torch
from mlr_data import write_voc
from PIL import Image
from typer.testing import CliRunner

from negation.promptsim.cli import app

runner = CliRunner()
HEAD = "image_path,caption_0,caption_1,caption_2,caption_3,correct_answer,correct_answer_template"


def csv_args(path, images) -> list[str]:
    out = str(images / "out")
    return ["negbench", "--negbench-csv", str(path), "--images", str(images), "--out", out, "-q"]


def one_error_line(res) -> str:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("a.jpg,right,w1,w2,w3,1.5,positive", "line 3: correct_answer '1.5' is not an option"),
        ("a.jpg,right,w1,,w3,0,positive", "line 3: empty caption_2"),
        ("a.jpg,right,w1,w2,w3,inf,negative", "line 3: correct_answer 'inf' is not an option"),
        ("a.jpg,right,w1,w2", "line 3: 4 field(s), the header has 7"),
        ("a.jpg,right,w1,w2,w3,0,positive,extra", "line 3: 8 field(s), the header has 7"),
        ("a.jpg,right,w1,w2,w3,0,maybe", "line 3: correct_answer_template 'maybe'"),
    ],
)
def test_a_malformed_negbench_csv_row_is_one_line_naming_file_and_line(tmp_path, row, says):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    path = tmp_path / "mcq.csv"
    path.write_text(f"{HEAD}\na.jpg,right,w1,w2,w3,0,hybrid\n{row}\n")
    res = runner.invoke(app, csv_args(path, tmp_path), env={"COLUMNS": "400"})
    line = one_error_line(res)
    assert f"{path}, {says}" in line
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_negbench_csv_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    path = tmp_path / "mcq.csv"
    path.write_bytes(f"{HEAD}\na.jpg,caf\xe9,w1,w2,w3,0,positive\n".encode("latin-1"))
    res = runner.invoke(app, csv_args(path, tmp_path), env={"COLUMNS": "400"})
    line = one_error_line(res)
    assert f"{path}: not UTF-8 text (byte 0xe9)" in line


# ---- CLIP_benchmark JSONs, model identity, reuse ----------------------------------------------
def clip_benchmark_build(paths: list[Path]) -> list[dict]:
    """`clip_benchmark build`'s reading (LAION-AI/CLIP_benchmark, clip_benchmark/cli.py,
    main_build): every *.json directly in a folder, ``metrics`` merged into the row, the CSV."""
    rows: list[dict] = []
    fieldnames: set[str] = set()
    for path in paths:
        files = [path / f for f in os.listdir(path) if f.endswith(".json")]
        for file in files:
            with open(file) as fh:  # clip_benchmark leaves it open: pytest would complain
                data = json.load(fh)
            row: dict = {}
            row.update(data["metrics"])
            row.update(data)
            del row["metrics"]
            row["model_fullname"] = row["model"] + " " + row["pretrained"]
            fieldnames.update(row)
            rows.append(row)
    writer = csv.DictWriter(io.StringIO(), fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)
    return rows


def export(folder: Path, model: str, seed: int) -> Path:
    """An open_clip export (``local-dir:``) of the tiny config ``model`` with random weights."""
    from backbone import BackboneConfig, load_backbone

    bb = load_backbone(BackboneConfig(model=model, pretrained="none", seed=seed, device="cpu"))
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((Path(__file__).parent / "model_configs" / f"{model}.json").read_text())
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config}))
    torch.save(bb.model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return write_voc(tmp_path_factory.mktemp("voc"), n_trainval=2, n_test=16)


def nb_args(voc: Path, *more: str) -> list[str]:
    common = ["--bootstrap", "20", "--device", "cpu", "--no-text-cache", "-q"]
    return ["negbench", "--dataset", "voc", "--root", str(voc), *common, *more]


def test_clip_benchmark_build_reads_the_json_folder_which_names_the_weights(
    voc, tiny_models, tmp_path, monkeypatch
):
    """The JSONs sit in their own folder (beside run.json, `build` stops at KeyError 'metrics'),
    and name the weights: a relative local-dir: as the absolute folder, and weights_id."""
    monkeypatch.chdir(tmp_path)
    folder = export(tmp_path / "exports" / "m", tiny_models[0], seed=1)
    model = ["--model", tiny_models[0], "--pretrained", "local-dir:exports/m"]
    res = runner.invoke(app, [*nb_args(voc, *model), "--tasks", "mcq,existence", "--out", "nb"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "nb" / "summary.json").read_text())
    spec = f"local-dir:{folder.resolve()}"
    assert summary["pretrained"] == spec
    assert re.fullmatch(r"[0-9a-f]{12}", summary["weights_id"])
    rows = clip_benchmark_build([tmp_path / "nb" / "clip_benchmark"])
    assert sorted(r["task"] for r in rows) == ["existence", "mcq"]
    for r in rows:
        assert (r["pretrained"], r["weights_id"]) == (spec, summary["weights_id"])
        assert r["model_fullname"] == f"{tiny_models[0]} {spec}"
    q = pl.read_parquet(tmp_path / "nb" / "questions.parquet")
    assert set(q["pretrained"]) == {spec}
    assert json.loads((tmp_path / "nb" / "run.json").read_text())["model"]["pretrained"] == spec


def test_models_whose_names_sanitise_alike_get_their_own_folders(voc, tiny_models, tmp_path):
    """local-dir:/x/a-b/m and local-dir:/x/a/b-m both slug to local-dir-x-a-b-m."""
    one = export(tmp_path / "x" / "a-b" / "m", tiny_models[0], seed=1)
    two = export(tmp_path / "x" / "a" / "b-m", tiny_models[0], seed=2)
    models = tmp_path / "models.txt"
    models.write_text(f"{tiny_models[0]},local-dir:{one}\n{tiny_models[0]},local-dir:{two}\n")
    out = tmp_path / "many"
    res = runner.invoke(
        app, [*nb_args(voc, "--tasks", "mcq"), "--models-file", str(models), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    status = json.loads((out / "models.json").read_text())
    assert [s["status"] for s in status] == ["complete", "complete"]
    assert status[0]["dir"] != status[1]["dir"]
    for row, folder in zip(status, (one, two), strict=True):
        summary = json.loads((out / row["dir"] / "summary.json").read_text())
        assert summary["pretrained"] == f"local-dir:{folder}"
        assert re.fullmatch(rf"{tiny_models[0]}_.*-x-a-b-m-[0-9a-f]{{8}}", row["dir"])  # readable
    ids = [json.loads((out / r["dir"] / "summary.json").read_text())["weights_id"] for r in status]
    assert ids[0] != ids[1]
    rows = clip_benchmark_build([out / r["dir"] / "clip_benchmark" for r in status])
    assert sorted(r["pretrained"] for r in rows) == sorted(f"local-dir:{f}" for f in (one, two))


def test_a_finished_result_is_reused_only_for_the_same_options(voc, tiny_models, tmp_path):
    weights = export(tmp_path / "w", tiny_models[0], seed=1)
    models = tmp_path / "models.txt"
    models.write_text(f"{tiny_models[0]},none\n{tiny_models[0]},local-dir:{weights}\n")
    out = tmp_path / "many"

    def invoke(*more: str):
        args = [*nb_args(voc, "--tasks", "mcq", *more), "--models-file", str(models)]
        return runner.invoke(app, [*args, "--out", str(out)], env={"COLUMNS": "400"})

    def statuses() -> list[str]:
        return [s["status"] for s in json.loads((out / "models.json").read_text())]

    assert invoke().exit_code == 0 and statuses() == ["complete", "complete"]
    first = {p: p.read_bytes() for p in out.rglob("summary.json")}
    assert invoke("--image-batch", "4").exit_code == 0  # changes no number
    assert statuses() == ["skipped", "skipped"]
    for more, named in [
        (("--seed", "1"), "seed 0 → 1"),
        (("--max-images", "8"), "max_images None → 8"),
        (("--tasks", "mcq,existence"), "tasks ['mcq'] → ['mcq', 'existence']"),
        (("--precision", "bf16"), "precision 'fp32' → 'bf16'"),
    ]:
        res = invoke(*more)
        assert res.exit_code == 1, res.output
        assert statuses() == ["conflict", "conflict"]
        rows = json.loads((out / "models.json").read_text())
        assert all(named in r["error"] and "kept as made" in r["error"] for r in rows)
        assert "negbench —" not in res.stdout  # the old numbers are not shown as this run's
        assert "2 of 2 models have a finished result made with other options" in res.stderr
        assert {p: p.read_bytes() for p in out.rglob("summary.json")} == first
    export(weights, tiny_models[0], seed=2)  # the same folder, other weights
    assert invoke().exit_code == 1 and statuses() == ["skipped", "conflict"]
    error = json.loads((out / "models.json").read_text())[1]["error"]
    assert "open_clip_pytorch_model.bin changed or gone since" in error
