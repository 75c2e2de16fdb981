"""promptsim negbench's files that travel: NegBench CSVs read strictly (a malformed row is one line
naming file and line), CLIP_benchmark JSONs that `clip_benchmark build` reads as they are written
(and that name the weights), and one result folder per model identity, reused only for the same
options."""

from __future__ import annotations

import pytest
from PIL import Image
from typer.testing import CliRunner

from negation.cli_promptsim import app

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
