"""``mlrtrain``: multi-label recognition with partial labels on frozen CLIP (Baseline, DualCoOp,
PositiveCoOp, NegativeCoOp). A thin typer layer over :mod:`mlr.train` and :mod:`mlr.features`."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from corpora.launch import add_version_option
from mlr.sweep import DEFAULT_TEMPLATE
from mlr.train import DEFAULT_FEATURE_CACHE, FEATURE_CACHE_ENV, FitConfig, Reporter

app = typer.Typer(
    name="mlrtrain",
    help="Multi-label recognition with partial labels on a frozen CLIP backbone: train and "
    "evaluate Baseline / DualCoOp / PositiveCoOp / NegativeCoOp heads (docs/METHODS.md §1–3).",
    no_args_is_help=True,
    add_completion=False,
)
add_version_option(app)
console = Console(stderr=True)
out_console = Console()


class RichReporter(Reporter):
    """One progress bar per epoch (loss per image, images/s) and per cache build."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress: Progress | None = None
        self.task_id = None

    def message(self, text: str) -> None:
        if not self.quiet:
            console.print(escape(text), soft_wrap=True)

    def task(self, name: str, total: int) -> None:
        self.done()
        training = name.startswith("epoch")
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if training:
            columns += [
                TextColumn("loss/img {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[img_s]:.0f} img/s"),
            ]
        columns.append(TimeElapsedColumn())
        self.progress = Progress(*columns, console=console, disable=self.quiet)
        self.progress.start()
        self.task_id = self.progress.add_task(name, total=total, loss=float("nan"), img_s=0.0)

    def advance(self, n: int = 1, **fields) -> None:
        if self.progress is None or self.task_id is None:
            return
        if "completed" in fields:
            self.progress.update(self.task_id, completed=fields.pop("completed"))
        else:
            self.progress.update(self.task_id, advance=n, **fields)

    def done(self, **fields) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.progress, self.task_id = None, None

    def random_weights(self, model_info: dict) -> None:
        _banner(model_info)


def _banner(model_info: dict) -> None:
    """The RANDOM WEIGHTS banner on stderr (also with --quiet); nothing for trained weights."""
    from mlr.backbone import random_weights_banner

    banner = random_weights_banner(model_info)
    if banner:
        console.print(banner, highlight=False)


_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,  # missing files, unwritable --out or --feature-cache, …
    RuntimeError,
)


def _fail(exc: BaseException) -> None:
    console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(1)


def _fit_config(**kw) -> FitConfig:
    try:
        return FitConfig(**kw).validate()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


# Options shared by fit and cache.
DATASET = typer.Option("coco", help="coco | voc | nuswide | generic | hf (layouts: see README).")
ROOT = typer.Option(..., help="Dataset root directory.", file_okay=False)
MODEL = typer.Option(
    "RN101", help="open_clip model name, or an open_clip model config FILE (.json) or folder."
)
PRETRAINED = typer.Option("openai", help="Weights: TAG | FILE | local-dir:PATH | none (random).")
MODEL_CACHE = typer.Option(None, "--cache-dir", help="Where model weights are cached.")
OFFLINE = typer.Option(False, help="Never download weights (HF_HUB_OFFLINE=1).")
DEVICE = typer.Option("auto", help="auto | cpu | cuda.")
SIZE = typer.Option(
    None,
    help="Square input size; default the model's own (RN101: 224 → 7×7+1 regions). The paper "
    "uses 448 (14×14+1): --config paper.",
    show_default=False,
)
FEATURES = typer.Option(
    DEFAULT_FEATURE_CACHE, envvar=FEATURE_CACHE_ENV, help="Feature cache directory."
)
PRESETS = Path(__file__).parent / "data" / "presets"  # --config NAME: PRESETS/NAME.json
AUG_VIEWS = typer.Option(0, help="Cached augmented views per training image (0: clean only).")
SEED = typer.Option(0, help="Seed for the mask, splits, init and augmentation.")
VOC_DIFFICULT = typer.Option(
    "ignore", help="VOC difficult-only classes: ignore (official) | negative (the anchors)."
)
CLASSES = typer.Option(None, help="Class list for generic/hf data (coco|voc|nuswide|FILE|a,b).")
SKIP_BAD = typer.Option(False, help="Leave out unreadable images (recorded in run.json).")
WORKERS = typer.Option(0, help="Image decoding/augmentation threads (0: in the main thread).")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")


