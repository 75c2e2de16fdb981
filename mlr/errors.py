"""mlrtrain's own errors, free of PyTorch: the CLI's error policy
(:func:`mlr.cli_options.run_errors`) names them before anything heavy is imported, so that missing
weights are said first."""

from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or the weights exploded; the last good checkpoint is
    kept."""
