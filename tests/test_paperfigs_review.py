"""paperfigs, as a reviewer reads the figures: every figure is rendered from the fabricated result
files of ``test_paperfigs`` (plain; random weights with one seed and a tiny corpus) and checked
from its matplotlib objects — titles of at most two lines with a caption file beside the figure,
no text box overlapping another or leaving the figure, axis limits that contain the data (and
zero, for bars; never bars on a log axis), legend entries that match what is drawn, one colour per
method and per prompt setting in every figure."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import polars as pl
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from test_paperfigs import DPI, make_results, random_run

from corpora.reference import method_label, method_order
from corpora.runio import atomic_write_json, atomic_write_parquet, atomic_write_text
from figures import compute, negbench, negscan, style, sweeps
from figures.gallery import draw_all

Drawn = tuple[str, object, str, Path]  # (stem, figure, caption, out_dir)


def _capture(monkeypatch, drawn: list[Drawn], *, write: bool) -> None:
    """Collect every figure the figure functions save, with its stem and caption; ``write``:
    still write its files (PNG, PDF, caption), else only the caption (rendering is slow)."""
    save = style.save

    def saving(fig, out_dir, stem, dpi=style.DEFAULT_DPI, **kw):
        drawn.append((stem, fig, kw.get("caption", ""), Path(out_dir)))
        if write:
            return save(fig, out_dir, stem, dpi, **kw)
        style.settle(fig)  # as save does before drawing the PNG
        return [atomic_write_text(Path(out_dir) / f"{stem}{style.CAPTION_SUFFIX}", drawn[-1][2])]

    monkeypatch.setattr(style, "save", saving)


def _tiny(d: Path) -> None:
    """A 10-row corpus with 6 negated captions: 60 % of its rows."""
    summary = json.loads((d / "summary.json").read_text())
    summary |= {"n_rows": 10, "n_with_negation": 6, "rate_all_rows": 0.6, "rate_non_null": 0.6}
    atomic_write_json(d / "summary.json", summary)
    words = pl.DataFrame({"word": ["no", "not"], "captions": [4, 2], "occurrences": [4, 2]})
    atomic_write_parquet(d / "per_word.parquet", words)
    bigrams = {"negator": ["no", "not"], "next_word": ["image", "here"], "count": [3, 1]}
    atomic_write_parquet(d / "bigrams.parquet", pl.DataFrame(bigrams))


def _random_one_seed(root: Path) -> None:
    for part in ("promptsim", "maps", "absence"):
        random_run(root / part)
    path = root / "sweeps" / "voc" / "results.parquet"
    runs = pl.read_parquet(path).filter(pl.col("seed") == 0)
    random = {"random_weights": pl.lit(True), "pretrained": pl.lit("none")}
    atomic_write_parquet(path, runs.with_columns(**random))


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> list[Drawn]:
    """Every figure, drawn from the plain results and from random-weight, one-seed results with a
    tiny corpus (the sweeps of the latter also beside the paper's numbers, --allow-random)."""
    base = tmp_path_factory.mktemp("review")
    drawn: list[Drawn] = []
    with pytest.MonkeyPatch.context() as mp:
        _capture(mp, drawn, write=True)
        plain = make_results(base / "plain")
        draw_all(plain, base / "figs-plain", dpi=DPI)
        negbench.negscan_scatter(
            [plain / "negbench"], {"openai": plain / "negscan" / "laion"}, base / "figs-plain"
        )
    with pytest.MonkeyPatch.context() as mp:
        _capture(mp, drawn, write=False)
        odd = make_results(base / "odd")
        _tiny(odd / "negscan" / "sample")
        _random_one_seed(odd)
        draw_all(odd, base / "figs-odd", dpi=DPI)
        sweep = [odd / "sweeps" / "voc"]
        sweeps.map_vs_partial(sweep, base / "figs-allow", allow_random=True)
        compute.params_vs_compute(sweep, base / "figs-allow", allow_random=True)
    stems = {stem for stem, *_ in drawn}
    assert {"map_vs_partial_voc", "params_compute_voc", "negbench_negscan", "maps_street"} < stems
    assert len(stems) == 11  # every figure paperfigs draws
    for fig in (fig for _, fig, _, _ in drawn):
        fig.draw_without_rendering()  # the layout as drawn into the PNG (after save's settle)
    return drawn


def ids(drawn: list[Drawn]) -> list[str]:
    return [f"{stem}@{out.name}" for stem, _, _, out in drawn]


def data_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.axison]


