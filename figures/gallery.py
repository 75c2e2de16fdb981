"""``paperfigs all``: find the result directories under one root and draw every figure they allow.

Expected layout of ``--results DIR`` (each part optional)::

    DIR/negscan/            a `negscan … --out` directory, or one such directory per corpus
    DIR/promptsim/          a `promptsim --out` directory, or several (one per model/setting)
    DIR/maps/               a `promptsim maps --out` directory, or several
    DIR/absence/            a `promptsim absence --out` directory, or several
    DIR/sweeps/<dataset>/   `mlrtrain sweep --out` directories (results.parquet or run dirs)
    DIR/negbench/           a `promptsim negbench --out` directory (one model, or a
                            --models-file folder: its models on one figure), or several

When a part holds several directories, the negscan corpora share one figure (one colour per
corpus); the others are drawn one set per directory into ``OUT/<name>/``. ``negation_gap`` reads
two parts: the sweeps' backbones, each matched with its negbench result (random weights left
out unless ``--allow-random``, as ``paperfigs negation-gap``). The corpus-vs-accuracy
scatter of ``paperfigs negbench --negscan TAG=DIR`` is listed as skipped: which corpus trained
which weights is not in the result files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from corpora import schema as S
from figures import absence, compute, maps, negation_gap, negbench, negscan, prompts, sweeps
from figures.inputs import MAKERS, EmptyInput, MissingInput, collect_notes

# part → (the result kind its directories hold (``corpora.schema.KINDS``, by their ``run.json``'s
# ``command``), the file that marks a result directory without a ``run.json``)
PARTS = {
    "negscan": ("negscan", "summary.json"),
    "promptsim": ("promptsim", "per_class.parquet"),
    "maps": ("maps", "maps.parquet"),
    "absence": ("absence", "per_class.parquet"),
    "sweeps": ("sweep", S.SWEEP_RESULTS_FILE),
    "negbench": ("negbench", "summary.json"),
}
NEGBENCH_MODELS = "models.json"  # a `promptsim negbench --models-file` folder: one dir per model
NEGSCAN_PAIRING = (
    "not drawn by `all`: which negscan corpus trained which weights is not in the result files; "
    "run `paperfigs negbench DIR --negscan TAG=NEGSCAN_DIR`"
)


@dataclass
class Outcome:
    """What happened to one figure: ``drawn`` (with its files), ``skipped`` (nothing to draw from)
    or ``failed`` (an input is present but broken or incomplete); ``notes``: what the drawn
    figure left out and why (also written on the figure)."""

    figure: str
    status: str
    reason: str = ""
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _is_sweep(d: Path) -> bool:
    return (d / S.SWEEP_RESULTS_FILE).is_file() or any(d.rglob("metrics.json"))


def is_result(d: Path, part: str) -> bool:
    """Whether ``d`` is a result directory of ``part``: by its ``run.json``'s ``command`` (a
    directory another command wrote is not, whatever files it holds); without a ``run.json``
    naming a command of ``corpora.schema.KINDS`` (results made by hand), by the part's marker
    file. A sweep directory is one by its ``results.parquet`` or the ``fit`` run directories
    below it (sweeps of earlier versions wrote no ``run.json`` of their own)."""
    kind, marker = PARTS[part]
    if kind == "sweep":
        return _is_sweep(d)
    if kind == "negbench" and (d / NEGBENCH_MODELS).is_file():
        return True
    found = S.kind_of(d)
    return (d / marker).is_file() if found is None else found == kind


def find_dirs(root: Path, part: str) -> list[Path]:
    """Result directories of one part under ``root``: ``root/part`` itself when it holds the
    marker file, else its subdirectories that do. Raises :class:`MissingInput` when ``root/part``
    exists but holds no result directory; returns ``[]`` when it does not exist."""
    base = Path(root) / part
    if not base.is_dir():
        return []
    kind, marker = PARTS[part]
    # the sweeps part itself is a sweep only with its own results.parquet: run directories below
    # it belong to its subdirectories' sweeps
    if (base / marker).is_file() if kind == "sweep" else is_result(base, part):
        found = [base]
    else:
        found = sorted(d for d in base.iterdir() if d.is_dir() and is_result(d, part))
    if not found:
        raise MissingInput(
            f"{base / marker} not found (nor in any subdirectory of {base}) — "
            f"run `{MAKERS[kind]}` first"
        )
    return found


def _per_dir(
    dirs: list[Path], out_dir: Path, draw: Callable[[Path, Path], list[Path]]
) -> list[Path]:
    if len(dirs) == 1:
        return draw(dirs[0], out_dir)
    return [p for d in dirs for p in draw(d, out_dir / d.name)]


def figure_plan(
    dpi: int, *, allow_random: bool = False
) -> list[tuple[str, str | tuple[str, ...], Callable[..., list[Path]]]]:
    """(figure name, part (or parts), draw(dirs, …, out_dir): the dirs of each part) for every
    figure ``all`` knows. ``allow_random`` is each figure's own ``--allow-random``."""
    return [
        (
            "map_vs_partial",
            "sweeps",
            lambda ds, o: sweeps.map_vs_partial(ds, o, dpi=dpi, allow_random=allow_random),
        ),
        (
            "params_compute",
            "sweeps",
            lambda ds, o: compute.params_vs_compute(ds, o, dpi=dpi, allow_random=allow_random),
        ),
        (
            "promptsim_violin",
            "promptsim",
            lambda ds, o: _per_dir(
                ds, o, lambda d, od: prompts.cosine_distributions(d, od, dpi=dpi)
            ),
        ),
        (
            "promptsim_scatter",
            "promptsim",
            lambda ds, o: _per_dir(ds, o, lambda d, od: prompts.cosine_scatter(d, od, dpi=dpi)),
        ),
        ("negscan_words", "negscan", lambda ds, o: negscan.word_counts(ds, o, dpi=dpi)),
        ("negscan_bigrams", "negscan", lambda ds, o: negscan.top_bigrams(ds, o, dpi=dpi)),
        ("negscan_classes", "negscan", lambda ds, o: negscan.class_negations(ds, o, dpi=dpi)),
        (
            "maps",
            "maps",
            lambda ds, o: _per_dir(ds, o, lambda d, od: maps.similarity_grids(d, od, dpi=dpi)),
        ),
        (
            "absence_auroc",
            "absence",
            lambda ds, o: _per_dir(ds, o, lambda d, od: absence.absence_scatter(d, od, dpi=dpi)),
        ),
        (
            "negbench",
            "negbench",
            lambda ds, o: _per_dir(ds, o, lambda d, od: negbench.negbench_panels([d], od, dpi=dpi)),
        ),
        ("negbench_negscan", "negbench", _unpaired),
        (
            "negation_gap",
            ("sweeps", "negbench"),
            lambda sw, nb, o: negation_gap.gap_vs_negation(
                sw, nb, o, dpi=dpi, allow_random=allow_random
            ),
        ),
    ]


