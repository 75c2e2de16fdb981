"""Results in the formats of ``--format``: one implementation for every command.

A command describes what it prints as :class:`Grid` s (a title, a header, rows of cells and notes:
what a reader sees) and, for the machine formats, its data: ``json`` an object (the command's
summary; NaN and infinities become null, so that any JSON parser reads it) and ``csv`` tidy
records (one row each, numbers unrounded). :func:`emit` prints them on stdout:

- ``table``: rich tables (the title above, the notes below);
- ``json``: the object (without one, the grids: ``[{title, rows: [{column: cell}], notes}]``);
- ``csv``: the records (without them, the grids' cells, a ``table`` column naming the grid when
  there are several), a header line first;
- ``markdown``: per grid, the title in bold, a pipe table and its notes;
- ``latex``: per grid, a booktabs ``table`` (:func:`latex_table`, also ``mlrtrain table``'s), the
  title and notes as its caption.

Each command offers the formats that make sense for it (:func:`corpora.cli.format_param`).
Nothing heavy is imported here (rich only when a table is drawn).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corpora.runio import markdown_table

FORMATS = ("table", "json", "csv", "markdown", "latex")  # the vocabulary, in --help's order
TEXT_FORMATS = ("table", "markdown", "latex")  # for a reader: the grids


@dataclass(frozen=True)
class Grid:
    """One table as a reader sees it; ``align`` one ``l`` or ``r`` per column (default: the first
    left, the others right); ``no_wrap`` the columns a rich table never wraps (a statistic kept on
    one line: the others give way)."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    notes: Sequence[str] = ()
    align: str = ""
    no_wrap: Sequence[int] = ()

    @property
    def aligns(self) -> str:
        return self.align or "l" + "r" * (len(self.header) - 1)


# --- LaTeX ------------------------------------------------------------------------------------

_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "−": "$-$",
    "–": "--",
    "·": "/",
    "×": r"$\times$",
    "±": r"$\pm$",
    "→": r"$\to$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "Δ": r"$\Delta$",
    "…": r"\ldots{}",
}
_TEX_CHARS = re.compile("|".join(map(re.escape, _TEX)))


def tex(text: str) -> str:
    """``text`` in LaTeX: special characters escaped, a minus sign (not a hyphen) before a
    number, ``±`` ``×`` ``→`` … in math mode."""
    text = re.sub(r"(?<![\w.])-(?=\d)", "−", text)
    return _TEX_CHARS.sub(lambda m: _TEX[m.group(0)], text)


def latex_table(rows: Sequence[Sequence[str]], caption: str, align: str = "") -> str:
    """A booktabs ``table``: ``rows[0]`` the header, ``align`` one ``l``/``r`` per column
    (default: the first left, the others right)."""
    align = align or "l" + "r" * (len(rows[0]) - 1)
    body = [" & ".join(tex(c) for c in rows[0]) + r" \\", r"\midrule"]
    body += [" & ".join(tex(c) for c in r) + r" \\" for r in rows[1:]]
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{tex(caption)}}}",
            r"\begin{tabular}{" + align + "}",
            r"\toprule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
        ]
    )


# --- the formats ------------------------------------------------------------------------------


def to_markdown(grids: Sequence[Grid]) -> str:
    blocks = []
    for g in grids:
        table = markdown_table([list(g.header), *map(list, g.rows)], g.aligns)
        blocks.append("\n\n".join([f"**{g.title}**", table, *g.notes]))
    return "\n\n".join(blocks) + "\n"


def to_latex(grids: Sequence[Grid]) -> str:
    tables = [
        latex_table([g.header, *g.rows], "; ".join([g.title, *g.notes]), g.aligns) for g in grids
    ]
    return "\n\n".join(tables) + "\n"


def _plain(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(data: Any) -> str:
    return json.dumps(_plain(data), indent=2, default=str, allow_nan=False) + "\n"


def grid_records(grids: Sequence[Grid]) -> list[dict[str, str]]:
    """The grids' cells as records (a ``table`` column naming the grid when there are several)."""
    many = len(grids) > 1
    return [
        {**({"table": g.title} if many else {}), **dict(zip(g.header, row, strict=True))}
        for g in grids
        for row in g.rows
    ]


def to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """Records as CSV: a header (every key, in first-seen order), then one line each; None is
    an empty field, a list or object its JSON."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, keys, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: _csv_cell(v) for k, v in _plain(r).items()})
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def rich_table(grid: Grid) -> Any:
    """A rich Table of ``grid`` (cells shown as text, never read as markup)."""
    from rich.table import Table
    from rich.text import Text

    caption = Text("\n".join(grid.notes)) if grid.notes else None
    table = Table(title=Text(grid.title), caption=caption)
    for i, (h, a) in enumerate(zip(grid.header, grid.aligns, strict=True)):
        right, wrap = a == "r", i not in grid.no_wrap
        table.add_column(  # a long word (a path) folds onto the next line, never cut short
            Text(h), justify="right" if right else "left", no_wrap=not wrap, overflow="fold"
        )
    for row in grid.rows:
        table.add_row(*map(Text, row))
    return table


def emit(
    fmt: str,
    grids: Sequence[Grid],
    *,
    data: Any = None,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Print the result in ``fmt`` (one of :data:`FORMATS`) on stdout (see the module docstring)."""
    if fmt == "table":
        from corpora.cli import stdout

        for g in grids:
            stdout.print(rich_table(g))
        return
    if fmt == "json":
        text = to_json(data if data is not None else _grids_json(grids))
    elif fmt == "csv":
        text = to_csv(records if records is not None else grid_records(grids))
    elif fmt == "markdown":
        text = to_markdown(grids)
    elif fmt == "latex":
        text = to_latex(grids)
    else:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    sys.stdout.write(text)
    sys.stdout.flush()


def _grids_json(grids: Sequence[Grid]) -> list[dict[str, Any]]:
    return [
        {
            "title": g.title,
            "rows": [dict(zip(g.header, r, strict=True)) for r in g.rows],
            "notes": list(g.notes),
        }
        for g in grids
    ]
