"""The negation analysis, one subpackage per command: :mod:`negation.negscan` (the streaming
caption scan, its lexicons and result store), :mod:`negation.promptsim` (prompt templates,
prompt-similarity statistics, similarity maps, absence detection) and :mod:`negation.negbench`
(negation benchmarks from multi-label ground truth)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any


def names_of(package: str, module: str) -> Callable[[str], Any]:
    """A package's module ``__getattr__`` that hands out ``module``'s names, importing it on first
    use: ``from negation import negscan; negscan.run(...)`` reaches :mod:`negation.negscan.runner`
    while importing the package (and its CLI, for ``--help``) stays light."""

    def __getattr__(name: str) -> Any:
        if not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is None:
            moved = importlib.import_module(module)
            if hasattr(moved, name):
                return getattr(moved, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
