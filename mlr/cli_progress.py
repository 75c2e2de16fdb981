"""mlrtrain's progress on stderr: rich progress bars for a sweep (:class:`SweepProgress`); a run's
(:class:`RichReporter`) and the RANDOM WEIGHTS banner are :mod:`backbone.training`'s."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from backbone.training import RichReporter as RichReporter
from backbone.training import banner as banner
from corpora.cli import stderr as console
from corpora.schema import C
from mlr.sweep import SweepReporter


class SweepProgress(SweepReporter):
    """One live display: a bar over the sweep's runs and one for the current epoch / cache."""

    def __init__(self, total: int, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        )
        self.runs = self.progress.add_task("runs", total=total, info="")
        self.task_id: TaskID | None = None
        self.warned = False

    def random_weights(self, model_info: dict) -> None:
        if not self.warned:  # once, not once per run
            self.warned = True
            banner(model_info)

    def message(self, text: str) -> None: ...  # per-epoch lines would flood a sweep

    def task(self, name: str, total: int) -> None:
        self.progress.start()
        self.task_id = self.progress.add_task(f"  {name}", total=total, info="")

    def advance(self, n: int = 1, **fields) -> None:
        if self.task_id is None:
            return
        if "completed" in fields:
            self.progress.update(self.task_id, completed=fields["completed"])
            return
        info = f"loss {fields['loss']:.4f}  {fields.get('img_s', 0):.0f} img/s" if fields else ""
        self.progress.update(self.task_id, advance=n, info=info)

    def done(self, **fields) -> None:
        if self.task_id is not None:
            self.progress.remove_task(self.task_id)
        self.task_id = None

    def run_start(self, index, total, run, action) -> None:
        self.progress.start()
        verb = {"skip": "skip (complete)", "resume": "resume", "start": "run"}[action]
        self.progress.update(self.runs, info=f"{verb} {run.rel}")

    def run_end(self, index, total, run, row) -> None:
        self.done()  # a run that failed mid-epoch leaves its bar behind
        self.progress.advance(self.runs)
        if row[C.status] in ("failed", "conflict"):
            colour = "red" if row[C.status] == "failed" else "yellow"
            self.progress.console.print(
                f"[{colour}]{row[C.status]}:[/{colour}] {escape(run.rel)}: "
                f"{escape(str(row[C.error]))}",
                soft_wrap=True,
            )
        elif row[C.status] == "complete" and not self.quiet:
            self.progress.console.print(f"{escape(run.rel)}: mAP {row[C.map]:.2f}")
