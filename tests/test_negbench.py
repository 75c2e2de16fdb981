"""promptsim negbench: exact question construction from labels, metrics by hand (ties wrong),
the result files (CLIP_benchmark JSON), --models-file skip/resume and failure, question export and
reload, NegBench CSVs, bad input, and paperfigs negbench on a real tiny run (random weights: the
numbers mean nothing; the files and their shape do)."""

from __future__ import annotations

import json
import re
from functools import partial

import numpy as np
import polars as pl
import pytest
from mlr_data import write_voc
from typer.testing import CliRunner

from corpora.multilabel import load_split
from corpora.runio import atomic_write_json
from corpora.schema import NEGBENCH_SUMMARY
from figures.cli import app as figs_app
from negation.negbench import metrics as M
from negation.negbench.families import FAMILIES
from negation.negbench.inputs import ground_truth
from negation.negbench.question_files import read_negbench_csv
from negation.negbench.questions import (
    SCHEMA,
    GroundTruth,
    build_questions,
    check_split,
    question_row,
)
from negation.promptsim.cli import app

runner = CliRunner()
NAMES = tuple(f"k{c:02d}" for c in range(8))


def fabricated(seed: int = 0, n: int = 40) -> GroundTruth:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, len(NAMES))) < 0.35).astype(np.int8)
    labels[rng.random(labels.shape) < 0.1] = -1  # unknown: neither present nor absent
    labels[:, 0] = np.where(np.arange(n) % 2 == 0, 1, 0)  # a frequent class
    return GroundTruth(labels, NAMES, NAMES, tuple(f"img{i}" for i in range(n)))


def mentioned(text: str) -> list[int]:
    return [int(m[1:]) for m in re.findall(r"k\d\d", text)]


def roles(kind: str, n_slots: int) -> list[str]:
    return {"affirmation": ["+"] * n_slots, "negation": ["-"] * n_slots}.get(kind, ["+", "-"])


@pytest.mark.parametrize("seed", range(3))
def test_mcq_options_are_exactly_true_or_false(seed):
    gt = fabricated(seed)
    q = build_questions(gt, ["mcq"], [FAMILIES["negbench"]], seed, dataset="d", split="test")
    assert q.height > 20 and set(q["type"]) == {"affirmation", "negation", "hybrid"}
    row_of = {k: i for i, k in enumerate(gt.images)}
    for r in q.iter_rows(named=True):
        y = gt.labels[row_of[r["image"]]]
        assert len(set(r["options"])) == 4
        for j, text in enumerate(r["options"]):
            cls = mentioned(text)
            assert cls and all(y[c] >= 0 for c in cls)  # never a difficult / unknown class
            assert len(set(cls)) == len(cls)
            slots = zip(cls, roles(r["type"], len(cls)), strict=True)
            truth = [(y[c] == 1) == (role == "+") for c, role in slots]
            assert all(truth) == (j == r["answer"]), (r, text)
        assert all(y[NAMES.index(c)] == 1 for c in r["affirmed"])
        assert all(y[NAMES.index(c)] == 0 for c in r["negated"])


def test_answer_position_uniform_over_seeds_and_questions_deterministic():
    gt = fabricated(0, n=6)
    counts = np.zeros(4, int)
    for seed in range(300):
        q = build_questions(gt, ["mcq"], [FAMILIES["photo"]], seed, dataset="d", split="test")
        counts += np.bincount(q["answer"].to_numpy(), minlength=4)
    expected = counts.sum() / 4
    assert (np.abs(counts - expected) < 0.15 * expected).all(), counts
    a = build_questions(gt, ["mcq", "existence"], [FAMILIES["negbench"]], 7, dataset="d", split="t")
    b = build_questions(gt, ["mcq", "existence"], [FAMILIES["negbench"]], 7, dataset="d", split="t")
    assert a.equals(b)


