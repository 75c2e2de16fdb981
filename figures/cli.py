"""``paperfigs``: the paper's figures (PNG + PDF) from saved result files — a thin typer layer over
:mod:`figures.gallery` and the figure modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from corpora.cli import check_out
from corpora.launch import add_version_option
from figures.absence import absence_scatter
from figures.gallery import Outcome, draw_all
from figures.inputs import EmptyInput, MissingInput, collect_notes
from figures.maps import similarity_grids
from figures.negbench import negbench_command
from figures.negscan import class_negations, top_bigrams, word_counts
from figures.prompts import cosine_distributions, cosine_scatter
from figures.sweeps import map_vs_partial, params_vs_compute

app = typer.Typer(
    name="paperfigs",
    help=(
        "Draw the paper's figures (PNG + PDF, fonts embedded) from result files written by "
        "negscan, promptsim and mlrtrain. Figures only read result files; nothing is recomputed."
    ),
    no_args_is_help=True,
    add_completion=False,
)
add_version_option(app)
console = Console()
err = Console(stderr=True)

OUT = typer.Option(Path("figs"), "--out", "-o", help="Folder for the figures (created).")
DPI = typer.Option(200, "--dpi", min=30, max=1200, help="PNG resolution (PDFs are vector).")
NO_PAPER = typer.Option(False, "--no-paper", help="Leave out the paper's published numbers.")


def _notes(notes: list[str], figure: str = "") -> None:
    for n in notes:
        where = f"{figure}: " if figure else ""
        console.print(
            f"[yellow]note:[/yellow] {escape(where + n)}", highlight=False, soft_wrap=True
        )


def _draw(draw: Callable[[], list[Path]], out: Path) -> None:
    """Run one figure function; a missing or empty input is one red line and exit status 1. What
    the figure left out (rows without a number, the poster's reference) is printed as notes."""
    check_out(out)
    try:
        with collect_notes() as notes:
            paths = draw()
    except (MissingInput, EmptyInput, FileNotFoundError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for p in paths:
        console.print(str(p), highlight=False, soft_wrap=True)
    _notes(notes)


ALL_HELP = (
    "Draw every figure the results allow and report which were skipped and why.\n\n"
    "Exit status 1 when an input is present but broken (e.g. negscan/ without summary.json) "
    "or when nothing could be drawn; a part that is simply absent is skipped."
)


@app.command("all", help=ALL_HELP)
def all_figures(
    results: Path = typer.Option(
        ...,
        "--results",
        "-r",
        help=(
            "Results root. Looked for: negscan/ (one dir, or one per corpus), promptsim/, maps/, "
            "absence/ (one dir or several), sweeps/<dataset>/ (results.parquet or fit run dirs)."
        ),
    ),
    out: Path = OUT,
    dpi: int = DPI,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only skips and failures."),
) -> None:
    if not results.is_dir():
        raise typer.BadParameter(f"{results}: no such directory", param_hint="--results")
    check_out(out)
    with console.status("drawing…", spinner="dots") as status:
        outcomes = draw_all(
            results, out, dpi=dpi, on_figure=None if quiet else lambda n: status.update(n)
        )
    _report(outcomes, quiet)
    drawn = [o for o in outcomes if o.status == "drawn"]
    if not drawn or any(o.status == "failed" for o in outcomes):
        if not drawn:
            err.print(f"[red]error:[/red] no figure could be drawn from {results}", highlight=False)
        raise typer.Exit(1)


def _report(outcomes: list[Outcome], quiet: bool) -> None:
    table = Table(title="paperfigs", show_lines=False)
    table.add_column("figure")
    table.add_column("status")
    table.add_column("files / reason", overflow="fold")
    colour = {"drawn": "green", "skipped": "yellow", "failed": "red"}
    for o in outcomes:
        if quiet and o.status == "drawn":
            continue
        detail = "\n".join(str(p) for p in o.files) if o.files else o.reason
        table.add_row(o.figure, f"[{colour[o.status]}]{o.status}[/]", detail)
    if table.row_count:
        console.print(table)
    for o in outcomes:  # even with --quiet: a figure that leaves rows out must say so
        _notes(o.notes, o.figure)
    for o in outcomes:  # failures again, unwrapped, where scripts and people look for them
        if o.status == "failed":
            err.print(f"[red]error:[/red] {o.figure}: {o.reason}", highlight=False, soft_wrap=True)


@app.command("map-curves")
def map_curves(
    sweeps: list[Path] = typer.Argument(..., help="Sweep directories (mlrtrain sweep --out)."),
    out: Path = OUT,
    dpi: int = DPI,
    no_paper: bool = NO_PAPER,
) -> None:
    """mAP vs known labels per dataset: a line per method, seed min–max band, paper dashed."""

    _draw(lambda: map_vs_partial(sweeps, out, dpi=dpi, paper=not no_paper), out)


@app.command("params-compute")
def params_compute(
    sweeps: list[Path] = typer.Argument(..., help="Sweep directories (mlrtrain sweep --out)."),
    out: Path = OUT,
    dpi: int = DPI,
    no_paper: bool = NO_PAPER,
) -> None:
    """Trainable parameters vs hours per run per method: ours (wall-clock on cached features)
    filled, the paper's (end-to-end GPU hours) hollow."""

    _draw(lambda: params_vs_compute(sweeps, out, dpi=dpi, paper=not no_paper), out)


@app.command("promptsim-violin")
def promptsim_violin(
    promptsim_dir: Path = typer.Argument(..., help="A `promptsim --out` directory."),
    out: Path = OUT,
    dpi: int = DPI,
) -> None:
    """Per-class cos(P1,N1) vs cos(P1,P2) distributions, raw and centred."""

    _draw(lambda: cosine_distributions(promptsim_dir, out, dpi=dpi), out)


@app.command("promptsim-scatter")
def promptsim_scatter(
    promptsim_dir: Path = typer.Argument(..., help="A `promptsim --out` directory."),
    out: Path = OUT,
    dpi: int = DPI,
) -> None:
    """Per class: paraphrase cosine (x) vs negation cosine (y), with the diagonal."""

    _draw(lambda: cosine_scatter(promptsim_dir, out, dpi=dpi), out)


NEGSCAN_DIRS = typer.Argument(..., help="`negscan … --out` directories, one per corpus.")
LABELS = typer.Option(
    [],
    "--label",
    help="Name of each corpus on the figure, once per directory in order (default: folder name).",
)


def _labels(labels: list[str], dirs: list[Path]) -> list[str] | None:
    if labels and len(labels) != len(dirs):
        raise typer.BadParameter(
            f"given {len(labels)} times for {len(dirs)} directories (once per directory)",
            param_hint="--label",
        )
    return labels or None


@app.command("negscan-words")
def negscan_words(
    negscan_dirs: list[Path] = NEGSCAN_DIRS,
    out: Path = OUT,
    dpi: int = DPI,
    top: int = typer.Option(25, "--top", min=1, help="Words shown (by total captions)."),
    label: list[str] = LABELS,
) -> None:
    """Per-word caption shares and the negation rate per corpus, beside LAION's 0.47 %."""

    names = _labels(label, negscan_dirs)
    _draw(lambda: word_counts(negscan_dirs, out, top=top, dpi=dpi, labels=names), out)


@app.command("negscan-bigrams")
def negscan_bigrams(
    negscan_dirs: list[Path] = NEGSCAN_DIRS,
    out: Path = OUT,
    dpi: int = DPI,
    top: int = typer.Option(20, "--top", min=1, help="Bigrams shown per corpus."),
    label: list[str] = LABELS,
) -> None:
    """The top "negator next-word" bigrams per corpus."""

    names = _labels(label, negscan_dirs)
    _draw(lambda: top_bigrams(negscan_dirs, out, top=top, dpi=dpi, labels=names), out)


@app.command("negscan-classes")
def negscan_classes(
    negscan_dirs: list[Path] = NEGSCAN_DIRS,
    out: Path = OUT,
    dpi: int = DPI,
    top: int = typer.Option(25, "--top", min=1, help="Classes shown per corpus."),
    label: list[str] = LABELS,
) -> None:
    """The classes most often negated per corpus (negscan --classes)."""

    names = _labels(label, negscan_dirs)
    _draw(lambda: class_negations(negscan_dirs, out, top=top, dpi=dpi, labels=names), out)


@app.command("maps")
def maps_grid(
    maps_dir: Path = typer.Argument(..., help="A `promptsim maps --out` directory."),
    out: Path = OUT,
    dpi: int = DPI,
    max_classes: int = typer.Option(6, "--max-classes", min=1, help="Rows (classes) per image."),
) -> None:
    """Similarity-map grids, one per image: the photo, and per class the positive- and the
    negated-prompt map with a colour bar."""

    _draw(lambda: similarity_grids(maps_dir, out, max_classes=max_classes, dpi=dpi), out)


@app.command("absence")
def absence_auroc(
    absence_dir: Path = typer.Argument(..., help="A `promptsim absence --out` directory."),
    out: Path = OUT,
    dpi: int = DPI,
) -> None:
    """Per class: AUROC of P for presence vs AUROC of N for absence."""

    _draw(lambda: absence_scatter(absence_dir, out, dpi=dpi), out)


app.command("negbench")(negbench_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
