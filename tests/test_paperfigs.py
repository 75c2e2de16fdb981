"""paperfigs: every figure from small fabricated result directories, the missing-input messages,
and the CLI."""

from __future__ import annotations

import itertools
import json
import re
import struct
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image
from typer.testing import CliRunner

from corpora.runio import atomic_write_json, atomic_write_parquet
from figures import absence, compute, maps, negscan, prompts, style, sweeps
from figures.cli import app
from figures.gallery import draw_all, find_dirs
from figures.inputs import EmptyInput, MissingInput, collect_notes

DPI = 40  # small PNGs keep the tests fast
runner = CliRunner()


# --- fabricated result directories (schemas of docs/RESULTS.md) -------------------------------


def make_negscan(d: Path, corpus: str, scale: int, classes: bool = True) -> Path:
    words = {"no": 40, "not": 25, "without": 6, "never": 0}
    words = {w: c * scale for w, c in words.items()}
    n_rows = 10_000 * scale
    atomic_write_json(
        d / "summary.json",
        {
            "corpus": corpus,
            "text_column": "TEXT",
            "lexicon": "standard",
            "window": 4,
            "classes": "coco" if classes else None,
            "n_rows": n_rows,
            "n_null": 10,
            "n_empty": 3,
            "n_with_negation": 60 * scale,
            "rate_all_rows": 60 / 10_000,
            "rate_non_null": 60 * scale / (n_rows - 10),
            "per_word": {w: {"captions": c, "occurrences": c + 1} for w, c in words.items()},
            "shards": ["a.parquet"],
            "bad_shards": [],
            "synthetic": corpus == "sample",
        },
    )
    atomic_write_parquet(
        d / "per_word.parquet",
        pl.DataFrame(
            {
                "word": list(words),
                "captions": list(words.values()),
                "occurrences": [c + 1 for c in words.values()],
            }
        ),
    )
    atomic_write_parquet(
        d / "bigrams.parquet",
        pl.DataFrame(
            {"negator": ["no", "not", "no"], "next_word": ["image", "available", "dog"]}
        ).with_columns(count=pl.Series([30, 12, 2]) * scale),
    )
    cls = {"class": ["dog", "cat"], "count": [5 * scale, 2 * scale]} if classes else None
    atomic_write_parquet(
        d / "classes.parquet",
        pl.DataFrame(
            cls or {"class": [], "count": []}, schema={"class": pl.String, "count": pl.Int64}
        ),
    )
    return d


def make_promptsim(d: Path) -> Path:
    """As promptsim writes it: P1-N1 per negation style, P1-P2 once per template set (style "-")."""
    rng = np.random.default_rng(0)
    rows = []
    settings = {"single": ["not-prefix"], "ensemble85": ["not-prefix", "no"]}
    for cls in ["dog", "cat", "car", "bus", "sheep"]:
        for templates, styles in settings.items():
            for space, shift in [("raw", 0.85), ("centred", 0.5)]:
                for pair, style_ in [("P1-P2", "-")] + [("P1-N1", s) for s in styles]:
                    rows.append(
                        {
                            "model": "RN101",
                            "pretrained": "openai",
                            "class": cls,
                            "templates": templates,
                            "style": style_,
                            "pair": pair,
                            "space": space,
                            "cosine": shift + 0.05 * rng.standard_normal(),
                        }
                    )
    atomic_write_parquet(d / "per_class.parquet", pl.DataFrame(rows))
    atomic_write_json(
        d / "summary.json",
        {"model": "RN101", "pretrained": "openai", "classes": "coco", "n_classes": 5, "rows": []},
    )
    return d


def make_maps(d: Path, with_image: bool = True) -> Path:
    """As promptsim maps writes it: the photo copied into the directory (``image_file``); the
    original path (``image``) is a label only and long gone."""
    rows = []
    (d / "images").mkdir(parents=True, exist_ok=True)
    image = d.parent / "photos-since-moved" / "street.png"
    if with_image:
        Image.fromarray(np.full((32, 48, 3), 120, np.uint8)).save(d / "images" / "0123abcd.png")
    for cls in ["person", "bench"]:
        for prompt in ["positive", "negative"]:
            npy = f"{cls}_{prompt}.npy"
            np.save(d / npy, np.random.default_rng(1).random((4, 6)).astype(np.float32))
            text = ("" if prompt == "positive" else "Not ") + f"a photo of a {cls}"
            rows.append(
                {
                    "image": str(image),
                    "image_file": "images/0123abcd.png",
                    "class": cls,
                    "prompt": prompt,
                    "text": text,
                    "npy": npy,
                    "png": npy.replace(".npy", ".png"),
                    "height": 4,
                    "width": 6,
                }
            )
    atomic_write_parquet(d / "maps.parquet", pl.DataFrame(rows))
    atomic_write_json(d / "summary.json", {"model": "ViT-B-16", "pretrained": "openai"})
    return d


def make_absence(d: Path) -> Path:
    rows = []
    for i, cls in enumerate(["dog", "cat", "car"]):
        for variant in ["global", "dense"]:
            for prompt, target, auc in [
                ("P", "presence", 0.9 - 0.05 * i),
                ("N", "absence", 0.6 - 0.05 * i),
                ("N", "presence", 0.55 + 0.05 * i),
            ]:
                rows.append(
                    {
                        "class": cls,
                        "variant": variant,
                        "prompt": prompt,
                        "target": target,
                        "auroc": auc,
                        "ap": auc - 0.1,
                    }
                )
    atomic_write_parquet(d / "per_class.parquet", pl.DataFrame(rows))
    summary = {"dataset": "voc", "split": "test", "n_images": 40, "negative": "no {} in sight"}
    atomic_write_json(d / "summary.json", summary | {"model": "RN50", "pretrained": "openai"})
    return d