def legends(fig) -> list:
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]


# --- titles and captions ---------------------------------------------------------------------


def test_titles_are_short_and_the_details_are_in_a_caption_beside(figures) -> None:
    for stem, fig, caption, out in figures:
        title = fig.get_suptitle()
        assert title and title.count("\n") < style.TITLE_LINES, (stem, title)
        for ax in fig.axes:
            assert ax.get_title().count("\n") < 2, (stem, ax.get_title())
        written = out / f"{stem}{style.CAPTION_SUFFIX}"
        assert written.read_text("utf-8") == caption, stem
        assert len(caption.splitlines()) >= 2, (stem, caption)  # the details went somewhere
        if "RANDOM WEIGHTS" in caption:  # the flag stays on the figure itself
            assert "RANDOM WEIGHTS" in title, stem


# --- text ------------------------------------------------------------------------------------


def _ticks(axis) -> list:
    lo, hi = sorted(axis.get_view_interval())
    eps = 1e-9 * max(abs(lo), abs(hi), 1)
    ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
    shown = [t.label1 for t in ticks if lo - eps <= t.get_loc() <= hi + eps]
    return [label for label in shown if label.get_visible()]


def texts(fig) -> list:
    """Every visible, non-empty text the figure draws: titles, labels, drawn tick labels,
    annotations, legend entries and titles."""
    found = [getattr(fig, "_suptitle", None), *fig.texts]
    for legend in legends(fig):
        found += [*legend.get_texts(), legend.get_title()]
    for ax in fig.axes:
        found += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.axison:
            found += [*_ticks(ax.xaxis), *_ticks(ax.yaxis)]
    shown = [t for t in found if t is not None and t.get_visible() and t.get_text().strip()]
    return list({id(t): t for t in shown}.values())  # the suptitle is one of fig.texts too


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0) * max(h, 0)


def test_no_text_overlaps_another_or_leaves_the_figure(figures) -> None:
    for stem, fig, _, _ in figures:
        renderer = fig.canvas.get_renderer()
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(fig)]
        page = fig.bbox
        for text, box in boxes:
            inside = page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1
            assert inside and page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, (stem, text)
        for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
            assert _overlap(a, b) < 1, (stem, ta, tb)


# --- axes ------------------------------------------------------------------------------------


def _within(values, lim, what) -> None:
    lo, hi = sorted(lim)
    eps = 1e-6 * max(hi - lo, 1e-12)
    for v in values:
        assert lo - eps <= v <= hi + eps, (what, v, lim)


def _shown(artist) -> bool:
    """Drawn and of some size (seaborn adds empty rectangles as legend proxies)."""
    if isinstance(artist, Rectangle):
        return artist.get_visible() and (artist.get_width() != 0 or artist.get_height() != 0)
    return artist.get_visible()


