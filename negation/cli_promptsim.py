"""``promptsim``: how close does a text encoder put "photo of a dog" and "Not a photo of a dog"?

Subcommands: ``table`` (the poster's prompt-similarity table; also what ``promptsim OPTIONS``
without a subcommand runs), ``maps`` (similarity maps of dense image features) and ``absence``
(do negated prompts detect absence? zero-shot AUROC/AP per class). ``promptsim``
alone prints the help.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from corpora.cli import check_out
from corpora.launch import add_version_option
from corpora.runio import claim_out_dir
from negation import promptsim_render as render
from negation import promptsim_runs as runs

app = typer.Typer(
    name="promptsim",
    help=(
        "How close does CLIP put 'photo of a dog' and 'Not a photo of a dog'? "
        "`promptsim table` prints the poster's prompt-similarity table (mean ± std (min, max) "
        "over classes, raw and centred cosines); `promptsim maps` draws similarity maps of "
        "dense image features with a positive and a negated prompt. `promptsim --classes coco` "
        "(options without a subcommand) runs `table`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
add_version_option(app)
console = Console()
err_console = Console(stderr=True)

FORMATS = ("rich", "markdown", "csv", "json")
DEFAULT_TEXT_CACHE = "~/.cache/notclip/text-embeddings"

# ---- shared model options ---------------------------------------------------------------------
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="open_clip model name (RN101, ViT-B-32, …), an open_clip model config FILE (.json) "
        "or folder, or st:NAME_OR_DIR for a sentence-transformers text encoder (text only, a "
        "control; st:all-MiniLM-L6-v2 is bundled).",
    ),
]
PretrainedOpt = Annotated[
    str,
    typer.Option(
        "--pretrained",
        help="Weights: a tag of the model (openai, laion400m_e32, …), a checkpoint FILE, "
        "local-dir:PATH, or none (random weights — numbers then mean nothing).",
    ),
]
CacheDirOpt = Annotated[
    str | None, typer.Option("--cache-dir", help="Where model weights are cached.")
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Never download: use cached weights or fail clearly.")
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (CUDA when available) | cpu | cuda.")
]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="fp32 | bf16 | fp16.")]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Seed of the random init (--pretrained none).")
]
BatchOpt = Annotated[
    int | None,
    typer.Option("--batch-size", help="Prompts per batch (default: 1024 on GPU, 256 on CPU)."),
]
TextCacheOpt = Annotated[
    Path,
    typer.Option(
        "--text-cache",
        help="On-disk text-embedding cache (keyed by model, weights and text); re-runs are free.",
    ),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-text-cache", help="Do not use the text cache.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
# the labelled-dataset options (absence, negbench)
SplitOpt = Annotated[str, typer.Option("--split", help="train | test.")]
DataClassesOpt = Annotated[
    str | None,
    typer.Option("--classes", help="Class list for generic/hf data (coco|voc|FILE|a,b)."),
]
SkipBadImagesOpt = Annotated[
    bool, typer.Option("--skip-bad-images", help="Leave out missing images (recorded).")
]


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Known failures → one red line and a non-zero exit, no stack trace."""
    from mlr.backbone import MissingWeightsError, TextOnlyError

    try:
        yield
    except runs.OptionError as err:
        raise typer.BadParameter(str(err), param_hint=err.option) from None
    except MissingWeightsError as err:
        err_console.print(f"[bold red]missing weights:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except (ValueError, TextOnlyError) as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _load_backbone(
    model: str,
    pretrained: str,
    cache_dir: str | None,
    offline: bool,
    device: str,
    precision: str,
    seed: int,
    image_size: int | None = None,
    *,
    quiet: bool = False,
) -> Any:
    """The backbone; ``quiet``: without the loaders' own bars (Hugging Face downloads, the
    sentence-transformers backend's ``Loading weights``)."""
    from mlr.backbone import ST_PREFIX, BackboneConfig, load_backbone

    if quiet:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
        if model.startswith(ST_PREFIX):
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

    cfg = BackboneConfig(
        model=model,
        pretrained=pretrained,
        cache_dir=cache_dir,
        offline=offline,
        device=device,
        precision=precision,
        image_size=image_size,
        seed=seed,
    )
    return load_backbone(cfg)  # the RANDOM WEIGHTS banner: once, after the command's results


def _random_weights_banner(info: dict[str, Any]) -> None:
    from mlr.backbone import random_weights_banner

    err_console.print(random_weights_banner(info), highlight=False)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
        transient=True,
    )


