"""What the four command-line programs share: their dialect.

- one app factory (:func:`make_app`: ``--version``, no shell completion, no pretty tracebacks);
- the common options, declared once as ``Annotated`` aliases (``model: ModelOpt = "RN101"``);
  defaults stay at the call site;
- one ``--format`` vocabulary (:data:`corpora.formats.FORMATS`), each command offering the
  formats that make sense for it and listing exactly those (:func:`format_param`);
- hidden aliases: old option spellings still accepted, shown nowhere (:func:`hidden_aliases`);
- one console convention: results to :data:`stdout`, progress and messages to :data:`stderr`;
- one error policy (:func:`input_errors`): bad usage → exit 2 (click's), bad input → one red
  line on stderr and exit 1, Ctrl-C → exit 130, anything else → its traceback.

Library code never imports this module; only the thin CLI modules do. Nothing heavy (torch,
open_clip, polars) is imported here, so that ``--help`` is fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

from corpora.launch import add_version_option
from corpora.noise import quiet_option
from corpora.runio import SEED_MAX

# no emoji codes: a path or caption holding ":dog:" is printed as typed
stdout = Console(emoji=False)  # results
stderr = Console(stderr=True, emoji=False)  # progress, messages, warnings, banners


def make_app(name: str, help: str, **kwargs: Any) -> typer.Typer:
    """A command's typer app: ``--version``, no completion, tracebacks printed plainly."""
    kwargs.setdefault("no_args_is_help", True)
    app = typer.Typer(
        name=name, help=help, add_completion=False, pretty_exceptions_enable=False, **kwargs
    )
    add_version_option(app)
    return app


# --- options --------------------------------------------------------------------------------


def check_out(out: Path | None) -> None:
    """``--out`` must be a directory or not exist yet: a usage error (exit 2) naming the file in
    the way, checked before any costly work. A URL (``s3://b/d``, which a path would silently
    turn into the local folder ``s3:/b/d``) is refused: it is never made a local path."""
    if out is None:
        return
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]+:", out.parts[0] if out.parts else ""):
        url = out.parts[0] + "//" + "/".join(out.parts[1:])
        raise typer.BadParameter(
            f"{url} is a URL; this command writes a local directory", param_hint="--out"
        )
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise typer.BadParameter(
                    f"{p} is an existing file, not a directory", param_hint="--out"
                )
            return


def _out_callback(value: Path | None) -> Path | None:
    check_out(value)
    return value


ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="open_clip model name (RN101, ViT-B-32, …), an open_clip model config FILE (.json) "
        "or folder, a Hugging Face CLIP folder (its config.json's architecture), or "
        "st:NAME_OR_DIR for a sentence-transformers text encoder (text only, a control; "
        "st:all-MiniLM-L6-v2 is bundled).",
    ),
]
PretrainedOpt = Annotated[
    str,
    typer.Option(
        "--pretrained",
        help="Weights: a tag of the model (openai, laion400m_e32, …), a checkpoint FILE, "
        "local-dir:PATH, hf:DIR (a Hugging Face transformers CLIP folder), or none (random "
        "weights — numbers then mean nothing).",
    ),
]
CacheDirOpt = Annotated[
    str | None, typer.Option("--cache-dir", help="Where model weights are cached.")
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Never download: use cached weights or fail clearly.")
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (CUDA when available) | cpu | cuda.")
]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="fp32 | bf16 | fp16.")]


def out_param(help: str) -> Any:
    """The ``--out`` option with a command's own help: ``Annotated[Path | None, out_param(…)]``
    (always a directory, checked as :data:`OutOpt`)."""
    return typer.Option("--out", help=help, callback=_out_callback)


OutOpt = Annotated[
    Path | None, out_param("Result directory (created; an existing file there is an error).")
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress bars and no messages on stderr, the libraries' log lines and loading "
        "bars included (warnings and errors remain); the result on stdout is unchanged.",
        callback=quiet_option,  # (corpora.noise)
    ),
]


def seed_param(seeds: str) -> Any:
    """The ``--seed`` option, its help saying what it ``seeds`` in this command:
    ``Annotated[int, seed_param("the random init (--pretrained none)")]``."""
    return typer.Option(
        "--seed",
        min=0,
        max=SEED_MAX,  # (corpora.runio)
        help=f"Random seed, 0 to 2**64 - 1: seeds {seeds}.",
    )


ClassesOpt = Annotated[
    str,
    typer.Option(
        "--classes", help="Class names: coco | voc | nuswide | FILE | 'cat,dog,…' | one NAME."
    ),
]
DataClassesOpt = Annotated[
    str | None,
    typer.Option(
        "--classes", help="Class list of generic / hf datasets: coco | voc | FILE | 'a,b'."
    ),
]

FORMAT_ALIASES = {"rich": "table"}  # older spellings, still accepted


