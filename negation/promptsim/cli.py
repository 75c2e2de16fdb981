"""``promptsim``: how close does a text encoder put "photo of a dog" and "Not a photo of a dog"?

Subcommands: ``table`` (the poster's prompt-similarity table; also what ``promptsim OPTIONS``
without a subcommand runs), ``maps`` (similarity maps of dense image features), ``absence``
(do negated prompts detect absence? zero-shot AUROC/AP per class) and ``negbench``
(:mod:`negation.negbench.cli`). ``promptsim`` alone prints the help. A thin typer layer in the
commands' dialect (:mod:`corpora.cli`) over the runners of :mod:`negation.promptsim.runs`.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from corpora import cli
from negation.negbench.cli import negbench_cmd
from negation.promptsim import options as o

app = cli.make_app(
    "promptsim",
    "How close does CLIP put 'photo of a dog' and 'Not a photo of a dog'? "
    "`promptsim table` prints the poster's prompt-similarity table (mean ± std (min, max) "
    "over classes, raw and centred cosines); `promptsim maps` draws similarity maps of "
    "dense image features with a positive and a negated prompt. `promptsim --classes coco` "
    "(options without a subcommand) runs `table`.",
)
PER_CLASS_OUT = "Write per_class.parquet, summary.json and run.json here."


@app.command("table")
def table_cmd(
    classes: cli.ClassesOpt = "coco",
    templates: o.TableTemplates = "single,ensemble85",
    style: o.TableStyle = "not-prefix",
    pairs: o.Pairs = None,
    model: cli.ModelOpt = "RN101",
    pretrained: cli.PretrainedOpt = "openai",
    cache_dir: cli.CacheDirOpt = None,
    offline: cli.OfflineOpt = False,
    device: cli.DeviceOpt = "auto",
    precision: cli.PrecisionOpt = "fp32",
    seed: o.InitSeed = 0,
    batch_size: o.BatchOpt = None,
    text_cache: o.TextCacheOpt = Path(o.DEFAULT_TEXT_CACHE),
    no_text_cache: o.NoCacheOpt = False,
    out: Annotated[Path | None, cli.out_param(PER_CLASS_OUT)] = None,
    fmt: o.FormatOpt = "table",
    digits: o.Digits = 2,
    quiet: cli.QuietOpt = False,
) -> None:
    """The poster's table: cos(P1, N1) and cos(P1, P2) per class, mean ± std (min, max).

    P1 'photo of a {}', N1 'Not a photo of a {}', P2 'picture of a {}' (template set single); for
    ensembles P1/N1 are template ensembles (normalise → mean → renormalise) and P1–P2 compares the
    ensembles of the two halves of the templates. Raw cosines and centred ones (the mean positive
    text feature over all classes subtracted before normalising) side by side, plus the fraction
    of classes whose negation is closer to P1 than the paraphrase is; over COCO, the poster's
    published means beside ours. csv: one row per statistic (per_class's summary rows); json: the
    summary.json object."""
    from corpora import formats
    from corpora.labels import model_label
    from corpora.schema import C
    from negation.promptsim import inputs, render, runs

    with o.errors():
        if out:
            from corpora.runio import claim_out_dir

            claim_out_dir(out, "promptsim table", None)
        config = runs.TableConfig(
            classes=classes, templates=templates, style=style, pairs=pairs,
            batch_size=batch_size, text_cache=o.text_cache_dir(text_cache, no_text_cache), out=out,
        )  # fmt: skip
        backbone = inputs.load_backbone(
            model, pretrained, cache_dir=cache_dir, offline=offline, device=device,
            precision=precision, seed=seed,
        )  # fmt: skip
        with cli.stage_bars(quiet) as progress:  # on stderr: never mixed into a csv/json stdout
            run = runs.table(config, backbone, progress)
    class_set, weights = config.class_set, run.info[C.pretrained]
    title = f"promptsim — {model_label(model, weights)} — {class_set.name} ({len(class_set)} "
    grid = render.promptsim_table(run.result, digits, title + "classes)")
    grids = [grid]
    if class_set.name == "coco" and run.control:
        aside = f"Not beside the poster: {runs.NOT_THE_POSTERS}."
        grids = [replace(grid, notes=[*grid.notes, aside])]
    elif class_set.name == "coco":
        grids.append(render.reference_table(run.result.rows))
    formats.emit(fmt, grids, data=run.summary, records=run.result.rows)
    if backbone.random_weights:
        o.random_weights_banner(run.info)
    if out is not None and not quiet:
        cli.stderr.print(f"wrote {out}/per_class.parquet, summary.json, run.json")


@app.command("maps")
def maps_cmd(
    images: o.Images,
    classes: cli.ClassesOpt,
    out: Annotated[Path, cli.out_param("Output directory.")],
    positive: o.Positive = "A photo of a {}",
    negative: o.Negative = "Not a photo of a {}",
    image_size: o.MapsImageSize = None,
    preprocess: o.MapsPreprocess = o.Preprocess.squash,
    model: cli.ModelOpt = "RN101",
    pretrained: cli.PretrainedOpt = "openai",
    cache_dir: cli.CacheDirOpt = None,
    offline: cli.OfflineOpt = False,
    device: cli.DeviceOpt = "auto",
    precision: cli.PrecisionOpt = "fp32",
    seed: o.InitSeed = 0,
    text_cache: o.TextCacheOpt = Path(o.DEFAULT_TEXT_CACHE),
    no_text_cache: o.NoCacheOpt = False,
    fmt: o.MapsFormatOpt = "table",
    quiet: cli.QuietOpt = False,
) -> None:
    """Similarity maps of dense image features with the positive and the negated prompt.

    Per image and class: OUT/<image>/<class>.{positive,negative}.npy (raw cosine grid) and .png
    (min–max normalised viridis heatmap over the image as the model saw it, a colour bar below
    stating the map's cosine range), indexed in OUT/maps.parquet; the model's view of each image
    is saved in OUT/views. --preprocess squash (default) keeps the whole image, as the
    multi-label anchors' dense features; crop is the model's own eval transform. Printed: the
    index (one row per map: its cosine range and files)."""
    from corpora import formats
    from corpora.runio import claim_out_dir
    from negation.promptsim import inputs, render, runs

    with o.errors():
        claim_out_dir(out, "promptsim maps", None)
        config = runs.MapsConfig(
            images=tuple(images), classes=classes, out=out, positive=positive, negative=negative,
            text_cache=o.text_cache_dir(text_cache, no_text_cache), preprocess=preprocess.value,
        )  # fmt: skip
        backbone = inputs.load_backbone(
            model, pretrained, cache_dir=cache_dir, offline=offline, device=device,
            precision=precision, seed=seed, image_size=image_size,
        )  # fmt: skip
        with cli.stage_bars(quiet) as progress:
            run = runs.maps(config, backbone, progress)
    rows = run.index.to_dicts()
    formats.emit(fmt, [render.maps_table(run, model)], data=rows, records=rows)
    if not quiet:
        cli.stderr.print(f"wrote {run.index.height} maps to {out} (index: {out}/maps.parquet)")
    if backbone.random_weights:
        o.random_weights_banner(run.info)


@app.command("absence")
def absence_cmd(
    dataset: o.Dataset,
    root: o.Root,
    split: o.SplitOpt = "test",
    classes: cli.DataClassesOpt = None,
    voc_difficult: o.AbsenceVocDifficult = "ignore",
    templates: o.AbsenceTemplates = "single",
    style: o.AbsenceStyle = "not-prefix",
    image_size: o.AbsenceImageSize = None,
    preprocess: o.AbsencePreprocess = o.Preprocess.crop,
    batch_size: o.ImageBatch = 32,
    skip_bad_images: o.SkipBadImagesOpt = False,
    model: cli.ModelOpt = "RN101",
    pretrained: cli.PretrainedOpt = "openai",
    cache_dir: cli.CacheDirOpt = None,
    offline: cli.OfflineOpt = False,
    device: cli.DeviceOpt = "auto",
    precision: cli.PrecisionOpt = "fp32",
    seed: o.InitSeed = 0,
    text_cache: o.TextCacheOpt = Path(o.DEFAULT_TEXT_CACHE),
    no_text_cache: o.NoCacheOpt = False,
    out: Annotated[Path | None, cli.out_param(PER_CLASS_OUT)] = None,
    fmt: o.FormatOpt = "table",
    quiet: cli.QuietOpt = False,
) -> None:
    """Do negated prompts detect absence? Zero-shot AUROC / AP per class.

    Per class: AUROC and AP of the positive prompt for presence, of the negated prompt for
    absence, and of the negated prompt for presence (> 0.5: it fires on the object). Global
    (CLIP's image embedding, through --preprocess: by default the model's own eval transform,
    shortest side + centre crop) and dense (max over regions of the whole image squashed to a
    square) variants; VOC difficult entries are left out. Means over classes printed; per-class
    numbers in --out (`paperfigs absence` draws them). csv: the means, one row per variant and
    prompt; json: the summary.json object."""
    from corpora import formats
    from corpora.runio import claim_out_dir
    from negation.promptsim import inputs, render, runs

    with o.errors():
        if out:
            claim_out_dir(out, "promptsim absence", None)
        config = runs.AbsenceConfig(
            dataset=dataset, root=root, split=split, classes=classes, voc_difficult=voc_difficult,
            templates=templates, style=style, image_size=image_size, preprocess=preprocess.value,
            batch_size=batch_size,
            skip_bad_images=skip_bad_images, text_cache=o.text_cache_dir(text_cache, no_text_cache),
            out=out,
        )  # fmt: skip
        data = runs.load_absence_data(config)
        backbone = inputs.load_backbone(
            model, pretrained, cache_dir=cache_dir, offline=offline, device=device,
            precision=precision, seed=seed, image_size=image_size,
        )  # fmt: skip
        with cli.stage_bars(quiet) as progress:
            run = runs.absence(config, backbone, progress, data=data)
    grid = render.absence_table(config, run, model)
    formats.emit(fmt, [grid], data=run.summary, records=run.rows)
    if backbone.random_weights:
        o.random_weights_banner(run.info)
    if out is not None and not quiet:
        cli.stderr.print(f"wrote {out}/per_class.parquet, summary.json, run.json")


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
