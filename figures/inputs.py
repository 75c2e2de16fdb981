"""Reading result files for figures, with errors that name the missing file and the command that
makes it. Figures never recompute anything: they read only what the commands wrote
(``docs/RESULTS.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

# The command that writes each kind of result directory.
MAKERS = {
    "negscan": "negscan laion SHARDS… --out DIR",
    "promptsim": "promptsim --classes coco --out DIR",
    "maps": "promptsim maps IMAGE… --classes … --out DIR",
    "absence": "promptsim absence --dataset voc --root DATA --out DIR",
    "sweep": "mlrtrain sweep … --out DIR",
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


def read_table(path: Path, kind: str, columns: tuple[str, ...]) -> pl.DataFrame:
    """The listed columns of a Parquet result file; a missing column is an error, never zeros."""
    require(path, kind)
    have = list(pl.read_parquet_schema(path))
    missing = [c for c in columns if c not in have]
    if missing:
        raise MissingInput(
            f"{path}: missing column(s) {missing} (it has {have}) — rerun `{MAKERS[kind]}`"
        )
    return pl.read_parquet(path, columns=list(columns))
