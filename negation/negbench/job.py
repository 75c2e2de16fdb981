"""One ``promptsim negbench`` job from its options: the bench to score (from a labelled split, a
questions file or NegBench's released MCQ CSV), the run's configuration, and the run of one model
or of a model list (:mod:`negation.negbench.runner`). Nothing here prints."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backbone.config import PREPROCESS
from corpora.schema import C
from negation.negbench.models import parse_models_file, run_models
from negation.negbench.runner import Bench, Progress, RunConfig, run
from negation.promptsim.inputs import OptionError, load_labelled_split


@dataclass(frozen=True)
class JobOptions:
    """What a negbench job scores and how (the ``promptsim negbench`` options but the model's)."""

    dataset: str | None = None
    root: Path | None = None
    split: str = "test"
    classes: str | None = None
    voc_difficult: str = "ignore"
    skip_bad_images: bool = False
    tasks: str | None = None  # default: all; mcq for negbench_csv
    templates: str = "negbench"
    seed: int = 0
    max_images: int | None = None
    max_queries: int = 200
    n_boot: int = 1000
    questions: Path | None = None
    negbench_csv: Path | None = None
    images: Path | None = None
    batch_size: int | None = None
    image_batch: int = 32
    text_cache: Path | None = None
    models_file: Path | None = None
    preprocess: str = "crop"  # the image transform: the model's own eval transform


@dataclass
class JobResult:
    summaries: list[dict[str, Any]]  # summary.json of each model scored (or skipped as done)
    rows: list[dict[str, Any]] | None = None  # with a model list: the models.json status rows
    failed: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # finished with other options


def build_bench(opts: JobOptions) -> tuple[Bench, list[str]]:
    """The bench and the tasks it holds; bad option values raise :class:`OptionError`."""
    from negation.negbench.families import load_families
    from negation.negbench.inputs import bench_from_negbench_csv, bench_from_split
    from negation.negbench.questions import parse_tasks

    if opts.preprocess not in PREPROCESS:
        raise OptionError(f"use {' or '.join(PREPROCESS)}", "--preprocess")
    if opts.negbench_csv is not None:
        if opts.images is None:
            raise OptionError("a NegBench CSV needs the folder of its images", "--images")
        if parse_tasks(opts.tasks or "mcq") != ["mcq"]:
            raise OptionError("a NegBench CSV holds MCQ questions only: use mcq", "--tasks")
        return bench_from_negbench_csv(opts.negbench_csv, opts.images, opts.seed), ["mcq"]
    if opts.dataset is None or opts.root is None:
        raise OptionError(
            "give a dataset and its root (or a NegBench CSV and its images)", "--dataset"
        )
    if opts.split not in ("train", "test"):
        raise OptionError("use train or test", "--split")
    chosen = parse_tasks(opts.tasks or "mcq,existence,retrieval")
    families = load_families(opts.templates)
    data = load_labelled_split(opts)
    bench = bench_from_split(
        data,
        opts.root,
        tasks=chosen,
        families=families,
        seed=opts.seed,
        max_images=opts.max_images,
        max_queries=opts.max_queries,
        questions=opts.questions,
    )
    if opts.questions is not None:  # the file's tasks, whatever the tasks option says
        chosen = bench.questions[C.task].unique(maintain_order=True).to_list()
    return bench, chosen


def run_config(opts: JobOptions, bench: Bench, tasks: list[str], out: Path) -> RunConfig:
    """The run's configuration; its ``options`` are run.json's ``config`` section."""

    def text(value: Path | None) -> str | None:
        return None if value is None else str(value)

    options = {
        "dataset": opts.dataset,
        "root": text(opts.root),
        "split": opts.split,
        "classes": opts.classes,
        "voc_difficult": opts.voc_difficult,
        "tasks": tasks,
        "templates": opts.templates,
        "max_images": opts.max_images,
        "max_queries": opts.max_queries,
        "questions": text(opts.questions),
        "negbench_csv": text(opts.negbench_csv),
        "images": text(opts.images),
        "batch_size": opts.batch_size,
        "image_batch": opts.image_batch,
        "text_cache": text(opts.text_cache),
        "models_file": text(opts.models_file),
        "preprocess": opts.preprocess,
    }
    return RunConfig(
        bench=bench,
        out=out,
        seed=opts.seed,
        n_boot=opts.n_boot,
        batch_size=opts.batch_size,
        image_batch=opts.image_batch,
        text_cache=opts.text_cache,
        preprocess=opts.preprocess,
        options=options,
    )


def run_job(
    cfg: RunConfig,
    models: tuple[str, str] | Path,
    load: Callable[[str, str], Any],
    progress: Progress,
    *,
    precision: str | None = None,
) -> JobResult:
    """Score one ``(model, pretrained)`` into ``cfg.out``, or each model of a CLIP_benchmark
    model-list file into its own folder under ``cfg.out`` (finished ones made with the same
    options reused, those made with others left as made, failures recorded in models.json)."""
    if isinstance(models, tuple):
        return JobResult([run(cfg, load(*models), progress).summary])
    rows = run_models(cfg, parse_models_file(models), load, progress, precision=precision)
    done = [r for r in rows if r[C.status] in ("complete", "skipped")]
    summaries = [json.loads((cfg.out / r["dir"] / "summary.json").read_text()) for r in done]

    def having(status: str) -> list[dict[str, Any]]:
        return [r for r in rows if r[C.status] == status]

    return JobResult(summaries, rows, having("failed"), having("conflict"))


def negbench(
    opts: JobOptions,
    out: Path,
    models: tuple[str, str] | Path = ("RN101", "openai"),
    load: Callable[[str, str], Any] | None = None,
    progress: Progress | None = None,
    *,
    precision: str | None = None,
) -> JobResult:
    """A whole ``promptsim negbench`` run in one call: the bench of ``opts`` scored for one
    ``(model, pretrained)`` or a model-list file (:func:`run_job`) into ``out``; ``load``
    builds a backbone (default :func:`negation.promptsim.inputs.load_backbone`) at ``precision``,
    which a finished model folder must match to be reused (None: not compared)."""
    from negation.promptsim.inputs import load_backbone

    bench, tasks = build_bench(opts)
    cfg = run_config(opts, bench, tasks, out)
    return run_job(cfg, models, load or load_backbone, progress or _silent, precision=precision)


def _silent(stage: str, advance: int, total: int | None) -> None:
    """The default progress callback: nothing."""
