"""The work of ``promptsim table``, ``maps`` and ``absence``, callable from Python.

Each runner takes a frozen config (the command's options, validated when it is built), a loaded
backbone (:func:`backbone.load_backbone`) and an optional progress callback
``progress(stage, advance, total)``; it never prints. With ``config.out`` set it writes the result
directory (``docs/RESULTS.md``) as the command does::

    from negation.promptsim.runs import TableConfig, table
    result = table(TableConfig(classes="coco"), backbone)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpora.classes import ClassSet, check_distinct
from corpora.reference import paper_cosines
from corpora.runio import (
    atomic_write_json,
    atomic_write_parquet,
    claim_out_dir,
    run_info,
    write_run_json,
)
from corpora.schema import C
from negation.promptsim.inputs import (
    OptionError,
    check_preprocess,
    load_labelled_split,
    resolve_classes,
    resolve_settings,
)

if TYPE_CHECKING:
    import polars as pl

Progress = Callable[[str, int, int | None], None]  # (stage, advance, total)

NOT_THE_POSTERS = (
    "the poster's numbers are CLIP text cosines; a sentence-transformers encoder is a control "
    "and is not compared with them"
)


def _silent(stage: str, advance: int, total: int | None) -> None:
    """The default progress callback: nothing."""


def _cache_str(cache: Path | None) -> str | None:
    return None if cache is None else str(cache)


def _as_paths(config: Any, *names: str) -> None:
    """Strings given for path fields (a notebook's ``out="runs/x"``) → ``Path``."""
    for name in names:
        value = getattr(config, name)
        if value is not None:
            object.__setattr__(config, name, Path(value))


# ---- table ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableConfig:
    classes: str = "coco"
    templates: str = "single,ensemble85"
    style: str = "not-prefix"
    pairs: Path | None = None
    batch_size: int | None = None
    text_cache: Path | None = None  # None: no cache
    out: Path | None = None
    class_set: ClassSet = field(init=False, repr=False, compare=False)
    settings: list[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _as_paths(self, "pairs", "text_cache", "out")
        object.__setattr__(self, "class_set", resolve_classes(self.classes))
        object.__setattr__(
            self, "settings", resolve_settings(self.templates, self.style, self.pairs)
        )


@dataclass(frozen=True)
class TableResult:
    result: Any  # negation.promptsim.similarity.PromptSimResult
    summary: dict[str, Any]  # the summary.json object
    info: dict[str, Any]  # the backbone's info()
    control: bool  # a sentence-transformers encoder: not compared with the poster
    out: Path | None


def table(config: TableConfig, backbone: Any, progress: Progress = _silent) -> TableResult:
    """The poster's prompt-similarity table (``promptsim table``)."""
    from negation.promptsim.similarity import compute_promptsim

    stage = "encoding prompts"
    model = backbone.config.model
    class_set = config.class_set
    if config.out:
        claim_out_dir(config.out, "promptsim table", None)

    def encode(texts: list[str]) -> Any:
        progress(stage, 0, len(texts))
        emb = backbone.encode_text(
            texts,
            batch_size=config.batch_size,
            cache=config.text_cache,
            progress=lambda n: progress(stage, n, None),
        )
        return emb.numpy()

    info = backbone.info()
    weights = info[C.pretrained]  # "sentence-transformers" for st: models
    control = info["backend"] == "sentence-transformers"
    result = compute_promptsim(
        encode, class_set.keys, class_set.names, config.settings, model, weights
    )
    summary = {
        C.model: model,
        C.pretrained: weights,
        C.classes: class_set.name,
        C.n_classes: len(class_set),
        C.random_weights: backbone.random_weights,
        **({C.warning: info[C.warning]} if backbone.random_weights else {}),
        C.centring: "v -> normalise(v - mean over classes of the P1 ensemble vectors)",
        C.rows: result.rows,
        C.frac_negation_closer: result.frac_negation_closer,
        C.poster_reference: None if control else paper_cosines().to_dicts(),
        **({C.poster_reference_note: NOT_THE_POSTERS} if control else {}),
    }
    out = config.out
    if out is not None:
        atomic_write_parquet(out / "per_class.parquet", result.per_class)
        run_config = {
            "classes": config.classes,
            "templates": config.templates,
            "style": config.style,
            "pairs": str(config.pairs) if config.pairs else None,
            "batch_size": config.batch_size,
            "text_cache": _cache_str(config.text_cache),
            "backbone": asdict(backbone.config),
            "settings": [asdict(s) for s in config.settings],
        }
        inputs = {"classes": {"spec": config.classes, "name": class_set.name, "n": len(class_set)}}
        write_run_json(
            out,
            run_info(
                "promptsim table", run_config, inputs=inputs, model=info, seed=backbone.config.seed
            ),
        )
        atomic_write_json(out / "summary.json", summary)  # after run.json (corpora.runio.REPORTS)
    return TableResult(result, summary, info, control, out)


# ---- maps -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapsConfig:
    images: tuple[Path, ...]
    classes: str
    out: Path
    positive: str = "A photo of a {}"
    negative: str = "Not a photo of a {}"
    text_cache: Path | None = None  # None: no cache
    preprocess: str = "squash"  # the image transform (dense features: the whole image)
    class_set: ClassSet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_preprocess(self.preprocess)
        _as_paths(self, "text_cache", "out")
        object.__setattr__(self, "images", tuple(Path(p) for p in self.images))
        object.__setattr__(self, "class_set", resolve_classes(self.classes))
        for path in self.images:
            if not path.is_file():
                raise OptionError(f"image {path} does not exist", "IMAGES")


@dataclass(frozen=True)
class MapsResult:
    index: pl.DataFrame  # maps.parquet
    info: dict[str, Any]
    out: Path


def maps(config: MapsConfig, backbone: Any, progress: Progress = _silent) -> MapsResult:
    """Similarity maps of dense image features with the two prompts (``promptsim maps``); the
    backbone is loaded at the maps' input size (``BackboneConfig.image_size``), the images go
    through ``config.preprocess``."""
    from negation.promptsim.maps import write_maps

    backbone = backbone.with_preprocess(config.preprocess)
    out, class_set, images = config.out, config.class_set, list(config.images)
    claim_out_dir(out, "promptsim maps", None)
    progress("images", 0, len(images))
    index = write_maps(
        backbone,
        images,
        class_set.keys,
        class_set.names,
        out,
        config.positive,
        config.negative,
        config.text_cache,
        progress=lambda n: progress("images", n, None),
    )
    run_config = {
        "images": [str(p) for p in images],
        "classes": config.classes,
        "positive": config.positive,
        "negative": config.negative,
        "text_cache": _cache_str(config.text_cache),
        "preprocess": config.preprocess,
        "backbone": asdict(backbone.config),
    }
    inputs = {
        "images": [{"path": str(p), "bytes": p.stat().st_size} for p in images],
        "classes": {"spec": config.classes, "name": class_set.name, "n": len(class_set)},
    }
    info, seed = backbone.info(), backbone.config.seed
    write_run_json(
        out, run_info("promptsim maps", run_config, inputs=inputs, model=info, seed=seed)
    )
    return MapsResult(index, info, out)


# ---- absence ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AbsenceConfig:
    dataset: str
    root: Path
    split: str = "test"
    classes: str | None = None  # class list of generic/hf data
    voc_difficult: str = "ignore"
    templates: str = "single"
    style: str = "not-prefix"
    image_size: int | None = None  # of the dense variant; None: the model's
    preprocess: str = "crop"  # the global variant's image transform (dense: always squash)
    batch_size: int = 32
    skip_bad_images: bool = False
    text_cache: Path | None = None  # None: no cache
    out: Path | None = None
    setting: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_preprocess(self.preprocess)
        _as_paths(self, "root", "text_cache", "out")
        if self.split not in ("train", "test"):
            raise OptionError("use train or test", "--split")
        chosen = resolve_settings(self.templates, self.style, None)
        if len(chosen) != 1:
            raise OptionError("give one template set and one style", "--style")
        object.__setattr__(self, "setting", chosen[0])


def load_absence_data(config: AbsenceConfig) -> Any:
    """The split to score (``corpora.multilabel.MultiLabelData``), checked: not empty, distinct
    class names."""
    data = load_labelled_split(config)
    where = f"{config.dataset} at {config.root}"
    if len(data) == 0:
        raise ValueError(f"{where}: the {config.split} split has no image")
    check_distinct(data.classes.names, f"{where}: classes")
    return data


@dataclass(frozen=True)
class AbsenceResult:
    per_class: pl.DataFrame  # per_class.parquet
    rows: list[dict[str, Any]]  # the means over classes
    summary: dict[str, Any]  # the summary.json object
    info: dict[str, Any]
    n_images: int
    n_classes: int
    out: Path | None


def absence(
    config: AbsenceConfig, backbone: Any, progress: Progress = _silent, data: Any = None
) -> AbsenceResult:
    """Zero-shot AUROC / AP of positive and negated prompts per class (``promptsim absence``);
    ``data``: the split already loaded by :func:`load_absence_data` (default: load it)."""
    from negation.promptsim.absence import (
        per_class_table,
        prompt_features,
        score_split,
        summarise,
        transforms,
    )

    backbone = backbone.with_preprocess(config.preprocess)  # the global variant's
    if config.out:
        claim_out_dir(config.out, "promptsim absence", None)
    if data is None:
        data = load_absence_data(config)
    setting, cache = config.setting, config.text_cache
    text = prompt_features(
        lambda texts: backbone.encode_text(texts, cache=cache), setting, data.classes.names
    )
    stage = f"scoring {config.split} images"
    progress(stage, 0, len(data))
    scores = score_split(
        backbone,
        data,
        text,
        config.image_size,
        config.batch_size,
        progress=lambda n: progress(stage, n, None),
    )
    per_class = per_class_table(scores, data.labels, data.classes.keys)
    rows = summarise(per_class)
    seen = transforms(backbone, config.image_size)  # each variant's image transform
    info = {**backbone.info(), C.preprocessing: seen}
    summary = {
        C.dataset: config.dataset,
        C.split: config.split,
        C.n_images: len(data),
        C.classes: list(data.classes.keys),
        C.n_classes: len(data.classes),
        C.voc_difficult: config.voc_difficult,
        C.templates: setting.templates,
        C.style: setting.style,
        C.positive: list(setting.positive),
        C.negative: list(setting.negative),
        C.variants: {
            "global": f"cos(encode_image, prompt) through {seen['global']['resize']}",
            "dense": "max over spatial regions of cos(dense feature, prompt) through "
            f"{seen['dense']['resize']}",
        },
        C.model: backbone.config.model,
        C.pretrained: info[C.pretrained],
        C.random_weights: backbone.random_weights,
        **({C.warning: info[C.warning]} if backbone.random_weights else {}),
        C.rows: rows,
    }
    out = config.out
    if out is not None:
        atomic_write_parquet(out / "per_class.parquet", per_class)
        run_config = {
            "dataset": config.dataset,
            "root": str(config.root),
            "split": config.split,
            "classes": config.classes,
            "voc_difficult": config.voc_difficult,
            "templates": config.templates,
            "style": config.style,
            "image_size": config.image_size,
            "preprocess": config.preprocess,
            "batch_size": config.batch_size,
            "skip_bad_images": config.skip_bad_images,
            "text_cache": _cache_str(cache),
            "backbone": asdict(backbone.config),
        }
        inputs = {
            "dataset": {
                "name": config.dataset,
                "root": str(config.root),
                "split": config.split,
                "n_images": len(data),
                "skipped": data.skipped,
            }
        }
        write_run_json(
            out,
            run_info(
                "promptsim absence",
                run_config,
                inputs=inputs,
                model=info,
                seed=backbone.config.seed,
            ),
        )
        atomic_write_json(out / "summary.json", summary)  # after run.json (corpora.runio.REPORTS)
    n = (len(data), len(data.classes))
    return AbsenceResult(per_class, rows, summary, info, *n, out)
