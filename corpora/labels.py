"""How printed text names things, the same in every command, table, title and figure.

- A model is named as ``--model`` gave it (``RN101``, ``toy/model.json``, ``st:all-MiniLM-L6-v2``),
  with its weights: :func:`model_label` ``toy/model.json / none``. A model config file's open_clip
  name (``model-44f385d6``, the file's stem and content hash) stays in ``run.json`` (``model.name``)
  and is never shown: :func:`run_model` reads the name as given from a ``run.json`` model section.
- Epochs are counted from 1 for a reader: :func:`epoch_label` ``3/4`` is the last of four epochs.
  Stored fields (``history[].epoch``, ``best_epoch``, ``last_epoch``, checkpoints' ``epoch``)
  count from 0.

Imports nothing heavy: figures, tables and ``--help`` use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEP = " / "  # between a model and its weights


def model_label(model: object, pretrained: object) -> str:
    """``toy/model.json / none``: a model as ``--model`` named it, and its weights."""
    return f"{model}{SEP}{pretrained}"


def model_label_column(model: Any, pretrained: Any) -> Any:
    """:func:`model_label` of two Polars expressions (a result file's columns)."""
    import polars as pl

    return pl.concat_str([model, pretrained], separator=SEP)


def run_model(section: Mapping[str, Any]) -> str:
    """The model of a ``run.json`` ``model`` section as ``--model`` named it (its ``config``);
    files without that config (earlier versions) give their open_clip ``name``."""
    config = section.get("config")
    given = config.get("model") if isinstance(config, Mapping) else None
    return str(given or section.get("name"))


def epoch_label(epoch: int, epochs: int) -> str:
    """``epoch`` (counted from 0, as stored) of ``epochs`` for a reader: ``0, 4`` → ``1/4``."""
    return f"{epoch + 1}/{epochs}"