@app.command()
def fit(
    ctx: typer.Context,
    config: str | None = typer.Option(
        None,
        "--config",
        help="Preset of fit options: 'paper' (the paper's setting: RN101, openai weights, 448 px, "
        "50 epochs, …), or a JSON file (FitConfig keys, or a run.json: its 'config' is used); "
        "options given on the command line override it.",
    ),
    dataset: str = DATASET,
    root: Path | None = typer.Option(None, help="Dataset root directory.", file_okay=False),
    method: str = typer.Option(
        "positivecoop", help="baseline | dualcoop | positivecoop | negativecoop."
    ),
    out: Path | None = typer.Option(
        None, help="Run directory (run.json, metrics.json, mask.npy, checkpoints/)."
    ),
    partial: float | None = typer.Option(
        None,
        help="Known-label proportion p (1 = all labels); default 0.5, or with --mask the mask's "
        "own (a --partial that the mask does not match is refused).",
    ),
    seed: int = SEED,
    mask: Path | None = typer.Option(None, help="Reuse a saved (N_train, C) keep-mask .npy."),
    model: str = MODEL,
    pretrained: str = PRETRAINED,
    cache_dir: str | None = MODEL_CACHE,
    offline: bool = OFFLINE,
    device: str = DEVICE,
    precision: str = typer.Option("fp32", help="fp32 | bf16 (autocast for the heads)."),
    image_size: int | None = SIZE,
    epochs: int = typer.Option(50, help="Epochs, the first one a constant-LR warm-up."),
    batch_size: int = typer.Option(32, help="Training batch size."),
    eval_batch_size: int = typer.Option(100, help="Evaluation / feature batch size."),
    lr: float = typer.Option(0.002, help="Base LR (per-method multipliers apply)."),
    loss: str = typer.Option("asl", help="asl | bce | partial-bce."),
    loss_w: float = typer.Option(0.03, help="Weight on the sum-reduced loss."),
    weight_decay: float | None = typer.Option(None, help="Default: 5e-4 DualCoOp, 0 others."),
    warmup_lr: float | None = typer.Option(None, help="Default: 1e-5 DualCoOp, 5e-3 others."),
    n_ctx: int = typer.Option(16, help="Context tokens per prompt."),
    csc: bool = typer.Option(True, "--csc/--generic-context", help="Class-specific context."),
    residual: bool = typer.Option(
        True,
        "--residual/--no-residual",
        help="Positive/NegativeCoOp: learned residual on the prompt "
        "feature (as the anchors' code).",
    ),
    protocol: str = typer.Option(
        "holdout",
        help="holdout: a held-out part of train picks the "
        "epoch, test touched once | anchors: test-as-validation.",
    ),
    val_fraction: float = typer.Option(0.1, help="Held-out fraction of the training split."),
    cache: bool = typer.Option(
        True,
        "--cache/--no-cache",
        help="Use (and build) the feature cache; --no-cache computes features online every step.",
    ),
    feature_cache: str = FEATURES,
    aug_views: int = AUG_VIEWS,
    augment: bool = typer.Option(
        True,
        "--augment/--no-augment",
        help="With --no-cache: a fresh CutoutPIL + RandAugment view every epoch (the anchors).",
    ),
    voc_difficult: str = VOC_DIFFICULT,
    classes: str | None = CLASSES,
    skip_bad_images: bool = SKIP_BAD,
    workers: int = WORKERS,
    resume: bool = typer.Option(False, help="Continue a killed run in --out."),
    select: str = typer.Option(
        "best",
        help="Headline test mAP: best (the epoch chosen on the held-out split) | last (the last "
        "epoch); metrics.json holds both.",
    ),
    quiet: bool = QUIET,
) -> None:
    """Train one head and evaluate it; writes a run directory (docs/RESULTS.md)."""
    from corpora.runio import claim_out_dir
    from mlr.train import fit as fit_run

    cfg = _config_from_fit_options(ctx)
    try:
        claim_out_dir(Path(cfg.out).expanduser(), "mlrtrain fit", None)
        result = fit_run(cfg, reporter=RichReporter(quiet))
    except _ERRORS as exc:
        _fail(exc)
    _print_metrics(result.metrics)
    console.print(f"run directory: {result.run_dir}")
    _banner(result.metrics)


