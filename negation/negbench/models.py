"""``promptsim negbench --models-file``: CLIP_benchmark's model list, one result folder per model
identity, and when a finished folder may be reused.

A model's identity is its name and its weights as results record them, its folder
:func:`~backbone.model_list.identity_name` (the model list and the names are
:mod:`backbone.model_list`'s, shared with ``mlrtrain sweep --models-file``). A rerun reuses a
finished folder (status ``skipped``) only when it was made for the same model and weights
(checkpoint files unchanged on disk) with the same options (all but :data:`FREE`); otherwise it
is left as made, status ``conflict`` with the differences named — as ``mlrtrain sweep`` does.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from backbone.identity import file_identity
from backbone.model_list import identity_name, weights_spec
from backbone.model_list import parse_models_file as parse_models_file
from corpora.runio import atomic_write_json, read_json
from corpora.schema import C
from negation.negbench.runner import Progress, RunConfig, run, run_options

FREE = frozenset({"batch_size", "image_batch", "text_cache", "models_file"})  # change no number


def model_dir(out: Path, model: str, pretrained: str) -> Path:
    """The result folder of one model identity under ``out``."""
    return Path(out) / identity_name(model, pretrained)


def is_complete(out: Path) -> bool:
    return (Path(out) / "summary.json").is_file()


def _changed_weights(model_info: dict) -> list[str]:
    """The checkpoint files (of a file or ``local-dir:`` run) whose content changed since."""
    if model_info.get("weights") not in ("file", "local-dir"):
        return []  # a tag's weights are fixed by its name; random ones by the seed
    out = []
    for f in model_info.get("weights_files") or []:
        try:
            same = file_identity(f["path"])["sha256"] == f["sha256"]
        except OSError:
            same = False
        if not same:
            out.append(f"weights file {f['path']} changed or gone since")
    return out


def reuse_problem(
    out: Path, cfg: RunConfig, model: str, pretrained: str, precision: str | None = None
) -> str | None:
    """Why the finished result in ``out`` is not this run's (None: it is): another model or
    weights, other options, or (when ``precision`` is given) another precision."""
    made = read_json(out / "run.json")
    if not isinstance(made, dict) or not isinstance(made.get("config"), dict):
        return f"{out}: run.json missing or unreadable; move it away or use another --out"
    summary = read_json(out / "summary.json") or {}
    wanted = json.loads(json.dumps(run_options(cfg)))  # as run.json holds it
    old = made["config"]
    diff = [
        f"{k} {old.get(k)!r} → {wanted.get(k)!r}"
        for k in sorted(wanted.keys() | old.keys())
        if k not in FREE and old.get(k) != wanted.get(k)
    ]
    spec = weights_spec(pretrained)
    for key, value in ((C.model, model), (C.pretrained, spec)):
        if summary.get(key) != value:
            diff.insert(0, f"{key} {summary.get(key)!r} → {value!r}")
    made_precision = (made.get("model") or {}).get("precision")
    if precision is not None and made_precision != precision:
        diff.append(f"precision {made_precision!r} → {precision!r}")
    diff += _changed_weights(made.get("model") or {})
    if not diff:
        return None
    return (
        f"{out} holds a finished result made with other options ({'; '.join(diff)}); its "
        "numbers are kept as made: move it away or use another --out"
    )


def run_models(
    cfg: RunConfig,
    models: list[tuple[str, str]],
    load: Callable[[str, str], Any],
    progress: Progress,
    report: Callable[[dict], None] = lambda _: None,
    *,
    precision: str | None = None,
) -> list[dict]:
    """One result folder per model identity under ``cfg.out`` (:func:`model_dir`); a finished
    one is reused (``skipped``) when made with this run's options, else left as made
    (``conflict``; ``precision``, what ``load`` builds, is compared too when given); a failing
    model is recorded (``models.json``) and the rest continue. Returns the status rows."""
    status = []
    for model, pretrained in models:
        out = model_dir(cfg.out, model, pretrained)
        row = {C.model: model, C.pretrained: pretrained, "dir": out.name, C.error: None}
        if is_complete(out):
            row[C.error] = reuse_problem(out, cfg, model, pretrained, precision)
            row[C.status] = "skipped" if row[C.error] is None else "conflict"
        else:
            try:
                backbone = load(model, pretrained)
                run(replace(cfg, out=out), backbone, progress)
                row[C.status] = "complete"
            except Exception as err:  # recorded; the other models still run
                row[C.status] = "failed"
                row[C.error] = f"{type(err).__name__}: {err}".splitlines()[0]
                row["traceback"] = traceback.format_exc()
        status.append(row)
        atomic_write_json(Path(cfg.out) / "models.json", status)
        report(row)
    return status
