"""Prompt-similarity statistics (docs/METHODS.md §4): how close are "photo of a dog", "Not a photo
of a dog" and "picture of a dog" in a text encoder's space? Pure functions on embeddings.

For each class c and setting (template set × negation style, :mod:`negation.promptsim.templates`):

- ``P1_c``, ``N1_c``: ensemble embeddings of the positive / negated templates (each prompt
  L2-normalised, averaged over templates, renormalised). ``P2_c``: the paraphrase ensemble; when a
  set has no explicit paraphrase, P1–P2 compares its two halves ``A_c`` (even-numbered templates)
  and ``B_c`` (odd-numbered): ``cos(A_c, B_c)``.
- pairs ``P1-N1`` = cos(P1_c, N1_c) and ``P1-P2`` = cos(P1_c, P2_c).
- spaces: ``raw`` (the cosines above) and ``centred``: every vector ``v`` of the setting becomes
  ``normalise(v − μ)`` with ``μ = mean_c P1_c``, the mean positive text feature over all classes
  (CLIP-Surgery's redundant-feature removal), before the cosine. Centring needs at least two
  distinct class prompts (with one, ``P1_c − μ = 0``): below that the centred values are null,
  with a ``note``, never 0.
- ``negation_closer_c`` = cos(P1_c, N1_c) > cos(P1_c, P2_c) (same space); its mean over classes is
  ``frac_negation_closer``.
- summary over classes: mean, std (population, ddof = 0), min, max, n.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from corpora.schema import PROMPTSIM_PER_CLASS, C
from negation.promptsim.templates import Setting, fill

if TYPE_CHECKING:
    import torch

SPACES = ("raw", "centred")
P2_STYLE = "-"  # the style column of P1-P2 rows: the paraphrase does not depend on the style

Encoder = Callable[[list[str]], np.ndarray]


def normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def ensemble(
    encode: Callable[[list[str]], Any], names: Sequence[str], templates: Sequence[str]
) -> torch.Tensor:
    """Per-class template ensembles ``[C, D]`` (a tensor, in ``encode``'s dtype): open_clip's
    ``build_zero_shot_classifier`` (normalise each prompt, mean over the templates, renormalise),
    with our encoder beneath it: ``encode(texts)`` → ``[N, D]`` embeddings (EOT-truncated and
    cached by the backbone). Its "tokenizer" runs ``encode``, its ``encode_text`` normalises."""
    import torch
    import torch.nn.functional as F
    from open_clip import build_zero_shot_classifier

    class Encoded:
        def __call__(self, texts: list[str]) -> torch.Tensor:
            return torch.as_tensor(encode(texts))

        def encode_text(self, emb: torch.Tensor, *, normalize: bool = False) -> torch.Tensor:
            return F.normalize(emb, dim=-1) if normalize else emb

    filled = [lambda name, t=t: fill((t,), name)[0] for t in templates]
    model = Encoded()
    return build_zero_shot_classifier(model, model, names, filled, num_classes_per_batch=None).T


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a_i, b_i) for each row i."""
    return np.sum(normalise(a) * normalise(b), axis=-1)


def centre(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``normalise(x − mean)``."""
    return normalise(x - mean)


def summarise(values: Sequence[float] | np.ndarray) -> dict[str, float | int]:
    """mean, std (ddof = 0), min, max and n of one cosine per class."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to summarise")
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        C.min: float(v.min()),
        C.max: float(v.max()),
        C.n: int(v.size),
    }


def format_stat(row: dict[str, Any], digits: int = 2) -> str:
    """The poster's cell format: ``0.58 ± 0.06 (0.37, 0.69)``; ``undefined`` for a null mean."""
    if row["mean"] is None:
        return "undefined"
    f = f"{{:.{digits}f}}"
    return (
        f"{f.format(row['mean'])} ± {f.format(row['std'])} "
        f"({f.format(row[C.min])}, {f.format(row[C.max])})"
    )


def setting_texts(s: Setting, names: Sequence[str]) -> list[str]:
    """Every prompt a setting needs for these class names."""
    groups = [s.positive, s.negative, *([s.paraphrase] if s.paraphrase else [])]
    return [text for name in names for group in groups for text in fill(group, name)]


@dataclass(frozen=True)
class SettingVectors:
    """Per-class ensemble vectors of one setting (rows follow the class order)."""

    p1: np.ndarray
    n1: np.ndarray
    p2_left: np.ndarray | None  # P1 (explicit paraphrase) or half A
    p2_right: np.ndarray | None  # P2 (explicit paraphrase) or half B


def setting_vectors(
    s: Setting, names: Sequence[str], lookup: Callable[[list[str]], np.ndarray]
) -> SettingVectors:
    """Ensemble vectors of setting ``s``; ``lookup(texts)`` → ``[N, D]`` embeddings."""

    def ens(templates: tuple[str, ...]) -> np.ndarray:
        return ensemble(lookup, names, templates).numpy()

    p1, n1 = ens(s.positive), ens(s.negative)
    if s.p2 == "explicit":
        assert s.paraphrase is not None
        return SettingVectors(p1, n1, p1, ens(s.paraphrase))
    if s.p2 == "halves":
        left, right = s.halves()
        return SettingVectors(p1, n1, ens(left), ens(right))
    return SettingVectors(p1, n1, None, None)


