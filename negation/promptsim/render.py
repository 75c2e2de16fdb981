"""What ``promptsim`` prints: its tables as :class:`corpora.formats.Grid` s (every --format),
built from the runners' results (:mod:`negation.promptsim.runs`); nothing here prints."""

from __future__ import annotations

from typing import Any

from corpora.formats import Grid
from corpora.labels import model_label
from corpora.reference import paper_cosines
from corpora.schema import C
from negation.promptsim.runs import AbsenceConfig, AbsenceResult, MapsResult


def promptsim_table(result: Any, digits: int, title: str) -> Grid:
    """The poster's table: per setting and pair, the raw and centred statistics and the fraction
    of classes whose negation is closer to P1 than the paraphrase is."""
    from negation.promptsim.similarity import format_stat

    frac = {
        (f[C.templates], f[C.style], f[C.space]): f["frac"] for f in result.frac_negation_closer
    }
    order = list(dict.fromkeys(r[C.templates] for r in result.rows))
    entries: dict[tuple[str, str, str], dict[str, str]] = {}
    for row in sorted(result.rows, key=lambda r: (order.index(r[C.templates]), r[C.pair])):
        key = (row[C.templates], row[C.style], row[C.pair])
        setting = (
            row[C.templates] if row[C.pair] == "P1-P2" else f"{row[C.templates]} · {row[C.style]}"
        )
        entry = entries.setdefault(key, {"setting": setting, "pair": row[C.pair], "closer": ""})
        entry[row[C.space]] = format_stat(row, digits)
        if row[C.pair] == "P1-N1":
            f = frac.get((row[C.templates], row[C.style], row[C.space]))
            shown = "–" if f is None else f"{f:.0%}"
            entry["closer"] = shown if not entry["closer"] else f"{entry['closer']} / {shown}"
    headers = ["setting", "pair", "raw", "centred", "N1 closer (raw / centred)"]
    cells = [
        [e["setting"], e["pair"], e["raw"], e["centred"], e["closer"]] for e in entries.values()
    ]
    notes = list(dict.fromkeys(f"{r[C.note]}." for r in result.rows if r[C.note]))
    return Grid(title, headers, cells, ["mean ± std (min, max) over classes", *notes], "llrrr")


def reference_table(rows: list[dict[str, Any]]) -> Grid:
    """The poster's table beside our means and ours − poster, in both spaces (the poster does not
    say which it used). Ours: the same template set and pair; for P1-N1 the ``not-prefix``
    style, the poster's "Not a photo of a {}"."""
    from negation.promptsim.similarity import format_stat

    cells = []
    for ref in paper_cosines().to_dicts():
        ours = {
            r[C.space]: r["mean"]
            for r in rows
            if r[C.templates] == ref[C.templates]
            and r[C.pair] == ref[C.pair]
            and (ref[C.pair] == "P1-P2" or r[C.style] == "not-prefix")
        }
        row = [ref[C.templates], ref[C.pair], format_stat(ref)]
        for space in ("raw", "centred"):
            mean = ours.get(space)
            row.append("—" if mean is None else f"{mean:.2f} ({mean - ref['mean']:+.2f})")
        cells.append(row)
    return Grid(
        "the poster (model and 85-prompt negation not stated) vs ours (means)",
        ["templates", "pair", "published", "ours raw (Δ)", "ours centred (Δ)"],
        cells,
        align="lllrr",
        no_wrap=(0, 1, 2),
    )


def absence_table(config: AbsenceConfig, run: AbsenceResult, model: str) -> Grid:
    """The means over classes of ``promptsim absence``."""
    setting = config.setting
    title = (
        f"absence — {model_label(model, run.info[C.pretrained])} — {config.dataset} "
        f"{config.split} ({run.n_images} images, {run.n_classes} classes)"
    )
    note = (
        f"P {setting.positive[0]!r} · N {setting.negative[0]!r}"
        + (" (ensembles)" if len(setting.positive) > 1 else "")
        + " · means over classes"
    )
    cells = [
        [
            r[C.variant],
            f"{r[C.prompt]} → {r[C.target]}",
            "–" if r["auroc_mean"] is None else f"{r['auroc_mean']:.3f}",
            "–" if r["ap_mean"] is None else f"{r['ap_mean']:.3f}",
            "–" if r["frac_auroc_above_half"] is None else f"{r['frac_auroc_above_half']:.0%}",
            str(r[C.n_classes]),
        ]
        for r in run.rows
    ]
    header = ["variant", "prompt → target", "AUROC", "AP", "AUROC > 0.5", "classes"]
    return Grid(title, header, cells, [note], "llrrrr")


def maps_table(run: MapsResult, model: str) -> Grid:
    """``promptsim maps``' index: one row per map, its cosine range and its heatmap."""
    cells = [
        [r[C.image], r[C.class_], r[C.prompt], f"{r[C.min]:.3f}", f"{r[C.max]:.3f}", r[C.png]]
        for r in run.index.iter_rows(named=True)
    ]
    header = ["image", "class", "prompt", "cosine min", "cosine max", "heatmap"]
    title = f"maps — {model_label(model, run.info[C.pretrained])} — under {run.out}"
    return Grid(title, header, cells, align="lllrrl")