def test_axes_contain_their_data_and_bars_their_zero(figures) -> None:
    for stem, fig, _, _ in figures:
        for ax in data_axes(fig):
            xlim, ylim = ax.get_xlim(), ax.get_ylim()
            where = f"{stem}: {ax.get_title() or ax.get_xlabel()}"
            for line in ax.lines:
                if line.get_transform() == ax.transData:  # not a reference across the axes
                    xy = line.get_xydata()
                    _within(xy[:, 0], xlim, where)
                    _within(xy[:, 1], ylim, where)
            for coll in ax.collections:
                if isinstance(coll, PathCollection) and len(coll.get_offsets()):
                    _within(coll.get_offsets()[:, 0], xlim, where)
                    _within(coll.get_offsets()[:, 1], ylim, where)
                elif isinstance(coll, PolyCollection):  # violins, bands
                    box = coll.get_datalim(ax.transData)
                    _within([box.x0, box.x1], xlim, where)
                    _within([box.y0, box.y1], ylim, where)
            bars = [p for p in ax.patches if isinstance(p, Rectangle) and _shown(p)]
            if bars:  # a bar's length means something only on a linear axis from its base
                assert ax.get_xscale() == ax.get_yscale() == "linear", where
            for bar in bars:  # both ends, so the base (0) too
                _within([bar.get_x(), bar.get_x() + bar.get_width()], xlim, where)
                _within([bar.get_y(), bar.get_y() + bar.get_height()], ylim, where)


def test_count_axes_tick_whole_numbers(figures) -> None:
    for stem, fig, _, _ in figures:
        for ax in data_axes(fig):
            if "captions" not in ax.get_xlabel() or "%" in ax.get_xlabel():
                continue
            for label in _ticks(ax.xaxis):
                if label.get_text():
                    value = float(label.get_text().rstrip("kMG") or 0)
                    assert value == int(value), (stem, label.get_text())


# --- legends and colours ---------------------------------------------------------------------


def _rgb(c) -> tuple:
    return tuple(round(v, 3) for v in to_rgb(c))


def _none(style_value) -> bool:
    return style_value in (None, "None", "none", "", " ")


def _matches(handle, artist) -> bool:
    """Whether a legend ``handle`` looks like the drawn ``artist`` (same kind of mark, colour,
    line style, marker)."""
    if isinstance(handle, Patch):
        colour = _rgb(handle.get_facecolor())
        if isinstance(artist, Patch):
            return _rgb(artist.get_facecolor()) == colour
        if isinstance(artist, PolyCollection):
            return colour in {_rgb(c) for c in artist.get_facecolor()}
        return False
    colour = _rgb(handle.get_color())
    line, marker = not _none(handle.get_linestyle()), not _none(handle.get_marker())
    if isinstance(artist, Line2D):
        same_line = not line or artist.get_linestyle() == handle.get_linestyle()
        same_marker = not marker or artist.get_marker() == handle.get_marker()
        return _rgb(artist.get_color()) == colour and same_line and same_marker
    if isinstance(artist, LineCollection):
        return line and colour in {_rgb(c) for c in artist.get_colors()}
    if isinstance(artist, PathCollection):
        faces = {_rgb(c) for c in [*artist.get_facecolor(), *artist.get_edgecolor()]}
        return marker and not line and colour in faces
    return False


def test_legend_entries_match_drawn_artists(figures) -> None:
    for stem, fig, _, _ in figures:
        drawn = [
            a
            for ax in data_axes(fig)
            for a in (*ax.lines, *ax.collections, *ax.patches)
            if _shown(a)
        ]
        for legend in legends(fig):
            for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
                assert any(_matches(handle, a) for a in drawn), (stem, text.get_text())


def _keys(text: str) -> list[tuple[str, str]]:
    """The method or prompt setting a legend entry or row label names."""
    labels = {method_label(m): m for m in method_order()}
    name = text.removeprefix("paper: ")
    if name in labels:
        return [("method", labels[name])]
    if m := re.fullmatch(r"P1-N1 (\S+)", text):
        return [("setting", m.group(1))]
    if text == "P1-P2 paraphrase":
        return [("setting", "paraphrase")]
    if m := re.match(r"[^/\s:]+/([^:\s]+): ", text):
        return [("setting", m.group(1))]
    return []


