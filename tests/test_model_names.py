"""One model, one name: a model given as a config file is named as --model gave it in every
title, banner and figure (never by its registered open_clip name, ``<stem>-<content hash>``)."""

from __future__ import annotations

import json

import numpy as np
from conftest import MODEL_CONFIGS
from PIL import Image
from typer.testing import CliRunner

from corpora.labels import epoch_label, model_label, run_model
from figures.inputs import random_weights_banner, read_models
from negation.promptsim.cli import app

runner = CliRunner()


def test_a_config_file_model_has_one_name_in_results_titles_and_figures(tmp_path):
    config = str(MODEL_CONFIGS / "notclip-tiny-RN.json")
    image = tmp_path / "street.png"
    Image.fromarray(np.full((40, 50, 3), 90, dtype=np.uint8)).save(image)
    common = ["--model", config, "--pretrained", "none", "--device", "cpu", "--no-text-cache"]
    out = tmp_path / "maps"
    maps = runner.invoke(app, ["maps", str(image), "--classes", "dog", "--out", str(out), *common])
    assert maps.exit_code == 0, maps.output
    registered = json.loads((out / "run.json").read_text())["model"]["name"]
    assert registered.startswith("notclip-tiny-RN-")  # stored, as docs/RESULTS.md says
    # what the figures show
    (model,) = read_models(out)
    assert model.label == f"{config} / none"
    assert registered not in (random_weights_banner([model]) or "")
    # what promptsim table prints for the same model (markdown: its title is never wrapped)
    args = ["table", "--classes", "cat,dog", "--templates", "single", "--format", "markdown"]
    table = runner.invoke(app, [*args, *common])
    assert table.exit_code == 0, table.output
    assert f"**promptsim — {model_label(config, 'none')} — custom (2 classes)**" in table.stdout
    assert registered not in table.output


def test_run_model_reads_the_name_as_given_and_older_files_their_open_clip_name():
    section = {"name": "model-44f385d6", "config": {"model": "toy/model.json"}}
    assert run_model(section) == "toy/model.json"
    assert run_model({"name": "RN101"}) == "RN101"  # a run.json without the backbone's config


def test_epochs_are_counted_from_one_for_a_reader():
    assert [epoch_label(e, 4) for e in range(4)] == ["1/4", "2/4", "3/4", "4/4"]
