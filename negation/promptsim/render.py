"""What ``promptsim`` prints: its tables as text or rich tables, built from the runners' results
(:mod:`negation.promptsim.runs`); nothing here prints."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from corpora.reference import paper_cosines
from corpora.runio import markdown_table
from corpora.schema import C
from negation.promptsim.runs import AbsenceConfig, AbsenceResult


def promptsim_table(result: Any, fmt: str, digits: int, title: str) -> str | Table:
    """The table as csv or markdown text (printed as is) or a rich Table."""
    import polars as pl

    from negation.promptsim.similarity import format_stat

    if fmt == "csv":
        return pl.DataFrame(result.rows).write_csv()
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
    notes = list(dict.fromkeys(r[C.note] for r in result.rows if r[C.note]))
    if fmt == "markdown":
        text = f"**{title}**\n\n{markdown_table([headers, *cells])}\n"
        return text + "".join(f"\nNote: {note}.\n" for note in notes)
    caption = "\n".join(["mean ± std (min, max) over classes", *(f"{n}." for n in notes)])
    table = Table(title=title, caption=caption)
    for h in headers:
        table.add_column(h)
    for c in cells:  # the statistic on two lines keeps the table narrow
        table.add_row(c[0], c[1], c[2].replace(" (", "\n("), c[3].replace(" (", "\n("), c[4])
    return table


def reference_table(rows: list[dict[str, Any]]) -> Table:
    """The poster's table beside our means and ours − poster, in both spaces (the poster does not
    say which it used). Ours: the same template set and pair; for P1-N1 the ``not-prefix``
    style, the poster's "Not a photo of a {}"."""
    from negation.promptsim.similarity import format_stat

    table = Table(title="the poster (model and 85-prompt negation not stated) vs ours (means)")
    for h in ("templates", "pair", "published"):
        table.add_column(h, no_wrap=True)
    for space in ("raw", "centred"):
        table.add_column(f"ours {space} (Δ)", justify="right")
    for ref in paper_cosines().to_dicts():
        ours = {
            r[C.space]: r["mean"]
            for r in rows
            if r[C.templates] == ref[C.templates]
            and r[C.pair] == ref[C.pair]
            and (ref[C.pair] == "P1-P2" or r[C.style] == "not-prefix")
        }
        cells = []
        for space in ("raw", "centred"):
            mean = ours.get(space)
            cells.append("—" if mean is None else f"{mean:.2f} ({mean - ref['mean']:+.2f})")
        table.add_row(ref[C.templates], ref[C.pair], format_stat(ref), *cells)
    return table


def absence_table(config: AbsenceConfig, run: AbsenceResult, model: str) -> Table:
    """The means over classes of ``promptsim absence``."""
    setting = config.setting
    t = Table(
        title=f"absence — {model} / {run.info[C.pretrained]} — {config.dataset} {config.split} "
        f"({run.n_images} images, {run.n_classes} classes)",
        caption=f"P {setting.positive[0]!r} · N {setting.negative[0]!r}"
        + (" (ensembles)" if len(setting.positive) > 1 else "")
        + " · means over classes",
    )
    for h in ("variant", "prompt → target", "AUROC", "AP", "AUROC > 0.5", "classes"):
        t.add_column(h, justify="left" if h in ("variant", "prompt → target") else "right")
    for r in run.rows:
        t.add_row(
            r[C.variant],
            f"{r[C.prompt]} → {r[C.target]}",
            "–" if r["auroc_mean"] is None else f"{r['auroc_mean']:.3f}",
            "–" if r["ap_mean"] is None else f"{r['ap_mean']:.3f}",
            "–" if r["frac_auroc_above_half"] is None else f"{r['frac_auroc_above_half']:.0%}",
            str(r[C.n_classes]),
        )
    return t
