"""Moved: the backbone is the top-level package :mod:`backbone` (``from backbone import
BackboneConfig, load_backbone``). This alias warns and goes in the next release."""

from __future__ import annotations

import warnings
from typing import Any

import backbone


def __getattr__(name: str) -> Any:
    warnings.warn(
        "mlr.backbone moved to backbone (`from backbone import ...`); "
        "the old path goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(backbone, name)
