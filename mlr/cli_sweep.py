"""``mlrtrain sweep`` and ``mlrtrain table``: thin typer commands over :func:`mlr.sweep.run_sweep`
and :func:`mlr.table.build_table` (registered on the app by :mod:`mlr.cli`)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from corpora import cli as dialect
from corpora.cli import QuietOpt, format_param, stderr
from mlr.cli_options import config_from, run_errors, run_options
from mlr.config import BACKBONE_TEMPLATE, DEFAULT_TEMPLATE

# varied by the sweep itself: hidden, and refused when given
SWEEP_OWNED = ("method", "seed", "mask", "resume")


_MODEL_HELP = typing.get_args(dialect.ModelOpt)[1].help
_PRETRAINED_HELP = typing.get_args(dialect.PretrainedOpt)[1].help
_PANEL = "Model options"


@run_options(exclude=("partial", "out", "model", "pretrained"), owned=SWEEP_OWNED)
def sweep(
    options: dict[str, Any],
    config: str | None,
    model: list[str] | None = typer.Option(
        None,
        "--model",
        help=f"{_MODEL_HELP} Repeat it, with --pretrained, to run the grid on several backbones "
        "(the n-th --model with the n-th --pretrained; one of either goes with all of the "
        "other). [default: RN101, or --config's]",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
    pretrained: list[str] | None = typer.Option(
        None,
        "--pretrained",
        help=f"{_PRETRAINED_HELP} Repeatable (see --model). [default: openai, or --config's]",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
    models_file: Path | None = typer.Option(
        None,
        "--models-file",
        help="Backbones to run the grid on: a CLIP_benchmark model list (one 'model,pretrained' "
        "a line, as `promptsim negbench --models-file`), e.g. a CLIP and its negation-tuned "
        "versions. Each gets its own folder under --out; not with --model/--pretrained.",
        rich_help_panel=_PANEL,
    ),
    methods: str = typer.Option(
        "baseline,dualcoop,positivecoop,negativecoop", help="Comma-separated methods, or all."
    ),
    partial: str = typer.Option(
        "0.1:0.9:0.1",
        help="Known-label proportions: start:stop:step (stop included) or a list 0.1,0.5,0.9.",
    ),
    seeds: str = typer.Option("0", help="Seeds: 0,1,2 or an inclusive range 0:2."),
    out: str = typer.Option(
        ...,
        help="Sweep directory (run directories + results.parquet): a path, or an fsspec URL "
        "(s3://, gs://, …; runs are staged in --work-dir and uploaded).",
    ),
    work_dir: str | None = typer.Option(
        None,
        help="With a URL --out: local staging directory of the runs "
        "(default ~/.cache/notclip/sweeps, on each worker).",
    ),
    template: str | None = typer.Option(
        None,
        help="Run directory below --out; fields {dataset} {method} {partial} {seed} {model} "
        f"{{backbone}} (model and weights). [default: {DEFAULT_TEMPLATE}; over several backbones "
        f"or a --models-file: {BACKBONE_TEMPLATE}]",
        show_default=False,
    ),
    fmt: Annotated[str, format_param(("table", "json", "csv"))] = "table",
    quiet: QuietOpt = False,
    engine: str = typer.Option(
        "local",
        help="local: one run after another here. ray: one Ray task per run "
        "(needs the ray extra); this process alone writes results.parquet.",
    ),
    address: str | None = typer.Option(
        None, help="With --engine ray: 'auto' or ray://HOST:PORT (default: a local Ray)."
    ),
    gpus_per_run: float | None = typer.Option(
        None, help="With --engine ray: GPUs per run (default: 1 if the cluster has GPUs, else 0)."
    ),
    cpus_per_run: float = typer.Option(1.0, help="With --engine ray: CPUs per run."),
    run_index: int | None = typer.Option(
        None,
        min=0,
        help="Job arrays: run only slice I (0-based) of --num-runs contiguous "
        "slices of the plan (seed → partial → method), e.g. $SLURM_ARRAY_TASK_ID.",
    ),
    num_runs: int | None = typer.Option(None, min=1, help="Job arrays: the number of slices."),
) -> None:
    """Every (backbone, method, partial, seed) as a `fit` run: skips done runs, resumes killed
    ones.

    Every `mlrtrain fit` option below (--epochs, --image-size, --lr, --loss-w, --feature-cache,
    …) is passed to every run. Several backbones (--models-file, or --model/--pretrained
    repeated) run the same grid each, in a folder per backbone under --out.

    Rerunning skips complete runs, resumes interrupted ones and retries failed ones; a complete
    run made with other options is kept as made (status conflict, the options named). A failed
    run does not stop the sweep; failures and conflicts are listed at the end (exit status 1).
    results.parquet in --out is rewritten after every run (docs/RESULTS.md) and printed at the
    end, one row per run (csv and json: every column); `mlrtrain table OUT` builds the paper's
    table.
    All runs share one feature cache, so each backbone's dense features are computed once."""
    from dataclasses import replace

    from backbone.model_list import pair_backbones, parse_models_file
    from corpora.executors import ENGINES, Resources, make_executor, take_slice
    from corpora.formats import emit
    from corpora.places import remote_url
    from corpora.runio import claim_out_dir
    from corpora.schema import C
    from mlr.cli_progress import SweepProgress, banner
    from mlr.distributed import default_gpus
    from mlr.report import runs_grid
    from mlr.sweep import SweepConfig, parse_methods, parse_partials, parse_seeds, run_sweep

    base = config_from({**options, "out": out}, config)
    if models_file is not None and (model or pretrained):
        raise typer.BadParameter("not with --model/--pretrained", param_hint="--models-file")
    with run_errors():  # a bad model list: one error line naming the file and line
        pairs = parse_models_file(models_file) if models_file is not None else None
    try:
        if pairs is None:
            pairs = pair_backbones(model or [], pretrained or [], (base.model, base.pretrained))
        cfg = SweepConfig(
            base=replace(base, model=pairs[0][0], pretrained=pairs[0][1]),
            out=out,
            methods=tuple(parse_methods(methods)),
            partials=tuple(parse_partials(partial)),
            seeds=tuple(parse_seeds(seeds)),
            template=template,
            work_dir=work_dir,
            backbones=tuple(pairs),
            models_file=None if models_file is None else str(models_file),
        )
        runs = cfg.plan()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if work_dir is not None and remote_url(out) is None:
        raise typer.BadParameter("only for an fsspec URL --out", param_hint="--work-dir")
    part = _part(run_index, num_runs)
    if engine not in ENGINES:
        raise typer.BadParameter(f"use one of {', '.join(ENGINES)}", param_hint="--engine")
    stderr.print(
        f"sweep: {len(pairs)} backbone(s) × {len(cfg.methods)} method(s) × "
        f"{len(cfg.partials)} proportion(s) × {len(cfg.seeds)} seed(s) = {len(runs)} runs into "
        f"{out}"
    )
    if part is not None:
        runs = take_slice(runs, *part)
        stderr.print(f"job array: slice {part[0]} of {part[1]}, {len(runs)} run(s)")
    reporter = SweepProgress(len(runs), quiet=quiet)
    executor = None
    try:
        with run_errors():
            local = remote_url(out) is None  # no other command writes to a URL: nothing to claim
            if local:
                claim_out_dir(Path(out), "mlrtrain sweep", None)
            executor = make_executor(engine, address=address)
            resources = Resources(cpus=cpus_per_run, gpus=gpus_per_run or 0)
            if gpus_per_run is None and executor.parallel:
                resources = replace(resources, gpus=default_gpus(executor))
            result = run_sweep(cfg, reporter, executor=executor, resources=resources, part=part)
    finally:
        reporter.progress.stop()
        if executor is not None:
            executor.close()
    if result.results[C.random_weights].fill_null(False).any():  # also when every run was skipped
        banner({C.random_weights: True})
    rows = result.results.to_dicts()
    emit(fmt, [runs_grid(rows, f"sweep {out}: {len(rows)} run(s)")], data=rows, records=rows)
    _summary(result)
    if result.failed or result.conflicts:
        raise typer.Exit(1)