def test_existence_and_retrieval_construction():
    gt = fabricated(1, n=60)
    fams = [FAMILIES["photo"]]
    q = build_questions(gt, ["existence", "retrieval"], fams, 0, dataset="d", split="t")
    row_of = {k: i for i, k in enumerate(gt.images)}
    freq = (gt.labels == 1).sum(0)
    exi = q.filter(pl.col("task") == "existence")
    for r in exi.iter_rows(named=True):
        y = gt.labels[row_of[r["image"]]]
        c = NAMES.index(r["focus"])
        assert y[c] == (1 if r["present"] else 0)
        assert r["answer"] == (0 if r["present"] else 1)
    # popular: the absent probes are the most frequent absent classes of that image
    for img, part in exi.filter((pl.col("type") == "popular") & ~pl.col("present")).group_by(
        "image"
    ):
        y = gt.labels[row_of[img[0]]]
        absent = np.flatnonzero(y == 0)
        top = sorted(absent, key=lambda c: (-freq[c], c))[: part.height]
        assert sorted(NAMES.index(c) for c in part["focus"]) == sorted(top)
    ret = q.filter(pl.col("task") == "retrieval")
    assert set(ret["variant"]) == {"without", "but-no", "plain"}
    for r in ret.iter_rows(named=True):
        a, n = NAMES.index(r["affirmed"][0]), NAMES.index(r["negated"][0])
        assert ((gt.labels[:, a] == 1) & (gt.labels[:, n] == 0)).any()
        assert ((gt.labels[:, a] == 1) & (gt.labels[:, n] == 1)).any()


def pope_matrix() -> GroundTruth:
    """20 images over 6 classes, by hand: image 0 shows k00 and k01 (absent: k02–k05); k00 shares
    5 images with k02 and 4 with k03; k01 shares 2 with k02 and 1 each with k03 and k04; k04 is
    in 6 images, k03 in 5; image 19 shows only k05, which shares no image with any class."""
    rows = [{0, 1}, *[{0, 2}] * 5, *[{0, 3}] * 4, *[{1, 2}] * 2, {1, 3}, {1, 4}, *[{4}] * 5, {5}]
    labels = np.zeros((len(rows), 6), np.int8)
    for i, present in enumerate(rows):
        labels[i, sorted(present)] = 1
    names = tuple(f"k{c:02d}" for c in range(6))
    return GroundTruth(labels, names, names, tuple(f"img{i}" for i in range(len(rows))))


def test_adversarial_existence_is_popes_per_probe_co_occurrence():
    """POPE: for each probed present object in turn, the absent one co-occurring with it most,
    not one already drawn. Image 0: k00 → k02 (5 shared images); k01's best, k02, is drawn, so
    k03 or k04 (1 each) — k04, the more frequent. Summing over k00 and k01 would say k02 (7), k03
    (5). Image 19: k05 co-occurs with nothing, so its absent probe is drawn (seeded)."""
    gt = pope_matrix()
    fams = [FAMILIES["negbench"]]

    def absent_probes(seed: int, image: str) -> list[str]:
        q = build_questions(gt, ["existence"], fams, seed, dataset="d", split="t")
        part = q.filter(
            (pl.col("type") == "adversarial") & (pl.col("image") == image) & ~pl.col("present")
        )
        return part["focus"].to_list()

    for seed in range(3):
        assert absent_probes(seed, "img0") == ["k02", "k04"]
    drawn = [absent_probes(seed, "img19") for seed in range(12)]
    assert all(len(d) == 1 and d[0] in {"k00", "k01", "k02", "k03", "k04"} for d in drawn)
    assert len({d[0] for d in drawn}) > 1  # drawn, not the most frequent every time
    assert drawn == [absent_probes(seed, "img19") for seed in range(12)]  # seeded