def make_sweep(d: Path, dataset: str = "voc") -> Path:
    rows = []
    for method, n_params in [("baseline", 20_520), ("positivecoop", 184_320)]:
        for p in [0.1, 0.5, 0.9]:
            for seed in [0, 1]:
                first = (method, p, seed) == ("baseline", 0.1, 0)
                rows.append(
                    {
                        "dataset": dataset,
                        "model": "RN101",
                        "pretrained": "openai",
                        "weights_id": "0123456789ab",
                        "image_size": 448,
                        "random_weights": False,
                        "method": method,
                        "partial": p,
                        "seed": seed,
                        "map": 85 + 5 * p + seed,
                        "cf1_harmonic": 70.0,
                        "of1": 75.0,
                        "n_params": n_params,
                        # the first run built the feature cache (1.5 h of its 2 h)
                        "wall_seconds": 7200.0 if first else 1800.0,
                        "cache_seconds": 5400.0 if first else 2.0,
                        "device": "cuda:0",
                        "status": "complete",
                        "error": None,
                    }
                )
    atomic_write_parquet(d / "results.parquet", pl.DataFrame(rows))
    return d


def make_negbench(d: Path, model: str = "RN50", pretrained: str = "openai") -> Path:
    def est(v: float) -> dict:
        return {"value": v, "ci_low": v - 0.1, "ci_high": v + 0.1}

    by_type = {"affirmation": est(0.6), "negation": est(0.3), "hybrid": est(0.4)}
    metrics = {"mcq": {"by_type": by_type, "gap_affirmation_negation": est(0.3)}}
    info = {"model": model, "pretrained": pretrained, "random_weights": pretrained == "none"}
    atomic_write_json(
        d / "run.json",
        {"command": "promptsim negbench", "model": {"name": model, "pretrained": pretrained}},
    )
    atomic_write_json(
        d / "summary.json",
        info | {"dataset": "voc", "split": "test", "n_images": 8, "metrics": metrics},
    )
    return d


def make_results(root: Path) -> Path:
    make_negscan(root / "negscan" / "laion", "laion400m", 100)
    make_negscan(root / "negscan" / "sample", "sample", 1)
    make_promptsim(root / "promptsim")
    make_maps(root / "maps")
    make_absence(root / "absence")
    make_sweep(root / "sweeps" / "voc")
    make_negbench(root / "negbench")
    return root


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return make_results(tmp_path / "results")


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """Every figure drawn once by ``draw_all`` from the fabricated results (drawing is the slow
    part; the per-figure tests below check its files)."""
    base = tmp_path_factory.mktemp("gallery")
    out = base / "figs"
    return out, draw_all(make_results(base / "results"), out, dpi=DPI)


def files(gallery: tuple[Path, list], figure: str) -> list[Path]:
    return next(o.files for o in gallery[1] if o.figure == figure)


# --- file checks ------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    with Image.open(path) as im:
        im.verify()
        assert im.size == (width, height)
    return width, height


def assert_figure(paths: list[Path], stem: str, inches: tuple[float, float]) -> None:
    by_suffix = {p.suffix: p for p in paths if p.stem == stem}
    assert set(by_suffix) == {".png", ".pdf"}, f"{stem}: got {paths}"
    assert png_size(by_suffix[".png"]) == (round(inches[0] * DPI), round(inches[1] * DPI))
    pdf = by_suffix[".pdf"].read_bytes()
    assert pdf.startswith(b"%PDF")
    assert b"/FontFile2" in pdf, "TrueType fonts must be embedded (pdf.fonttype 42)"


# --- each figure ------------------------------------------------------------------------------


def test_map_vs_partial_and_params(gallery) -> None:
    assert_figure(files(gallery, "map_vs_partial"), "map_vs_partial_voc", (style.COLUMN, 4.2))
    # one row per method (ours 2, the paper's 5: they overlap)
    size = (style.PAGE, 1.3 + 0.26 * 5)
    assert_figure(files(gallery, "params_compute"), "params_compute_voc", size)


def test_promptsim_figures(gallery) -> None:
    assert_figure(files(gallery, "promptsim_violin"), "promptsim_violin", (style.PAGE, 2.8))
    assert_figure(files(gallery, "promptsim_scatter"), "promptsim_scatter", (style.PAGE, 4.4))


def test_promptsim_pairs_join_per_class(results: Path) -> None:
    df = prompts.load_per_class(results / "promptsim")
    pairs = prompts.pair_table(df)
    # 5 classes x 3 (templates, style) settings x 2 spaces, each with both cosines
    assert pairs.height == 30
    assert set(pairs["setting"]) == {"single/not-prefix", "ensemble85/not-prefix", "ensemble85/no"}
    dog = (pl.col("class") == "dog") & (pl.col("space") == "raw")
    one = pairs.filter(dog & (pl.col("setting") == "ensemble85/no"))
    src = df.filter(dog & (pl.col("templates") == "ensemble85"))
    neg = src.filter((pl.col("pair") == "P1-N1") & (pl.col("style") == "no"))["cosine"].item()
    assert one["negation"].item() == neg
    assert one["paraphrase"].item() == src.filter(pl.col("pair") == "P1-P2")["cosine"].item()


def test_promptsim_style_dependent_paraphrase_joins_on_style() -> None:
    base = {"model": "m", "pretrained": "p", "class": "dog", "templates": "t", "space": "raw"}
    df = pl.DataFrame(
        [
            {**base, "style": s, "pair": pair, "cosine": c}
            for s, pair, c in [
                ("a", "P1-N1", 0.1),
                ("b", "P1-N1", 0.2),
                ("a", "P1-P2", 0.3),
                ("b", "P1-P2", 0.4),
            ]
        ]
    ).with_columns(setting=pl.col("templates") + "/" + pl.col("style"))
    pairs = prompts.pair_table(df).sort("style")
    assert pairs.select("negation", "paraphrase").rows() == [(0.1, 0.3), (0.2, 0.4)]


def test_negscan_figures_over_two_corpora(results: Path, gallery) -> None:
    dirs = [results / "negscan" / "laion", results / "negscan" / "sample"]
    names = [c.name for c in negscan.load_corpora(dirs)]
    assert names == ["laion", "sample (synthetic)"]  # the folder's name, not only `corpus`
    named = negscan.load_corpora(dirs, ["LAION-400M", "toy"])
    assert [c.name for c in named] == ["LAION-400M", "toy (synthetic)"]
    for stem in ("negscan_words", "negscan_bigrams", "negscan_classes"):
        assert_figure(files(gallery, stem), stem, (style.PAGE, 3.6))


