"""``promptsim negbench``: negation benchmarks built exactly from multi-label ground truth (MCQ,
POPE-style existence, negated retrieval), or NegBench's released MCQ CSVs, for any open_clip
model; CLIP_benchmark-compatible JSON beside our result files. A thin layer over
:mod:`negation.negbench.job`; registered on the ``promptsim`` app by
:mod:`negation.promptsim.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from corpora import cli
from negation.promptsim import options as o

NEGBENCH_REFERENCE = (
    "NegBench (CVPR 2025), CLIP ViT-B/32 OpenAI: MCQ accuracy COCO 0.39, VOC 0.39; "
    "negation-type questions 0.07 (COCO) / 0.03 (VOC) — answer always at index 0, plain argmax"
)


def _fmt(est: dict | None) -> str:
    from corpora.schema import C  # lazily: --help stays fast

    if not est or est.get(C.value) is None:
        return "–"
    if est.get(C.ci_low) is None:
        return f"{est[C.value]:.3f}"
    return f"{est[C.value]:.3f} [{est[C.ci_low]:.3f}, {est[C.ci_high]:.3f}]"


def _estimates(summary: dict) -> list[tuple[str, str, dict | None]]:
    """(task, measure, estimate) of a summary's metrics, in the order they are shown."""
    from corpora.schema import C

    m, out = summary[C.metrics], []
    if "mcq" in m:
        out.append(("mcq", "accuracy (all)", m["mcq"]["accuracy"]))
        out += [("mcq", f"accuracy {k}", v) for k, v in m["mcq"]["by_type"].items()]
        out.append(("mcq", "affirmation − negation", m["mcq"]["gap_affirmation_negation"]))
    for s, block in m.get("existence", {}).items():
        out += [("existence", f"{s}: {k}", block[k]) for k in ("accuracy", "f1", "yes_ratio")]
    for k in ("negated", "plain", "gap_negated_plain") if "retrieval" in m else ():
        r = m["retrieval"][k]
        out += [("retrieval", f"R@5 {k}", r[C.r5]), ("retrieval", f"mAP {k}", r[C.ap])]
    return out


def _grid(summary: dict, reference: bool) -> Any:
    from corpora.formats import Grid
    from corpora.labels import model_label
    from corpora.schema import C

    label = model_label(summary[C.model], summary[C.pretrained])
    title = f"negbench — {label} — {summary[C.dataset]}"
    if summary[C.random_weights]:
        title = f"RANDOM WEIGHTS — {title}"
    cells = [[task, measure, _fmt(est)] for task, measure, est in _estimates(summary)]
    notes = ["value [bootstrap 95 % CI]", *([NEGBENCH_REFERENCE] if reference else [])]
    return Grid(title, ["task", "measure", "value"], cells, notes, "lll")


def _records(summary: dict) -> list[dict[str, Any]]:
    from corpora.schema import C

    return [
        {
            C.model: summary[C.model],
            C.pretrained: summary[C.pretrained],
            C.random_weights: summary[C.random_weights],
            C.dataset: summary[C.dataset],
            C.task: task,
            "measure": measure,
            **{k: (est or {}).get(k) for k in (C.value, C.ci_low, C.ci_high)},
        }
        for task, measure, est in _estimates(summary)
    ]


