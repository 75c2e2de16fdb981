"""``paperfigs``: the paper's figures (PNG + PDF) from saved result files — a thin typer layer in
the commands' dialect (:mod:`corpora.cli`) over :mod:`figures.gallery` and the figure modules
(imported when a command runs, so that ``--help`` is fast)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from corpora import cli
from figures import options as o

if TYPE_CHECKING:
    from figures.gallery import Outcome

app = cli.make_app(
    "paperfigs",
    "Draw the paper's figures (PNG + PDF, fonts embedded) from result files written by "
    "negscan, promptsim and mlrtrain. Figures only read result files; nothing is recomputed.",
)
# older spellings, still accepted (shown nowhere)
FIGURE = cli.hidden_aliases({"-o": "--out", "--top": "--top-k"})

FIGS = Path("figs")


def _notes(notes: list[str], figure: str = "") -> None:
    for n in notes:
        where = f"{figure}: " if figure else ""
        line = f"[yellow]note:[/yellow] {escape(where + n)}"
        cli.stderr.print(line, highlight=False, soft_wrap=True)


def _draw(draw: Callable[[], list[Path]]) -> None:
    """Run one figure function; a missing or empty input is one red line and exit status 1. What
    the figure left out (rows without a number, the poster's reference) is printed as notes."""
    from figures.inputs import collect_notes

    with cli.input_errors(), collect_notes() as notes:
        paths = draw()
    for p in paths:
        cli.stdout.print(str(p), highlight=False, soft_wrap=True)
    _notes(notes)


@app.command("all", help=o.ALL_HELP, cls=FIGURE)
def all_figures(
    results: o.Results,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
    allow_random: o.AllowRandomAll = False,
    quiet: o.AllQuiet = False,
) -> None:
    from figures.gallery import draw_all

    if not results.is_dir():
        raise typer.BadParameter(f"{results}: no such directory", param_hint="--results")
    with cli.stderr.status("drawing…", spinner="dots") as status:
        outcomes = draw_all(
            results,
            out,
            dpi=dpi,
            allow_random=allow_random,
            on_figure=None if quiet else lambda n: status.update(n),
        )
    _report(outcomes, quiet)
    drawn = [item for item in outcomes if item.status == "drawn"]
    if not drawn or any(item.status == "failed" for item in outcomes):
        if not drawn:
            cli.error(f"no figure could be drawn from {results}")
        raise typer.Exit(1)


def _report(outcomes: list[Outcome], quiet: bool) -> None:
    from rich.table import Table

    table = Table(title="paperfigs", show_lines=False)
    table.add_column("figure")
    table.add_column("status")
    table.add_column("files / reason", overflow="fold")
    colour = {"drawn": "green", "skipped": "yellow", "failed": "red"}
    for item in outcomes:
        if quiet and item.status == "drawn":
            continue
        detail = "\n".join(str(p) for p in item.files) if item.files else item.reason
        table.add_row(item.figure, f"[{colour[item.status]}]{item.status}[/]", detail)
    if table.row_count:
        cli.stdout.print(table)
    for item in outcomes:  # even with --quiet: a figure that leaves rows out must say so
        _notes(item.notes, item.figure)
    for item in outcomes:  # failures again, unwrapped, where scripts and people look for them
        if item.status == "failed":
            cli.error(f"{item.figure}: {item.reason}")


@app.command("map-curves", cls=FIGURE)
def map_curves(
    sweeps: o.Sweeps,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
    no_paper: o.NoPaper = False,
    allow_random: o.AllowRandom = False,
) -> None:
    """mAP vs known labels per dataset (axis from 0): a line per method, seed min–max band, paper
    dashed (not beside random weights unless --allow-random)."""
    from figures.sweeps import map_vs_partial

    _draw(
        lambda: map_vs_partial(sweeps, out, dpi=dpi, paper=not no_paper, allow_random=allow_random)
    )


@app.command("params-compute", cls=FIGURE)
def params_compute(
    sweeps: o.Sweeps,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
    no_paper: o.NoPaper = False,
    allow_random: o.AllowRandom = False,
) -> None:
    """Trainable parameters and hours per run per method, ours beside the poster's computation
    table (also written as params_compute.csv/.md): our training hours without building the
    feature cache, the paper's end-to-end GPU hours on their own axis (not beside random weights
    unless --allow-random)."""
    from figures.compute import params_vs_compute

    _draw(
        lambda: params_vs_compute(
            sweeps, out, dpi=dpi, paper=not no_paper, allow_random=allow_random
        )
    )


@app.command("promptsim-violin", cls=FIGURE)
def promptsim_violin(promptsim_dir: o.PromptsimDir, out: o.Out = FIGS, dpi: o.Dpi = 200) -> None:
    """Per-class cos(P1,N1) vs cos(P1,P2) distributions, raw and centred."""
    from figures.prompts import cosine_distributions

    _draw(lambda: cosine_distributions(promptsim_dir, out, dpi=dpi))


@app.command("promptsim-scatter", cls=FIGURE)
def promptsim_scatter(promptsim_dir: o.PromptsimDir, out: o.Out = FIGS, dpi: o.Dpi = 200) -> None:
    """Per class: paraphrase cosine (x) vs negation cosine (y), with the diagonal."""
    from figures.prompts import cosine_scatter

    _draw(lambda: cosine_scatter(promptsim_dir, out, dpi=dpi))


def _labels(labels: list[str] | None, dirs: list[Path]) -> list[str] | None:
    if labels and len(labels) != len(dirs):
        raise typer.BadParameter(
            f"given {len(labels)} times for {len(dirs)} directories (once per directory)",
            param_hint="--label",
        )
    return labels or None


@app.command("negscan-words", cls=FIGURE)
def negscan_words(
    negscan_dirs: o.NegscanDirs,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
    top_k: Annotated[int, o.top("Words shown (by total captions).")] = 25,
    label: o.Labels = None,
) -> None:
    """Per-word caption shares and the negation rate per corpus, beside LAION's 0.47 %."""
    from figures.negscan import word_counts

    names = _labels(label, negscan_dirs)
    _draw(lambda: word_counts(negscan_dirs, out, top=top_k, dpi=dpi, labels=names))


@app.command("negscan-bigrams", cls=FIGURE)
def negscan_bigrams(
    negscan_dirs: o.NegscanDirs,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
    top_k: Annotated[int, o.top("Bigrams shown per corpus.")] = 20,
    label: o.Labels = None,
) -> None:
    """The top "negator next-word" bigrams per corpus."""
    from figures.negscan import top_bigrams

    names = _labels(label, negscan_dirs)
    _draw(lambda: top_bigrams(negscan_dirs, out, top=top_k, dpi=dpi, labels=names))


@app.command("negscan-classes", cls=FIGURE)
def negscan_classes(
    negscan_dirs: o.NegscanDirs,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
    top_k: Annotated[int, o.top("Classes shown per corpus.")] = 25,
    label: o.Labels = None,
) -> None:
    """The classes most often negated per corpus (negscan --classes)."""
    from figures.negscan import class_negations

    names = _labels(label, negscan_dirs)
    _draw(lambda: class_negations(negscan_dirs, out, top=top_k, dpi=dpi, labels=names))


@app.command("maps", cls=FIGURE)
def maps_grid(
    maps_dir: o.MapsDir,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
    max_classes: o.MaxClasses = 6,
    render: o.RenderOpt = o.Render.bicubic,
) -> None:
    """Similarity-map grids, one per image: the photo as the model saw it (squashed or cropped,
    so map cells line up with it), and per class the positive- and the negated-prompt map with a
    colour bar; the title states the feature grid (e.g. 7×7)."""
    from figures.maps import similarity_grids

    _draw(
        lambda: similarity_grids(
            maps_dir, out, max_classes=max_classes, dpi=dpi, render=render.value
        )
    )


@app.command("absence", cls=FIGURE)
def absence_auroc(
    absence_dir: o.AbsenceDir,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
) -> None:
    """Per class: AUROC of P for presence vs AUROC of N for absence."""
    from figures.absence import absence_scatter

    _draw(lambda: absence_scatter(absence_dir, out, dpi=dpi))


@app.command("negbench", cls=FIGURE)
def negbench(
    results: o.NegbenchDirs,
    negscan: o.NegscanOf = None,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
) -> None:
    """MCQ accuracy by type, the affirmation − negation gap, existence F1, retrieval R@5 with vs
    without the negated clause; with --negscan, corpus negation rate vs negation accuracy."""
    from figures.negbench import negbench_panels, negscan_scatter, parse_negscan

    def draw() -> list[Path]:
        paths = negbench_panels(results, out, dpi=dpi)
        if negscan:
            paths += negscan_scatter(results, parse_negscan(negscan), out, dpi=dpi)
        return paths

    _draw(draw)


@app.command("negation-gap", cls=FIGURE)
def negation_gap(
    sweeps: o.Sweeps,
    negbench: o.NegbenchFor,
    out: o.Out = FIGS,
    dpi: o.Dpi = 200,
    allow_random: o.AllowRandomPoints = False,
) -> None:
    """Per backbone: negation accuracy (x, promptsim negbench) vs the DualCoOp − PositiveCoOp
    mAP gap (y, mlrtrain sweep), one point per known-label proportion, one colour per backbone;
    the points as CSV beside the figure. Random weights are left out unless --allow-random."""
    from figures.negation_gap import gap_vs_negation

    _draw(lambda: gap_vs_negation(sweeps, negbench, out, dpi=dpi, allow_random=allow_random))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
