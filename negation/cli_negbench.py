"""``promptsim negbench``: negation benchmarks built exactly from multi-label ground truth (MCQ,
POPE-style existence, negated retrieval), or NegBench's released MCQ CSVs, for any open_clip
model; CLIP_benchmark-compatible JSON beside our result files. A thin layer over
:mod:`negation.negbench`; registered on the ``promptsim`` app by :mod:`negation.cli_promptsim`
(the ``promptsim`` options and helpers are imported at the end of this module, after the command
is defined, so that either module can be imported first)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from corpora.cli import check_out

NEGBENCH_REFERENCE = (
    "NegBench (CVPR 2025), CLIP ViT-B/32 OpenAI: MCQ accuracy COCO 0.39, VOC 0.39; "
    "negation-type questions 0.07 (COCO) / 0.03 (VOC) — answer always at index 0, plain argmax"
)


def _fmt(est: dict | None) -> str:
    if not est or est.get("value") is None:
        return "–"
    if est.get("ci_low") is None:
        return f"{est['value']:.3f}"
    return f"{est['value']:.3f} [{est['ci_low']:.3f}, {est['ci_high']:.3f}]"


def _print_summary(summary: dict) -> None:
    m = summary["metrics"]
    title = f"negbench — {summary['model']} / {summary['pretrained']} — {summary['dataset']}"
    if summary["random_weights"]:
        title = f"RANDOM WEIGHTS — {title}"
    t = Table(title=title, caption="value [bootstrap 95 % CI]")
    for h in ("task", "measure", "value"):
        t.add_column(h)
    if "mcq" in m:
        t.add_row("mcq", "accuracy (all)", _fmt(m["mcq"]["accuracy"]))
        for k, v in m["mcq"]["by_type"].items():
            t.add_row("mcq", f"accuracy {k}", _fmt(v))
        t.add_row("mcq", "affirmation − negation", _fmt(m["mcq"]["gap_affirmation_negation"]))
    for s, block in m.get("existence", {}).items():
        t.add_row(
            "existence", f"{s}: accuracy / F1", f"{_fmt(block['accuracy'])} / {_fmt(block['f1'])}"
        )
        t.add_row("existence", f"{s}: yes-ratio", _fmt(block["yes_ratio"]))
    if "retrieval" in m:
        r = m["retrieval"]
        for k in ("negated", "plain", "gap_negated_plain"):
            t.add_row("retrieval", f"R@5 {k}", _fmt(r[k]["r5"]))
            t.add_row("retrieval", f"mAP {k}", _fmt(r[k]["ap"]))
    ps.console.print(t)


def negbench_cmd(
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="coco | voc | nuswide | generic | hf (as mlrtrain)."),
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="Dataset root directory.")] = None,
    split: ps.SplitOpt = "test",
    classes: ps.DataClassesOpt = None,
    voc_difficult: Annotated[
        str,
        typer.Option(
            "--voc-difficult",
            help="VOC difficult-only objects: ignore (neither present nor absent; never negated) "
            "| negative.",
        ),
    ] = "ignore",
    skip_bad_images: ps.SkipBadImagesOpt = False,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            help="Comma-separated: mcq, existence, retrieval (default: all; mcq for "
            "--negbench-csv).",
        ),
    ] = None,
    templates: Annotated[
        str,
        typer.Option(
            "--templates",
            help="Caption families, comma-separated: negbench ('This image features A, but not "
            "N'), photo ('a photo of a A without a N').",
        ),
    ] = "negbench",
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Seeds the questions, answer positions, bootstrap and the random init "
            "(--pretrained none).",
        ),
    ] = 0,
    max_images: Annotated[
        int | None,
        typer.Option("--max-images", min=1, help="MCQ/existence on this many drawn images."),
    ] = None,
    max_queries: Annotated[
        int, typer.Option("--max-queries", min=1, help="Retrieval (A, N) pairs drawn.")
    ] = 200,
    n_boot: Annotated[
        int, typer.Option("--bootstrap", min=10, help="Bootstrap resamples for the CIs.")
    ] = 1000,
    questions: Annotated[
        Path | None,
        typer.Option("--questions", help="Score the questions of this file (--export-questions)."),
    ] = None,
    export_questions: Annotated[
        Path | None,
        typer.Option(
            "--export-questions",
            help="Write the questions to this Parquet file and stop (no model is run).",
        ),
    ] = None,
    negbench_csv: Annotated[
        Path | None,
        typer.Option("--negbench-csv", help="NegBench's released MCQ CSV (instead of --dataset)."),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option("--images", help="Folder holding the images of --negbench-csv."),
    ] = None,
    model: ps.ModelOpt = "RN101",
    pretrained: ps.PretrainedOpt = "openai",
    models_file: Annotated[
        Path | None,
        typer.Option(
            "--models-file",
            help="CLIP_benchmark model list (one 'model,pretrained' a line): one result folder "
            "per model under --out; finished ones are skipped.",
        ),
    ] = None,
    cache_dir: ps.CacheDirOpt = None,
    offline: ps.OfflineOpt = False,
    device: ps.DeviceOpt = "auto",
    precision: ps.PrecisionOpt = "fp32",
    batch_size: ps.BatchOpt = None,
    image_batch: Annotated[
        int, typer.Option("--image-batch", min=1, help="Images per batch.")
    ] = 32,
    text_cache: ps.TextCacheOpt = None,  # None: promptsim's default cache
    no_text_cache: ps.NoCacheOpt = False,
    out: Annotated[Path | None, typer.Option("--out", help="Result directory.")] = None,
    quiet: ps.QuietOpt = False,
) -> None:
    """Negation benchmarks from multi-label ground truth: MCQ (affirmation / negation / hybrid
    captions, answer position drawn, ties wrong), POPE-style existence (random / popular /
    adversarial absent objects) and retrieval with a negated clause vs without it; accuracy by
    type, the affirmation − negation gap, bootstrap 95 % CIs; CLIP_benchmark JSON per task."""
    from corpora.multilabel import load_split
    from corpora.runio import claim_out_dir
    from negation.negbench.families import load_families
    from negation.negbench.inputs import bench_from_negbench_csv, bench_from_split
    from negation.negbench.questions import parse_tasks
    from negation.negbench.runner import RunConfig, parse_models_file, run, run_models

    check_out(out)
    with ps._user_errors():
        if out is not None:
            claim_out_dir(out, "promptsim negbench", None)
        if negbench_csv is not None:
            if images is None:
                raise typer.BadParameter("--negbench-csv needs --images DIR", param_hint="--images")
            chosen = parse_tasks(tasks or "mcq")
            if chosen != ["mcq"]:
                raise ValueError("--negbench-csv holds MCQ questions only: use --tasks mcq")
            bench = bench_from_negbench_csv(negbench_csv, images, seed)
        else:
            if dataset is None or root is None:
                raise typer.BadParameter(
                    "give --dataset and --root (or --negbench-csv FILE --images DIR)",
                    param_hint="--dataset",
                )
            if split not in ("train", "test"):
                raise typer.BadParameter("use train or test", param_hint="--split")
            chosen = parse_tasks(tasks or "mcq,existence,retrieval")
            families = load_families(templates)
            try:
                data = load_split(
                    dataset,
                    root,
                    split,
                    skip_bad_images=skip_bad_images,
                    voc_difficult=voc_difficult,
                    classes=classes,
                )
            except FileNotFoundError as err:
                raise typer.BadParameter(str(err), param_hint="--root") from None
            bench = bench_from_split(
                data,
                root,
                tasks=chosen,
                families=families,
                seed=seed,
                max_images=max_images,
                max_queries=max_queries,
                questions=questions,
            )
            if questions is not None:  # the file's tasks, whatever --tasks says
                chosen = bench.questions["task"].unique(maintain_order=True).to_list()
        if export_questions is not None:
            from corpora.runio import atomic_write_parquet

            atomic_write_parquet(export_questions, bench.questions)
            ps.console.print(f"wrote {bench.questions.height} questions to {export_questions}")
            return
        if out is None:
            raise typer.BadParameter("give --out DIR", param_hint="--out")
        models = parse_models_file(models_file) if models_file else None
        cache = None if no_text_cache else Path(text_cache or ps.DEFAULT_TEXT_CACHE).expanduser()
        options = {
            "dataset": dataset,
            "root": str(root) if root else None,
            "split": split,
            "classes": classes,
            "voc_difficult": voc_difficult,
            "tasks": chosen,
            "templates": templates,
            "max_images": max_images,
            "max_queries": max_queries,
            "questions": str(questions) if questions else None,
            "negbench_csv": str(negbench_csv) if negbench_csv else None,
            "images": str(images) if images else None,
            "batch_size": batch_size,
            "image_batch": image_batch,
            "text_cache": None if cache is None else str(cache),
            "models_file": str(models_file) if models_file else None,
        }
        cfg = RunConfig(
            bench=bench,
            out=out,
            seed=seed,
            n_boot=n_boot,
            batch_size=batch_size,
            image_batch=image_batch,
            text_cache=cache,
            options=options,
        )

        def load(name: str, weights: str) -> Any:
            return ps._load_backbone(
                name, weights, cache_dir, offline, device, precision, seed, quiet=quiet
            )

        with ps._progress(quiet) as bar:
            ids: dict[str, Any] = {}

            def progress(stage: str, n: int, total: int | None) -> None:
                if total is not None:  # a new stage (of the next model): replace its bar
                    if stage in ids:
                        bar.remove_task(ids[stage])
                    ids[stage] = bar.add_task(stage, total=total)
                elif stage in ids:
                    bar.advance(ids[stage], n)

            if models is None:
                result = run(cfg, load(model, pretrained), progress)
                summaries = [result.summary]
                failed = []
            else:
                rows = run_models(cfg, models, load, progress)
                failed = [r for r in rows if r["status"] == "failed"]
                summaries = []
                for r in rows:
                    if r["status"] != "failed":
                        summaries.append(json.loads((out / r["dir"] / "summary.json").read_text()))
        for s in summaries:
            _print_summary(s)
        if negbench_csv is not None:
            ps.console.print(NEGBENCH_REFERENCE, highlight=False)
        for s in summaries:
            if s["random_weights"]:
                ps.err_console.print(
                    f"[bold white on red] WARNING [/] [bold red]{s['model']}: {s['warning']}[/]",
                    highlight=False,
                )
        if models is not None:
            for r in rows:
                colour = {"complete": "green", "skipped": "yellow", "failed": "red"}[r["status"]]
                line = (
                    f"[{colour}]{r['status']}[/] {r['model']},{r['pretrained']} → {out / r['dir']}"
                )
                ps.console.print(line + (f" ({r['error']})" if r["error"] else ""), highlight=False)
        if not quiet:
            ps.console.print(f"wrote {out}", highlight=False)
        if failed:
            ps.err_console.print(
                f"[bold red]error:[/] {len(failed)} of {len(rows)} models failed; see "
                f"{out / 'models.json'}",
                highlight=False,
            )
            raise typer.Exit(1)


from negation import cli_promptsim as ps  # noqa: E402  (after the command: see the docstring)
