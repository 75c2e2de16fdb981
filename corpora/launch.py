"""The console scripts' entry points: name the missing extra instead of a ``ModuleNotFoundError``.

``make demo`` installs only the light core (no PyTorch). The commands that need an optional extra
check for it here, before their module (which imports the heavy packages) is imported, and say in
one line what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

# command -> (module with ``main``, extra, top-level packages the extra provides)
COMMANDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "promptsim": ("negation.cli_promptsim", "clip", ("torch", "open_clip")),
    "mlrtrain": ("mlr.cli", "clip", ("torch", "open_clip")),
    "paperfigs": ("figures.cli", "figures", ("matplotlib", "seaborn", "pandas")),
}


def missing_extra(command: str) -> str | None:
    """The one-line message when ``command``'s extra is not installed, else ``None``."""
    _, extra, packages = COMMANDS[command]
    absent = [name for name in packages if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (
        f"{command} needs the '{extra}' extra ({', '.join(absent)} not installed): "
        f"pip install 'notclip[{extra}]' (from a checkout: pip install -e '.[{extra}]')"
    )


def _launch(command: str) -> None:
    message = missing_extra(command)
    if message is not None:
        print(f"Error: {message}", file=sys.stderr)
        raise SystemExit(1)
    module = importlib.import_module(COMMANDS[command][0])
    module.main()


def promptsim() -> None:
    _launch("promptsim")


def mlrtrain() -> None:
    _launch("mlrtrain")


def paperfigs() -> None:
    _launch("paperfigs")