def centring_note(class_names: Sequence[str]) -> str | None:
    """Why the centred space is undefined for these classes, or ``None`` when it is defined."""
    n = len({name.casefold() for name in class_names})
    if n >= 2:
        return None
    return (
        f"centring undefined: it subtracts the mean over classes, which needs at least 2 "
        f"distinct class prompts (got {n})"
    )


def pair_cosines(
    v: SettingVectors, spaces: Sequence[str] = SPACES
) -> dict[tuple[str, str], np.ndarray]:
    """``{(pair, space): cosine per class}`` for one setting."""
    mu = v.p1.mean(axis=0)
    out: dict[tuple[str, str], np.ndarray] = {}
    for space in spaces:

        def t(x: np.ndarray, space: str = space) -> np.ndarray:
            return centre(x, mu) if space == "centred" else x

        out[("P1-N1", space)] = rowwise_cosine(t(v.p1), t(v.n1))
        if v.p2_left is not None and v.p2_right is not None:
            out[("P1-P2", space)] = rowwise_cosine(t(v.p2_left), t(v.p2_right))
    return out


@dataclass(frozen=True)
class PromptSimResult:
    per_class: pl.DataFrame  # model, pretrained, class, templates, style, pair, space, cosine, …
    rows: list[dict[str, Any]]  # summary rows
    frac_negation_closer: list[dict[str, Any]]


def compute_promptsim(
    encode: Encoder,
    class_keys: Sequence[str],
    class_names: Sequence[str],
    settings: Sequence[Setting],
    model: str = "",
    pretrained: str = "",
) -> PromptSimResult:
    """All settings' per-class cosines and their summaries.

    ``encode(texts)`` → ``[N, D]`` embeddings (normalised or not); it is called once, on the
    de-duplicated prompts of all settings. With fewer than two distinct classes the centred
    values are null and carry :func:`centring_note` (``note`` in rows and the per-class table)."""
    if not settings:
        raise ValueError("no settings to compute")
    texts = list(dict.fromkeys(t for s in settings for t in setting_texts(s, class_names)))
    emb = np.asarray(encode(texts), dtype=np.float64)
    if emb.shape[0] != len(texts):
        raise ValueError(f"encoder returned {emb.shape[0]} embeddings for {len(texts)} texts")
    index = {t: i for i, t in enumerate(texts)}

    def lookup(batch: list[str]) -> np.ndarray:
        return emb[[index[t] for t in batch]]

    records: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    fracs: list[dict[str, Any]] = []
    p2_done: set[str] = set()
    notes = {"raw": None, "centred": centring_note(class_names)}  # why a space is undefined
    defined = [space for space in SPACES if notes[space] is None]
    undefined = [None] * len(class_keys)  # the values of an undefined space
    for s in settings:
        cos = pair_cosines(setting_vectors(s, class_names, lookup), defined)
        has_p2 = ("P1-P2", "raw") in cos
        for space in SPACES:
            neg = cos.get(("P1-N1", space), undefined)
            para = cos.get(("P1-P2", space), undefined) if has_p2 else None
            closer: Any = (neg > para) if para is not None and notes[space] is None else None
            for i, key in enumerate(class_keys):
                records.append(
                    _record(model, pretrained, key, s.templates, s.style, "P1-N1", space, neg[i])
                    | {C.negation_closer: None if closer is None else bool(closer[i])}
                    | {C.note: notes[space]}
                )
            rows.append(_row(s, s.style, "P1-N1", space, neg, notes[space]))
            fracs.append(
                {
                    C.templates: s.templates,
                    C.style: s.style,
                    C.space: space,
                    "frac": None if closer is None else float(np.mean(closer)),
                    C.n: len(class_keys) if notes[space] is None else 0,
                    C.note: notes[space],
                }
            )
        if has_p2 and s.templates not in p2_done:
            p2_done.add(s.templates)
            for space in SPACES:
                para = cos.get(("P1-P2", space), undefined)
                for i, key in enumerate(class_keys):
                    records.append(
                        _record(
                            model, pretrained, key, s.templates, P2_STYLE, "P1-P2", space, para[i]
                        )
                        | {C.negation_closer: None, C.note: notes[space]}
                    )
                rows.append(_row(s, P2_STYLE, "P1-P2", space, para, notes[space]))
    per_class = pl.DataFrame(records, schema=PROMPTSIM_PER_CLASS, orient="row")
    return PromptSimResult(per_class, rows, fracs)


def _record(
    model: str,
    pretrained: str,
    key: str,
    templates: str,
    style: str,
    pair: str,
    space: str,
    value: float | None,
) -> dict[str, Any]:
    return {
        C.model: model,
        C.pretrained: pretrained,
        C.class_: key,
        C.templates: templates,
        C.style: style,
        C.pair: pair,
        C.space: space,
        C.cosine: None if value is None else float(value),
    }


def _row(
    s: Setting, style: str, pair: str, space: str, values: Any, note: str | None
) -> dict[str, Any]:
    by_pair: dict[str, dict[str, Any]] = {
        "P1-N1": {"n_positive": len(s.positive), "n_negative": len(s.negative)},
        "P1-P2": {"p2": s.p2, "n_paraphrase": len(s.paraphrase or ())},
    }
    n_templates = by_pair[pair]
    return {
        C.templates: s.templates,
        C.style: style,
        C.pair: pair,
        C.space: space,
        **(summarise(values) if note is None else UNDEFINED),
        **n_templates,
        C.note: note,
    }


UNDEFINED: dict[str, float | int | None] = {
    "mean": None,
    "std": None,
    C.min: None,
    C.max: None,
    C.n: 0,
}