def _bar(progress: Progress) -> runs.Progress:
    """A runner's ``progress(stage, advance, total)`` drawn as one bar per stage."""
    tasks: dict[str, Any] = {}

    def update(stage: str, advance: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        elif total is not None:
            progress.update(tasks[stage], total=total)
        if advance:
            progress.advance(tasks[stage], advance)

    return update


@app.command("table")
def table_cmd(
    classes: Annotated[
        str, typer.Option("--classes", help="coco | voc | nuswide | FILE | 'cat,dog,…' | one NAME.")
    ] = "coco",
    templates: Annotated[
        str,
        typer.Option(
            "--templates",
            help="Comma-separated template sets: single (the poster's 1-prompt row), "
            "imagenet80, ensemble85 (the poster's 85-prompt row); none = only --pairs.",
        ),
    ] = "single,ensemble85",
    style: Annotated[
        str,
        typer.Option(
            "--style",
            help="Negation styles, comma-separated or all: not-prefix ('not ' + template; "
            "the poster's 'Not a photo of a {}' for single), no ('a photo of no {}'), without "
            "('a photo without a {}'), there-is-no ('there is no {} in the scene.').",
        ),
    ] = "not-prefix",
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="TOML file of custom settings: \\[name] tables with positive, negative and "
            "optional paraphrase templates ('{}' = class).",
        ),
    ] = None,
    model: ModelOpt = "RN101",
    pretrained: PretrainedOpt = "openai",
    cache_dir: CacheDirOpt = None,
    offline: OfflineOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    seed: SeedOpt = 0,
    batch_size: BatchOpt = None,
    text_cache: TextCacheOpt = Path(DEFAULT_TEXT_CACHE),
    no_text_cache: NoCacheOpt = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write per_class.parquet, summary.json and run.json here."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="stdout: rich | markdown | csv (the table) or json (the summary.json object).",
        ),
    ] = "rich",
    digits: Annotated[int, typer.Option("--digits", help="Decimals in the table.")] = 2,
    quiet: QuietOpt = False,
) -> None:
    """The poster's table: cos(P1, N1) and cos(P1, P2) per class, mean ± std (min, max).

    P1 'photo of a {}', N1 'Not a photo of a {}', P2 'picture of a {}' (template set single); for
    ensembles P1/N1 are template ensembles (normalise → mean → renormalise) and P1–P2 compares the
    ensembles of the two halves of the templates. Raw cosines and centred ones (the mean positive
    text feature over all classes subtracted before normalising) side by side, plus the fraction
    of classes whose negation is closer to P1 than the paraphrase is."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    check_out(out)
    with _user_errors():
        if out:
            claim_out_dir(out, "promptsim table", None)
        config = runs.TableConfig(
            classes=classes,
            templates=templates,
            style=style,
            pairs=pairs,
            batch_size=batch_size,
            text_cache=None if no_text_cache else text_cache.expanduser(),
            out=out,
        )
        backbone = _load_backbone(
            model, pretrained, cache_dir, offline, device, precision, seed, quiet=quiet
        )
        with _progress(quiet) as progress:  # on stderr: never mixed into a csv/json stdout
            run = runs.table(config, backbone, _bar(progress))
        class_set, weights = config.class_set, run.info["pretrained"]
        if fmt == "json":  # the same object as summary.json
            print(json.dumps(run.summary, indent=2))
        else:
            title = f"promptsim — {model} / {weights} — {class_set.name} ({len(class_set)} classes)"
            shown = render.promptsim_table(run.result, fmt, digits, title)
            if isinstance(shown, Table):
                console.print(shown)
            else:
                print(shown, end="")
        if fmt == "rich" and class_set.name == "coco":
            if run.control:
                console.print(f"Not beside the poster: {runs.NOT_THE_POSTERS}.", highlight=False)
            else:
                console.print(render.reference_table(run.result.rows))
        if backbone.random_weights:
            _random_weights_banner(run.info)
        if out is not None and fmt == "rich":
            console.print(f"wrote {out}/per_class.parquet, summary.json, run.json")


@app.command("maps")
def maps_cmd(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, …).")],
    classes: Annotated[
        str, typer.Option("--classes", help="coco | voc | nuswide | FILE | 'cat,dog,…' | one NAME.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    positive: Annotated[
        str, typer.Option("--positive", help="Positive prompt template ('{}' = class).")
    ] = "A photo of a {}",
    negative: Annotated[
        str, typer.Option("--negative", help="Negated prompt template ('{}' = class).")
    ] = "Not a photo of a {}",
    image_size: Annotated[
        int | None,
        typer.Option("--image-size", help="Square input size (default: the model's; paper 448)."),
    ] = None,
    model: ModelOpt = "RN101",
    pretrained: PretrainedOpt = "openai",
    cache_dir: CacheDirOpt = None,
    offline: OfflineOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    seed: SeedOpt = 0,
    text_cache: TextCacheOpt = Path(DEFAULT_TEXT_CACHE),
    no_text_cache: NoCacheOpt = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no closing line.")
    ] = False,
) -> None:
    """Similarity maps of dense image features with the positive and the negated prompt.

    Per image and class: OUT/<image>/<class>.{positive,negative}.npy (raw cosine grid) and .png
    (min–max normalised viridis heatmap over the image, a colour bar below stating the map's
    cosine range), indexed in OUT/maps.parquet."""
    check_out(out)
    with _user_errors():
        claim_out_dir(out, "promptsim maps", None)
        config = runs.MapsConfig(
            images=tuple(images),
            classes=classes,
            out=out,
            positive=positive,
            negative=negative,
            text_cache=None if no_text_cache else text_cache.expanduser(),
        )
        backbone = _load_backbone(
            model, pretrained, cache_dir, offline, device, precision, seed, image_size, quiet=quiet
        )
        with _progress(quiet) as progress:
            run = runs.maps(config, backbone, _bar(progress))
        if not quiet:
            console.print(f"wrote {run.index.height} maps to {out} (index: {out}/maps.parquet)")
        if backbone.random_weights:
            _random_weights_banner(run.info)


@app.command("absence")
def absence_cmd(
    dataset: Annotated[
        str, typer.Option("--dataset", help="coco | voc | nuswide | generic | hf (as mlrtrain).")
    ],
    root: Annotated[Path, typer.Option("--root", help="Dataset root directory.")],
    split: SplitOpt = "test",
    classes: DataClassesOpt = None,
    voc_difficult: Annotated[
        str,
        typer.Option(
            "--voc-difficult",
            help="VOC difficult-only classes: ignore (left out of that class) | negative.",
        ),
    ] = "ignore",
    templates: Annotated[
        str,
        typer.Option(
            "--templates",
            help="Template set: single (P 'photo of a {}', N 'Not a photo of a {}'), "
            "imagenet80, ensemble85 (ensembles).",
        ),
    ] = "single",
    style: Annotated[
        str, typer.Option("--style", help="Negation style: not-prefix | no | without | …")
    ] = "not-prefix",
    image_size: Annotated[
        int | None,
        typer.Option(
            "--image-size",
            help="Input size of the dense variant (default: the model's; paper 448). The "
            "global variant always runs at the model's native size.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per batch.")] = 32,
    skip_bad_images: SkipBadImagesOpt = False,
    model: ModelOpt = "RN101",
    pretrained: PretrainedOpt = "openai",
    cache_dir: CacheDirOpt = None,
    offline: OfflineOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    seed: SeedOpt = 0,
    text_cache: TextCacheOpt = Path(DEFAULT_TEXT_CACHE),
    no_text_cache: NoCacheOpt = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write per_class.parquet, summary.json and run.json here."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Do negated prompts detect absence? Zero-shot AUROC / AP per class.

    Per class: AUROC and AP of the positive prompt for presence, of the negated prompt for
    absence, and of the negated prompt for presence (> 0.5: it fires on the object). Global
    (CLIP's image embedding) and dense (max over regions) variants; VOC difficult entries are
    left out. Means over classes printed; per-class numbers in --out (`paperfigs absence` draws
    them)."""
    check_out(out)
    with _user_errors():
        if out:
            claim_out_dir(out, "promptsim absence", None)
        config = runs.AbsenceConfig(
            dataset=dataset,
            root=root,
            split=split,
            classes=classes,
            voc_difficult=voc_difficult,
            templates=templates,
            style=style,
            image_size=image_size,
            batch_size=batch_size,
            skip_bad_images=skip_bad_images,
            text_cache=None if no_text_cache else text_cache.expanduser(),
            out=out,
        )
        data = runs.load_absence_data(config)
        backbone = _load_backbone(
            model, pretrained, cache_dir, offline, device, precision, seed, image_size, quiet=quiet
        )
        with _progress(quiet) as progress:
            run = runs.absence(config, backbone, _bar(progress), data=data)
        console.print(render.absence_table(config, run, model))
        if backbone.random_weights:
            _random_weights_banner(run.info)
        if out is not None and not quiet:
            console.print(f"wrote {out}/per_class.parquet, summary.json, run.json")


from negation.cli_negbench import negbench_cmd  # noqa: E402

app.command("negbench")(negbench_cmd)


def with_default_command(argv: list[str]) -> list[str]:
    """``promptsim --classes coco`` → ``promptsim table --classes coco``."""
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    if argv and argv[0] not in commands and argv[0] not in ("--help", "-h", "--version"):
        return ["table", *argv]
    return argv


def main() -> None:
    app(args=with_default_command(sys.argv[1:]), prog_name="promptsim")


if __name__ == "__main__":
    main()
