"""The options of paperfigs' commands (the common ones are the dialect's, :mod:`corpora.cli`):
declarations only, for :mod:`figures.cli`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from corpora import cli

Out = Annotated[Path, cli.out_param("Folder for the figures (created).")]
Dpi = Annotated[
    int, typer.Option("--dpi", min=30, max=1200, help="PNG resolution (PDFs are vector).")
]
NoPaper = Annotated[
    bool, typer.Option("--no-paper", help="Leave out the paper's published numbers.")
]
AllowRandom = Annotated[
    bool,
    typer.Option(
        "--allow-random",
        help="Draw the paper's numbers beside runs on random weights too (as `mlrtrain table "
        "--allow-random`); without it they are left out, and the figure says so.",
    ),
]
Sweeps = Annotated[
    list[Path], typer.Argument(help="Sweep directories (mlrtrain sweep --out).", show_default=False)
]
PromptsimDir = Annotated[Path, typer.Argument(help="A `promptsim --out` directory.")]
NegscanDirs = Annotated[
    list[Path],
    typer.Argument(help="`negscan … --out` directories, one per corpus.", show_default=False),
]
Labels = Annotated[
    list[str] | None,
    typer.Option(
        "--label",
        help="Name of each corpus on the figure, once per directory in order "
        "(default: folder name).",
    ),
]
ALL_HELP = (
    "Draw every figure the results allow and report which were skipped and why.\n\n"
    "Exit status 1 when an input is present but broken (e.g. negscan/ without summary.json) "
    "or when nothing could be drawn; a part that is simply absent is skipped."
)


def top(help: str) -> Any:
    """``--top-k`` with a command's own help."""
    return typer.Option("--top-k", min=1, help=help)


Results = Annotated[
    Path,
    typer.Option(
        "--results",
        "-r",
        help="Results root. Looked for: negscan/ (one dir, or one per corpus), promptsim/, "
        "maps/, absence/, negbench/ (one dir or several), sweeps/<dataset>/ (results.parquet "
        "or fit run dirs).",
    ),
]
AllQuiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only skips and failures.")]
MapsDir = Annotated[Path, typer.Argument(help="A `promptsim maps --out` directory.")]
MaxClasses = Annotated[int, typer.Option("--max-classes", min=1, help="Rows (classes) per image.")]


class Render(StrEnum):
    bicubic = "bicubic"  # smooth
    nearest = "nearest"  # one block per feature-grid cell


RenderOpt = Annotated[
    Render,
    typer.Option(
        "--render", help="Maps drawn smooth (bicubic) or one block per feature-grid cell (nearest)."
    ),
]
AbsenceDir = Annotated[Path, typer.Argument(help="A `promptsim absence --out` directory.")]
NegbenchDirs = Annotated[
    list[Path],
    typer.Argument(help="`promptsim negbench --out` dirs (or a --models-file output dir)."),
]
NegscanOf = Annotated[
    list[str] | None,
    typer.Option("--negscan", help="NAME=DIR: negscan results of the corpus of weights tag NAME."),
]
NegbenchFor = Annotated[
    list[Path],
    typer.Option(
        "--negbench",
        help="`promptsim negbench --out` dirs (or --models-file output dirs) of the sweeps' "
        "backbones, matched by model and weights; repeatable.",
        show_default=False,
    ),
]
AllowRandomPoints = Annotated[
    bool,
    typer.Option(
        "--allow-random",
        help="Draw backbones with random weights too (flagged RANDOM WEIGHTS; their numbers say "
        "nothing about CLIP); without it they are left out, and the figure says so.",
    ),
]
AllowRandomAll = Annotated[
    bool,
    typer.Option(
        "--allow-random",
        help="Every figure's own --allow-random: the paper's numbers beside runs on random "
        "weights, and backbones with random weights on the negation-gap figure. Without it they "
        "are left out, and each figure says so.",
    ),
]
