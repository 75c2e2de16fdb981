"""``negtune``: fine-tune a CLIP to understand negation, from multi-label labels. A thin typer
layer over :func:`negation.negtune.runner.negtune`; the result table goes to stdout, progress and
messages to stderr (:mod:`corpora.cli`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from corpora import cli
from corpora.formats import FORMATS
from corpora.launch import VersionOpt
from negation.negbench.families import TRAINING, describe

# one command, no subcommands: the app of corpora.cli.make_app, less its group callback (the
# command takes --version itself)
app = typer.Typer(
    name="negtune", add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True
)

Opt = typer.Option
Data = "Data options"
Model = "Model options"
Tune = "Training options"
Eval = "Evaluation options"


@app.command()
def negtune(
    dataset: Annotated[
        str, Opt(help="coco | voc | nuswide | generic | hf (as mlrtrain).", rich_help_panel=Data)
    ],
    root: Annotated[Path, Opt(help="Dataset root directory.", rich_help_panel=Data)],
    out: Annotated[
        Path,
        cli.out_param(
            "Result directory: the tuned model (a local-dir: export), run.json, checkpoints/, "
            "eval/ and eval.parquet."
        ),
    ],
    classes: cli.DataClassesOpt = None,
    voc_difficult: Annotated[
        str,
        Opt(
            help="VOC difficult-only classes: ignore (unknown, never captioned) | negative.",
            rich_help_panel=Data,
        ),
    ] = "ignore",
    skip_bad_images: Annotated[
        bool, Opt(help="Leave out unreadable images.", rich_help_panel=Data)
    ] = False,
    captions: Annotated[
        Path | None,
        Opt(
            help="Extra affirmative captions of training images: a COCO captions JSON or a "
            "JSONL of "
            '{"image", "caption"} rows.',
            rich_help_panel=Data,
        ),
    ] = None,
    model: cli.ModelOpt = "ViT-B-32",
    pretrained: cli.PretrainedOpt = "openai",
    preprocess: Annotated[
        str,
        Opt(
            help="Image transform, at the model's native size: crop (the model's own eval "
            "transform, as NegBench) | squash.",
            rich_help_panel=Model,
        ),
    ] = "crop",
    cache_dir: cli.CacheDirOpt = None,
    offline: cli.OfflineOpt = False,
    device: cli.DeviceOpt = "auto",
    train: Annotated[
        str,
        Opt(
            help="What is trained: text (the text tower and temperature; image tower frozen, its "
            "embeddings cached) | text-front:K (the embeddings and first K text blocks) | all.",
            rich_help_panel=Tune,
        ),
    ] = "text",
    negations: Annotated[
        str,
        Opt(
            help="labels: add the label-exact negated and hybrid captions | none: affirmative "
            "captions only (the control).",
            rich_help_panel=Tune,
        ),
    ] = "labels",
    templates: Annotated[
        str,
        Opt(
            help="Caption families of the training captions (promptsim negbench's: "
            f"{describe()}); default all but negbench (the evaluation's) and photo (its "
            "article tells a negated class).",
            rich_help_panel=Tune,
        ),
    ] = TRAINING,
    epochs: Annotated[int, Opt(help="Epochs.", rich_help_panel=Tune)] = 5,
    lr: Annotated[float, Opt(help="Peak learning rate (AdamW).", rich_help_panel=Tune)] = 1e-5,
    batch_size: Annotated[int, Opt(help="Images per batch.", rich_help_panel=Tune)] = 128,
    weight_decay: Annotated[
        float, Opt(help="AdamW weight decay (weight matrices only).", rich_help_panel=Tune)
    ] = 0.1,
    warmup_steps: Annotated[
        int | None,
        Opt(
            help="Linear warm-up steps before the cosine decay; default 10 % of the steps.",
            rich_help_panel=Tune,
        ),
    ] = None,
    clip_weight: Annotated[
        float, Opt(help="Weight of CLIP's contrastive loss.", rich_help_panel=Tune)
    ] = 1.0,
    hard_negative_weight: Annotated[
        float,
        Opt(
            help="Weight of the hard-negative loss (true caption vs its 3 false variants).",
            rich_help_panel=Tune,
        ),
    ] = 1.0,
    seed: Annotated[
        int,
        cli.seed_param(
            "the captions drawn per image and epoch, the batches, the evaluation's questions and "
            "the random init of --pretrained none"
        ),
    ] = 0,
    resume: Annotated[
        bool, Opt(help="Continue a killed run in --out (same options).", rich_help_panel=Tune)
    ] = False,
    cache: Annotated[
        bool,
        Opt(
            "--cache/--no-cache",
            help="Cache the frozen image tower's embeddings (keyed on content).",
            rich_help_panel=Tune,
        ),
    ] = True,
    feature_cache: Annotated[
        str | None,
        Opt(
            help="Embedding cache directory (default: mlrtrain's feature cache).",
            rich_help_panel=Tune,
        ),
    ] = None,
    workers: Annotated[int, Opt(min=0, help="Image decoding threads.", rich_help_panel=Tune)] = 0,
    evaluate: Annotated[
        bool, Opt("--eval/--no-eval", help="Evaluate before and after.", rich_help_panel=Eval)
    ] = True,
    eval_tasks: Annotated[
        str, Opt(help="negbench tasks: mcq, existence, retrieval.", rich_help_panel=Eval)
    ] = "mcq,existence,retrieval",
    eval_templates: Annotated[
        str, Opt(help="negbench caption families of the evaluation.", rich_help_panel=Eval)
    ] = "negbench",
    eval_max_images: Annotated[
        int | None, Opt(help="Test images with questions (drawn).", rich_help_panel=Eval)
    ] = None,
    bootstrap: Annotated[
        int, Opt(help="Bootstrap resamples of the CIs.", rich_help_panel=Eval)
    ] = 1000,
    fmt: Annotated[str, cli.format_param(FORMATS)] = "table",
    quiet: cli.QuietOpt = False,
    version: VersionOpt = False,
) -> None:
    """Fine-tune a CLIP on label-exact captions (CLIP's contrastive loss + a hard-negative term)
    and evaluate it before and after on the test split, which is never trained on. --seed seeds
    the shuffling, the captions, the evaluation questions and random weights (--pretrained
    none, re-initialised so that they can learn). The tuned model: --pretrained local-dir:OUT."""
    options = {
        k: v for k, v in locals().items() if k not in ("quiet", "evaluate", "version", "fmt")
    }
    options = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
    from negation.negtune.config import TuneConfig

    try:
        cfg = TuneConfig(**options, eval=evaluate)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    _run(cfg, fmt, quiet=quiet)


def _run(cfg: Any, fmt: str, *, quiet: bool) -> None:
    from backbone import TextOnlyError
    from backbone.config import backbone_hints
    from backbone.training import RichReporter, TrainingDiverged
    from negation.negtune.runner import negtune as run

    with (
        cli.input_errors(TrainingDiverged, TextOnlyError, hints=backbone_hints()),
        cli.stage_bars(quiet, restart=True) as progress,
    ):
        result = run(cfg, RichReporter(quiet=quiet), progress)
    if result.table is not None:
        _print_table(result.table, fmt)
    cli.stderr.print(
        f"tuned model: --model {cfg.model} --pretrained {result.pretrained}",
        highlight=False,
        soft_wrap=True,
    )


def _num(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.3f}"


def _print_table(frame: Any, fmt: str) -> None:
    """The before/after evaluation in ``fmt`` (json and csv: ``eval.parquet``'s rows)."""
    from corpora.formats import Grid, emit
    from corpora.schema import C

    before = frame.filter(frame[C.stage] == "before")
    after = frame.filter(frame[C.stage] == "after")
    head = after.row(0, named=True)
    title = f"negtune — {head[C.dataset]} {head[C.split]} — evaluation ({head[C.templates]})"
    rows = []
    for b, a in zip(before.iter_rows(named=True), after.iter_rows(named=True), strict=True):
        diff = None if a[C.value] is None or b[C.value] is None else a[C.value] - b[C.value]
        rows.append(
            [a[C.task], a[C.type], a[C.metric], _num(b[C.value]), _num(a[C.value]), _num(diff)]
        )
    header = ["task", "type", "metric", "before", "after", "after − before"]
    records = frame.to_dicts()
    emit(fmt, [Grid(title, header, rows, (), "lllrrr")], data=records, records=records)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