def negbench_cmd(
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="coco | voc | nuswide | generic | hf (as mlrtrain)."),
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="Dataset root directory.")] = None,
    split: o.SplitOpt = "test",
    classes: cli.DataClassesOpt = None,
    voc_difficult: o.NegbenchVocDifficult = "ignore",
    skip_bad_images: o.SkipBadImagesOpt = False,
    tasks: o.Tasks = None,
    templates: o.NegbenchTemplates = "negbench",
    seed: o.NegbenchSeed = 0,
    max_images: o.MaxImages = None,
    max_queries: o.MaxQueries = 200,
    n_boot: o.Bootstrap = 1000,
    questions: o.Questions = None,
    export_questions: o.ExportQuestions = None,
    negbench_csv: o.NegbenchCsv = None,
    images: o.NegbenchImages = None,
    model: cli.ModelOpt = "RN101",
    pretrained: cli.PretrainedOpt = "openai",
    models_file: o.ModelsFile = None,
    preprocess: o.PreprocessOpt = o.Preprocess.crop,
    cache_dir: cli.CacheDirOpt = None,
    offline: cli.OfflineOpt = False,
    device: cli.DeviceOpt = "auto",
    precision: cli.PrecisionOpt = "fp32",
    batch_size: o.BatchOpt = None,
    image_batch: Annotated[
        int, typer.Option("--image-batch", min=1, help="Images per batch.")
    ] = 32,
    text_cache: Annotated[Path | None, o.TEXT_CACHE] = None,  # None: promptsim's default cache
    no_text_cache: o.NoCacheOpt = False,
    out: cli.OutOpt = None,
    fmt: o.FormatOpt = "table",
    quiet: cli.QuietOpt = False,
) -> None:
    """Negation benchmarks from multi-label ground truth: MCQ (affirmation / negation / hybrid
    captions, answer position drawn, ties wrong), POPE-style existence (random / popular /
    adversarial absent objects) and retrieval with a negated clause vs without it; accuracy by
    type, the affirmation − negation gap, bootstrap 95 % CIs; CLIP_benchmark JSON per task.
    Images go through the model's own eval transform (--preprocess crop, as NegBench and
    CLIP_benchmark: shortest side resized, centre crop) unless --preprocess squash. --seed seeds
    the questions, answer positions, bootstrap and the random init (--pretrained none)."""
    from corpora.runio import atomic_write_parquet, claim_out_dir
    from negation.negbench import job
    from negation.promptsim.inputs import load_backbone

    opts = job.JobOptions(
        dataset=dataset, root=root, split=split, classes=classes, voc_difficult=voc_difficult,
        skip_bad_images=skip_bad_images, tasks=tasks, templates=templates, seed=seed,
        max_images=max_images, max_queries=max_queries, n_boot=n_boot, questions=questions,
        negbench_csv=negbench_csv, images=images, batch_size=batch_size, image_batch=image_batch,
        text_cache=o.text_cache_dir(text_cache, no_text_cache), models_file=models_file,
        preprocess=preprocess.value,
    )  # fmt: skip
    with o.errors():
        if out is not None:
            claim_out_dir(out, "promptsim negbench", None)
        if export_questions is not None:
            bench, _ = job.build_bench(opts)
            atomic_write_parquet(export_questions, bench.questions)
            cli.stderr.print(f"wrote {bench.questions.height} questions to {export_questions}")
            return
        if out is None:
            raise typer.BadParameter("give --out DIR", param_hint="--out")

        def load(name: str, weights: str) -> Any:
            return load_backbone(
                name, weights, cache_dir=cache_dir, offline=offline, device=device,
                precision=precision, seed=seed,
            )  # fmt: skip

        with cli.stage_bars(quiet, restart=True) as progress:
            models = models_file or (model, pretrained)
            result = job.negbench(opts, out, models, load, progress, precision=precision)
    _report(result, out, fmt, quiet=quiet, reference=negbench_csv is not None)


def _report(result: Any, out: Path, fmt: str, *, quiet: bool, reference: bool) -> None:
    """The summaries in ``fmt`` (json: ``{summaries, models}``, csv: one row per estimate), the
    warnings, and each model's status (stdout with the table, else stderr)."""
    from corpora import formats
    from corpora.schema import C  # lazily: --help stays fast

    summaries = result.summaries
    data = {"summaries": summaries, "models": result.rows or []}
    records = [r for s in summaries for r in _records(s)]
    formats.emit(fmt, [_grid(s, reference) for s in summaries], data=data, records=records)
    status = cli.stdout if fmt == "table" else cli.stderr
    for s in summaries:
        if s[C.random_weights]:
            cli.stderr.print(
                f"[bold white on red] WARNING [/] [bold red]{s[C.model]}: {s[C.warning]}[/]",
                highlight=False,
            )
    for r in (result.rows or []) if fmt == "table" or not quiet else []:
        colour = {"complete": "green", "skipped": "yellow", "failed": "red", "conflict": "magenta"}[
            r[C.status]
        ]
        line = f"[{colour}]{r[C.status]}[/] {r[C.model]},{r[C.pretrained]} → {out / r['dir']}"
        status.print(line + (f" ({r[C.error]})" if r[C.error] else ""), highlight=False)
    if not quiet:
        cli.stderr.print(f"wrote {out}", highlight=False)
    if result.conflicts:
        cli.error(f"{len(result.conflicts)} of {len(result.rows)} models have a finished result "
                  "made with other options (kept as made, not shown above)")  # fmt: skip
    if result.failed:
        cli.error(f"{len(result.failed)} of {len(result.rows)} models failed; see "
                  f"{out / 'models.json'}")  # fmt: skip
    if result.failed or result.conflicts:
        raise typer.Exit(1)