def _summary(result: Any) -> None:
    """The sweep's counts by status, then its conflicts and failures (tables on stderr)."""
    from rich.markup import escape
    from rich.table import Table

    from corpora.schema import C

    counts = result.results.group_by(C.status).len().sort(C.status).rows()
    stderr.print(
        f"{', '.join(f'{n} {s}' for s, n in counts)}; results: {result.path}", highlight=False
    )
    for bad, title in (
        (result.conflicts, "run(s) made with other options (kept, counted by the table)"),
        (result.failed, "failed run(s)"),
    ):
        if bad:
            t = Table(title=f"{len(bad)} {title}")
            t.add_column("run")
            t.add_column("error")
            for r in bad:
                t.add_row(r[C.run_dir], escape(str(r[C.error])))
            stderr.print(t)


def _part(index: int | None, count: int | None) -> tuple[int, int] | None:
    """--run-index / --num-runs as a job-array slice (None: the whole plan)."""
    if index is None and count is None:
        return None
    if index is None or count is None:
        raise typer.BadParameter("give both --run-index and --num-runs", param_hint="--run-index")
    if index >= count:
        raise typer.BadParameter(
            f"{index} is not below --num-runs {count}", param_hint="--run-index"
        )
    return index, count


TABLE_FORMATS = ("markdown", "csv", "latex")
TABLE_SUFFIX = {"markdown": ".md", "csv": ".csv", "latex": ".tex"}


