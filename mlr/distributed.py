"""``mlrtrain sweep --engine ray``: every unfinished (backbone, method, p, seed) run as one task.

The driver decides, as a serial sweep does, which runs are complete (skipped, their numbers read
back), then has each backbone's feature cache built by one task (never two at once), then
submits one task per remaining run and alone writes ``results.parquet``, one row as each run
returns. A task finds its run's state itself, so a task retried after its worker died resumes
from the run's last checkpoint. Tasks run in the driver's working directory (when the node has
it), so relative ``--root`` / ``--out`` / ``--feature-cache`` mean what they mean to the driver.
A run kept at a URL is staged and uploaded by its task, on the task's node
(:func:`mlr.sweep.train_run`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from corpora.executors import Resources
from mlr.config import FitConfig
from mlr.inputs import Reporter, feature_sources, load_backbone_for, load_splits
from mlr.sweep_io import merge_results, run_state, write_results
from mlr.sweep_run import SweepReporter, SweepRun, _finished_row, _row, train_run


def _cwd(path: str):
    return contextlib.chdir(path) if os.path.isdir(path) else contextlib.nullcontext()


def fit_task(item: tuple[SweepRun, str]) -> dict:
    """One run where the task runs, in the driver's directory ``item[1]`` (resumed when a
    checkpoint is there); a failure comes back as ``error`` (the serial sweep's wording)."""
    run, cwd = item
    with _cwd(cwd):
        return train_run(run, run_state(run.home))


def features_task(item: tuple[FitConfig, str]) -> None:
    """Build (or complete) the feature cache entries of a run's config."""
    cfg, cwd = item
    with _cwd(cwd):
        train, test = load_splits(cfg)
        feature_sources(cfg, load_backbone_for(cfg), train, test, Reporter())


def default_gpus(executor) -> float:
    """One GPU per run when the cluster has GPUs, else none."""
    return 1.0 if executor.ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def run_in_parallel(
    runs: list[SweepRun],
    path: Path | str,
    executor,
    reporter: SweepReporter,
    resources: Resources,
) -> list[dict]:
    """The rows of ``runs`` in plan order, the unfinished ones trained as tasks; ``path``
    (``results.parquet``) is rewritten by this process after every run."""
    rows: dict[int, dict] = {}
    todo: list[tuple[int, SweepRun]] = []

    def record(i: int, run: SweepRun, row: dict) -> None:
        rows[i] = row
        write_results(path, merge_results(path, [row]))
        reporter.run_end(i, len(runs), run, row)

    for i, run in enumerate(runs):
        state = run_state(run.home)
        action = {"complete": "skip", "partial": "resume", "new": "start"}[state]
        reporter.run_start(i, len(runs), run, action)
        if state == "complete":
            record(i, run, _finished_row(run, run.home))
        else:
            todo.append((i, run))
    # the cache of each backbone's first run, plus other seeds' augmented views
    builds: dict[tuple, FitConfig] = {}
    for c in (run.config for _, run in todo):
        if c.cache:
            builds.setdefault((c.model, c.pretrained, c.seed if c.aug_views else None), c)
    for c in builds.values():  # one at a time: never two builds of one cache entry at once
        list(executor.map(features_task, [(c, os.getcwd())], resources))
    items = [(run, os.getcwd()) for _, run in todo]
    for j, result in executor.map(fit_task, items, resources):
        i, run = todo[j]
        status = "complete" if result["error"] is None else "failed"
        record(i, run, _row(run, status, result["metrics"], result["error"]))
    return [rows[i] for i in sorted(rows)]