def test_one_colour_per_method_and_setting_in_every_figure(figures) -> None:
    seen: dict[tuple[str, str], dict[tuple, list[str]]] = {}
    for stem, fig, _, _ in figures:
        marks: list[tuple[str, object]] = []
        for legend in legends(fig):
            for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
                colour = handle.get_facecolor() if isinstance(handle, Patch) else handle.get_color()
                marks.append((text.get_text(), colour))
        for ax in data_axes(fig):  # methods named on an axis, in their colour
            marks += [(t.get_text(), t.get_color()) for t in _ticks(ax.yaxis)]
        for text, colour in marks:
            for key in _keys(text):
                seen.setdefault(key, {}).setdefault(_rgb(colour), []).append(stem)
    assert ("setting", "paraphrase") in seen and ("method", "positivecoop") in seen
    for (kind, name), colours in seen.items():
        assert len(colours) == 1, (kind, name, colours)  # one colour in every figure
        fixed = style.method_color(name) if kind == "method" else style.setting_color(name)
        assert set(colours) == {_rgb(fixed)}, (kind, name, colours)


# --- what each reviewed figure says ----------------------------------------------------------


def _one(figures, stem: str, out: str) -> tuple:
    return next((fig, cap) for s, fig, cap, o in figures if s == stem and o.name == out)


def test_map_curves_start_at_zero_and_state_the_data_range(figures) -> None:
    fig, caption = _one(figures, "map_vs_partial_voc", "figs-plain")
    (ax,) = fig.axes
    assert ax.get_ylim()[0] == 0
    assert "ours span 85.5–90.5" in caption and "no break" in caption
    # one seed: no band drawn, and no legend says there is one
    fig, caption = _one(figures, "map_vs_partial_voc", "figs-odd")
    assert not [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert "min–max" not in fig.legends[0].get_title().get_text()
    assert "RANDOM WEIGHTS" in fig.get_suptitle()


def test_params_compute_compares_like_with_like(figures) -> None:
    fig, caption = _one(figures, "params_compute_voc", "figs-plain")
    ax_p, ax_h, ax_g = fig.axes
    # Baseline's first run built the feature cache (1.5 of its 2 h): training hours leave it out
    ours = {round(float(o[0]), 3) for c in ax_h.collections for o in c.get_offsets()}
    assert max(ours) < 0.51  # not Baseline's 0.75 h of wall-clock
    assert "cache" in ax_h.get_title() and "paper" not in ax_h.get_xlabel()
    assert "paper" in ax_g.get_title() and "GPU" in ax_g.get_xlabel()
    assert "the feature cache took 1.506 h in total" in caption
    rows = [t.get_text() for t in ax_p.get_yticklabels()]
    assert rows == ["DualCoOp", "SCPNet", "Baseline", "NegativeCoOp", "PositiveCoOp"]
    out = next(o for s, _, _, o in figures if s == "params_compute_voc")
    table = pl.read_csv(out / "params_compute.csv")
    assert table.columns == list(compute.TABLE_COLUMNS)
    base = table.filter(pl.col("method") == "baseline").row(0, named=True)
    assert base["paper_gpu_hours"] == 1.5 and base["params_label"] == "20k"
    assert base["hours_per_run"] == pytest.approx(0.75)  # wall-clock, cache included
    assert base["train_hours_per_run"] == pytest.approx((7200 - 5400 + 5 * 1798) / 6 / 3600)
    assert "GPU h / run (paper)" in (out / "params_compute.md").read_text("utf-8")


def test_negscan_figures_show_n_and_flag_a_tiny_corpus(figures) -> None:
    fig, caption = _one(figures, "negscan_words", "figs-odd")
    ax_w, ax_r = fig.axes
    assert ax_w.get_xscale() == "log" and not ax_w.patches  # 0.06 … 40 %: points
    rows = [t.get_text() for t in ax_r.get_yticklabels()]
    assert rows == ["laion\nn = 1M", "sample (synthetic)\nn = 10, tiny"]
    assert f"fewer than {negscan.TINY_ROWS:,} rows" in caption
    assert "sample (synthetic): 10 rows" in caption
    fig, _ = _one(figures, "negscan_bigrams", "figs-odd")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["laion · n = 1M", "sample (synthetic) · n = 10, tiny"]