def test_negscan_classes_without_class_scan_is_empty(tmp_path: Path) -> None:
    d = make_negscan(tmp_path / "n", "laion400m", 1, classes=False)
    with pytest.raises(EmptyInput, match="--classes"):
        negscan.class_negations([d], tmp_path / "figs", dpi=DPI)


def test_similarity_map_grid(gallery) -> None:
    # with the image found: the photo, then positive and negative map and a colour bar per class
    size = (3 * maps.CELL + maps.BAR, 2 * maps.CELL + 0.45)
    assert_figure(files(gallery, "maps"), "maps_street", size)


def test_similarity_map_grid_without_image(tmp_path: Path) -> None:
    d = make_maps(tmp_path / "maps", with_image=False)
    paths = maps.similarity_grids(d, tmp_path / "figs", max_classes=1, dpi=DPI)
    assert_figure(paths, "maps_street", (2 * maps.CELL + maps.BAR, maps.CELL + 0.45))


def test_similarity_map_missing_npy_names_it(results: Path, tmp_path: Path) -> None:
    (results / "maps" / "bench_negative.npy").unlink()
    with pytest.raises(MissingInput, match=r"bench_negative\.npy not found.*promptsim maps"):
        maps.similarity_grids(results / "maps", tmp_path, dpi=DPI)


def test_absence_scatter(results: Path, gallery) -> None:
    table, notes = absence.auroc_table(results / "absence")
    assert notes == []
    row = table.filter((pl.col("variant") == "global") & (pl.col("class") == "cat")).row(
        0, named=True
    )
    assert row["p_presence"] == pytest.approx(0.85)
    assert row["n_absence"] == pytest.approx(0.55)
    assert row["n_presence"] == pytest.approx(0.60)
    assert_figure(
        files(gallery, "absence_auroc"), "absence_auroc", (2 * style.COLUMN, style.COLUMN + 0.5)
    )


def drawn_figures(monkeypatch) -> list:
    """Capture the matplotlib figures the figure functions save (instead of writing them), each
    with its caption (``fig.caption_text``)."""
    figs: list = []

    def capture(fig, *_a, caption: str = "", **_k) -> list:
        fig.caption_text = caption
        figs.append(fig)
        return []

    monkeypatch.setattr(style, "save", capture)
    return figs


def overlap(a, b) -> float:
    """Area (pixels²) two window extents share."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0) * max(h, 0)


def data_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.axison]


def assert_legends_clear(fig) -> None:
    """Every legend (the figure's and the axes') lies outside every axes box."""
    fig.draw_without_rendering()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for legend in legends:
        box = legend.get_window_extent()
        for ax in data_axes(fig):
            assert overlap(box, ax.get_window_extent()) < 1, (legend, ax.get_title())


def legend_texts(fig) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def posters(ax) -> list:
    """The artists that draw the poster's means."""
    return [a for a in ax.get_children() if a.get_gid() == prompts.POSTER]


def test_legends_sit_outside_the_data(tmp_path: Path, monkeypatch) -> None:
    figs = drawn_figures(monkeypatch)
    outcomes = draw_all(make_results(tmp_path / "results"), tmp_path / "figs", dpi=DPI)
    drawn = [o.figure for o in outcomes if o.status == "drawn"]
    by_figure = dict(zip(drawn, figs, strict=True))
    for name in ("map_vs_partial", "promptsim_violin", "promptsim_scatter"):
        assert by_figure[name].legends, name  # one legend below the panels
    assert not by_figure["params_compute"].legends  # methods are rows, named on the axis
    assert by_figure["negscan_words"].legends
    for fig in figs:
        assert_legends_clear(fig)
    (ax_abs, *_) = by_figure["absence_auroc"].axes
    lo, hi = ax_abs.get_xlim()
    assert lo < 0 and hi > 1, "AUROC 0 and 1 must not be cut in half by the frame"


def test_params_compute_labels_every_paper_method(
    results: Path, tmp_path: Path, monkeypatch
) -> None:
    # VOC Positive- and NegativeCoOp share the paper's point (170k, 3 h): both must be named
    figs = drawn_figures(monkeypatch)
    compute.params_vs_compute([results / "sweeps" / "voc"], tmp_path)
    ax_p = figs[0].axes[0]
    rows = [t.get_text() for t in ax_p.get_yticklabels()]
    for name in ("DualCoOp", "NegativeCoOp", "PositiveCoOp", "Baseline"):
        assert rows.count(name) == 1  # a row each: names never overlap
    positive = rows.index("PositiveCoOp")
    points = [o for c in ax_p.collections for o in c.get_offsets() if o[1] == positive]
    assert len(points) == 2  # ours and the paper's, in one row


def test_promptsim_figures_show_the_posters_means(
    results: Path, tmp_path: Path, monkeypatch
) -> None:
    figs = drawn_figures(monkeypatch)
    prompts.cosine_distributions(results / "promptsim", tmp_path)
    prompts.cosine_scatter(results / "promptsim", tmp_path)
    violin, scatter = figs
    for ax in violin.axes:  # both spaces: the poster does not say which it used
        levels = [
            round(float(seg[0][1]), 2)
            for c in ax.collections
            if c.get_gid() == prompts.POSTER
            for seg in c.get_segments()
        ]
        for mean in (0.58, 0.53, 0.56, 0.61):  # single P1-N1, P1-P2; ensemble85 P1-N1, P1-P2
            assert mean in levels
    assert "poster, COCO-80 mean P1-N1" in legend_texts(violin)
    labels = legend_texts(scatter)
    assert "poster, COCO-80: 1 prompt" in labels and "poster, COCO-80: 85 prompts" in labels
    for ax in scatter.axes:
        assert len(posters(ax)) == 2


