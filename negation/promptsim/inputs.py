"""What a promptsim run (and ``promptsim negbench``) resolves and loads before it computes: the
class set, the template settings, the backbone, the labelled split; a bad option value is an
:class:`OptionError` naming the option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpora.classes import ClassSet, load_classes


class OptionError(ValueError):
    """A bad option value; ``option`` names it (``--classes``), or ``None`` for the whole set."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


def resolve_classes(spec: str) -> ClassSet:
    """``coco | voc | nuswide | FILE | 'cat,dog,…' | NAME`` → ClassSet."""
    try:
        return load_classes(spec)
    except ValueError as err:
        raise OptionError(str(err), "--classes") from None


def load_backbone(
    model: str,
    pretrained: str,
    *,
    cache_dir: str | None = None,
    offline: bool = False,
    device: str = "auto",
    precision: str = "fp32",
    seed: int = 0,
    image_size: int | None = None,
) -> Any:
    """The backbone of a promptsim run (:func:`backbone.load_backbone`)."""
    from backbone import BackboneConfig
    from backbone import load_backbone as load

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
    return load(cfg)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def resolve_settings(templates: str, style: str, pairs: Path | None) -> list[Any]:
    """Template sets × negation styles, plus the custom settings of a ``pairs`` TOML file."""
    from negation.promptsim.templates import STYLES, load_pairs, load_template_set, setting

    styles = list(STYLES) if style.strip() == "all" else _split(style)
    for s in styles:
        if s not in STYLES:
            raise OptionError(f"unknown style {s!r}: use {', '.join(STYLES)} or all", "--style")
    names = [] if templates.strip() == "none" else _split(templates)
    out: list[Any] = []
    for name in names:
        try:
            tset = load_template_set(name)
        except ValueError as err:
            raise OptionError(str(err), "--templates") from None
        out.extend(setting(tset, s) for s in styles)
    if pairs is not None:
        try:
            out.extend(load_pairs(pairs))
        except ValueError as err:
            raise OptionError(str(err), "--pairs") from None
    if not out:
        raise OptionError("nothing to compute: give --templates or --pairs")
    return out


def check_preprocess(value: str) -> None:
    from backbone.config import PREPROCESS

    if value not in PREPROCESS:
        raise OptionError(f"use {' or '.join(PREPROCESS)}, not {value!r}", "--preprocess")


def load_labelled_split(config: Any) -> Any:
    """The labelled split a config names (``dataset``, ``root``, ``split``, ``skip_bad_images``,
    ``voc_difficult``, ``classes``: absence's and negbench's options); a missing root is an
    option error, and so is an unknown dataset."""
    from corpora.multilabel import DATASETS, load_split

    if config.dataset not in DATASETS:
        raise OptionError(f"use one of {', '.join(DATASETS)}, not {config.dataset!r}", "--dataset")
    try:
        return load_split(
            config.dataset,
            config.root,
            config.split,
            skip_bad_images=config.skip_bad_images,
            voc_difficult=config.voc_difficult,
            classes=config.classes,
        )
    except FileNotFoundError as err:
        raise OptionError(str(err), "--root") from None
