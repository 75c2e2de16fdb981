"""Prompt template sets and negation styles (data in ``negation/data/templates/``).

A *setting* is what one row of the poster's table is computed from: the positive templates (P1),
the negated templates (N1) and the paraphrase (P2) — each a list of templates that is turned into
one embedding per class by an ensemble (normalise → mean → renormalise).

Built-in sets (``sets.toml``): ``single`` (the poster's P1 ``photo of a {}``, N1 ``Not a photo of
a {}``, P2 ``picture of a {}``), ``imagenet80`` (CLIP's 80 ImageNet templates), ``ensemble85``
(those + MaskCLIP's 5 scene templates, as CLIP-Surgery). For a set without an explicit paraphrase,
P1–P2 compares the ensembles of its two disjoint halves (even- vs odd-numbered templates).

Negation styles, applied to each positive template (an explicit list in the set wins):

- ``not-prefix``: ``"not " + t`` — ``a photo of a {}.`` → ``not a photo of a {}.``
- ``no``: the determiner before the class becomes ``no`` — ``a photo of the large {}.`` →
  ``a photo of no large {}.``; ``there is a {} in the scene.`` → ``there is no {} in the scene.``
- ``without``: ``of <det> … {}`` becomes ``without <det> … {}`` — ``a photo of a {}.`` →
  ``a photo without a {}.``; templates with no ``of`` before the class (``a toy {}.``) are skipped.
- ``there-is-no``: the single sentence ``there is no {} in the scene.`` (whatever the positives).

``--pairs FILE`` (TOML) defines custom settings, one table each::

    [photo-vs-no-photo]
    positive = ["a photo of a {}."]          # a string or a list
    negative = ["a photo of no {}."]
    paraphrase = ["an image of a {}."]       # optional; default: halves (≥ 2 positives) or none
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

STYLES = ("not-prefix", "no", "without", "there-is-no")
SLOT = "{}"
_DET = r"(?:a|an|the|my|one|many)"
_WORD = rf"(?:(?!(?:{_DET}|of)\b)[\w-]+\s+)"  # a modifier between determiner and class
_NO_RE = re.compile(rf"\b{_DET}\s+({_WORD}*)\{{\}}")
_WITHOUT_RE = re.compile(rf"\bof\s+({_DET}\s+{_WORD}*\{{\}})")
THERE_IS_NO = "there is no {} in the scene."


@dataclass(frozen=True)
class Setting:
    """The templates behind one (template set, style) row.

    ``paraphrase`` is ``None`` when P1–P2 compares the two halves of ``positive`` (``p2="halves"``)
    or when there is no P2 at all (``p2="none"``)."""

    templates: str
    style: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    paraphrase: tuple[str, ...] | None
    p2: str  # explicit | halves | none

    def halves(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.positive[0::2], self.positive[1::2]


@dataclass(frozen=True)
class TemplateSet:
    name: str
    description: str
    positive: tuple[str, ...]
    paraphrase: tuple[str, ...] | None
    negatives: dict[str, tuple[str, ...]]


def _check(templates: Any, where: str) -> tuple[str, ...]:
    if isinstance(templates, str):
        templates = [templates]
    if not isinstance(templates, list) or not templates:
        raise ValueError(f"{where}: expected a template or a non-empty list of templates")
    out = []
    for t in templates:
        if not isinstance(t, str) or t.count(SLOT) != 1:
            raise ValueError(f"{where}: template {t!r} must contain '{{}}' exactly once")
        out.append(t)
    return tuple(out)


def _read_template_file(name: str) -> tuple[str, ...]:
    text = resources.files("negation").joinpath(f"data/templates/{name}").read_text("utf-8")
    lines = [ln.strip() for ln in text.splitlines()]
    return _check([ln for ln in lines if ln and not ln.startswith("#")], f"templates/{name}")


def load_template_set(name: str) -> TemplateSet:
    """A built-in template set: ``single``, ``imagenet80`` or ``ensemble85``."""
    raw = resources.files("negation").joinpath("data/templates/sets.toml").read_text("utf-8")
    sets = tomllib.loads(raw)
    if name not in sets:
        raise ValueError(f"unknown template set {name!r}: use one of {', '.join(sets)}")
    spec = sets[name]
    where = f"template set {name!r}"
    positive = list(_check(spec["positive"], where)) if "positive" in spec else []
    for file in spec.get("positive_files", []):
        positive.extend(_read_template_file(file))
    paraphrase = _check(spec["paraphrase"], where) if "paraphrase" in spec else None
    negatives = {
        s: _check(t, f"{where}, negative.{s}") for s, t in spec.get("negative", {}).items()
    }
    return TemplateSet(name, spec.get("description", ""), tuple(positive), paraphrase, negatives)


def negate(template: str, style: str) -> str | None:
    """The negated form of one positive template, or ``None`` when the style does not apply."""
    if style == "not-prefix":
        return "not " + template
    if style == "no":
        out, n = _NO_RE.subn(lambda m: "no " + m.group(1) + SLOT, template, count=1)
        return out if n else template.replace(SLOT, "no " + SLOT)
    if style == "without":
        out, n = _WITHOUT_RE.subn(lambda m: "without " + m.group(1), template, count=1)
        return out if n else None
    if style == "there-is-no":
        return THERE_IS_NO
    raise ValueError(f"unknown negation style {style!r}: use one of {', '.join(STYLES)}")


def setting(tset: TemplateSet, style: str) -> Setting:
    """The (template set, negation style) setting."""
    if style in tset.negatives:
        negative = tset.negatives[style]
    else:
        negated = [negate(t, style) for t in tset.positive]
        negative = tuple(dict.fromkeys(t for t in negated if t is not None))
        if not negative:
            raise ValueError(f"style {style!r} applies to no template of set {tset.name!r}")
    p2 = "explicit" if tset.paraphrase else ("halves" if len(tset.positive) >= 2 else "none")
    return Setting(tset.name, style, tset.positive, negative, tset.paraphrase, p2)


def load_pairs(path: str | Path) -> list[Setting]:
    """Custom settings from a TOML ``--pairs`` file (see the module docstring)."""
    path = Path(path).expanduser()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as err:
        raise ValueError(f"pairs file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"pairs file {path}: invalid TOML ({err})") from err
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if not tables:
        raise ValueError(f"pairs file {path}: no [name] tables with positive/negative templates")
    out = []
    for name, spec in tables.items():
        where = f"pairs file {path}, [{name}]"
        unknown = set(spec) - {"positive", "negative", "paraphrase"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("positive", "negative"):
            if key not in spec:
                raise ValueError(f"{where}: missing '{key}'")
        positive = _check(spec["positive"], where)
        paraphrase = _check(spec["paraphrase"], where) if "paraphrase" in spec else None
        p2 = "explicit" if paraphrase else ("halves" if len(positive) >= 2 else "none")
        out.append(
            Setting(
                f"pairs:{name}", "pairs", positive, _check(spec["negative"], where), paraphrase, p2
            )
        )
    return out


def fill(templates: tuple[str, ...], name: str) -> list[str]:
    """The prompts of ``templates`` for one class name."""
    return [t.replace(SLOT, name) for t in templates]