def table(
    sweep_dir: list[str] = typer.Argument(
        ...,
        help="Sweep directories or fsspec URLs (results.parquet, or fit run directories below "
        "it); several (e.g. the --out of each job-array element) are joined, a run found twice "
        "is an error.",
    ),
    dataset: str | None = typer.Option(None, help="Only this dataset of the sweep."),
    fmt: Annotated[str, format_param(TABLE_FORMATS)] = "markdown",
    out: Path | None = typer.Option(
        None, "--out", help="Also write the table into this directory (table.md|csv|tex)."
    ),
    paper: bool = typer.Option(
        True, "--paper/--no-paper", help="Put the paper's published numbers beside ours."
    ),
    allow_random: bool = typer.Option(
        False,
        "--allow-random",
        help="Compare runs with random weights (--pretrained none) with the paper too.",
    ),
) -> None:
    """The paper's table from a sweep directory: --format markdown | csv | latex.

    One table per dataset and backbone (model, weights, input size: never pooled). Rows = methods,
    columns = 10 % … 90 % + Avg (+ the last epoch's Avg), cells mean ± std of mAP over seeds (a
    cell or Avg over fewer seeds than the row's marked (n=K); failed and missing runs listed per
    cell under the table), with params, measured hours and devices; then ours vs the paper
    (published mAP, params and GPU hours per run, and the differences; not for random weights
    unless --allow-random). csv: every numeric column (mlr/table.py)."""
    from corpora.runio import atomic_write_text
    from mlr.table import build_table, render

    # an --out ending in the format's suffix (and not a directory) is the table file itself, as
    # in earlier versions
    target = out
    if out is not None and not (out.suffix == TABLE_SUFFIX[fmt] and not out.is_dir()):
        if out.exists() and not out.is_dir():
            raise typer.BadParameter(
                f"{out} is an existing file, not a directory", param_hint="--out"
            )
        target = out / f"table{TABLE_SUFFIX[fmt]}"
    with run_errors():
        dirs = cast("list[Path]", sweep_dir)  # local directories or URLs, both read by it
        frame = build_table(dirs, dataset, paper=paper, allow_random=allow_random)
        text = render(frame, fmt, compare=paper)
    typer.echo(text, nl=False)
    if target is not None:
        with run_errors():
            atomic_write_text(target, text)
        stderr.print(f"wrote {target}")
