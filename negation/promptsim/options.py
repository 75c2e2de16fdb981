"""The options of promptsim's commands (the common ones are the dialect's, :mod:`corpora.cli`):
declarations only, for :mod:`negation.promptsim.cli` and :mod:`negation.negbench.cli`."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer

from backbone.config import Preprocess
from corpora import cli
from corpora.formats import FORMATS
from negation.negbench.families import describe

DEFAULT_TEXT_CACHE = "~/.cache/notclip/text-embeddings"

BatchOpt = Annotated[
    int | None,
    typer.Option("--batch-size", help="Prompts per batch (default: 1024 on GPU, 256 on CPU)."),
]
TEXT_CACHE = typer.Option(
    "--text-cache",
    help="On-disk text-embedding cache (keyed by model, weights and text); re-runs are free.",
)
TextCacheOpt = Annotated[Path, TEXT_CACHE]
NoCacheOpt = Annotated[bool, typer.Option("--no-text-cache", help="Do not use the text cache.")]
FormatOpt = Annotated[str, cli.format_param(FORMATS)]
MapsFormatOpt = Annotated[str, cli.format_param(("table", "json", "csv"))]  # a list of files
InitSeed = Annotated[int, cli.seed_param("the random init of --pretrained none")]
NegbenchSeed = Annotated[
    int,
    cli.seed_param(
        "the questions, the answer positions, the bootstrap and the random init of "
        "--pretrained none"
    ),
]

# table
TableTemplates = Annotated[
    str,
    typer.Option(
        "--templates",
        help="Comma-separated template sets: single (the poster's 1-prompt row), "
        "imagenet80, ensemble85 (the poster's 85-prompt row); none = only --pairs.",
    ),
]
TableStyle = Annotated[
    str,
    typer.Option(
        "--style",
        help="Negation styles, comma-separated or all: not-prefix ('not ' + template; "
        "the poster's 'Not a photo of a {}' for single), no ('a photo of no {}'), without "
        "('a photo without a {}'), there-is-no ('there is no {} in the scene.').",
    ),
]
Pairs = Annotated[
    Path | None,
    typer.Option(
        "--pairs",
        help="TOML file of custom settings: \\[name] tables with positive, negative and "
        "optional paraphrase templates ('{}' = class).",
    ),
]
Digits = Annotated[int, typer.Option("--digits", help="Decimals in the table.")]

# the image transform (images of maps, absence, negbench)
MODES = (
    "crop = the model's own open_clip eval transform (shortest side resized, centre crop; "
    "NegBench, CLIP_benchmark and zero-shot papers) | squash = the whole image resized to a "
    "square, no crop (dense features, the multi-label anchors)"
)


def _preprocess(help: str) -> typer.models.OptionInfo:
    return typer.Option("--preprocess", help=help)


PreprocessOpt = Annotated[Preprocess, _preprocess(f"Image transform: {MODES}.")]
MapsPreprocess = Annotated[
    Preprocess,
    _preprocess(
        f"Image transform: {MODES}. The maps are drawn over the image as the model saw it."
    ),
]
AbsencePreprocess = Annotated[
    Preprocess,
    _preprocess(
        f"Image transform of the global variant (CLIP's image embedding): {MODES}. The dense "
        "variant always squashes (every labelled object stays in view, as mlrtrain)."
    ),
]

# maps
Images = Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, …).")]
Positive = Annotated[
    str, typer.Option("--positive", help="Positive prompt template ('{}' = class).")
]
Negative = Annotated[
    str, typer.Option("--negative", help="Negated prompt template ('{}' = class).")
]
MapsImageSize = Annotated[
    int | None,
    typer.Option("--image-size", help="Square input size (default: the model's; paper 448)."),
]

# the labelled-dataset commands (absence, negbench)
Dataset = Annotated[
    str, typer.Option("--dataset", help="coco | voc | nuswide | generic | hf (as mlrtrain).")
]
Root = Annotated[Path, typer.Option("--root", help="Dataset root directory.")]
SplitOpt = Annotated[str, typer.Option("--split", help="train | test.")]
SkipBadImagesOpt = Annotated[
    bool, typer.Option("--skip-bad-images", help="Leave out missing images (recorded).")
]
AbsenceVocDifficult = Annotated[
    str,
    typer.Option(
        "--voc-difficult",
        help="VOC difficult-only classes: ignore (left out of that class) | negative.",
    ),
]
AbsenceTemplates = Annotated[
    str,
    typer.Option(
        "--templates",
        help="Template set: single (P 'photo of a {}', N 'Not a photo of a {}'), "
        "imagenet80, ensemble85 (ensembles).",
    ),
]
AbsenceStyle = Annotated[
    str, typer.Option("--style", help="Negation style: not-prefix | no | without | …")
]
AbsenceImageSize = Annotated[
    int | None,
    typer.Option(
        "--image-size",
        help="Input size of the dense variant (default: the model's; paper 448). The "
        "global variant always runs at the model's native size.",
    ),
]
ImageBatch = Annotated[int, typer.Option("--batch-size", help="Images per batch.")]

# negbench
NegbenchVocDifficult = Annotated[
    str,
    typer.Option(
        "--voc-difficult",
        help="VOC difficult-only objects: ignore (neither present nor absent; never negated) "
        "| negative.",
    ),
]
Tasks = Annotated[
    str | None,
    typer.Option(
        "--tasks",
        help="Comma-separated: mcq, existence, retrieval (default: all; mcq for --negbench-csv).",
    ),
]
NegbenchTemplates = Annotated[
    str,
    typer.Option(
        "--templates",
        help=f"Caption families, comma-separated: {describe()}.",
    ),
]
MaxImages = Annotated[
    int | None,
    typer.Option("--max-images", min=1, help="MCQ/existence on this many drawn images."),
]
MaxQueries = Annotated[
    int, typer.Option("--max-queries", min=1, help="Retrieval (A, N) pairs drawn.")
]
Bootstrap = Annotated[
    int, typer.Option("--bootstrap", min=10, help="Bootstrap resamples for the CIs.")
]
Questions = Annotated[
    Path | None,
    typer.Option("--questions", help="Score the questions of this file (--export-questions)."),
]
ExportQuestions = Annotated[
    Path | None,
    typer.Option(
        "--export-questions",
        help="Write the questions to this Parquet file and stop (no model is run).",
    ),
]
NegbenchCsv = Annotated[
    Path | None,
    typer.Option("--negbench-csv", help="NegBench's released MCQ CSV (instead of --dataset)."),
]
NegbenchImages = Annotated[
    Path | None, typer.Option("--images", help="Folder holding the images of --negbench-csv.")
]
ModelsFile = Annotated[
    Path | None,
    typer.Option(
        "--models-file",
        help="CLIP_benchmark model list (one 'model,pretrained' a line): one result folder "
        "per model under --out; a finished one is reused when made with the same options, else "
        "kept as made and reported as a conflict.",
    ),
]


# ---- the commands' error policy and shared option handling (promptsim and negbench) ----
def errors() -> AbstractContextManager[None]:
    """The dialect's error policy with promptsim's library errors: a bad option value (an
    unknown --model too) is a usage error naming it; missing weights and a text-only model name
    their flag."""
    from backbone import TextOnlyError
    from backbone.config import UnknownModelError, backbone_hints
    from negation.promptsim.inputs import OptionError

    return cli.input_errors(
        hints={**backbone_hints(), TextOnlyError: "--model"},
        usage=(OptionError, UnknownModelError),
    )


def random_weights_banner(info: dict[str, Any]) -> None:
    """The RANDOM WEIGHTS banner on stderr."""
    from backbone import random_weights_banner as banner

    cli.stderr.print(banner(info), highlight=False)


def text_cache_dir(text_cache: Path | None, no_text_cache: bool) -> Path | None:  # noqa: FBT001
    """The text cache directory of ``--text-cache``/``--no-text-cache`` (None: no cache)."""
    return None if no_text_cache else Path(text_cache or DEFAULT_TEXT_CACHE).expanduser()