def _unpaired(dirs: list[Path], out_dir: Path) -> list[Path]:
    raise EmptyInput(NEGSCAN_PAIRING)


def draw_all(
    results_dir: Path,
    out_dir: Path,
    *,
    dpi: int = 200,
    allow_random: bool = False,
    on_figure: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Draw every figure the results allow; never raises for one figure's trouble — each
    figure's :class:`Outcome` says what happened. ``on_figure(name)`` is called before each.
    ``allow_random``: draw runs on random weights where a figure otherwise leaves them out."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"{results_dir}: no such results directory")
    outcomes = []
    for name, part, draw in figure_plan(dpi, allow_random=allow_random):
        if on_figure is not None:
            on_figure(name)
        parts = (part,) if isinstance(part, str) else part
        try:
            dirs = [find_dirs(results_dir, p) for p in parts]
            absent = [p for p, found in zip(parts, dirs, strict=True) if not found]
            if absent:
                outcomes.append(Outcome(name, "skipped", f"no {results_dir / absent[0]}/"))
                continue
            with collect_notes() as notes:
                files = draw(*dirs, Path(out_dir))
            outcomes.append(Outcome(name, "drawn", files=files, notes=notes))
        except EmptyInput as exc:
            outcomes.append(Outcome(name, "skipped", str(exc)))
        except (FileNotFoundError, ValueError, OSError) as exc:
            outcomes.append(Outcome(name, "failed", str(exc)))
    return outcomes