def test_question_files_of_the_earlier_version_are_read(tmp_path):
    from negation.negbench.question_files import read_questions

    photo = [FAMILIES["photo"]]
    q = build_questions(pope_matrix(), ["existence"], photo, 0, dataset="d", split="t")
    for version, ok in ((1, True), (2, True), (3, False)):
        path = tmp_path / f"v{version}.parquet"
        q.with_columns(pl.lit(version, dtype=q.schema["version"]).alias("version")).write_parquet(
            path
        )
        if ok:
            assert read_questions(path)["version"].unique().to_list() == [version]
        else:
            with pytest.raises(ValueError, match="not a notclip-negbench version 1 or 2"):
                read_questions(path)


def test_voc_difficult_is_never_a_negative(tmp_path):
    root = write_voc(tmp_path / "voc", n_trainval=2, n_test=16)
    split = load_split("voc", root, "test")
    gt = ground_truth(split, root)
    person = split.classes.keys.index("person")
    assert gt.labels[0, person] == -1  # image 0: a difficult-only person
    fams = [FAMILIES["negbench"], FAMILIES["photo"]]
    for seed in range(5):
        q = build_questions(gt, ["mcq", "existence"], fams, seed, dataset="voc", split="test")
        first = q.filter(pl.col("image") == gt.images[0])
        assert first.height > 0
        for r in first.iter_rows(named=True):
            assert r["focus"] != "person"
            assert not any("person" in o for o in r["options"])


def test_bad_splits_say_what_they_need():
    gt = fabricated(0, n=6)
    with pytest.raises(ValueError, match="retrieval needs at least 10 images"):
        check_split(gt, ["retrieval"], "d test")
    small = GroundTruth(gt.labels[:, :3], NAMES[:3], NAMES[:3], gt.images)
    with pytest.raises(ValueError, match="mcq needs at least 4 classes"):
        check_split(small, ["mcq"], "d test")
    always = gt.labels.copy()
    always[:, 2] = 1
    with pytest.raises(ValueError, match="k02 have no negative image"):
        check_split(GroundTruth(always, NAMES, NAMES, gt.images), ["mcq"], "d test")


# ---- metrics by hand -------------------------------------------------------------------------
def test_mcq_ties_count_as_wrong():
    scores = np.array([[0.1, 0.9, 0.2, 0.3], [0.5, 0.5, 0.1, 0.0], [0.2, 0.2, 0.2, 0.7]])
    assert M.mcq_predict(scores).tolist() == [1, -1, 3]


