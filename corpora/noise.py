"""``--quiet`` for the libraries notclip calls: their log lines and progress bars on stderr.

open_clip (and timm) log through the root logger — ``No pretrained weights loaded for model …``
once per model built, which the RANDOM WEIGHTS banner already says —, Hugging Face hub downloads
and transformers' ``Loading weights`` (a sentence-transformers model) draw tqdm bars. A command's
``--quiet`` turns :data:`QUIET` on for the command (:func:`quiet_option`, the dialect's
``QuietOpt`` callback); a model load then runs inside :func:`loaders`, which drops those records
below ERROR and switches the bars and transformers' warnings off, and puts everything back after.
Only around a load: importing transformers just to switch its bars off would cost every command
seconds. Errors are never dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

QUIET = False  # this command's --quiet
PACKAGES = ("open_clip", "timm")  # libraries that log through the root logger


def quiet_option(ctx: Any, value: bool) -> bool:  # noqa: FBT001  (a click callback)
    """``--quiet``'s callback: :data:`QUIET` on for this command, off again when it ends."""
    global QUIET
    if value:
        QUIET = True
        ctx.call_on_close(_off)
    return value


def _off() -> None:
    global QUIET
    QUIET = False


class _LibraryRecords(logging.Filter):
    """Drops the records below ERROR that :data:`PACKAGES` log through the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        parts = set(os.path.normpath(record.pathname).split(os.sep))
        return record.levelno >= logging.ERROR or not parts.intersection(PACKAGES)


@contextmanager
def loaders(*, transformers: bool = False) -> Iterator[None]:
    """Around a model load: under :data:`QUIET`, the libraries' log lines below ERROR and the
    Hugging Face hub bars off (with ``transformers``, its bars and warnings too), restored
    afterwards."""
    if not QUIET:
        yield
        return
    with ExitStack() as stack:
        root, drop = logging.getLogger(), _LibraryRecords()
        root.addFilter(drop)
        stack.callback(root.removeFilter, drop)
        from huggingface_hub.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )

        if not are_progress_bars_disabled():
            disable_progress_bars()
            stack.callback(enable_progress_bars)
        if transformers:
            from transformers.utils import logging as hf_logging

            if hf_logging.is_progress_bar_enabled():
                hf_logging.disable_progress_bar()
                stack.callback(hf_logging.enable_progress_bar)
            stack.callback(hf_logging.set_verbosity, hf_logging.get_verbosity())
            hf_logging.set_verbosity_error()
        yield
