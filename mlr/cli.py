"""``mlrtrain``: multi-label recognition with partial labels on frozen CLIP (Baseline, DualCoOp,
PositiveCoOp, NegativeCoOp). A thin typer layer over :mod:`mlr.train` (``fit``, ``eval``,
``cache``, ``params``) and :mod:`mlr.cli_sweep` (``sweep``, ``table``); results go to stdout,
progress and messages to stderr (:mod:`corpora.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from corpora.cli import (
    CacheDirOpt,
    ClassesOpt,
    ModelOpt,
    OfflineOpt,
    PretrainedOpt,
    QuietOpt,
    format_param,
    hidden_aliases,
    make_app,
    stderr,
    stdout,
)
from corpora.formats import FORMATS
from mlr.cli_options import config_from, run_errors, run_options
from mlr.cli_sweep import sweep, table

app = make_app(
    "mlrtrain",
    "Multi-label recognition with partial labels on a frozen CLIP backbone: train and "
    "evaluate Baseline / DualCoOp / PositiveCoOp / NegativeCoOp heads (docs/METHODS.md §1–3).",
)
FormatOpt = Annotated[str, format_param(FORMATS)]


@app.command()
@run_options()
def fit(
    options: dict[str, Any], config: str | None, fmt: FormatOpt = "table", quiet: QuietOpt = False
) -> None:
    """Train one head and evaluate it; writes a run directory (docs/RESULTS.md). Printed: the
    test metrics (json: the metrics.json object; csv: its scalar fields)."""
    from corpora.locks import cannot_lock, writing
    from corpora.runio import claim_out_dir
    from mlr.config import check_weights

    cfg = config_from(options, config)
    out = Path(cfg.out).expanduser()
    with run_errors():
        claim_out_dir(out, "mlrtrain fit", None)  # (before the lock: no lock file if refused)
        check_weights(cfg)  # missing weights are said before PyTorch is imported
        from mlr.cli_progress import RichReporter, banner
        from mlr.train import fit as fit_run

        with writing(out, "mlrtrain fit") as held:  # one fit per --out at a time
            if not held:
                stderr.print(f"[yellow]warning:[/] {cannot_lock(out)}", highlight=False)
            result = fit_run(cfg, reporter=RichReporter(quiet=quiet))
    _print_metrics(result.metrics, fmt)
    stderr.print(f"run directory: {result.run_dir}")
    banner(result.metrics)


def _print_metrics(m: dict, fmt: str) -> None:
    from corpora.formats import emit
    from corpora.schema import C
    from mlr.report import metrics_grid, num, scalars

    emit(fmt, [metrics_grid(m)], data=m, records=scalars(m))
    if C.map_last in m:
        from corpora.labels import epoch_label

        epochs = m[C.last_epoch] + 1
        stderr.print(
            f"test mAP (headline: --select {m[C.select]}): selected epoch "
            f"{epoch_label(m[C.best_epoch], epochs)} {num(m[C.map_selected])}, last epoch "
            f"{epoch_label(m[C.last_epoch], epochs)} {num(m[C.map_last])}",
            highlight=False,
        )
    if m.get(C.protocol) == "anchors":
        stderr.print(
            "[yellow]protocol 'anchors': the epoch was chosen on the TEST split; this "
            "number is optimistic.[/yellow]"
        )


_CACHE_OPTIONS = (
    *("dataset", "root", "classes", "voc_difficult", "skip_bad_images", "model", "pretrained"),
    *("image_size", "preprocess", "seed", "aug_views", "device", "cache_dir", "offline"),
    "feature_cache",
    "workers",
)


@app.command()
@run_options(only=_CACHE_OPTIONS, preset=False)
def cache(
    options: dict[str, Any],
    batch_size: int = typer.Option(100, help="Images per forward pass."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the cache's size and location; build nothing."
    ),
    quiet: QuietOpt = False,
) -> None:
    """Precompute dense features (train clean + K augmented views, test clean) for `fit`.

    The fp16 memory-mapped cache that `fit` uses. Resumable: rerun to finish an interrupted
    build."""
    from mlr.config import check_weights

    cfg = config_from({**options, "eval_batch_size": batch_size}, required=("root",))
    views = 1 + cfg.aug_views
    with run_errors():
        if not dry_run:
            check_weights(cfg)  # missing weights are said before PyTorch is imported
        from backbone.dense import dense_shape
        from backbone.features import describe_cache
        from backbone.training import RichReporter
        from mlr.inputs import feature_sources, load_backbone_for, load_splits

        train, test = load_splits(cfg)
        if dry_run:  # from the model's config alone: no weights are loaded or downloaded
            _, regions, dims = dense_shape(cfg.model, cfg.image_size)
            where = Path(cfg.feature_cache).expanduser()
            text = describe_cache(where, len(train), len(test), views, regions, dims)
            stdout.print(text, highlight=False, soft_wrap=True)
            return
        tr, _ = feature_sources(cfg, load_backbone_for(cfg), train, test, RichReporter(quiet=quiet))
    shape = tr.cached[0].shape
    stderr.print(
        f"cached {len(train)} train × {views} views and {len(test)} test images, "
        f"{shape[1]} regions × {shape[2]} dims, under {cfg.feature_cache}"
    )


@app.command("eval")
def eval_(
    run_dir: Path = typer.Argument(
        ..., help="A run directory written by `mlrtrain fit`.", exists=True, file_okay=False
    ),
    checkpoint: str = typer.Option("best", help="best | last | prev (the epoch before last)."),
    device: str | None = typer.Option(None, help="Override the run's device."),
    fmt: FormatOpt = "table",
    quiet: QuietOpt = False,
) -> None:
    """Re-evaluate a run's checkpoint on its test split (writes eval.json in the run dir), with
    the run's own model, input size and image transform (--preprocess) from its run.json.
    Printed: the test metrics (json: the eval.json object; csv: its scalar fields)."""
    from mlr.cli_progress import RichReporter, banner
    from mlr.evaluation import evaluate_run

    with run_errors():
        m = evaluate_run(run_dir, checkpoint, device, RichReporter(quiet=quiet))
    _print_metrics(m, fmt)
    banner(m)


@app.command(cls=hidden_aliases({"--json": ("--format", "json")}))
def params(
    classes: ClassesOpt = "coco",
    model: ModelOpt = "RN101",
    pretrained: PretrainedOpt = "none",
    cache_dir: CacheDirOpt = None,
    offline: OfflineOpt = False,
    n_ctx: int = typer.Option(16, help="Context tokens per prompt."),
    csc: bool = typer.Option(True, "--csc/--generic-context", help="Class-specific context."),
    fmt: FormatOpt = "table",
) -> None:
    """Trainable parameters of the four heads (the paper's #Params column)."""
    from backbone import BackboneConfig, load_backbone, require_images
    from corpora.classes import load_classes
    from corpora.formats import emit
    from mlr.report import params_grid

    with run_errors():
        cs = load_classes(classes)
        loaded = load_backbone(
            BackboneConfig(
                model=model,
                pretrained=pretrained,
                cache_dir=cache_dir,
                offline=offline,
                device="cpu",
            )
        )
        backbone = require_images(loaded, "mlrtrain params")
        from mlr.heads import param_table  # PyTorch: after the weights' checks

        rows = param_table(cs.names, backbone, n_ctx=n_ctx, class_specific=csc)
    info = {"classes": cs.name, "n_classes": len(cs), "model": model, "rows": rows}
    title = (
        f"trainable parameters · {model} (text width {backbone.text_width}, "
        f"embed {backbone.embed_dim}) · {cs.name} ({len(cs)} classes)"
    )
    records = [{"model": model, "classes": cs.name, **r} for r in rows]
    emit(fmt, [params_grid(rows, title)], data=info, records=records)


app.command()(sweep)
app.command()(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
