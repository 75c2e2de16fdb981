"""What every training loop on the backbone shares (mlrtrain's and negtune's), free of PyTorch so
that a command's error policy names these before anything heavy is imported: the progress hooks
(:class:`Reporter`; :class:`RichReporter` draws them on stderr), the divergence guard's limit and
its error (:class:`TrainingDiverged`), and the RANDOM WEIGHTS banner of a run."""

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

from corpora.cli import stderr as console

# The divergence guard: a non-finite loss, or trainable weights whose L2 norm after a step is not
# finite or above DIVERGED_NORM_RATIO × max(1, their norm at initialisation), stops the run.
# Healthy runs stay within a few × their initial norm; an exploding LR reaches 1e29 without a NaN.
DIVERGED_NORM_RATIO = 1e6


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or the weights exploded; the last good checkpoint is
    kept."""


class Reporter:
    """Progress hooks (no-ops); the CLI subclasses this with rich progress bars."""

    def message(self, text: str) -> None: ...
    def task(self, name: str, total: int) -> None: ...
    def advance(self, n: int = 1, **fields) -> None: ...
    def done(self, **fields) -> None: ...
    def random_weights(self, model_info: dict) -> None:
        """Called once a run's backbone turns out to have random weights (``model_info`` is
        :meth:`backbone.model.Backbone.info`)."""


class RichReporter(Reporter):
    """One progress bar per epoch (loss per image, images/s) and per cache build."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress: Progress | None = None
        self.task_id: TaskID | None = None

    def message(self, text: str) -> None:
        if not self.quiet:
            console.print(escape(text), soft_wrap=True)

    def task(self, name: str, total: int) -> None:
        self.done()
        training = name.startswith("epoch")
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if training:
            columns += [
                TextColumn("loss/img {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[img_s]:.0f} img/s"),
            ]
        columns.append(TimeElapsedColumn())
        self.progress = Progress(*columns, console=console, disable=self.quiet)
        self.progress.start()
        self.task_id = self.progress.add_task(name, total=total, loss=float("nan"), img_s=0.0)

    def advance(self, n: int = 1, **fields) -> None:
        if self.progress is None or self.task_id is None:
            return
        if "completed" in fields:
            self.progress.update(self.task_id, completed=fields.pop("completed"))
        else:
            self.progress.update(self.task_id, advance=n, **fields)

    def done(self, **fields) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.progress, self.task_id = None, None

    def random_weights(self, model_info: dict) -> None:
        banner(model_info)


def banner(model_info: dict) -> None:
    """The RANDOM WEIGHTS banner on stderr (also with --quiet); nothing for trained weights."""
    from backbone import random_weights_banner

    text = random_weights_banner(model_info)
    if text:
        console.print(text, highlight=False)