def test_existence_metrics_by_hand():
    present = np.array([True, True, True, False, False, False])
    scores = np.array([[0.9, 0.1], [0.3, 0.3], [0.2, 0.8], [0.7, 0.1], [0.1, 0.6], [0.4, 0.4]])
    yes = M.existence_predict(scores, present)
    assert yes.tolist() == [True, False, False, True, False, True]  # ties: the wrong answer
    s = M.existence_stats(present, yes)
    assert s["accuracy"] == pytest.approx(2 / 6)
    assert s["precision"] == pytest.approx(1 / 3)  # TP 1 of 3 yes
    assert s["recall"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx(1 / 3)
    assert s["yes_ratio"] == pytest.approx(0.5)
    none = M.existence_stats(np.array([False, False]), np.array([False, False]))
    assert np.isnan(none["precision"]) and np.isnan(none["recall"]) and np.isnan(none["f1"])


def test_retrieval_metrics_by_hand_ties_against_the_relevant():
    s = np.array([0.9, 0.8, 0.8, 0.5, 0.1])
    rel = np.array([False, False, True, False, True])
    out = M.retrieval_query(s, rel)
    assert (out["r1"], out["r5"], out["r10"]) == (0.0, 1.0, 1.0)  # irrelevant 0.8 ties ahead
    # AP, tied 0.8 as one threshold: P@{0.9,0.8}=1/3 at recall 1/2, P@all=2/5 at recall 1
    assert out["ap"] == pytest.approx(0.5 * (1 / 3) + 0.5 * (2 / 5))
    assert M.retrieval_query(s, np.zeros(5, bool))["r5"] is None


def test_bootstrap_estimates_are_seeded_and_bracket_the_mean():
    v = np.array([1, 0, 1, 1, 0, 1, 0, 1.0])
    a = M.estimate(v, M.rng_for(0, "x"), 500)
    assert a == M.estimate(v, M.rng_for(0, "x"), 500)
    assert a["value"] == pytest.approx(5 / 8) and a["ci_low"] <= 5 / 8 <= a["ci_high"]
    d = M.difference(np.ones(4), np.zeros(3), M.rng_for(0, "y"), 200)
    assert (d["value"], d["ci_low"], d["ci_high"]) == (1.0, 1.0, 1.0)
    assert M.difference(np.ones(3), np.array([]), M.rng_for(0, "z"))["value"] is None


# ---- the command -----------------------------------------------------------------------------
def model_args(model: str) -> list[str]:
    return ["--model", model, "--pretrained", "none", "--device", "cpu", "--no-text-cache"]


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return write_voc(tmp_path_factory.mktemp("voc"), n_trainval=2, n_test=16)


def base(voc) -> list[str]:
    return ["negbench", "--dataset", "voc", "--root", str(voc), "--bootstrap", "50", "-q"]


@pytest.fixture(scope="module")
def voc_run(voc, tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "nb"
    res = runner.invoke(app, [*base(voc), *model_args(tiny_models[0]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_result_files_and_clip_benchmark_json(voc_run, tiny_models):
    summary = json.loads((voc_run / "summary.json").read_text())
    assert summary["random_weights"] and "RANDOM WEIGHTS" in summary["warning"]
    assert set(summary["metrics"]) == {"mcq", "existence", "retrieval"}
    assert list(summary) == list(NEGBENCH_SUMMARY)  # random weights: with the warning
    cb = voc_run / "clip_benchmark"
    for task in ("mcq", "existence", "retrieval"):
        path = cb / f"negbench-voc-test_none_{tiny_models[0]}_en_{task}.json"
        assert summary["clip_benchmark_files"][task] == path.relative_to(voc_run).as_posix()
        doc = json.loads(path.read_text())
        keys = {"dataset", "model", "pretrained", "weights_id", "task", "metrics", "language"}
        keys.add("preprocessing")  # ours: how the images were fed
        assert set(doc) == keys
        assert (doc["model"], doc["pretrained"], doc["task"], doc["language"]) == (
            tiny_models[0],
            "none",
            task,
            "en",
        )
        assert doc["weights_id"] == summary["weights_id"] == "random"
    mcq = json.loads((cb / f"negbench-voc-test_none_{tiny_models[0]}_en_mcq.json").read_text())
    q = pl.read_parquet(voc_run / "questions.parquet")
    m = q.filter(pl.col("task") == "mcq")
    assert mcq["metrics"]["accuracy"] == pytest.approx(m["correct"].mean())
    assert (m["correct"] == (m["prediction"] == m["answer"]).fill_null(False)).all()
    assert (q["model"] == tiny_models[0]).all() and (q["pretrained"] == "none").all()
    pc = pl.read_parquet(voc_run / "per_class.parquet")
    assert {"model", "pretrained", "task", "class", "type", "metric", "value"} <= set(pc.columns)
    assert json.loads((voc_run / "run.json").read_text())["command"] == "promptsim negbench"


def test_models_file_skips_finished_and_records_failures(voc, tiny_models, tmp_path):
    models = tmp_path / "models.txt"
    models.write_text(f"# tiny\n{tiny_models[0]},none\nno-such-model,none\n{tiny_models[1]},none\n")
    out = tmp_path / "many"
    args = [*base(voc), "--tasks", "mcq", "--device", "cpu", "--no-text-cache"]
    res = runner.invoke(app, [*args, "--models-file", str(models), "--out", str(out)])
    assert res.exit_code == 1, res.output
    status = json.loads((out / "models.json").read_text())
    assert [s["status"] for s in status] == ["complete", "failed", "complete"]
    assert "no-such-model" in status[1]["error"]
    assert (out / f"{tiny_models[1]}_none" / "summary.json").is_file()
    assert not (out / "no-such-model_none").exists()
    models.write_text(f"{tiny_models[0]},none\n{tiny_models[1]},none\n")
    res = runner.invoke(app, [*args, "--models-file", str(models), "--out", str(out)])
    assert res.exit_code == 0, res.output
    status = json.loads((out / "models.json").read_text())
    assert [s["status"] for s in status] == ["skipped", "skipped"]
    models.write_text(f"{tiny_models[0]},none\nbroken line\n")
    res = runner.invoke(app, [*args, "--models-file", str(models), "--out", str(out)])
    assert res.exit_code != 0 and "line 2" in res.output and str(models) in res.output


def test_export_then_reload_scores_identical_questions(voc, voc_run, tiny_models, tmp_path):
    bench = tmp_path / "bench.parquet"
    res = runner.invoke(app, [*base(voc), "--export-questions", str(bench)])
    assert res.exit_code == 0, res.output
    exported = pl.read_parquet(bench)
    scored = pl.read_parquet(voc_run / "questions.parquet")
    assert exported.equals(scored.select(exported.columns))  # same seed → same questions
    out = tmp_path / "again"
    res = runner.invoke(
        app,
        [
            *base(voc),
            "--seed",
            "5",
            "--questions",
            str(bench),
            *model_args(tiny_models[0]),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    again = pl.read_parquet(out / "questions.parquet")
    assert again.select(list(SCHEMA)).equals(exported.select(list(SCHEMA)))


def test_bad_input_is_one_clear_line(voc, tiny_models, tmp_path):
    res = runner.invoke(app, [*base(voc), "--tasks", "mcq,caption", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "unknown task caption" in res.output
    csv_path = tmp_path / "mcq.csv"
    csv_path.write_text("image_path,caption_0,correct_answer\nx.jpg,a,0\n")
    res = runner.invoke(
        app, ["negbench", "--negbench-csv", str(csv_path), "--images", str(tmp_path), "--out", "o"]
    )
    assert res.exit_code == 1 and "missing column(s) caption_1" in res.output


def test_negbench_csv_answer_position_is_randomised(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    head = (
        "image_path,caption_0,caption_1,caption_2,caption_3,correct_answer,correct_answer_template"
    )
    rows = [
        f"/elsewhere/a.jpg,right {i},w1,w2,w3,0,{t}"
        for i, t in enumerate(["positive", "negative", "hybrid"] * 20)
    ]
    (tmp_path / "mcq.csv").write_text("\n".join([head, *rows]) + "\n")
    frame, files = read_negbench_csv(tmp_path / "mcq.csv", tmp_path, seed=0)
    assert files == {"/elsewhere/a.jpg": tmp_path / "a.jpg"}
    assert set(frame["type"]) == {"affirmation", "negation", "hybrid"}
    for r in frame.iter_rows(named=True):
        assert r["options"][r["answer"]].startswith("right")
    assert len(set(frame["answer"])) == 4
    (tmp_path / "mcq.csv").write_text(f"{head}\nmissing.jpg,a,b,c,d,0,positive\n")
    with pytest.raises(ValueError, match=r"line 2: image 'missing.jpg' not found"):
        read_negbench_csv(tmp_path / "mcq.csv", tmp_path, seed=0)


def test_paperfigs_negbench_draws_from_a_real_run(voc_run, tmp_path):
    scan = tmp_path / "scan"
    atomic_write_json(scan / "summary.json", {"rate_all_rows": 0.0047, "corpus": "x"})
    out = tmp_path / "figs"
    res = runner.invoke(
        figs_app,
        ["negbench", str(voc_run), "--negscan", f"none={scan}", "--out", str(out), "--dpi", "40"],
    )
    assert res.exit_code == 0, res.output
    for stem in ("negbench", "negbench_negscan"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").is_file()
    res = runner.invoke(figs_app, ["negbench", str(tmp_path / "nothing"), "--out", str(out)])
    assert res.exit_code == 1 and "summary.json not found" in res.output


def test_result_dirs_are_written_atomically(tmp_path):
    from negation.negbench.runner import write_dir_atomically

    out = tmp_path / "model"
    write_dir_atomically(out, lambda d: (d / "summary.json").write_text("{}"))

    def broken(d):
        (d / "questions.parquet").write_text("half")
        raise RuntimeError("scoring failed")

    with pytest.raises(RuntimeError):
        write_dir_atomically(out, broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary left over
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]  # the old result intact


def test_negbench_figures_say_what_produced_them(voc_run, tiny_models, tmp_path, monkeypatch):
    from figures import negbench, style

    figs: list = []
    captions: list = []
    save = lambda fig, *a, **k: figs.append(fig) or captions.append(k["caption"]) or []  # noqa: E731
    monkeypatch.setattr(style, "save", save)
    scan = tmp_path / "scan"
    atomic_write_json(scan / "summary.json", {"rate_all_rows": 0.0047, "corpus": "x"})
    negbench.negbench_panels([voc_run], tmp_path)
    negbench.negscan_scatter([voc_run], {"none": scan}, tmp_path)
    for fig in figs:
        title = " ".join(fig.get_suptitle().split())
        assert f"RANDOM WEIGHTS — {tiny_models[0]} / none" in title  # the shared banner
    for caption in captions:  # what produced the figure: in its caption file
        assert "VOC test, 16 images" in caption and f"{tiny_models[0]} / none" in caption
    for fig in figs:
        fig.draw_without_rendering()
        boxes = [ax.get_window_extent() for ax in fig.axes if ax.axison]
        for legend in (ax.get_legend() for ax in fig.axes if ax.get_legend()):
            lb = legend.get_window_extent()  # beside its panel, never on the bars
            for b in boxes:
                assert min(lb.x1, b.x1) - max(lb.x0, b.x0) <= 0 or min(lb.y1, b.y1) <= max(
                    lb.y0, b.y0
                )
    assert "bootstrap 50" in captions[0]


def test_a_negbench_run_is_one_call_and_matches_the_command(voc, voc_run, tiny_models, tmp_path):
    """From a notebook: one import, one call; the same summary as `promptsim negbench`."""
    from negation.negbench.job import JobOptions, negbench
    from negation.promptsim.inputs import load_backbone

    opts = JobOptions(dataset="voc", root=voc, n_boot=50, text_cache=None)
    cpu = partial(load_backbone, device="cpu")
    result = negbench(opts, tmp_path / "nb", (tiny_models[0], "none"), cpu)
    assert result.rows is None and not result.failed
    ours = json.loads((tmp_path / "nb" / "summary.json").read_text())
    assert ours == result.summaries[0]
    assert ours["metrics"] == json.loads((voc_run / "summary.json").read_text())["metrics"]


def test_a_misspelt_question_column_is_an_error_not_a_null_column():
    assert question_row(qid="q", task="mcq")["task"] == "mcq"
    with pytest.raises(KeyError, match="tsak"):
        question_row(qid="q", tsak="mcq")


def test_a_bad_root_is_said_before_pytorch_is_imported(tmp_path):
    """`promptsim negbench --root MISSING`: the usage error comes without importing PyTorch (which
    takes seconds), as promptsim's other commands do."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys\n"
        "from negation.promptsim.cli import app\n"
        "try:\n"
        f"    app(['negbench', '--dataset', 'voc', '--root', {str(tmp_path / 'nope')!r},"
        f" '--out', {str(tmp_path / 'out')!r}])\n"
        "except SystemExit as done:\n"
        "    print(done.code, 'torch' in sys.modules or 'open_clip' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "COLUMNS": "500"}  # the error box unwrapped
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert "no such directory" in done.stderr
