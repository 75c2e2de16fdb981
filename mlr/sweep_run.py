"""One run of a sweep (:class:`SweepRun`): training it (:func:`train_run`, in its staging directory
when the sweep is kept at a URL) and its row of ``results.parquet``, also read back from a
finished run (:func:`_finished_row`, a ``conflict`` when made with other options). The sweep
(:mod:`mlr.sweep`) and its Ray tasks (:mod:`mlr.distributed`) both run runs through here."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from backbone.training import Reporter
from corpora import schema as S
from corpora.locks import writing
from corpora.schema import C
from mlr.config import FitConfig
from mlr.sweep_io import at, download, read_json, upload
from mlr.train import fit


@dataclass(frozen=True)
class SweepRun:
    """One planned run: its ``fit`` configuration and its directory relative to the sweep;
    ``url``: where its files are kept when the sweep's ``out`` is a URL (``config.out`` is then
    its local staging directory)."""

    method: str
    partial: float
    seed: int
    rel: str
    config: FitConfig
    url: str | None = None

    @property
    def home(self) -> Path | str:
        """Where the run's files are kept: its URL, or its local directory."""
        return self.url or Path(self.config.out).expanduser()


class SweepReporter(Reporter):
    """Reporter hooks for a sweep: the per-run ``fit`` hooks plus one call per run."""

    def run_start(self, index: int, total: int, run: SweepRun, action: str) -> None:
        """``action``: ``start``, ``resume`` or ``skip``."""

    def run_end(self, index: int, total: int, run: SweepRun, row: dict) -> None: ...


def _row(run: SweepRun, status: str, metrics: dict | None, error: str | None) -> dict:
    m = metrics or {}
    # metrics.json names the run's numbers and backbone as the results columns
    row = {c: m.get(c) for c in S.SWEEP_RESULTS} | {
        C.dataset: run.config.dataset,
        C.model: run.config.model,
        C.pretrained: run.config.pretrained,
        C.image_size: m.get(C.image_size, run.config.image_size),
        # known before the run loads anything: a failed run's row names them too
        C.preprocess: m.get(C.preprocess, run.config.preprocess),
        C.augmentation: m.get(C.augmentation, run.config.augmentation()),
        C.method: run.method,
        C.partial: run.partial,
        C.seed: run.seed,
        C.status: status,
        C.error: error,
        C.run_dir: run.rel,
    }
    if status == "failed":  # a failed run has no number, whatever an earlier attempt left
        row |= {C.map: None, C.map_selected: None, C.map_last: None}
    return row


def _made_with(run_dir: Path | str) -> FitConfig | None:
    """The configuration a finished run was made with (its ``run.json``); None: unreadable."""
    info = read_json(at(run_dir, "run.json"))
    if info is None or "config" not in info:
        return None
    return FitConfig.from_dict(info["config"])


def _finished_row(run: SweepRun, run_dir: Path | str) -> dict:
    """The row of a complete run: ``skipped``; ``conflict`` when made with other options (the row
    describes the run as made — its backbone, its numbers — and ``error`` names the differing
    options); ``failed`` when what it was made with is unknown (no readable ``run.json``)."""
    metrics = read_json(at(run_dir, "metrics.json"))
    old = _made_with(run_dir)
    if old is None:
        error = (
            f"{run_dir}: run.json missing or unreadable; move it away or sweep into another --out"
        )
        return _row(run, "failed", metrics, error)
    diff = [
        f"{name} {getattr(old, name)!r} → {getattr(run.config, name)!r}"
        for name in run.config.differences(old)
    ]
    if not diff:
        return _row(run, "skipped", metrics, None)
    error = (
        f"{run_dir} holds a finished run made with other options ({'; '.join(diff)}); its "
        "numbers are kept as made: move it away or sweep into another --out"
    )
    if any(d.split()[0] in ("model", "pretrained", "image_size") for d in diff):
        error += " (or put {backbone} in --template: one directory per backbone)"
    return _row(replace(run, config=replace(old, out=run.config.out)), "conflict", metrics, error)


def train_run(run: SweepRun, state: str, reporter: Reporter | None = None) -> dict:
    """Train (``state`` ``new``) or resume (``partial``) one run where this process runs:
    ``{"metrics", "error"}``, a failure as ``error`` (the exception's type and message). A run
    kept at a URL trains in its staging directory, first made a copy of the URL's, and is uploaded
    after every epoch's checkpoint and at the end (the staging copy is then removed)."""
    run_dir = Path(run.config.out).expanduser()

    def sync(*_) -> None:
        if run.url is not None:
            upload(run_dir, run.url)

    try:
        if run.url is not None:
            download(run.url, run_dir)
        cfg = replace(run.config, resume=state == "partial")
        with writing(run_dir, "mlrtrain fit"):  # one process trains a run at a time
            result = fit(cfg, reporter=reporter, on_epoch_end=sync if run.url else None)
        if run.url is not None:
            sync()
            shutil.rmtree(run_dir)  # the URL holds the run now
        return {"metrics": result.metrics, "error": None}
    except Exception as exc:  # any failure of one run must not stop the sweep
        return {
            "metrics": read_json(run_dir / "metrics.json"),
            "error": f"{type(exc).__name__}: {exc}",
        }
