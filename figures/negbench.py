"""The ``promptsim negbench`` figures, from result directories only (``summary.json``; for the
corpus scatter, negscan's ``summary.json``).

- ``negbench.png/.pdf``: four panels over models — MCQ accuracy by question type (grouped bars,
  bootstrap 95 % CIs, chance 0.25), the affirmation − negation gap, existence F1 by sampling,
  retrieval R@5 with vs without the negated clause;
- ``negbench_negscan.png/.pdf`` (with ``--negscan NAME=DIR``): per model whose weights tag is
  NAME, the negation rate of that pre-training corpus (negscan, % of all rows) against its
  negation-type MCQ accuracy.

Captions name the dataset, split, models and bootstrap size; random-weight models are named in the
RANDOM WEIGHTS banner (:func:`figures.style.headline`); the details are in the caption file.
Legends sit right of their panel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from corpora.labels import model_label
from corpora.schema import C
from figures import style
from figures.inputs import MAKERS, EmptyInput, MissingInput, Model, random_weights_banner

MAKER = MAKERS["negbench"]
TYPES = ("affirmation", "negation", "hybrid")
SAMPLINGS = ("random", "popular", "adversarial")


def find_results(dirs: list[Path]) -> list[Path]:
    """Each dir with a ``summary.json``, or (a ``--models-file`` output) its subdirs with one."""
    out = []
    for d in map(Path, dirs):
        if (d / "summary.json").is_file():
            out.append(d)
            continue
        subs = sorted(p.parent for p in d.glob("*/summary.json"))
        if not subs:
            raise MissingInput(f"{d / 'summary.json'} not found — run `{MAKER}` first")
        out += subs
    return out


def load_results(dirs: list[Path]) -> list[tuple[Path, dict]]:
    """Each result directory (:func:`find_results`) with its ``summary.json``."""
    out = []
    for d in find_results(dirs):
        data = json.loads((d / "summary.json").read_text("utf-8"))
        missing = [k for k in (C.model, C.pretrained, C.random_weights, C.metrics) if k not in data]
        if missing:
            raise MissingInput(f"{d / 'summary.json'}: missing key(s) {missing} — rerun `{MAKER}`")
        out.append((d, data))
    if not out:
        raise EmptyInput("no negbench result to draw")
    return out


def load_summaries(dirs: list[Path]) -> list[dict]:
    return [s for _, s in load_results(dirs)]


def _label(s: dict) -> str:
    return f"{s[C.model]}\n{s[C.pretrained]}"


def _banner(summaries: list[dict]) -> str | None:
    return random_weights_banner(
        [Model(s[C.model], s[C.pretrained], bool(s[C.random_weights])) for s in summaries]
    )


def describe(summaries: list[dict], what: str) -> str:
    """``what — VOC test, 96 images · RN50 / openai, ViT-B-32 / laion2b · bootstrap 1000`` (the
    data of every summary; a value a summary lacks is left out)."""
    data = []
    for s in summaries:
        d = " ".join([str(s.get(C.dataset) or "").upper(), str(s.get(C.split) or "")]).strip()
        d = d or "dataset not recorded"
        if s.get(C.n_images):
            d += f", {s[C.n_images]} images"
        data.append(d)
    models = ", ".join(dict.fromkeys(model_label(s[C.model], s[C.pretrained]) for s in summaries))
    boot = sorted({s[C.n_bootstrap] for s in summaries if s.get(C.n_bootstrap)})
    ci = f" · 95 % CI, bootstrap {', '.join(map(str, boot))}" if boot else ""
    return f"{what} — {'; '.join(dict.fromkeys(data))} · {models}{ci}"


def _bars(ax, labels: list[str], series: dict[str, list[dict | None]], ylabel: str) -> None:
    """Grouped bars with CI whiskers; a missing or null value leaves its bar out."""
    import seaborn as sns

    colors = sns.color_palette("colorblind", max(len(series), 1))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(labels))
    for k, (name, ests) in enumerate(series.items()):
        pos, val = [], []
        err: list[list[float]] = [[], []]
        for j, e in enumerate(ests):
            if not e or e.get(C.value) is None:
                continue
            pos.append(x[j] + (k - (len(series) - 1) / 2) * width)
            val.append(e[C.value])
            lo = e[C.ci_low] if e.get(C.ci_low) is not None else e[C.value]
            hi = e[C.ci_high] if e.get(C.ci_high) is not None else e[C.value]
            err[0].append(e[C.value] - lo)
            err[1].append(hi - e[C.value])
        ax.bar(pos, val, width, yerr=err, capsize=2, label=name, color=colors[k])
    ax.set_xticks(x, labels, fontsize="x-small")
    ax.set_ylabel(ylabel)
    if series:  # right of the panel: inside, it would sit on bars
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def negbench_panels(dirs: list[Path], out_dir: Path, *, dpi: int = style.DEFAULT_DPI) -> list[Path]:
    """``negbench.png/.pdf``: the four panels over models."""
    summaries = load_summaries(dirs)
    labels = [_label(s) for s in summaries]
    m = [s[C.metrics] for s in summaries]
    width = max(style.PAGE, 1.2 * len(summaries) + 3)
    fig, axes = style.new_figure(width, 5.6, nrows=2, ncols=2)
    (a_mcq, a_gap), (a_exi, a_ret) = axes
    if any("mcq" in x for x in m):
        series = {t: [x.get("mcq", {}).get("by_type", {}).get(t) for x in m] for t in TYPES}
        _bars(a_mcq, labels, series, "MCQ accuracy")
        a_mcq.axhline(0.25, ls=":", lw=0.8, color=style.REFERENCE_COLOR)
        a_mcq.set(ylim=(0, 1), title="MCQ accuracy by question type (chance 0.25)")
        gaps = {
            "affirmation − negation": [x.get("mcq", {}).get("gap_affirmation_negation") for x in m]
        }
        _bars(a_gap, labels, gaps, "accuracy gap")
        a_gap.axhline(0, lw=0.8, color=style.REFERENCE_COLOR)
        a_gap.set(title="affirmation − negation gap")
    else:
        _empty(a_mcq, "no mcq results")
        _empty(a_gap, "no mcq results")
    if any("existence" in x for x in m):
        series = {s: [x.get("existence", {}).get(s, {}).get("f1") for x in m] for s in SAMPLINGS}
        _bars(a_exi, labels, series, "F1 of 'yes'")
        a_exi.set(ylim=(0, 1), title="existence F1 by absent-object sampling")
    else:
        _empty(a_exi, "no existence results")
    if any("retrieval" in x for x in m):
        series = {
            k: [x.get("retrieval", {}).get(k, {}).get(C.r5) for x in m]
            for k in ("negated", "plain")
        }
        _bars(a_ret, labels, series, "R@5")
        a_ret.set(ylim=(0, 1), title="retrieval R@5: with vs without the negated clause")
    else:
        _empty(a_ret, "no retrieval results")
    caption = style.headline(
        fig,
        _banner(summaries),
        title="Negation benchmarks",
        details=[describe(summaries, "negation benchmarks")],
    )
    return style.save(fig, out_dir, "negbench", dpi, caption=caption)


def parse_negscan(specs: list[str]) -> dict[str, Path]:
    """``["laion400m_e32=scans/laion"]`` → ``{"laion400m_e32": Path("scans/laion")}``."""
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--negscan {spec!r}: expected NAME=DIR (NAME = a weights tag)")
        out[name.strip()] = Path(path.strip())
    return out


def negscan_scatter(
    dirs: list[Path], negscan: dict[str, Path], out_dir: Path, *, dpi: int = style.DEFAULT_DPI
) -> list[Path]:
    """``negbench_negscan.png/.pdf``: corpus negation rate (x, %) vs negation-type accuracy (y)."""
    summaries = load_summaries(dirs)
    points = []
    for name, d in negscan.items():
        path = Path(d) / "summary.json"
        if not path.is_file():
            raise MissingInput(f"{path} not found — run `negscan laion SHARDS… --out DIR` first")
        rate = json.loads(path.read_text("utf-8")).get("rate_all_rows")
        matched = [s for s in summaries if s[C.pretrained] == name]
        if not matched:
            have = ", ".join(sorted({s[C.pretrained] for s in summaries}))
            raise ValueError(f"--negscan {name}: no negbench result with weights {name} ({have})")
        for s in matched:
            est = s[C.metrics].get("mcq", {}).get("by_type", {}).get("negation")
            if rate is not None and est and est.get(C.value) is not None:
                points.append((s, 100.0 * rate, est))
    if not points:
        raise EmptyInput("--negscan: no model with both a corpus negation rate and MCQ results")
    fig, ax = style.new_figure(style.COLUMN + 0.6, style.COLUMN)
    for s, x, est in points:
        lo = est[C.value] - (est[C.ci_low] if est[C.ci_low] is not None else est[C.value])
        hi = (est[C.ci_high] if est[C.ci_high] is not None else est[C.value]) - est[C.value]
        ax.errorbar([x], [est[C.value]], yerr=[[lo], [hi]], fmt="o", ms=4, capsize=2)
        ax.annotate(
            s[C.model], (x, est[C.value]), xytext=(3, 3), textcoords="offset points", fontsize=5
        )
    ax.axhline(0.25, ls=":", lw=0.8, color=style.REFERENCE_COLOR)
    ax.set(
        xlabel="corpus captions with a negation (% of rows)",
        ylabel="MCQ accuracy, negation type",
        ylim=(0, 1),
    )
    drawn = [p[0] for p in points]
    title = describe(drawn, "corpus negation vs negation MCQ")
    title += f" · negscan of weights {', '.join(negscan)}"
    caption = style.headline(
        fig, _banner(drawn), title="Corpus negation vs negation MCQ", details=[title]
    )
    return style.save(fig, out_dir, "negbench_negscan", dpi, caption=caption)
