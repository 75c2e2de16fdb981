"""--format on every command that prints a result: --help lists exactly the formats the command
accepts, another one is a usage error, and each accepted format gives parseable output (json
parses, csv has a header and rows of its width, markdown a pipe table, latex a tabular)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from mlr_data import write_voc
from typer.testing import CliRunner

from corpora.formats import FORMATS, Grid, latex_table, tex, to_csv, to_json
from mlr.cli import app as mlrtrain
from negation.negscan.cli import app as negscan
from negation.promptsim.cli import app as promptsim

runner = CliRunner(env={"COLUMNS": "200"})
ROWS3 = ("table", "json", "csv")
APPS = {"negscan": negscan, "promptsim": promptsim, "mlrtrain": mlrtrain}
OFFERED = [
    *(("negscan", c, ("table", "json")) for c in ("laion", "text", "hf", "merge")),
    *(("promptsim", c, FORMATS) for c in ("table", "absence", "negbench")),
    ("promptsim", "maps", ROWS3),
    *(("mlrtrain", c, FORMATS) for c in ("fit", "eval", "params")),
    ("mlrtrain", "sweep", ROWS3),
    ("mlrtrain", "table", ("markdown", "csv", "latex")),
]


def _help_formats(app_name: str, command: str) -> list[str]:
    text = runner.invoke(APPS[app_name], [command, "--help"]).output
    flat = " ".join(text.replace("│", " ").split())
    found = re.search(r"What stdout gets: (.*?)\.", flat)
    assert found, flat
    return [f.strip() for f in found.group(1).split("|")]


@pytest.mark.parametrize(("app_name", "command", "formats"), OFFERED)
def test_help_lists_exactly_the_formats_the_command_accepts(app_name, command, formats):
    assert _help_formats(app_name, command) == list(formats)


@pytest.mark.parametrize(
    ("app_name", "args"),
    [
        ("negscan", ["laion", "--format", "csv"]),
        ("promptsim", ["maps", "x.png", "--classes", "dog", "--out", "o", "--format", "latex"]),
        ("mlrtrain", ["sweep", "--root", "r", "--out", "o", "--format", "markdown"]),
        ("mlrtrain", ["table", "sweep", "--format", "json"]),
    ],
)
def test_a_format_not_offered_is_a_usage_error_listing_those_offered(app_name, args, tmp_path):
    offered = dict(((a, c), f) for a, c, f in OFFERED)[(app_name, args[0])]
    result = runner.invoke(APPS[app_name], args)
    assert result.exit_code == 2
    assert f"use one of {', '.join(offered)}" in " ".join(result.output.split())


def check_parses(fmt: str, text: str) -> None:
    """``text`` is what a reader or a parser of ``fmt`` can use."""
    assert text.strip(), f"nothing printed as {fmt}"
    if fmt == "json":
        json.loads(text)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) >= 2 and all(rows[0]) and {len(r) for r in rows} == {len(rows[0])}
    elif fmt == "markdown":
        assert re.search(r"^\|(-{3,}:?\|)+$", text, re.M), text
    elif fmt == "latex":
        assert r"\begin{tabular}" in text and r"\end{tabular}" in text and r"\toprule" in text
        assert text.count(r"\begin{table}") == text.count(r"\end{table}")


def _model(name: str) -> list[str]:
    return ["--model", name, "--pretrained", "none", "--device", "cpu"]


def _run(app, args: list[str], fmt: str) -> str:
    result = runner.invoke(app, [*args, "--format", fmt])
    assert result.exit_code == 0, result.output
    check_parses(fmt, result.stdout)
    return result.stdout


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return write_voc(tmp_path_factory.mktemp("voc"), n_trainval=8, n_test=8)


@pytest.mark.parametrize("fmt", FORMATS)
def test_promptsim_table_in_every_format(tiny_models, tmp_path, fmt):
    args = ["table", "--classes", "cat,dog", "--templates", "single", *_model(tiny_models[0])]
    out = _run(promptsim, [*args, "--text-cache", str(tmp_path / "cache")], fmt)
    if fmt == "latex":  # the poster's table as a paper's table: its statistics typeset
        assert r"$\pm$" in out and "P1-N1" in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_promptsim_absence_in_every_format(tiny_models, voc, fmt):
    args = ["absence", "--dataset", "voc", "--root", str(voc), *_model(tiny_models[0])]
    out = _run(promptsim, [*args, "--no-text-cache", "--image-size", "64", "-q"], fmt)
    if fmt == "csv":
        assert "auroc_mean" in out.splitlines()[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_promptsim_negbench_in_every_format(tiny_models, voc, tmp_path, fmt):
    args = ["negbench", "--dataset", "voc", "--root", str(voc), "--tasks", "mcq"]
    args += ["--bootstrap", "20", *_model(tiny_models[0]), "--no-text-cache", "-q"]
    out = _run(promptsim, [*args, "--out", str(tmp_path / "nb")], fmt)
    if fmt == "json":
        assert json.loads(out)["summaries"][0]["random_weights"] is True


@pytest.mark.parametrize("fmt", ROWS3)
def test_promptsim_maps_in_every_format(tiny_models, voc, tmp_path, fmt):
    image = next((voc / "VOCdevkit" / "VOC2007" / "JPEGImages").iterdir())
    args = ["maps", str(image), "--classes", "dog", "--out", str(tmp_path / "maps")]
    out = _run(promptsim, [*args, *_model(tiny_models[0]), "--no-text-cache", "-q"], fmt)
    if fmt == "json":
        assert {r["prompt"] for r in json.loads(out)} == {"positive", "negative"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_mlrtrain_params_in_every_format(tiny_models, fmt):
    args = ["params", "--classes", "voc", "--model", tiny_models[0], "--pretrained", "none"]
    out = _run(mlrtrain, args, fmt)
    if fmt == "csv":
        assert out.splitlines()[0] == "model,classes,method,n_params"


@pytest.fixture(scope="module")
def fit_run(voc, tiny_models, tmp_path_factory):
    """One tiny fit (printed as json: the metrics.json object)."""
    tmp = tmp_path_factory.mktemp("fit")
    args = ["fit", "--dataset", "voc", "--root", str(voc), *_model(tiny_models[1])]
    args += ["--epochs", "1", "--feature-cache", str(tmp / "fc"), "--out", str(tmp / "run"), "-q"]
    printed = json.loads(_run(mlrtrain, args, "json"))
    assert printed == json.loads((tmp / "run" / "metrics.json").read_text())
    return tmp / "run"


@pytest.mark.parametrize("fmt", FORMATS)
def test_mlrtrain_eval_in_every_format(fit_run, fmt):
    out = _run(mlrtrain, ["eval", str(fit_run), "--quiet"], fmt)
    if fmt == "csv":
        header = out.splitlines()[0].split(",")
        assert {"map", "method", "model", "pretrained", "random_weights"} <= set(header)


@pytest.mark.parametrize("fmt", ROWS3)
def test_mlrtrain_sweep_in_every_format(voc, tiny_models, tmp_path_factory, fmt):
    tmp = tmp_path_factory.getbasetemp() / "formats_sweep"  # one sweep: reruns skip its run
    args = ["sweep", "--dataset", "voc", "--root", str(voc), *_model(tiny_models[1])]
    args += ["--methods", "baseline", "--partial", "0.5", "--epochs", "1", "-q"]
    args += ["--feature-cache", str(tmp / "fc"), "--out", str(tmp / "sweep")]
    out = _run(mlrtrain, args, fmt)
    if fmt == "json":
        (run,) = json.loads(out)
        assert run["method"] == "baseline" and run["status"] in ("complete", "skipped")


# ---- the shared implementation ---------------------------------------------------------------


def test_latex_escapes_what_tex_would_misread():
    assert tex("50% of a_b & {} #1 ~ ^ $ \\") == (
        r"50\% of a\_b \& \{\} \#1 \textasciitilde{} \textasciicircum{} \$ \textbackslash{}"
    )
    assert tex("0.58 ± 0.06 (-0.10, 0.50) → absence") == (
        r"0.58 $\pm$ 0.06 ($-$0.10, 0.50) $\to$ absence"
    )
    table = latex_table([["a", "b"], ["1", "2"]], "t", "lr")
    assert r"\begin{tabular}{lr}" in table and r"1 & 2 \\" in table


def test_json_has_null_for_an_undefined_number_and_csv_a_header_of_every_key():
    assert json.loads(to_json({"map": float("nan"), "rows": [float("inf")]})) == {
        "map": None,
        "rows": [None],
    }
    text = to_csv([{"a": 1, "b": None}, {"a": 2, "c": [1, 2]}])
    assert text.splitlines() == ["a,b,c", "1,,", '2,,"[1, 2]"']


def test_cells_are_never_read_as_rich_markup():
    from rich.console import Console

    from corpora.formats import rich_table

    console = Console(record=True, width=80)
    console.print(rich_table(Grid("t", ["x"], [["[bold]0.39 [0.35, 0.42][/bold]"]])))
    assert "[bold]0.39 [0.35, 0.42][/bold]" in console.export_text()
    path = "generic/positivecoop/p0.5/seed0/" * 4  # wider than the terminal: folded, never cut
    narrow = Console(record=True, width=40)
    narrow.print(rich_table(Grid("runs", ["run"], [[path]])))
    assert path in "".join(narrow.export_text().split()).replace("│", "")
