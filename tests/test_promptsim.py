"""promptsim: template sets, negation styles, statistics on hand-made embeddings, the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from corpora.classes import load_classes
from negation.promptsim.cli import app, with_default_command
from negation.promptsim.similarity import (
    centring_note,
    compute_promptsim,
    ensemble,
    format_stat,
    rowwise_cosine,
    summarise,
)
from negation.promptsim.templates import (
    STYLES,
    Setting,
    load_pairs,
    load_template_set,
    negate,
    setting,
)

# ---- template sets and styles -----------------------------------------------------------------


def test_single_set_is_the_poster_exactly():
    s = setting(load_template_set("single"), "not-prefix")
    assert s.positive == ("photo of a {}",)
    assert s.negative == ("Not a photo of a {}",)
    assert s.paraphrase == ("picture of a {}",) and s.p2 == "explicit"


def test_ensemble_sets():
    i80 = load_template_set("imagenet80")
    e85 = load_template_set("ensemble85")
    assert len(i80.positive) == 80 == len(set(i80.positive))
    assert len(e85.positive) == 85 and e85.positive[:80] == i80.positive
    assert e85.positive[80:] == (
        "there is a {} in the scene.",
        "there is the {} in the scene.",
        "this is a {} in the scene.",
        "this is the {} in the scene.",
        "this is one {} in the scene.",
    )
    assert "a bad photo of a {}." in i80.positive and "itap of my {}." in i80.positive
    s = setting(e85, "not-prefix")
    assert s.p2 == "halves" and s.negative[0] == "not a bad photo of a {}."
    left, right = s.halves()
    assert len(left) == 43 and len(right) == 42 and not set(left) & set(right)


@pytest.mark.parametrize(
    ("template", "style", "expected"),
    [
        ("a photo of a {}.", "not-prefix", "not a photo of a {}."),
        ("a photo of the large {}.", "no", "a photo of no large {}."),
        ("there is a {} in the scene.", "no", "there is no {} in the scene."),
        ("a origami {}.", "no", "no origami {}."),
        ("a photo of the hard to see {}.", "without", "a photo without the hard to see {}."),
        ("itap of my {}.", "without", "itap without my {}."),
        ("a toy {}.", "without", None),
        ("a toy {}.", "there-is-no", "there is no {} in the scene."),
    ],
)
def test_negation_styles(template, style, expected):
    assert negate(template, style) == expected


def test_every_style_gives_valid_templates():
    for name in ("single", "ensemble85"):
        for style in STYLES:
            s = setting(load_template_set(name), style)
            assert s.negative and all(t.count("{}") == 1 for t in s.negative)
    with pytest.raises(ValueError, match="unknown negation style"):
        negate("a {}", "nope")
    with pytest.raises(ValueError, match="unknown template set"):
        load_template_set("imagenet81")


def test_pairs_file(tmp_path):
    path = tmp_path / "pairs.toml"
    path.write_text(
        '[mine]\npositive = "a photo of a {}."\nnegative = ["a photo of no {}."]\n'
        '[two]\npositive = ["a {}.", "the {}."]\nnegative = "no {}."\n'
    )
    mine, two = load_pairs(path)
    assert mine.templates == "pairs:mine" and mine.style == "pairs" and mine.p2 == "none"
    assert two.p2 == "halves" and two.negative == ("no {}.",)
    path.write_text('[bad]\npositive = "a photo"\nnegative = "not {}"\n')
    with pytest.raises(ValueError, match=r"\[bad\].*exactly once"):
        load_pairs(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_pairs(tmp_path / "missing.toml")


def test_class_sets_for_promptsim():
    coco = load_classes("coco")
    assert len(coco) == 80 and "traffic light" in coco.names
    assert load_classes("cat, dog").names == ("cat", "dog")


# ---- statistics on hand-made embeddings ---------------------------------------------------------


def test_summarise_known_values():
    stats = summarise([0.2, 0.4, 0.6, 0.8])
    assert stats["mean"] == pytest.approx(0.5)
    assert stats["std"] == pytest.approx(np.sqrt(0.05))  # population std
    assert (stats["min"], stats["max"], stats["n"]) == (0.2, 0.8, 4)
    assert format_stat({"mean": 0.58, "std": 0.06, "min": 0.37, "max": 0.69}) == (
        "0.58 ± 0.06 (0.37, 0.69)"
    )


def test_ensemble_normalises_then_averages():
    table = {"a cat": [3.0, 0.0], "b cat": [0.0, 0.5]}  # lengths differ: must not weigh the mean
    out = ensemble(lambda texts: np.array([table[t] for t in texts]), ["cat"], ["a {}", "b {}"])
    assert np.allclose(out.numpy(), [[np.sqrt(0.5), np.sqrt(0.5)]])
    assert np.allclose(rowwise_cosine(np.array([[1.0, 0.0]]), np.array([[2.0, 2.0]])), np.sqrt(0.5))


def _reference_ensemble(emb: np.ndarray) -> np.ndarray:
    """``[C, K, D]`` → ``[C, D]``: normalise each prompt, mean over K, renormalise (by hand)."""
    unit = emb / np.linalg.norm(emb, axis=-1, keepdims=True)
    mean = unit.mean(axis=1)
    return mean / np.linalg.norm(mean, axis=-1, keepdims=True)


def test_ensembles_pin_the_cosines_of_normalise_mean_renormalise():
    rng = np.random.default_rng(7)
    vectors: dict[str, np.ndarray] = {}

    def encode(texts):
        return np.stack(
            [vectors.setdefault(t, rng.normal(size=16) * rng.uniform(0.1, 9)) for t in texts]
        )

    names = ["cat", "dog", "sea lion"]
    pos, neg = ("a {}", "b {}", "c {}", "d {}", "e {}"), ("not a {}", "no {}", "without {}")
    res = compute_promptsim(encode, names, names, [Setting("ens", "x", pos, neg, None, "halves")])

    def ens(templates):
        emb = np.stack([[vectors[t.replace("{}", n)] for t in templates] for n in names])
        return _reference_ensemble(emb)

    def cos(a, b):
        return np.sum(a * b, axis=-1)

    p1, n1, left, right = ens(pos), ens(neg), ens(pos[0::2]), ens(pos[1::2])
    raw = res.per_class.filter(pl.col("space") == "raw")
    got = {
        pair: raw.filter(pl.col("pair") == pair)["cosine"].to_numpy() for pair in ("P1-N1", "P1-P2")
    }
    np.testing.assert_allclose(got["P1-N1"], cos(p1, n1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["P1-P2"], cos(left, right), rtol=0, atol=1e-12)
    mu = p1.mean(axis=0)
    centred = [(v - mu) / np.linalg.norm(v - mu, axis=-1, keepdims=True) for v in (p1, n1)]
    cen = res.per_class.filter((pl.col("space") == "centred") & (pl.col("pair") == "P1-N1"))
    np.testing.assert_allclose(cen["cosine"].to_numpy(), cos(*centred), rtol=0, atol=1e-12)


def _angle_encoder(table: dict[str, np.ndarray]):
    def encode(texts):
        return np.stack([table[t] for t in texts])

    return encode


def test_compute_promptsim_on_hand_made_vectors():
    # cos(P1, N1) = 0.5 (class a) / 0.75 (b); cos(P1, P2) = 0.8 (a) / 0.2 (b).
    def unit(*xs):
        v = np.array(xs, dtype=float)
        return v / np.linalg.norm(v)

    table = {
        "p a": unit(1, 0, 0, 0),
        "n a": unit(0.5, np.sqrt(0.75), 0, 0),
        "q a": unit(0.8, 0, 0.6, 0),
        "p b": unit(0, 0, 0, 1),
        "n b": unit(0, np.sqrt(1 - 0.75**2), 0, 0.75),
        "q b": unit(0, 0, np.sqrt(1 - 0.04), 0.2),
    }
    s = Setting("toy", "x", ("p {}",), ("n {}",), ("q {}",), "explicit")
    res = compute_promptsim(_angle_encoder(table), ["a", "b"], ["a", "b"], [s], "m", "w")
    raw = res.per_class.filter(pl.col("space") == "raw")
    neg = dict(raw.filter(pl.col("pair") == "P1-N1").select("class", "cosine").iter_rows())
    para = dict(raw.filter(pl.col("pair") == "P1-P2").select("class", "cosine").iter_rows())
    assert neg["a"] == pytest.approx(0.5) and neg["b"] == pytest.approx(0.75)
    assert para["a"] == pytest.approx(0.8) and para["b"] == pytest.approx(0.2)
    row = next(r for r in res.rows if r["pair"] == "P1-N1" and r["space"] == "raw")
    assert row["mean"] == pytest.approx(0.625) and row["std"] == pytest.approx(0.125)
    assert (row["min"], row["max"], row["n"]) == (pytest.approx(0.5), pytest.approx(0.75), 2)
    frac = next(f for f in res.frac_negation_closer if f["space"] == "raw")
    assert frac["frac"] == 0.5  # class b only
    closer = raw.filter(pl.col("pair") == "P1-N1").sort("class")["negation_closer"].to_list()
    assert closer == [False, True]
    assert res.per_class.columns[:8] == [
        "model", "pretrained", "class", "templates", "style", "pair", "space", "cosine"
    ]  # fmt: skip
    assert set(res.per_class["model"]) == {"m"}


def test_centred_space_subtracts_the_mean_positive_feature():
    # P1 of both classes share a big common component e0; centring removes it.
    table = {
        "p a": np.array([10.0, 1.0, 0.0]),
        "p b": np.array([10.0, -1.0, 0.0]),
        "n a": np.array([10.0, 1.0, 1.0]),
        "n b": np.array([10.0, -1.0, 1.0]),
    }
    s = Setting("toy", "x", ("p {}",), ("n {}",), None, "none")
    res = compute_promptsim(_angle_encoder(table), ["a", "b"], ["a", "b"], [s])
    cos = {(r["space"]): r["mean"] for r in res.rows}
    assert cos["raw"] > 0.99
    # P1 ensembles ≈ (10, ±1, 0)/|.|; N1 ≈ (10, ±1, 1)/|.|; mu = (10, 0, 0)/|.|
    p = np.array([10.0, 1.0, 0.0]) / np.linalg.norm([10.0, 1.0, 0.0])
    n = np.array([10.0, 1.0, 1.0]) / np.linalg.norm([10.0, 1.0, 1.0])
    mu = np.array([p[0], 0.0, 0.0])
    pc, nc = p - mu, n - mu
    expected = pc @ nc / np.linalg.norm(pc) / np.linalg.norm(nc)
    assert cos["centred"] == pytest.approx(expected)
    assert not any(r["pair"] == "P1-P2" for r in res.rows)  # no paraphrase: no P1-P2 rows
    assert res.frac_negation_closer[0]["frac"] is None


def test_halves_paraphrase_and_single_encoder_call():
    calls = []
    rng = np.random.default_rng(0)
    vectors: dict[str, np.ndarray] = {}

    def encode(texts):
        calls.append(list(texts))
        return np.stack([vectors.setdefault(t, rng.normal(size=8)) for t in texts])

    s1 = Setting("ens", "x", ("a {}", "b {}", "c {}", "d {}"), ("not a {}",), None, "halves")
    s2 = Setting("ens", "y", s1.positive, ("no {}",), None, "halves")
    res = compute_promptsim(encode, ["k"], ["cat"], [s1, s2])
    assert len(calls) == 1 and len(calls[0]) == len(set(calls[0])) == 6
    half = _reference_ensemble(np.stack([[vectors["a cat"], vectors["c cat"]]]))
    other = _reference_ensemble(np.stack([[vectors["b cat"], vectors["d cat"]]]))
    p2 = next(r for r in res.rows if r["pair"] == "P1-P2" and r["space"] == "raw")
    assert p2["mean"] == pytest.approx(float(rowwise_cosine(half, other)[0]))
    assert sum(r["pair"] == "P1-P2" for r in res.rows) == 2  # once per template set and space
    assert p2["style"] == "-" and p2["p2"] == "halves"


# ---- CLI ----------------------------------------------------------------------------------------

runner = CliRunner()


def _tiny(tmp_path, *extra):
    return [
        "table",
        "--model",
        "notclip-tiny-RN",
        "--pretrained",
        "none",
        "--device",
        "cpu",
        "--text-cache",
        str(tmp_path / "cache"),
        *extra,
    ]


def test_cli_table_writes_results(tiny_models, tmp_path):
    out = tmp_path / "out"
    args = _tiny(tmp_path, "--classes", "cat,dog,traffic light", "--style", "not-prefix,no")
    result = runner.invoke(app, [*args, "--out", str(out), "--templates", "single,ensemble85"])
    assert result.exit_code == 0, result.output
    assert "RANDOM WEIGHTS" in result.output
    assert "P1-N1" in result.output and "ensemble85" in result.output
    per_class = pl.read_parquet(out / "per_class.parquet")
    # 2 template sets × (2 styles P1-N1 + 1 P1-P2) × 2 spaces × 3 classes
    assert per_class.height == 2 * 3 * 2 * 3
    assert set(per_class["class"]) == {"cat", "dog", "traffic light"}
    assert per_class["cosine"].is_between(-1.0001, 1.0001).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["random_weights"] is True and "RANDOM WEIGHTS" in summary["warning"]
    assert {r["space"] for r in summary["rows"]} == {"raw", "centred"}
    assert len(summary["frac_negation_closer"]) == 2 * 2 * 2
    published = {(r["templates"], r["pair"]): r for r in summary["poster_reference"]}
    assert published[("single", "P1-N1")]["mean"] == 0.58  # from corpora/data/paper_reference
    assert published[("ensemble85", "P1-P2")]["std"] == 0.01
    run = json.loads((out / "run.json").read_text())
    assert run["command"] == "promptsim table" and run["model"]["random_weights"] is True
    assert run["model"]["quick_gelu"] is False and run["seed"] == 0
    assert list((tmp_path / "cache").rglob("part-*.npz"))  # the text cache was filled


def test_cli_table_formats_and_pairs(tiny_models, tmp_path):
    pairs = tmp_path / "pairs.toml"
    pairs.write_text('[mine]\npositive = "a photo of a {}."\nnegative = "a photo of no {}."\n')
    args = _tiny(tmp_path, "--classes", "cat,dog", "--templates", "none", "--pairs", str(pairs))
    result = runner.invoke(app, [*args, "--format", "json", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {r["templates"] for r in payload["rows"]} == {"pairs:mine"}
    assert payload["random_weights"] is True and payload["model"] == "notclip-tiny-RN"
    assert payload == json.loads((tmp_path / "o" / "summary.json").read_text())
    result = runner.invoke(app, [*_tiny(tmp_path, "--classes", "cat,dog"), "--format", "markdown"])
    assert result.exit_code == 0 and "| single · not-prefix | P1-N1 |" in result.stdout


def test_cli_bad_input_is_one_clear_line(tiny_models, tmp_path, hub_offline):
    result = runner.invoke(app, _tiny(tmp_path, "--classes", "cat,dog", "--style", "never"))
    assert result.exit_code == 2 and "unknown style 'never'" in result.output
    result = runner.invoke(app, _tiny(tmp_path, "--classes", str(tmp_path / "nope.txt")))
    assert result.exit_code == 2 and "no class file" in result.output
    missing = tmp_path / "weights.pt"
    args = ["table", "--classes", "cat,dog", "--pretrained", str(missing), "--offline"]
    result = runner.invoke(app, [*args, "--model", "notclip-tiny-RN"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: weights") and "(--pretrained FILE" in result.output
    assert re.search(r"does not exist", result.output)


def test_cli_offline_tag_missing(tmp_path, hub_offline):
    args = ["table", "--classes", "cat,dog", "--cache-dir", str(tmp_path), "--offline"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "RN101" in result.output and "--pretrained FILE" in result.output


def test_default_command_is_table_and_help_explains():
    assert with_default_command(["--classes", "coco"]) == ["table", "--classes", "coco"]
    assert with_default_command(["maps", "x.png"]) == ["maps", "x.png"]
    assert with_default_command([]) == []
    result = runner.invoke(app, ["table", "--help"])
    assert result.exit_code == 0
    for word in ("--templates", "--style", "--pairs", "--pretrained", "--offline", "centred"):
        assert word in result.output
    assert "[name]" in result.output  # not eaten as rich markup


def test_cli_rerun_reads_every_prompt_from_the_text_cache(tiny_models, tmp_path, monkeypatch):
    from backbone.model import Backbone

    args = [*_tiny(tmp_path, "--classes", "cat,dog"), "--format", "csv"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output

    def boom(*args, **kwargs):
        raise AssertionError("a cached prompt was encoded again")

    monkeypatch.setattr(Backbone, "_encode_uncached", boom)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout


# ---- undefined centring, case duplicates, the control encoder, --out ------------------------


def test_one_class_has_no_centred_space_null_with_a_note_never_zero():
    rng = np.random.default_rng(0)
    s = setting(load_template_set("single"), "not-prefix")
    res = compute_promptsim(lambda t: rng.normal(size=(len(t), 8)), ["cat"], ["cat"], [s])
    centred = res.per_class.filter(pl.col("space") == "centred")
    assert centred.height == 2  # P1-N1 and P1-P2, one class
    assert centred["cosine"].null_count() == 2 and centred["negation_closer"].null_count() == 2
    assert set(centred["note"]) == {centring_note(["cat"])}
    assert "at least 2 distinct class prompts (got 1)" in centring_note(["cat"])
    raw = res.per_class.filter(pl.col("space") == "raw")
    assert raw["cosine"].null_count() == 0 and raw["note"].null_count() == raw.height
    for r in res.rows:
        if r["space"] == "centred":
            assert (r["mean"], r["std"], r["min"], r["max"], r["n"]) == (None,) * 4 + (0,)
            assert r["note"] and format_stat(r) == "undefined"
        else:
            assert r["mean"] is not None and r["note"] is None
    frac = {f["space"]: f for f in res.frac_negation_closer}
    assert frac["centred"]["frac"] is None and frac["centred"]["note"]
    assert frac["raw"]["frac"] in (0.0, 1.0)
    assert centring_note(["cat", "dog"]) is None


def test_cli_one_class_prints_undefined_not_zero(tiny_models, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, [*_tiny(tmp_path, "--classes", "cat,", "--out", str(out))])
    assert result.exit_code == 0, result.output
    assert "undefined" in result.output and "0.00 ± 0.00" not in result.output
    assert "distinct class prompts" in result.output
    # N1 closer (raw / centred): the raw fraction of one class, no centred one (not "0%")
    assert re.search(r"\b(0|100)% / –", result.output)
    assert not re.search(r"% / \d+%", result.output)
    summary = json.loads((out / "summary.json").read_text())
    centred = [r for r in summary["rows"] if r["space"] == "centred"]
    assert centred and all(r["mean"] is None and r["note"] for r in centred)
    per_class = pl.read_parquet(out / "per_class.parquet").filter(pl.col("space") == "centred")
    assert per_class["cosine"].null_count() == per_class.height > 0
    md = runner.invoke(app, [*_tiny(tmp_path, "--classes", "cat,"), "--format", "markdown"])
    assert md.exit_code == 0 and "| undefined |" in md.stdout
    assert "\n\ncentring undefined" in md.stdout  # the note under the table


def test_cli_refuses_case_duplicate_and_binary_class_lists(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # the usage error's box: the message on one line
    result = runner.invoke(app, _tiny(tmp_path, "--classes", "Cat,dog,cat"))
    assert result.exit_code == 2
    assert "'Cat' and 'cat' differ only in case" in result.output
    binary = tmp_path / "classes.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = runner.invoke(app, _tiny(tmp_path, "--classes", str(binary)))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{binary}: not a text class file" in result.output


@pytest.mark.parametrize("command", ["table", "maps", "absence"])
def test_out_that_is_a_file_is_refused_before_any_model_work(tmp_path, monkeypatch, command):
    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr("negation.promptsim.inputs.load_backbone", boom)
    monkeypatch.setenv("COLUMNS", "400")
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    args = {
        "table": ["table", "--classes", "cat,dog"],
        "maps": ["maps", str(image), "--classes", "cat,dog"],
        "absence": ["absence", "--dataset", "voc", "--root", str(tmp_path)],
    }[command]
    for out in (existing, existing / "sub"):
        result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert f"{existing} is an existing file, not a directory" in result.output
    assert existing.read_text() == "keep me"


class _ControlEncoder:
    """A stand-in sentence-transformers backbone (text only, no random weights)."""

    random_weights = False

    def __init__(self):
        from backbone import BackboneConfig

        self.config = BackboneConfig(model="st:control")
        self.rng = np.random.default_rng(0)

    def info(self):
        return {"backend": "sentence-transformers", "name": "st:control",
                "pretrained": "sentence-transformers", "random_weights": False}  # fmt: skip

    def encode_text(self, texts, **kwargs):
        import torch

        return torch.from_numpy(self.rng.normal(size=(len(texts), 8)))


def test_a_sentence_transformers_control_is_never_set_beside_the_poster(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "negation.promptsim.inputs.load_backbone", lambda *a, **k: _ControlEncoder()
    )
    out = tmp_path / "out"
    args = ["table", "--model", "st:control", "--classes", "coco", "--no-text-cache"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "the poster (model and 85-prompt negation not stated)" not in result.output
    assert "sentence-transformers encoder is a control" in " ".join(result.output.split())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["poster_reference"] is None
    assert "not compared" in summary["poster_reference_note"]


def test_random_weights_banner_is_printed_once(tiny_models, tmp_path):
    result = runner.invoke(app, _tiny(tmp_path, "--classes", "cat,dog"))
    assert result.exit_code == 0, result.output
    assert result.output.count("RANDOM WEIGHTS: pretrained='none'") == 1


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown"])
def test_progress_stays_on_for_every_format(tiny_models, tmp_path, monkeypatch, fmt):
    """The bar goes to stderr, so a csv/json stdout does not turn it off; only --quiet does."""
    from corpora import cli

    asked = []
    real = cli.stage_bars
    monkeypatch.setattr(cli, "stage_bars", lambda quiet, **k: asked.append(quiet) or real(quiet))
    result = runner.invoke(app, _tiny(tmp_path, "--classes", "cat,dog", "--format", fmt))
    assert result.exit_code == 0, result.output
    assert asked == [False]


@pytest.fixture
def hub_bars_restored():
    """The loaders' bars on before the test (an earlier -q in this process turned them off) and
    after it."""
    from huggingface_hub.utils import enable_progress_bars
    from transformers.utils import logging as hf_logging

    enable_progress_bars()
    hf_logging.enable_progress_bar()
    yield
    enable_progress_bars()
    hf_logging.enable_progress_bar()


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_silences_the_loaders_loading_weights_bars(
    tmp_path, monkeypatch, hub_bars_restored, quiet
):
    """-q turns off transformers' own bars (sentence-transformers prints ``Loading weights``)."""
    import backbone.sentence

    def load(cfg):
        from transformers.utils.logging import tqdm

        for _ in tqdm(range(2), desc="Loading weights"):  # what transformers does while loading
            pass
        return _ControlEncoder()

    monkeypatch.setattr(backbone.sentence, "load_sentence_transformer", load)
    args = ["table", "--model", "st:control", "--classes", "cat,dog", "--no-text-cache"]
    result = runner.invoke(app, [*args, *(["-q"] if quiet else [])])
    assert result.exit_code == 0, result.output
    assert ("Loading weights" in result.output) is not quiet
    from huggingface_hub.utils import are_progress_bars_disabled
    from transformers.utils import logging as hf_logging

    # only for the command: the bars are on again after it
    assert hf_logging.is_progress_bar_enabled() and not are_progress_bars_disabled()
