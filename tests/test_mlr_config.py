"""mlrtrain's configuration: option groups whose fields are the flags, checked once when made;
run directories of earlier versions (their run.json keys) still recognised; every run option in
`sweep --help`; the error policy; the README's from-Python block."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

import pytest
from mlr_data import write_voc
from typer.testing import CliRunner

from mlr.cli import app
from mlr.config import (
    FREE,
    GROUPS,
    LEGACY_KEYS,
    METHODS,
    FitConfig,
    load_preset,
    make_config,
)
from mlr.sweep import SweepConfig, _finished_row

runner = CliRunner()
README = Path(__file__).parents[1] / "README.md"
NAMES = [f.name for f in fields(FitConfig)]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _legacy(cfg: FitConfig) -> dict:
    """``cfg`` as an earlier version wrote it into run.json (the old key names)."""
    new_to_old = {new: old for old, new in LEGACY_KEYS.items()}
    return {new_to_old.get(k, k): v for k, v in asdict(cfg).items()}


def test_groups_split_every_field_once_and_only_runtime_options_are_free():
    names = [f.name for g in GROUPS for f in fields(g)]
    assert sorted(names) == sorted(NAMES)
    assert len(names) == len(set(names))
    assert {"out", "resume", "device", "cache_dir", "offline", "feature_cache", "workers"} == FREE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"partial": 1.5}, r"--partial must be in \(0, 1\]"),
        ({"epochs": 0}, "--epochs must be >= 1"),
        ({"method": "coop"}, "--method must be one of"),
        ({"loss": "l2"}, "--loss must be one of"),
        ({"workers": -1}, "--workers must be >= 0"),
    ],
)
def test_a_bad_value_is_refused_when_the_config_is_made(change, message):
    with pytest.raises(ValueError, match=message):
        FitConfig(**change)
    with pytest.raises(ValueError, match=message):
        replace(FitConfig(), **change)


def test_an_earlier_versions_run_json_keys_are_read(tmp_path):
    cfg = FitConfig(cache_dir="w", csc=False, cache=False, augment=False, epochs=3)
    assert FitConfig.from_dict(_legacy(cfg)) == cfg
    assert FitConfig.from_dict(_legacy(cfg)).differences(cfg) == []
    (tmp_path / "old.json").write_text(json.dumps({"class_specific": False, "use_cache": False}))
    preset = make_config({"epochs": 2}, str(tmp_path / "old.json"))
    assert (preset.csc, preset.cache, preset.epochs) == (False, False, 2)
    assert set(load_preset("paper")) <= set(NAMES)  # today's names


def test_a_sweep_skips_or_conflicts_with_an_earlier_versions_finished_run(tmp_path):
    base = FitConfig(dataset="voc", root=str(tmp_path), epochs=2, feature_cache=str(tmp_path))
    sweep = SweepConfig(base, str(tmp_path / "s"), ("baseline",), (0.5,), (0,))
    (run,) = sweep.plan()
    home = Path(run.config.out)
    home.mkdir(parents=True)
    (home / "metrics.json").write_text(json.dumps({"complete": True, "map": 50.0}))
    made = replace(run.config, device="cuda", cache_dir="elsewhere")  # free options
    (home / "run.json").write_text(json.dumps({"config": _legacy(made)}))
    assert _finished_row(run, home)["status"] == "skipped"
    made = replace(made, csc=False)
    (home / "run.json").write_text(json.dumps({"config": _legacy(made)}))
    row = _finished_row(run, home)
    assert row["status"] == "conflict" and "csc False → True" in row["error"]


def test_every_run_option_is_a_flag_of_its_own_name_and_listed_by_sweep_help():
    wide = {"COLUMNS": "250"}
    fit_help = runner.invoke(app, ["fit", "--help"], env=wide).output
    sweep_help = runner.invoke(app, ["sweep", "--help"], env=wide).output
    owned = {"method", "seed", "mask", "resume"}  # the sweep sets these
    for name in NAMES:
        assert re.search(rf"{_flag(name)}\b", fit_help), name
        assert bool(re.search(rf"{_flag(name)}\b", sweep_help)) is (name not in owned), name
    assert "--config" in sweep_help and "--generic-context" in sweep_help


def _paper_fit(tmp_path, monkeypatch, *flags: str) -> FitConfig:
    """The config ``fit --config paper FLAGS`` hands to training."""
    seen = []

    def fake_fit(cfg, reporter=None):
        seen.append(cfg)
        raise ValueError("stopped here")

    monkeypatch.setattr("mlr.train.fit", fake_fit)
    monkeypatch.setattr("mlr.config.check_weights", lambda cfg: None)  # no weights needed
    args = ["fit", "--config", "paper", "--root", str(tmp_path), "--out", str(tmp_path / "r")]
    res = runner.invoke(app, [*args, *flags])
    assert res.exit_code == 1 and "error: stopped here" in res.output
    return seen[-1]


def test_fit_options_layer_defaults_preset_and_flags(tmp_path, monkeypatch):
    cfg = _paper_fit(tmp_path, monkeypatch, "--image-size", "224", "--generic-context")
    assert (cfg.image_size, cfg.csc, cfg.model, cfg.epochs) == (224, False, "RN101", 50)
    res = runner.invoke(app, ["fit", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "--root is required" in res.output


def test_the_paper_preset_is_the_anchors_recipe_with_online_augmentation():
    cfg = make_config({}, "paper")
    recipe = {
        **{"model": "RN101", "pretrained": "openai", "image_size": 448, "precision": "fp32"},
        **{"epochs": 50, "batch_size": 32, "eval_batch_size": 100, "lr": 0.002},
        **{"loss": "asl", "loss_w": 0.03, "n_ctx": 16, "csc": True, "residual": True},
        **{"cache": False, "augment": True, "aug_views": 0, "class_names": "anchors"},
    }
    assert {k: getattr(cfg, k) for k in recipe} == recipe
    assert cfg.augmentation() == "online"  # a fresh CutoutPIL + RandAugment view every epoch
    optim = {
        m: (
            replace(cfg, method=m).resolved_weight_decay(),
            replace(cfg, method=m).resolved_warmup_lr(),
        )
        for m in METHODS
    }
    assert optim == {
        "baseline": (0.0, 5e-3),
        "dualcoop": (5e-4, 1e-5),
        "positivecoop": (0.0, 5e-3),
        "negativecoop": (0.0, 5e-3),
    }
    fast = make_config({})  # without the preset: cached clean features, readable names
    assert (fast.augmentation(), fast.class_names) == ("none", "readable")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], (False, True, 0, "online", "anchors")),
        (["--cache"], (True, True, 0, "none", "anchors")),
        (["--cache", "--aug-views", "4"], (True, True, 4, "cached", "anchors")),
        (["--no-augment"], (False, False, 0, "none", "anchors")),
        (["--class-names", "readable"], (False, True, 0, "online", "readable")),
    ],
)
def test_flags_win_over_the_paper_preset(tmp_path, monkeypatch, flags, expected):
    cfg = _paper_fit(tmp_path, monkeypatch, *flags)
    assert (cfg.cache, cfg.augment, cfg.aug_views, cfg.augmentation(), cfg.class_names) == expected


def test_cached_augmented_views_without_the_cache_are_refused_not_ignored(tmp_path):
    args = ["fit", "--config", "paper", "--root", str(tmp_path), "--out", str(tmp_path / "r")]
    res = runner.invoke(app, [*args, "--aug-views", "4"])
    assert res.exit_code == 2 and "needs --cache" in res.output
    res = runner.invoke(app, [*args, "--class-names", "keys"])
    assert res.exit_code == 2 and "--class-names must be one of readable, anchors" in res.output
    # an earlier version's run.json with both (the views were never used) still loads
    old = FitConfig.from_dict({"cache": False, "aug_views": 3})
    assert (old.aug_views, old.augmentation()) == (0, "online")


def test_an_unexpected_runtime_error_keeps_its_traceback_a_diverged_run_is_one_line(
    tmp_path, monkeypatch
):
    from backbone.training import TrainingDiverged

    def oom(cfg, reporter=None):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("mlr.train.fit", oom)
    monkeypatch.setattr("mlr.config.check_weights", lambda cfg: None)  # no weights needed
    args = ["fit", "--root", str(tmp_path), "--out", str(tmp_path / "r")]
    res = runner.invoke(app, args)
    assert isinstance(res.exception, RuntimeError) and "CUDA out of memory" in str(res.exception)

    def diverged(cfg, reporter=None):
        raise TrainingDiverged("loss became nan at epoch 0")

    monkeypatch.setattr("mlr.train.fit", diverged)
    res = runner.invoke(app, [*args[:-1], str(tmp_path / "r2")])
    assert res.exit_code == 1 and "error: loss became nan at epoch 0" in res.output
    assert "Traceback" not in res.output


def test_mlrtrain_help_imports_no_torch():
    code = "import sys, mlr.cli; print(sorted({'torch', 'polars', 'open_clip'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_params_format_json_and_the_old_json_flag(tiny_models):
    args = ["params", "--classes", "cat,dog", "--model", tiny_models[0]]
    new = runner.invoke(app, [*args, "--format", "json"])
    old = runner.invoke(app, [*args, "--json"])
    assert new.exit_code == 0 and json.loads(new.stdout)["n_classes"] == 2
    assert old.stdout == new.stdout
    assert "--json" not in runner.invoke(app, ["params", "--help"]).output
    res = runner.invoke(app, [*args, "--format", "yaml"])  # not a format it offers
    assert res.exit_code == 2 and "--format" in res.output


def test_cache_directory_names_are_stable_and_never_name_a_path():
    from backbone.features import cache_entry
    from backbone.textcache import TextCache

    class Split:
        dataset, split, ids = "coco", "train", ["a", "b"]

        def __len__(self) -> int:
            return 2

        def content_digest(self) -> str:  # the images' content, not their paths
            return "ab" * 32

    info = {
        "name": "ViT-B-32/quick gelu",
        "pretrained": "/data/weights/my ckpt (v2).pt",
        "weights_id": "sha256:abc",
        "precision": "fp32",
        "preprocessing": {"mean": [0.5], "std": [0.5]},
    }
    entry, _ = cache_entry(Path("/c"), info, 224, Split(), 0, 0)
    assert str(entry.path.relative_to("/c")) == (
        "ViT-B-32_quick_gelu-300f7545__224__3fe86da6ed50/coco-train-abababababababab/view0"
    )
    info |= {"name": "RN101", "pretrained": "openai"}
    info["preprocessing"] = {**info["preprocessing"], "preprocess": "crop"}
    entry, _ = cache_entry(Path("/c"), info, 448, Split(), 1, 3)
    assert str(entry.path.relative_to("/c")) == (  # v2: the views of randaugment 1.0.2
        "RN101__448-crop__3fe86da6ed50/coco-train-abababababababab/aug1-seed3-v2"
    )
    space = "open_clip:ViT-B-32/laion2b_s34b_b79k|fp32|eot+a very long namespace past sixty chars"
    assert TextCache("/t", space).dir.name == (
        "open_clip_ViT-B-32_laion2b_s34b_b79k_fp32_eot_a_very_long_na-753e66a58d57"
    )
    assert TextCache("/t", "st:all-MiniLM-L6-v2").dir.name == "st_all-MiniLM-L6-v2-c66e323e25f1"


def test_table_out_is_a_directory_and_the_old_file_form_still_works(tmp_path, monkeypatch):
    monkeypatch.setattr("mlr.table.build_table", lambda *a, **k: None)
    monkeypatch.setattr("mlr.table.render", lambda frame, fmt, compare: f"<{fmt}>\n")
    res = runner.invoke(app, ["table", "s", "--format", "latex", "--out", str(tmp_path / "t")])
    assert res.exit_code == 0 and (tmp_path / "t" / "table.tex").read_text() == "<latex>\n"
    res = runner.invoke(app, ["table", "s", "--out", str(tmp_path / "old.md")])
    assert res.exit_code == 0 and (tmp_path / "old.md").read_text() == "<markdown>\n"


def test_the_readme_from_python_block_runs_as_written(tiny_models, tmp_path, capsys):
    text = README.read_text("utf-8")
    section = text[text.index("## mlrtrain") :]
    block = section[section.index("```python\n") + 10 :]
    block = block[: block.index("```")]
    tiny = {
        "model": tiny_models[1],
        "pretrained": "none",
        "device": "cpu",
        "epochs": 1,
        "batch_size": 8,
        "val_fraction": 0.25,
        "feature_cache": str(tmp_path / "fc"),
    }
    root = write_voc(tmp_path / "voc", n_trainval=16, n_test=8)
    for old, new in {
        '"/data/voc"': repr(str(root)),
        '"runs/voc/p0.5"': repr(str(tmp_path / "run")),
        '"sweeps/voc"': repr(str(tmp_path / "sweep")),
        "FitConfig(": "FitConfig(**TINY, ",
    }.items():
        assert old in block, old
        block = block.replace(old, new)
    scope: dict = {"TINY": tiny}
    exec(compile(block, "README", "exec"), scope)
    assert (tmp_path / "run" / "metrics.json").is_file() and scope["run"].metrics["complete"]
    results = scope["sweep"].results
    assert results.height == 4 and set(results["status"]) == {"complete"}
    assert capsys.readouterr().out == ""


def test_a_misspelt_model_is_refused_before_the_dataset_is_read_and_nothing_is_written(tmp_path):
    """`--model RN-101`: exit 2 with a did-you-mean, not the missing dataset (read later), and no
    run directory, mask or lock left behind."""
    out = tmp_path / "run"
    args = ["fit", "--dataset", "voc", "--root", str(tmp_path / "no-such-root"), "--out", str(out)]
    res = runner.invoke(app, [*args, "--model", "RN-101", "--pretrained", "none"])
    assert res.exit_code == 2, res.output
    said = " ".join(res.output.replace("│", " ").split())
    assert "--model: unknown open_clip model 'RN-101': did you mean 'RN101'?" in said
    assert "no-such-root" not in said
    assert not out.exists() or not any(out.iterdir())


def test_the_model_name_check_before_pytorch_passes_every_open_clip_name():
    import open_clip

    from backbone.weights import check_model_name

    for name in open_clip.list_models():
        check_model_name(name)
    for bad in ("RN-101", "vit-b/32"):  # (a "/" makes no path of a name: no such folder)
        with pytest.raises(ValueError, match=f"unknown open_clip model '{bad}'"):
            check_model_name(bad)