# FitConfig keys whose command-line option has another name.
_CLI_NAME = {
    "model_cache_dir": "cache_dir",
    "class_specific": "csc",
    "use_cache": "cache",
    "augment_online": "augment",
}
_FIT_KEY = {cli: key for key, cli in _CLI_NAME.items()}


def _config_from_fit_options(ctx: typer.Context) -> FitConfig:
    """`fit`'s parsed options (``ctx.params``, command-line names) → a validated FitConfig:
    defaults < the --config preset < flags (used by `fit` and, for its base run, `sweep`)."""
    flags = {
        _FIT_KEY.get(name, name): value
        for name, value in ctx.params.items()
        if name not in ("config", "quiet")
    }
    if ctx.params.get("config") is not None:
        flags = _apply_preset(ctx, ctx.params["config"], flags)
    for required in ("root", "out"):
        if flags.get(required) is None:
            raise typer.BadParameter(
                f"--{required} is required (on the command line or in --config)"
            )
    for key in ("root", "out", "mask"):
        if flags.get(key) is not None:
            flags[key] = str(flags[key])
    return _fit_config(**flags)


def _apply_preset(ctx: typer.Context, spec: str, flags: dict) -> dict:
    """defaults < preset (a name in PRESETS, or a file) < command-line flags."""
    path = PRESETS / f"{spec}.json" if (PRESETS / f"{spec}.json").is_file() else Path(spec)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in PRESETS.glob("*.json")))
        raise typer.BadParameter(f"--config {spec}: neither a preset ({names}) nor a file")
    try:
        preset = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"--config {path}: not a JSON file ({exc})") from exc
    if isinstance(preset.get("config"), dict):  # a run.json
        preset = preset["config"]
    unknown = sorted(set(preset) - {f.name for f in fields(FitConfig)})
    if unknown:
        raise typer.BadParameter(f"--config {path}: unknown option(s) {', '.join(unknown)}")
    out = dict(flags)
    for key, value in preset.items():
        if key == "resume":
            continue
        if key not in flags:  # no command-line option for it
            out[key] = value
            continue
        source = ctx.get_parameter_source(_CLI_NAME.get(key, key))
        if source is None or source.name == "DEFAULT":  # typer may vendor its own click enum
            out[key] = value
    return out


def _num(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.2f}"


def _print_metrics(m: dict) -> None:
    t = Table(title=f"{m.get('method')} · {m.get('dataset', '')} · protocol {m.get('protocol')}")
    for col in ("mAP", "CF1 (mean of F1)", "CF1 (harmonic)", "OF1", "classes"):
        t.add_column(col, justify="right")
    t.add_row(
        _num(m["map"]),
        _num(m["cf1_mean_of_f1"]),
        _num(m["cf1_harmonic"]),
        _num(m["of1"]),
        str(m["n_classes_evaluated"]),
    )
    out_console.print(t)
    if "map_last" in m:
        console.print(
            f"test mAP (headline: --select {m['select']}): selected epoch {m['best_epoch']} "
            f"{_num(m['map_selected'])}, last epoch {m['last_epoch']} {_num(m['map_last'])}",
            highlight=False,
        )
    if m.get("protocol") == "anchors":
        console.print(
            "[yellow]protocol 'anchors': the epoch was chosen on the TEST split; this "
            "number is optimistic.[/yellow]"
        )