def test_similarity_maps_state_their_cosine_scale(
    results: Path, tmp_path: Path, monkeypatch
) -> None:
    figs = drawn_figures(monkeypatch)
    maps.similarity_grids(results / "maps", tmp_path)
    m = np.random.default_rng(1).random((4, 6)).astype(np.float32)  # both maps of each row
    bars = [ax for ax in figs[0].axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 2  # one colour bar per class row (person, bench), in cosine
    for bar in bars:
        assert bar.get_ylim() == pytest.approx((m.min(), m.max()))
        assert bar.get_ylabel() == "cosine"
    images = [im for ax in figs[0].axes for im in ax.get_images()]
    assert [im.get_array().shape[:2] for im in images].count((32, 48)) == 1  # the photo, once
    maps_drawn = [im for im in images if im.get_array().shape == (4, 6)]
    assert len(maps_drawn) == 4
    assert {im.get_cmap().name for im in maps_drawn} == {maps.CMAP}
    assert maps.CMAP in {"viridis", "cividis", "magma", "inferno", "plasma"}  # uniform


def test_short_log_axis_keeps_labels() -> None:
    fig, ax = style.new_figure(3, 2)
    ax.barh(["a", "b"], [3, 9])
    style.log_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
    labels += [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(set(labels)) >= 3, labels
    assert [style.compact(v) for v in (0.5, 20, 20_000, 1_300_000)] == ["0.5", "20", "20k", "1.3M"]


# --- missing inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draw", "missing", "command"),
    [
        (lambda d, o: negscan.word_counts([d], o), "summary.json", "negscan laion"),
        (lambda d, o: prompts.cosine_scatter(d, o), "per_class.parquet", "promptsim --classes"),
        (lambda d, o: maps.similarity_grids(d, o), "maps.parquet", "promptsim maps"),
        (lambda d, o: absence.absence_scatter(d, o), "per_class.parquet", "promptsim absence"),
        (lambda d, o: sweeps.map_vs_partial([d], o), "results.parquet", "mlrtrain sweep"),
    ],
)
def test_missing_input_names_file_and_command(tmp_path, draw, missing, command) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as exc:
        draw(empty, tmp_path / "figs")
    msg = str(exc.value)
    assert str(empty / missing) in msg
    assert f"`{command}" in msg
    assert not (tmp_path / "figs").exists()


def test_missing_column_is_an_error_not_zeros(results: Path, tmp_path: Path) -> None:
    path = results / "absence" / "per_class.parquet"
    atomic_write_parquet(path, pl.read_parquet(path).drop("auroc"))
    with pytest.raises(MissingInput, match=r"missing column\(s\) \['auroc'\]"):
        absence.absence_scatter(results / "absence", tmp_path, dpi=DPI)


# --- all + CLI --------------------------------------------------------------------------------


def test_draw_all_draws_every_figure(gallery) -> None:
    out, outcomes = gallery
    assert {o.figure: o.status for o in outcomes} == {
        "map_vs_partial": "drawn",
        "params_compute": "drawn",
        "promptsim_violin": "drawn",
        "promptsim_scatter": "drawn",
        "negscan_words": "drawn",
        "negscan_bigrams": "drawn",
        "negscan_classes": "drawn",
        "maps": "drawn",
        "absence_auroc": "drawn",
        "negbench": "drawn",
        # listed with the reason, never dropped silently
        "negbench_negscan": "skipped",
        "negation_gap": "skipped",  # the sweep has no DualCoOp, the negbench model is another
    }
    written = sorted(p for o in outcomes for p in o.files)
    assert written == sorted(out.iterdir())
    assert len(written) == 3 * 10 + 2  # PNG, PDF and caption each; the computation table
    unpaired = next(o for o in outcomes if o.figure == "negbench_negscan")
    assert "paperfigs negbench DIR --negscan TAG=NEGSCAN_DIR" in unpaired.reason


def test_cli_all_reports_skips_and_exits_zero(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_absence(root / "absence")
    out = tmp_path / "figs"
    res = runner.invoke(app, ["all", "--results", str(root), "--out", str(out), "--dpi", str(DPI)])
    assert res.exit_code == 0, res.output
    assert "absence_auroc" in res.output and "drawn" in res.output
    assert "skipped" in res.output and "negscan" in res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "absence_auroc.caption.txt",
        "absence_auroc.pdf",
        "absence_auroc.png",
    ]


def test_cli_all_fails_on_a_broken_part_and_on_nothing(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_absence(root / "absence")
    (root / "negscan").mkdir()  # present but empty: an explicit missing input
    res = runner.invoke(app, ["all", "-r", str(root), "-o", str(tmp_path / "f"), "--dpi", "40"])
    assert res.exit_code == 1
    assert "failed" in res.output and "summary.json not found" in res.output
    empty = tmp_path / "nothing"
    empty.mkdir()
    res = runner.invoke(app, ["all", "-r", str(empty), "-o", str(tmp_path / "g")])
    assert res.exit_code == 1
    assert "no figure could be drawn" in res.output


def test_cli_subcommand_writes_and_reports_missing(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs"
    res = runner.invoke(app, ["absence", str(results / "absence"), "-o", str(out), "--dpi", "40"])
    assert res.exit_code == 0, res.output
    assert (out / "absence_auroc.pdf").is_file()
    res = runner.invoke(app, ["negscan-words", str(tmp_path / "nope"), "-o", str(out)])
    assert res.exit_code == 1
    assert "summary.json not found" in res.output and "Traceback" not in res.output


def test_find_dirs_layouts(tmp_path: Path) -> None:
    root = tmp_path / "r"
    assert find_dirs(root, "promptsim") == []  # absent part: nothing, no error
    a = make_promptsim(root / "promptsim" / "rn101")
    b = make_promptsim(root / "promptsim" / "vitb32")
    (root / "promptsim" / "notes").mkdir()
    assert find_dirs(root, "promptsim") == [a, b]  # one result dir per subdirectory
    single = make_absence(root / "absence")
    assert find_dirs(root, "absence") == [single]  # the part itself is the result dir
    runs = root / "sweeps" / "voc" / "voc" / "baseline" / "p0.5" / "seed0"
    atomic_write_json(runs / "metrics.json", {"complete": False})
    assert find_dirs(root, "sweeps") == [root / "sweeps" / "voc"]  # fit run dirs, no parquet
    (root / "maps").mkdir()
    with pytest.raises(MissingInput, match=r"maps\.parquet not found.*promptsim maps"):
        find_dirs(root, "maps")


def test_draw_all_draws_negbench_a_models_file_folder_on_one_figure(tmp_path, monkeypatch):
    root = tmp_path / "r"
    folder = root / "negbench"  # `promptsim negbench --models-file`: one dir per model
    for model in ("RN50", "ViT-B-32"):
        make_negbench(folder / f"{model}_openai", model)
    atomic_write_json(folder / "models.json", [])
    figs = drawn_figures(monkeypatch)
    outcomes = {o.figure: o for o in draw_all(root, tmp_path / "figs", dpi=DPI)}
    assert outcomes["negbench"].status == "drawn" and len(figs) == 1
    assert "RN50 / openai, ViT-B-32 / openai" in caption(figs[0])
    assert outcomes["negbench_negscan"].status == "skipped"
    res = runner.invoke(app, ["all", "-r", str(root), "-o", str(tmp_path / "f"), "--dpi", "40"])
    assert res.exit_code == 0, res.output
    assert "negbench_negscan" in res.output and "which negscan corpus" in flat(res.output)


def test_draw_all_puts_several_result_dirs_in_subfolders(tmp_path: Path) -> None:
    root = tmp_path / "r"
    make_absence(root / "absence" / "rn101")
    make_absence(root / "absence" / "vitb32")
    outcomes = draw_all(root, tmp_path / "figs", dpi=DPI)
    drawn = next(o for o in outcomes if o.figure == "absence_auroc")
    assert drawn.status == "drawn"
    assert sorted(p.relative_to(tmp_path / "figs").as_posix() for p in drawn.files) == [
        "rn101/absence_auroc.caption.txt",
        "rn101/absence_auroc.pdf",
        "rn101/absence_auroc.png",
        "vitb32/absence_auroc.caption.txt",
        "vitb32/absence_auroc.pdf",
        "vitb32/absence_auroc.png",
    ]
    assert {o.status for o in outcomes if o.figure != "absence_auroc"} == {"skipped"}


# --- what a figure must say: random weights, the control model, rows left out, --out --------


def flat(text: str) -> str:
    return " ".join(text.split())


def caption(fig) -> str:
    """What a figure says in its title (banner, short title) and its caption file (details,
    notes)."""
    return flat(fig.get_suptitle() + " " + getattr(fig, "caption_text", ""))


def random_run(d: Path) -> None:
    model = {"backend": "open_clip", "name": "notclip-tiny-RN", "pretrained": "none"}
    atomic_write_json(
        d / "run.json", {"command": "test", "model": model | {"random_weights": True}}
    )


def test_every_figure_of_random_weights_says_so_and_names_the_model(tmp_path, monkeypatch):
    root = make_results(tmp_path / "results")
    for part in ("promptsim", "maps", "absence"):
        random_run(root / part)
    random_run(root / "sweeps" / "voc" / "voc" / "baseline" / "p0.1" / "seed0")  # one fit run
    make_negbench(root / "negbench", "notclip-tiny-RN", "none")
    figs = drawn_figures(monkeypatch)
    outcomes = draw_all(root, tmp_path / "figs", dpi=DPI)
    drawn = [o for o in outcomes if o.status == "drawn"]
    assert [o.figure for o in outcomes if o not in drawn] == ["negbench_negscan", "negation_gap"]
    titles = {o.figure: caption(fig) for o, fig in zip(drawn, figs, strict=True)}
    banner = "RANDOM WEIGHTS — notclip-tiny-RN / none"
    for figure, title in titles.items():
        assert (banner in title) == (not figure.startswith("negscan")), (figure, title)
    assert "street.png" in titles["maps"]  # the grid keeps its own title


def test_a_sentence_transformers_control_is_not_drawn_beside_the_poster(
    results: Path, tmp_path: Path, monkeypatch
) -> None:
    path = results / "promptsim" / "per_class.parquet"
    control = {
        "model": pl.lit("st:all-MiniLM-L6-v2"),
        "pretrained": pl.lit("sentence-transformers"),
    }
    atomic_write_parquet(path, pl.read_parquet(path).with_columns(**control))
    figs = drawn_figures(monkeypatch)
    outputs = [
        runner.invoke(app, [command, str(results / "promptsim"), "-o", str(tmp_path / "f")])
        for command in ("promptsim-violin", "promptsim-scatter")
    ]
    for res, fig in zip(outputs, figs, strict=True):
        assert res.exit_code == 0, res.output
        assert "not drawn beside the sentence-transformers control" in flat(res.output)
        assert "sentence-transformers control" in caption(fig)
        assert not [ax for ax in fig.axes if posters(ax)]
        assert not [t for t in legend_texts(fig) if "poster" in t]


def test_runs_without_a_map_are_said_on_the_figure_and_in_the_output(tmp_path, monkeypatch):
    d = make_sweep(tmp_path / "voc")
    path = d / "results.parquet"
    nan = pl.when(pl.col("method") == "positivecoop").then(float("nan")).otherwise(pl.col("map"))
    atomic_write_parquet(path, pl.read_parquet(path).with_columns(map=nan))
    figs = drawn_figures(monkeypatch)
    res = runner.invoke(app, ["map-curves", str(d), "-o", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    said = "6 of 12 runs not drawn [positivecoop 0.1 ×2, positivecoop 0.5 ×2, positivecoop 0.9 ×2]"
    assert said in flat(res.output) and "null/NaN" in flat(res.output)
    assert said in caption(figs[0])


def test_promptsim_cosines_without_a_number_are_said_and_fractions_count_the_rest(
    results: Path, tmp_path: Path, monkeypatch
) -> None:
    path = results / "promptsim" / "per_class.parquet"
    centred, dog = pl.col("space") == "centred", pl.col("class") == "dog"
    dog_single = dog & (pl.col("templates") == "single") & (pl.col("pair") == "P1-N1")
    df = pl.read_parquet(path).with_columns(
        cosine=pl.when(centred)
        .then(None)
        .when(dog_single & (pl.col("space") == "raw"))
        .then(float("nan"))
        .otherwise(pl.col("cosine")),
        note=pl.when(centred).then(pl.lit("centring undefined (1 class)")),
    )
    atomic_write_parquet(path, df)
    figs = drawn_figures(monkeypatch)
    with collect_notes() as notes:
        prompts.cosine_distributions(results / "promptsim", tmp_path)
        prompts.cosine_scatter(results / "promptsim", tmp_path)
    violin, scatter = figs
    said = "26 of 50 per-class cosines not drawn"
    assert notes[0].startswith(said) and "centring undefined (1 class)" in notes[0]
    assert said in caption(violin) and said in caption(scatter)
    assert len(notes) == 2  # one per figure: its P1-P2 cosines pair with every P1-N1 left
    assert len(scatter.axes) == 1  # the centred panel has nothing left to draw
    labels = legend_texts(scatter)
    assert any(t.startswith("single/not-prefix: ") and t.endswith("of 4 raw") for t in labels)


def test_absence_classes_without_an_auroc_are_said(results: Path, tmp_path: Path) -> None:
    path = results / "absence" / "per_class.parquet"
    undefined = (pl.col("class") == "dog") & (pl.col("variant") == "global")
    df = pl.read_parquet(path)
    atomic_write_parquet(
        path, df.with_columns(auroc=pl.when(undefined).then(None).otherwise("auroc"))
    )
    res = runner.invoke(app, ["absence", str(results / "absence"), "-o", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    assert "1 of 6 (variant, class) rows not drawn [global dog ×1]" in flat(res.output)


def test_similarity_map_without_its_photo_says_so(tmp_path: Path, monkeypatch) -> None:
    d = make_maps(tmp_path / "maps", with_image=False)
    figs = drawn_figures(monkeypatch)
    with collect_notes() as notes:
        maps.similarity_grids(d, tmp_path / "figs", dpi=DPI)
    assert len(notes) == 1 and "photo not found" in notes[0] and "images/0123abcd.png" in notes[0]
    assert "photo not found" in caption(figs[0])


def test_out_that_is_a_file_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the usage error's box: the message on one line
    existing = tmp_path / "figs"
    existing.write_text("keep me")
    for args in (["absence", str(tmp_path / "nope")], ["all", "-r", str(tmp_path)]):
        for out in (existing, existing / "sub"):
            res = runner.invoke(app, [*args, "-o", str(out)])
            assert res.exit_code == 2, res.output
            assert f"{existing} is an existing file, not a directory" in res.output
    assert existing.read_text() == "keep me"


# --- what each figure shows: its inputs, scales, legends, reference marks ----------------------


def test_every_figure_names_what_produced_it(tmp_path: Path, monkeypatch) -> None:
    figs = drawn_figures(monkeypatch)
    outcomes = draw_all(make_results(tmp_path / "results"), tmp_path / "figs", dpi=DPI)
    drawn = [o for o in outcomes if o.status == "drawn"]
    titles = {o.figure: caption(fig) for o, fig in zip(drawn, figs, strict=True)}
    expected = {
        "map_vs_partial": ["VOC", "RN101 / openai / 448 px", "2 seeds"],
        "params_compute": ["VOC", "RN101 / openai / 448 px", "2 seeds"],
        "promptsim_violin": ["RN101 / openai", "classes: coco (5)"],
        "promptsim_scatter": ["RN101 / openai", "classes: coco (5)"],
        "negscan_words": ["laion", "sample (synthetic)", "lexicon standard, window 4"],
        "negscan_bigrams": ["laion", "lexicon standard, window 4"],
        "negscan_classes": ["laion", "lexicon standard", "class set coco"],
        "maps": ["street.png", "ViT-B-16 / openai"],
        "absence_auroc": ["VOC test", "40 images", "RN50 / openai"],
        "negbench": ["negation benchmarks", "VOC test, 8 images", "RN50 / openai"],
    }
    for figure, words in expected.items():
        for word in words:
            assert word in titles[figure], (figure, word, titles[figure])


def test_sweep_figures_follow_the_tables_policy_on_random_weights(tmp_path, monkeypatch) -> None:
    d = make_sweep(tmp_path / "voc")
    path = d / "results.parquet"  # no run.json: the results file's own record says it
    random = {"random_weights": pl.lit(True), "pretrained": pl.lit("none")}
    atomic_write_parquet(path, pl.read_parquet(path).with_columns(**random))
    figs = drawn_figures(monkeypatch)
    out = ["-o", str(tmp_path / "f")]
    res = runner.invoke(app, ["map-curves", str(d), *out])
    assert res.exit_code == 0, res.output
    said = "the paper's numbers are not drawn beside runs on random weights"
    assert f"{said} (paperfigs map-curves --allow-random draws them)" in flat(res.output)
    (ax,) = figs[0].axes
    assert not [ln for ln in ax.get_lines() if str(ln.get_gid()).startswith("paper:")]
    assert "RANDOM WEIGHTS — RN101 / none" in caption(figs[0]) and said in caption(figs[0])
    res = runner.invoke(app, ["map-curves", str(d), *out, "--allow-random"])
    assert res.exit_code == 0 and said not in flat(res.output)
    (ax,) = figs[1].axes
    assert [ln for ln in ax.get_lines() if str(ln.get_gid()).startswith("paper:")]
    key = figs[1].legends[0].get_title().get_text()
    assert "ours (RANDOM WEIGHTS): solid, mean over seeds; shaded: seed min–max" in key
    res = runner.invoke(app, ["params-compute", str(d), *out])
    assert res.exit_code == 0 and "paperfigs params-compute --allow-random" in flat(res.output)
    rows = [t.get_text() for t in figs[2].axes[0].get_yticklabels()]
    assert rows == ["Baseline", "PositiveCoOp"]  # ours only: no paper point, no paper row
    assert len(figs[2].axes) == 2  # and no panel of the paper's GPU hours
    assert figs[2].axes[0].get_title() == "params: ● ours"  # nor a key for its points
    res = runner.invoke(app, ["params-compute", str(d), *out, "--allow-random"])
    assert res.exit_code == 0
    assert "DualCoOp" in [t.get_text() for t in figs[3].axes[0].get_yticklabels()]


def test_all_passes_allow_random_to_every_figure_that_has_it(tmp_path, monkeypatch) -> None:
    root = tmp_path / "results"
    d = make_sweep(root / "sweeps" / "voc")
    path = d / "results.parquet"
    random = {"random_weights": pl.lit(True), "pretrained": pl.lit("none")}
    atomic_write_parquet(path, pl.read_parquet(path).with_columns(**random))
    said = "the paper's numbers are not drawn beside runs on random weights"
    drawn_figures(monkeypatch)
    args = ["all", "--results", str(root), "--out", str(tmp_path / "f"), "--dpi", str(DPI)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and said in flat(res.output)
    res = runner.invoke(app, [*args, "--allow-random"])
    assert res.exit_code == 0, res.output
    assert said not in flat(res.output) and "map_vs_partial" in res.output


def test_map_vs_partial_tells_the_papers_equal_numbers_apart(results, tmp_path, monkeypatch):
    # VOC at 80 % known labels: the paper gives PositiveCoOp and SCPNet both 94.2
    figs = drawn_figures(monkeypatch)
    sweeps.map_vs_partial([results / "sweeps" / "voc"], tmp_path)
    (ax,) = figs[0].axes
    paper = {ln.get_gid(): ln for ln in ax.get_lines() if str(ln.get_gid()).startswith("paper:")}
    assert set(paper) == {f"paper:{m}" for m in ("dualcoop", "scpnet", "baseline")} | {
        "paper:negativecoop",
        "paper:positivecoop",
    }
    points = {
        gid: set(zip(ln.get_xdata(), ln.get_ydata(), strict=True)) for gid, ln in paper.items()
    }
    for a, b in itertools.combinations(points, 2):
        assert not points[a] & points[b], (a, b)  # no marker hides under another
    assert len({ln.get_marker() for ln in paper.values()}) == len(paper)
    labels = legend_texts(figs[0])
    for m in ("DualCoOp", "SCPNet", "Baseline", "NegativeCoOp", "PositiveCoOp"):
        assert f"paper: {m}" in labels  # each listed once, and drawn where it can be seen
    assert_legends_clear(figs[0])


def test_params_compute_hours_axis(results: Path, tmp_path: Path, monkeypatch) -> None:
    figs = drawn_figures(monkeypatch)
    compute.params_vs_compute([results / "sweeps" / "voc"], tmp_path)
    path = results / "sweeps" / "voc" / "results.parquet"
    baseline = pl.col("method") == "baseline"
    fast = {
        "wall_seconds": pl.when(baseline).then(36.0).otherwise(pl.col("wall_seconds")),
        "cache_seconds": pl.when(baseline).then(0.0).otherwise(pl.col("cache_seconds")),
    }
    atomic_write_parquet(path, pl.read_parquet(path).with_columns(**fast))
    compute.params_vs_compute([results / "sweeps" / "voc"], tmp_path)
    short, wide = (fig.axes[1] for fig in figs)
    assert short.get_xscale() == "linear" and short.get_xlim()[0] == 0  # 0.5 h both
    assert wide.get_xscale() == "log"  # 0.01–0.5 h
    for fig in figs:  # two measurements, two axes: each says which it is
        _, ours, paper = fig.axes
        assert ours.get_xlabel() == "hours per run on cuda:0"
        assert "ours" in ours.get_title() and "no cache build" in ours.get_title()
        assert paper.get_xlabel() == "GPU hours per run" and "paper" in paper.get_title()


def four_styles(d: Path) -> Path:
    """The promptsim fixture with four negation styles for ``ensemble85``."""
    path = d / "per_class.parquet"
    df = pl.read_parquet(path)
    extra = df.filter(pl.col("style") == "no")
    more = [
        extra.with_columns(style=pl.lit(s), cosine=pl.col("cosine") - 0.02 * i)
        for i, s in enumerate(["without", "never"], 1)
    ]
    atomic_write_parquet(path, pl.concat([df, *more]))
    return d


def legend_colors(fig, prefix: str) -> list:
    from matplotlib.colors import to_rgb

    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [
        to_rgb(h.get_facecolor())
        for legend in legends
        for h, t in zip(legend.legend_handles, legend.get_texts(), strict=True)
        if t.get_text().startswith(prefix)
    ]


def test_promptsim_styles_diagonal_and_the_posters_scope(results, tmp_path, monkeypatch):
    d = four_styles(results / "promptsim")
    figs = drawn_figures(monkeypatch)
    prompts.cosine_distributions(d, tmp_path)
    prompts.cosine_scatter(d, tmp_path)
    violin, scatter = figs
    colors = legend_colors(violin, "P1-N1")
    assert len(colors) == 4  # no, not-prefix, never, without
    colors += legend_colors(violin, "P1-P2")
    for a, b in itertools.combinations(colors, 2):  # never shades of one red
        assert np.linalg.norm(np.subtract(a, b)) > 0.25, (a, b)
    for ax in scatter.axes:
        (diagonal,) = [ln for ln in ax.get_lines() if ln.get_gid() == "diagonal"]
        lim = ax.get_xlim()
        assert ax.get_ylim() == lim
        assert tuple(diagonal.get_xdata()) == lim == tuple(diagonal.get_ydata())
        for star in posters(ax):  # the poster's means lie on the drawn extent of y = x
            (x,), (y,) = star.get_xdata(), star.get_ydata()
            assert lim[0] < min(x, y) and max(x, y) < lim[1]
    assert "share of classes" in scatter.legends[0].get_title().get_text()
    # not a COCO run: the poster's COCO-80 means have no place on it
    atomic_write_json(d / "summary.json", {"model": "RN101", "classes": "voc", "n_classes": 20})
    figs.clear()
    with collect_notes() as notes:
        prompts.cosine_distributions(d, tmp_path)
        prompts.cosine_scatter(d, tmp_path)
    for fig in figs:
        assert not [ax for ax in fig.axes if posters(ax)]
        assert not [t for t in legend_texts(fig) if "poster" in t]
        assert "this run's class set is voc" in caption(fig)
    assert len(notes) == 2


def test_negscan_words_compares_shares_within_100_percent(tmp_path: Path, monkeypatch) -> None:
    big = make_negscan(tmp_path / "big", "laion400m", 100)
    small = make_negscan(tmp_path / "small", "cc3m", 1)
    summary = json.loads((small / "summary.json").read_text())
    atomic_write_json(small / "summary.json", summary | {"rate_all_rows": 0.95})
    figs = drawn_figures(monkeypatch)
    negscan.word_counts([big, small], tmp_path / "f")
    ax_w, ax_r = figs[0].axes
    assert ax_w.get_xlabel() == "% of the corpus's rows containing the word"
    assert flat(ax_r.get_xlabel()) == "% of all rows, the paper's denominator"  # as negscan says
    bars = [b for c in ax_w.containers for b in c]
    assert {round(b.get_width(), 4) for b in bars} == {0.4, 0.25, 0.06}  # 40 of 10k, ×100 of 1M
    assert len(ax_w.texts) == len(bars) and len(ax_r.texts) == 2  # a value label on every bar
    assert ax_r.get_xlim()[1] <= 100  # a share of rows never passes 100 %
    assert not [t for ax in (ax_w, ax_r) for t in ax.texts if "paper" in t.get_text()]
    assert "paper: LAION-400M 0.47 % of rows" in legend_texts(figs[0])  # named off the bars
    assert_legends_clear(figs[0])


def test_negscan_scans_that_counted_different_words_never_share_an_axis(
    tmp_path: Path, monkeypatch
) -> None:
    std = make_negscan(tmp_path / "std", "laion400m", 1)
    ext = make_negscan(tmp_path / "ext", "laion400m", 1)
    summary = json.loads((ext / "summary.json").read_text())
    atomic_write_json(
        ext / "summary.json", summary | {"lexicon": "extended", "exclude_numbering": True}
    )
    said = (
        "negscan-words: these scans counted different words (std: lexicon standard; ext: "
        "lexicon extended, numbered lists excluded)"
    )
    with pytest.raises(ValueError, match=re.escape(said)):
        negscan.word_counts([std, ext], tmp_path / "f")
    res = runner.invoke(app, ["negscan-words", str(std), str(ext), "-o", str(tmp_path / "f")])
    assert res.exit_code == 1 and said in flat(res.output) and "Traceback" not in res.output
    assert not (tmp_path / "f").exists()
    # one lexicon name, other entries (a custom lexicon file edited between scans): refused too
    atomic_write_json(ext / "summary.json", summary | {"lexicon_entries": ["no"]})
    atomic_write_json(std / "summary.json", summary | {"lexicon_entries": ["no", "not"]})
    with pytest.raises(ValueError, match="the lexicons' entries differ"):
        negscan.word_counts([std, ext], tmp_path / "f")
    # one panel per corpus: drawn, each panel naming its own options
    atomic_write_json(ext / "summary.json", summary | {"lexicon": "extended"})
    figs = drawn_figures(monkeypatch)
    negscan.top_bigrams([std, ext], tmp_path / "f")
    titles = [ax.get_title() for ax in figs[0].axes]
    assert titles == [
        "std · n = 10k\n(lexicon standard, window 4, class set coco)",
        "ext · n = 10k\n(lexicon extended, window 4, class set coco)",
    ]


def test_negscan_bars_are_linear_under_a_decade(tmp_path: Path, monkeypatch) -> None:
    d = make_negscan(tmp_path / "scan", "laion400m", 1)
    bigrams = {"negator": ["no", "no"], "next_word": ["cup", "image"], "count": [26, 88]}
    atomic_write_parquet(d / "bigrams.parquet", pl.DataFrame(bigrams))
    figs = drawn_figures(monkeypatch)
    negscan.top_bigrams([d], tmp_path / "f")
    negscan.class_negations([d], tmp_path / "f")  # dog 5, cat 2
    for fig in figs:
        (ax,) = fig.axes
        assert ax.get_xscale() == "linear" and ax.get_xlim()[0] == 0
        assert len(ax.texts) == 2  # value labels
    assert "class set coco" in caption(figs[1])
    wide = {"negator": ["no", "no"], "next_word": ["cup", "image"], "count": [2, 88]}
    atomic_write_parquet(d / "bigrams.parquet", pl.DataFrame(wide))
    negscan.top_bigrams([d], tmp_path / "f")
    assert figs[2].axes[0].get_xscale() == "log"


def test_negscan_label_option(results: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the usage error's box: the message on one line
    dirs = [str(results / "negscan" / "laion"), str(results / "negscan" / "sample")]
    figs = drawn_figures(monkeypatch)
    out = ["-o", str(tmp_path / "f")]
    res = runner.invoke(app, ["negscan-bigrams", *dirs, "--label", "L4", "--label", "toy", *out])
    assert res.exit_code == 0, res.output
    assert [ax.get_title() for ax in figs[0].axes] == ["L4 · n = 1M", "toy (synthetic) · n = 10k"]
    res = runner.invoke(app, ["negscan-words", *dirs, "--label", "L4", *out])
    assert res.exit_code == 2 and "once per directory" in flat(res.output)


def test_absence_draws_one_point_per_class_with_labels_inside(results, tmp_path, monkeypatch):
    path = results / "absence" / "per_class.parquet"
    corner = (pl.col("class") == "dog") & (pl.col("target") == "presence")
    df = pl.read_parquet(path)
    atomic_write_parquet(path, df.with_columns(auroc=pl.when(corner).then(1.0).otherwise("auroc")))
    figs = drawn_figures(monkeypatch)
    absence.absence_scatter(results / "absence", tmp_path)
    fig = figs[0]
    fig.draw_without_rendering()
    for ax in fig.axes:
        (points,) = ax.collections  # N for absence only: N for presence is 1 − it
        assert len(points.get_offsets()) == 3
        box = ax.get_window_extent()
        for text in ax.texts:  # class names stay inside the frame, even at AUROC 1
            t = text.get_window_extent()
            assert box.x0 <= t.x0 and t.x1 <= box.x1 and box.y0 <= t.y0 and t.y1 <= box.y1
    table, _ = absence.auroc_table(results / "absence")
    assert "n_presence" in table.columns  # kept in the table
