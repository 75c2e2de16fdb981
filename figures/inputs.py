"""Reading result files for figures, with errors that name the missing file and the command that
makes it. Figures never recompute anything: they read only what the commands wrote
(``docs/RESULTS.md``).

Also what a figure must say about its inputs: the model behind them (:func:`read_models`, for the
RANDOM WEIGHTS banner) and the rows it could not draw (:func:`drop_undrawable`); such notes go on
the figure and, through :func:`collect_notes`, to the command's output."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from corpora.labels import model_label, run_model
from corpora.schema import C

# The command that writes each kind of result directory.
MAKERS = {
    "negscan": "negscan laion SHARDS… --out DIR",
    "promptsim": "promptsim --classes coco --out DIR",
    "maps": "promptsim maps IMAGE… --classes … --out DIR",
    "absence": "promptsim absence --dataset voc --root DATA --out DIR",
    "sweep": "mlrtrain sweep … --out DIR",
    "negbench": "promptsim negbench --dataset voc --root DATA --out DIR",
}


class MissingInput(FileNotFoundError):
    """A result file a figure needs is absent or lacks a column it needs."""


class EmptyInput(ValueError):
    """A result file exists but holds nothing to draw."""


def require(path: Path, kind: str) -> Path:
    """``path`` if it is a file, else :class:`MissingInput` naming it and the command to run."""
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"{path} not found — run `{MAKERS[kind]}` first")
    return path


def read_json(path: Path, kind: str, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    data = json.loads(require(path, kind).read_text("utf-8"))
    missing = [k for k in keys if k not in data]
    if missing:
        raise MissingInput(f"{path}: missing key(s) {missing} — rerun `{MAKERS[kind]}`")
    return data


def read_table(
    path: Path, kind: str, columns: tuple[str, ...], optional: tuple[str, ...] = ()
) -> pl.DataFrame:
    """The listed columns of a Parquet result file; a missing column is an error, never zeros.
    ``optional`` columns are read when the file has them (older results may lack them)."""
    require(path, kind)
    have = list(pl.read_parquet_schema(path))
    missing = [c for c in columns if c not in have]
    if missing:
        raise MissingInput(
            f"{path}: missing column(s) {missing} (it has {have}) — rerun `{MAKERS[kind]}`"
        )
    return pl.read_parquet(path, columns=[*columns, *(c for c in optional if c in have)])


# ---- the model behind a result --------------------------------------------------------------

CONTROL = "sentence-transformers"  # the text-only control backend: never beside CLIP's numbers


@dataclass(frozen=True)
class Model:
    """The model a result directory was computed with (``run.json``'s ``model`` section)."""

    name: str
    pretrained: str
    random_weights: bool

    @property
    def label(self) -> str:
        return model_label(self.name, self.pretrained)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable ({exc})") from None


def read_models(result_dir: Path) -> list[Model]:
    """The model of a result directory: ``run.json``'s ``model`` section, else ``summary.json``'s
    ``model``/``pretrained``/``random_weights``; ``[]`` when neither names one."""
    d = Path(result_dir)
    run, summary = d / "run.json", d / "summary.json"
    if run.is_file() and isinstance(m := _load_json(run).get("model"), dict):
        return [Model(run_model(m), str(m.get(C.pretrained)), bool(m.get(C.random_weights)))]
    if summary.is_file() and "model" in (s := _load_json(summary)):
        return [Model(str(s[C.model]), str(s.get(C.pretrained)), bool(s.get(C.random_weights)))]
    return []


def random_weights_banner(models: Sequence[Model]) -> str | None:
    """``RANDOM WEIGHTS — RN101 / none`` when any input model had random weights, else ``None``."""
    labels = list(dict.fromkeys(m.label for m in models if m.random_weights))
    if not labels:
        return None
    return f"RANDOM WEIGHTS — {', '.join(labels)} (the numbers mean nothing)"


# ---- what a figure leaves out -----------------------------------------------------------------

_NOTES: ContextVar[list[str] | None] = ContextVar("figure_notes", default=None)


@contextlib.contextmanager
def collect_notes() -> Iterator[list[str]]:
    """Collect the notes figures drawn inside the block report (rows left out, references
    omitted), for the command's output."""
    notes: list[str] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def note(message: str) -> None:
    """Report a note to the enclosing :func:`collect_notes`, if any (the figure shows it too)."""
    notes = _NOTES.get()
    if notes is not None:
        notes.append(message)


def drop_undrawable(
    df: pl.DataFrame, columns: Sequence[str], what: str, by: Sequence[str] = ()
) -> tuple[pl.DataFrame, list[str]]:
    """The rows whose ``columns`` all hold a number, and a note when some did not: how many, which
    (grouped ``by``) and why (a ``note`` column, when present, adds its reasons)."""

    def missing(c: str) -> pl.Expr:
        if df.schema[c].is_float():
            return pl.col(c).is_null() | pl.col(c).is_nan()
        return pl.col(c).is_null()

    bad = pl.any_horizontal([missing(c) for c in columns])
    dropped = df.filter(bad)
    if dropped.is_empty():
        return df, []
    reason = f"{' or '.join(columns)} null/NaN"
    if C.note in dropped.columns:
        reason = "; ".join([reason, *dropped[C.note].drop_nulls().unique(maintain_order=True)])
    return df.filter(~bad), [left_out(dropped, df.height, what, reason, by)]


def left_out(
    dropped: pl.DataFrame, total: int, what: str, reason: str, by: Sequence[str] = ()
) -> str:
    """``3 of 12 runs not drawn [baseline 0.1 ×2, …]: why`` — the groups (``by``) named."""
    groups = ""
    if by:
        counts = dropped.group_by(list(by), maintain_order=True).len().rows()
        shown = [" ".join(str(v) for v in row[:-1]) + f" ×{row[-1]}" for row in counts[:6]]
        groups = f" [{', '.join(shown)}{', …' if len(counts) > 6 else ''}]"
    return f"{dropped.height} of {total} {what} not drawn{groups}: {reason}"