@app.command()
def cache(
    dataset: str = DATASET,
    root: Path = ROOT,
    model: str = MODEL,
    pretrained: str = PRETRAINED,
    cache_dir: str | None = MODEL_CACHE,
    offline: bool = OFFLINE,
    device: str = DEVICE,
    image_size: int | None = SIZE,
    feature_cache: str = FEATURES,
    aug_views: int = AUG_VIEWS,
    seed: int = SEED,
    batch_size: int = typer.Option(100, help="Images per forward pass."),
    voc_difficult: str = VOC_DIFFICULT,
    classes: str | None = CLASSES,
    skip_bad_images: bool = SKIP_BAD,
    workers: int = WORKERS,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the cache's size and location; build nothing."
    ),
    quiet: bool = QUIET,
) -> None:
    """Precompute dense features (train clean + K augmented views, test clean) into the fp16
    memory-mapped cache that `fit` uses. Resumable: rerun to finish an interrupted build."""
    from mlr.backbone.dense import dense_shape
    from mlr.features import describe_cache
    from mlr.train import feature_sources, load_backbone_for, load_splits

    cfg = _fit_config(
        dataset=dataset,
        root=str(root),
        model=model,
        pretrained=pretrained,
        model_cache_dir=cache_dir,
        offline=offline,
        device=device,
        image_size=image_size,
        feature_cache=feature_cache,
        aug_views=aug_views,
        seed=seed,
        eval_batch_size=batch_size,
        voc_difficult=voc_difficult,
        classes=classes,
        skip_bad_images=skip_bad_images,
        workers=workers,
    )
    try:
        train, test = load_splits(cfg)
        if dry_run:  # from the model's config alone: no weights are loaded or downloaded
            _, regions, dims = dense_shape(model, image_size)
            where = Path(feature_cache).expanduser()
            out_console.print(
                describe_cache(where, len(train), len(test), 1 + aug_views, regions, dims),
                highlight=False,
                soft_wrap=True,
            )
            return
        backbone = load_backbone_for(cfg)
        tr, _ = feature_sources(cfg, backbone, train, test, RichReporter(quiet))
    except _ERRORS as exc:
        _fail(exc)
    shape = tr.cached[0].shape
    console.print(
        f"cached {len(train)} train × {1 + aug_views} views and {len(test)} test "
        f"images, {shape[1]} regions × {shape[2]} dims, under {feature_cache}"
    )


@app.command("eval")
def eval_(
    run_dir: Path = typer.Argument(
        ..., help="A run directory written by `mlrtrain fit`.", exists=True, file_okay=False
    ),
    checkpoint: str = typer.Option("best", help="best | last | prev (the epoch before last)."),
    device: str | None = typer.Option(None, help="Override the run's device."),
    quiet: bool = QUIET,
) -> None:
    """Re-evaluate a run's checkpoint on its test split (writes eval.json in the run dir)."""
    from mlr.train import evaluate_run

    try:
        m = evaluate_run(run_dir, checkpoint, device, RichReporter(quiet))
    except _ERRORS as exc:
        _fail(exc)
    _print_metrics(m)
    _banner(m)


