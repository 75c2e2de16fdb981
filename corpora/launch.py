"""The console scripts' entry points: name the missing extra instead of a ``ModuleNotFoundError``.

``make demo`` installs only the light core (no PyTorch). The commands that need an optional extra
check for it here, before their module (which imports the heavy packages) is imported, and say in
one line what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Annotated

import typer

# command -> (module with ``main``, extra, top-level packages the extra provides)
COMMANDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "promptsim": ("negation.promptsim.cli", "clip", ("torch", "open_clip")),
    "mlrtrain": ("mlr.cli", "clip", ("torch", "open_clip")),
    "paperfigs": ("figures.cli", "figures", ("matplotlib", "seaborn", "pandas")),
    "negtune": ("negation.negtune.cli", "clip", ("torch", "open_clip")),
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


def version_line() -> str:
    """``notclip X.Y.Z``, from the installed package's metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"notclip {version('notclip')}"
    except PackageNotFoundError:
        return "notclip (version unknown: the package is not installed)"


def _print_version(value: bool) -> None:
    if value:
        print(version_line())
        raise typer.Exit()


# ``--version``: print :func:`version_line` and exit, before anything else runs (fast: nothing
# heavy is imported); a one-command program (negtune) takes it as an option of its command
VersionOpt = Annotated[
    bool,
    typer.Option(
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the notclip version and exit.",
    ),
]


def add_version_option(app: typer.Typer) -> None:
    """``COMMAND --version`` (:data:`VersionOpt`) on an app of subcommands."""

    @app.callback()
    def _root(version: VersionOpt = False) -> None:
        pass


def _launch(command: str) -> None:
    if sys.argv[1:] == ["--version"]:  # also without the command's extra installed
        print(version_line())
        return
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


def negtune() -> None:
    _launch("negtune")