def format_param(formats: Sequence[str]) -> Any:
    """The ``--format`` option of a command that offers ``formats`` (of
    :data:`corpora.formats.FORMATS`): ``Annotated[str, format_param(("table", "json"))]``. Its
    help lists exactly those; another value is a usage error listing them (:func:`check_format`,
    an older spelling mapped)."""
    return typer.Option(
        "--format",
        help=f"What stdout gets: {' | '.join(formats)}.",
        callback=lambda value: check_format(value, formats),
    )


def check_format(value: str, allowed: Sequence[str]) -> str:
    """``value`` of ``--format`` (an older spelling mapped), or a usage error (exit 2) listing
    the formats this command offers."""
    value = FORMAT_ALIASES.get(value, value)
    if value not in allowed:
        raise typer.BadParameter(
            f"{value!r} is not offered here; use one of {', '.join(allowed)}", param_hint="--format"
        )
    return value


def hidden_aliases(aliases: Mapping[str, str | tuple[str, ...]]) -> type[TyperCommand]:
    """A command class that accepts older spellings, shown nowhere in ``--help``:
    ``@app.command(cls=hidden_aliases({"--top": "--top-k", "--json": ("--format", "json")}))``.

    A string value renames the option (``--top=5`` works too); a tuple replaces a flag by
    these arguments."""

    class AliasedCommand(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            return super().parse_args(ctx, _rewrite(args, aliases))

    return AliasedCommand


def _rewrite(args: list[str], aliases: Mapping[str, str | tuple[str, ...]]) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name, eq, value = arg.partition("=")
        new = aliases.get(name) if name.startswith("-") else None
        if new is None:
            out.append(arg)
        elif isinstance(new, str):
            out.append(new + eq + value)
        else:
            out.extend(new)
    return out


@contextmanager
def stage_bars(
    quiet: bool, *, restart: bool = False
) -> Iterator[Callable[[str, int, int | None], None]]:
    """A runner's progress callback ``progress(stage, advance, total)``, drawn on stderr as one
    transient bar per stage (``quiet``: none); ``restart``: a stage given a total again starts a
    new bar (e.g. for the next model)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    progress = Progress(
        *columns, TimeElapsedColumn(), console=stderr, disable=quiet, transient=True
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, advance: int, total: int | None) -> None:
        if stage not in tasks or (restart and total is not None):
            if stage in tasks:
                progress.remove_task(tasks[stage])
            tasks[stage] = progress.add_task(stage, total=total)
        elif total is not None:
            progress.update(tasks[stage], total=total)
        if advance:
            progress.advance(tasks[stage], advance)

    with progress:
        yield update


# --- errors ---------------------------------------------------------------------------------


def input_error_types() -> tuple[type[BaseException], ...]:
    """What counts as bad input: ``ValueError``, ``OSError`` and the corpus readers' shard
    errors (imported here, when needed: they import polars). Not ``RuntimeError``: a CUDA
    out-of-memory keeps its traceback; a library's known condition that subclasses it is
    registered per command (:func:`input_errors`)."""
    from corpora.captions import ShardError

    return (ValueError, OSError, ShardError)


def error(message: str) -> None:
    """One red line on stderr: ``error: message``."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _flag(option: str) -> str:
    return option if option.startswith("-") else "--" + option.replace("_", "-")


@contextmanager
def input_errors(
    *extra: type[BaseException],
    hints: Mapping[type[BaseException], str] | None = None,
    usage: Sequence[type[BaseException]] = (),
) -> Iterator[None]:
    """The error policy around a command's body.

    Bad input (:func:`input_error_types`, the ``extra`` types and the keys of ``hints``) → one
    red line on stderr and exit 1; ``hints`` maps a library error type to the flag to name
    (``hints={MissingWeightsError: "--pretrained"}`` → ``error: weights … not found
    (--pretrained)``): library errors name the problem, the command names the flag.
    ``usage`` types (errors of one option, with an ``option`` attribute naming it) → a usage
    error naming that option, exit 2. Ctrl-C → ``interrupted`` and exit 130. Anything else
    propagates with its traceback."""
    hints = dict(hints or {})
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors, exits
        raise
    except KeyboardInterrupt:
        stderr.print("[yellow]interrupted[/]", highlight=False)
        raise typer.Exit(130) from None
    except Exception as exc:
        if usage and isinstance(exc, tuple(usage)):
            option = getattr(exc, "option", None)
            raise typer.BadParameter(
                str(exc), param_hint=_flag(option) if option else None
            ) from None
        hint = next((hints[t] for t in type(exc).__mro__ if t in hints), None)
        if hint is None and not isinstance(exc, (*input_error_types(), *extra)):
            raise
        error(f"{exc} ({hint})" if hint else str(exc))
        raise typer.Exit(1) from None