@app.command()
def params(
    classes: str = typer.Option("coco", help="coco | voc | nuswide | FILE | a,b,c."),
    model: str = MODEL,
    pretrained: str = typer.Option("none", help="Weights (none: random init, offline)."),
    cache_dir: str | None = MODEL_CACHE,
    offline: bool = OFFLINE,
    n_ctx: int = typer.Option(16, help="Context tokens per prompt."),
    csc: bool = typer.Option(True, "--csc/--generic-context", help="Class-specific context."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Trainable parameters of the four heads (the paper's #Params column)."""
    from corpora.classes import load_classes
    from mlr.backbone import BackboneConfig, load_backbone
    from mlr.train import param_table

    try:
        cs = load_classes(classes)
        backbone = load_backbone(
            BackboneConfig(
                model=model,
                pretrained=pretrained,
                cache_dir=cache_dir,
                offline=offline,
                device="cpu",
            )
        )
        rows = param_table(cs.names, backbone, n_ctx=n_ctx, class_specific=csc)
    except _ERRORS as exc:
        _fail(exc)
    if as_json:
        out_console.print_json(
            json.dumps({"classes": cs.name, "n_classes": len(cs), "model": model, "rows": rows})
        )
        return
    t = Table(
        title=f"trainable parameters · {model} (text width {backbone.text_width}, "
        f"embed {backbone.embed_dim}) · {cs.name} ({len(cs)} classes)"
    )
    t.add_column("method")
    t.add_column("params", justify="right")
    for r in rows:
        t.add_row(r["method"], f"{r['n_params']:,}")
    out_console.print(t)


# --- sweep and table -------------------------------------------------------------------------

# varied by the sweep itself, so not accepted as pass-through options
_SWEEP_OWNED = ("method", "partial", "seed", "mask", "resume")


class SweepProgress(RichReporter):
    """One live display: a bar over the sweep's runs and one for the current epoch / cache."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        )
        self.runs = self.progress.add_task("runs", total=total, info="")
        self.task_id = None
        self.warned = False

    def random_weights(self, model_info: dict) -> None:
        if not self.warned:  # once, not once per run
            self.warned = True
            _banner(model_info)

    def message(self, text: str) -> None: ...  # per-epoch lines would flood a sweep

    def task(self, name: str, total: int) -> None:
        self.progress.start()
        self.task_id = self.progress.add_task(f"  {name}", total=total, info="")

    def advance(self, n: int = 1, **fields) -> None:
        if self.task_id is None:
            return
        if "completed" in fields:
            self.progress.update(self.task_id, completed=fields["completed"])
            return
        info = f"loss {fields['loss']:.4f}  {fields.get('img_s', 0):.0f} img/s" if fields else ""
        self.progress.update(self.task_id, advance=n, info=info)

    def done(self, **fields) -> None:
        if self.task_id is not None:
            self.progress.remove_task(self.task_id)
        self.task_id = None

    def run_start(self, index, total, run, action) -> None:
        self.progress.start()
        verb = {"skip": "skip (complete)", "resume": "resume", "start": "run"}[action]
        self.progress.update(self.runs, info=f"{verb} {run.rel}")

    def run_end(self, index, total, run, row) -> None:
        self.done()  # a run that failed mid-epoch leaves its bar behind
        self.progress.advance(self.runs)
        if row["status"] in ("failed", "conflict"):
            colour = "red" if row["status"] == "failed" else "yellow"
            self.progress.console.print(
                f"[{colour}]{row['status']}:[/{colour}] {escape(run.rel)}: "
                f"{escape(str(row['error']))}",
                soft_wrap=True,
            )
        elif row["status"] == "complete" and not self.quiet:
            self.progress.console.print(f"{escape(run.rel)}: mAP {row['map']:.2f}")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def sweep(
    ctx: typer.Context,
    dataset: str = DATASET,
    root: Path = ROOT,
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
    template: str = typer.Option(
        DEFAULT_TEMPLATE,
        help="Run directory below --out; fields {dataset} {method} {partial} {seed} {model}.",
    ),
    quiet: bool = QUIET,
    # --- scaling out (mlr/distributed.py, corpora/executors.py)
    engine: str = typer.Option(
        "local",
        help="local: one run after another here. ray: one Ray task per run "
        "(needs notclip[ray]); this process alone writes results.parquet.",
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
    """Every (method, partial, seed) as a `fit` run: skips done runs, resumes killed ones.

    Any `mlrtrain fit` option (--epochs, --model, --pretrained, --image-size, --lr, --loss-w,
    --feature-cache, …) is passed to every run.

    Rerunning skips complete runs, resumes interrupted ones and retries failed ones; a complete
    run made with other options is kept as made (status conflict, the options named). A failed
    run does not stop the sweep; failures and conflicts are listed at the end (exit status 1).
    results.parquet in --out is rewritten after every run (docs/RESULTS.md); `mlrtrain table OUT`
    builds the table.
    All runs share one feature cache, so the dense features are computed once."""
    from dataclasses import replace

    from corpora.executors import ENGINES, Resources, make_executor, take_slice
    from corpora.runio import claim_out_dir
    from corpora.sweep_results import remote_url
    from mlr.distributed import default_gpus
    from mlr.sweep import SweepConfig, parse_methods, parse_partials, parse_seeds, run_sweep

    fit_cmd = typer.main.get_command(app).commands["fit"]
    argv = [*ctx.args, "--dataset", dataset, "--root", str(root), "--out", out]
    # parsed by `fit` itself, so sweep and fit never disagree on an option (a usage error
    # propagates to typer: one message, exit status 2)
    fit_ctx = fit_cmd.make_context("mlrtrain sweep", argv)
    owned = [
        n
        for n in _SWEEP_OWNED
        if getattr(fit_ctx.get_parameter_source(n), "name", None) == "COMMANDLINE"
    ]
    if owned:
        raise typer.BadParameter(
            f"--{owned[0].replace('_', '-')} is set by the sweep itself (use --methods, "
            "--partial, --seeds, --out)"
        )
    try:
        cfg = SweepConfig(
            base=_config_from_fit_options(fit_ctx),
            out=str(out),
            methods=tuple(parse_methods(methods)),
            partials=tuple(parse_partials(partial)),
            seeds=tuple(parse_seeds(seeds)),
            template=template,
            work_dir=work_dir,
        )
        runs = cfg.plan()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if work_dir is not None and remote_url(out) is None:
        raise typer.BadParameter("only for an fsspec URL --out", param_hint="--work-dir")
    part = _part(run_index, num_runs)
    if engine not in ENGINES:
        raise typer.BadParameter(f"use one of {', '.join(ENGINES)}", param_hint="--engine")
    console.print(
        f"sweep: {len(cfg.methods)} method(s) × {len(cfg.partials)} proportion(s) × "
        f"{len(cfg.seeds)} seed(s) = {len(runs)} runs into {out}"
    )
    if part is not None:
        runs = take_slice(runs, *part)
        console.print(f"job array: slice {part[0]} of {part[1]}, {len(runs)} run(s)")
    reporter = SweepProgress(len(runs), quiet)
    executor = None
    try:
        local = remote_url(out) is None  # no other command writes to a URL: nothing to claim
        if local:
            claim_out_dir(Path(out), "mlrtrain sweep", None)
        executor = make_executor(engine, address=address, temp_under=out if local else None)
        resources = Resources(cpus=cpus_per_run, gpus=gpus_per_run or 0)
        if gpus_per_run is None and executor.parallel:
            resources = replace(resources, gpus=default_gpus(executor))
        result = run_sweep(cfg, reporter, executor=executor, resources=resources, part=part)
    except _ERRORS as exc:
        reporter.progress.stop()
        _fail(exc)
    finally:
        if executor is not None:
            executor.close()
    reporter.progress.stop()
    if result.results["random_weights"].fill_null(False).any():  # also when every run was skipped
        _banner({"random_weights": True})
    counts = result.results.group_by("status").len().sort("status").rows()
    console.print(
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
                t.add_row(r["run_dir"], escape(str(r["error"])))
            console.print(t)
    if result.failed or result.conflicts:
        raise typer.Exit(1)


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


@app.command()
def table(
    sweep_dir: list[str] = typer.Argument(
        ...,
        help="Sweep directories or fsspec URLs (results.parquet, or fit run directories below "
        "it); several "
        "(e.g. the --out of each job-array element) are joined, a run found twice is an error.",
    ),
    dataset: str | None = typer.Option(None, help="Only this dataset of the sweep."),
    fmt: str = typer.Option("markdown", "--format", help="markdown | csv | latex."),
    out_file: Path | None = typer.Option(None, "--out", help="Write the table here too."),
    paper: bool = typer.Option(
        True, "--paper/--no-paper", help="Put the paper's published numbers beside ours."
    ),
    allow_random: bool = typer.Option(
        False,
        "--allow-random",
        help="Compare runs with random weights (--pretrained none) with the paper too.",
    ),
) -> None:
    """The paper's table from a sweep directory (Markdown, CSV or LaTeX).

    One table per dataset and backbone (model, weights, input size: never pooled). Rows = methods,
    columns = 10 % … 90 % + Avg (+ the last epoch's Avg), cells mean ± std of mAP over seeds, with
    params, measured hours and devices; then ours vs the paper (published mAP, params and GPU
    hours per run, and the differences; not for random weights unless --allow-random). csv:
    every numeric column (mlr/table.py)."""
    from corpora.runio import atomic_write_text
    from mlr.table import FORMATS, build_table, render

    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    try:
        frame = build_table(sweep_dir, dataset, paper=paper, allow_random=allow_random)
        text = render(frame, fmt, compare=paper)
    except _ERRORS as exc:
        _fail(exc)
    typer.echo(text, nl=False)
    if out_file is not None:
        atomic_write_text(out_file, text)
        console.print(f"wrote {out_file}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
