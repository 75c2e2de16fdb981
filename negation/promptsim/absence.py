"""Do negated prompts detect absence? Zero-shot scores of every image of a multi-label split with
the positive prompt P ("photo of a {}") and the negated prompt N ("Not a photo of a {}"), per class.

Per image i and class c, with L2-normalised features:

- ``global``: ``s = cos(g_i, t_c)``, ``g_i`` CLIP's own image embedding (``encode_image``: the
  attention pool / class token) at the model's native input size, through the backbone's
  transform (``--preprocess``: by default ``crop``, the model's own eval transform, as zero-shot
  CLIP is evaluated);
- ``dense``: ``s = max_r cos(f_{i,r}, t_c)`` over the spatial regions ``r`` of the dense features
  (:meth:`~backbone.model.Backbone.dense_features`, the global token 0 left out) at
  ``image_size``, always of the whole image squashed to a square (as mlrtrain's dense features:
  a crop would cut labelled objects at the edges out of view).

``t_c`` is the ensemble (normalise → mean → renormalise) of the setting's positive or negated
templates (:mod:`.templates`; default the ``single`` set, P1 and its ``not-prefix`` N1).

Per class and variant: AUROC and AP of P for *presence* (label 1), of N for *absence* (label 0),
and of N for presence — above 0.5 when the negated prompt fires on the object. Entries labelled −1
(VOC difficult-only under ``ignore``) are left out of that class. AUROC(N, presence) =
1 − AUROC(N, absence) exactly (same scores, complementary targets); its AP is not redundant.
AUROC is undefined (null) for a class without both targets in the split, as is AP without a
positive of its target. All values are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F

from backbone import require_images
from backbone.metrics import average_precision
from corpora.schema import ABSENCE_PER_CLASS, C
from negation.promptsim.similarity import ensemble
from negation.promptsim.templates import Setting

VARIANTS = ("global", "dense")
# (prompt, target) rows reported per class and variant
COMPARISONS = (("P", "presence"), ("N", "absence"), ("N", "presence"))


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` for ``labels`` (1 positive, 0 negative, −1 ignored):
    the Mann–Whitney probability that a positive outscores a negative, ties counting ½ (average
    ranks). ``None`` without at least one positive and one negative."""
    labels = np.asarray(labels)
    keep = labels >= 0
    s = np.asarray(scores, dtype=np.float64)[keep]
    y = labels[keep] == 1
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # average rank (1-based) of each run of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + 1 + b) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def target_labels(labels: np.ndarray, target: str) -> np.ndarray:
    """Labels of one class for ``presence`` (as given) or ``absence`` (1 ↔ 0, −1 kept)."""
    labels = np.asarray(labels)
    if target == "presence":
        return labels
    if target == "absence":
        return np.where(labels < 0, labels, 1 - labels)
    raise ValueError(f"target must be presence or absence, not {target!r}")


def prompt_features(
    encode: Callable[[list[str]], torch.Tensor], setting: Setting, names: Sequence[str]
) -> dict[str, torch.Tensor]:
    """``{"P": [C, D], "N": [C, D]}``: the normalised template ensembles of each class."""
    return {
        prompt: ensemble(lambda texts: encode(texts).float(), names, templates)
        for prompt, templates in (("P", setting.positive), ("N", setting.negative))
    }


def transforms(backbone, image_size: int | None = None) -> dict[str, dict]:
    """Per variant, the image transform it uses (:meth:`Backbone.preprocessing`): ``global`` the
    backbone's own at the native size, ``dense`` a square resize at ``image_size``."""
    return {
        "global": backbone.preprocessing(backbone.native_image_size),
        "dense": backbone.preprocessing(image_size, "squash"),
    }


@dataclass
class AbsenceScores:
    """Cosine scores ``[N, C]`` per variant and prompt."""

    scores: dict[tuple[str, str], np.ndarray]  # (variant, prompt) -> [N, C]


def score_split(
    backbone,
    split,
    text: dict[str, torch.Tensor],
    image_size: int | None = None,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> AbsenceScores:
    """Global and dense cosine scores of every image of ``split`` with the P and N features."""
    require_images(backbone, "an image transform")
    d_tf = backbone.image_transform(image_size, "squash")  # as transforms() states
    g_tf = backbone.image_transform(backbone.native_image_size)
    t = {k: F.normalize(v, dim=-1).to(backbone.device) for k, v in text.items()}
    parts: dict[tuple[str, str], list[np.ndarray]] = {
        (v, p): [] for v in VARIANTS for p in ("P", "N")
    }
    for start in range(0, len(split), batch_size):
        images = [split.image(i) for i in range(start, min(len(split), start + batch_size))]
        g_in = torch.stack([g_tf(im) for im in images]).to(backbone.device, backbone.dtype)
        d_in = torch.stack([d_tf(im) for im in images])
        with torch.no_grad():
            g = F.normalize(backbone.model.encode_image(g_in).float(), dim=-1)
            regions = F.normalize(backbone.dense_features(d_in)[:, 1:].float(), dim=-1)
            for p, tp in t.items():
                parts[("global", p)].append((g @ tp.T).cpu().numpy())
                dense = torch.einsum("brd,cd->brc", regions, tp).amax(dim=1)
                parts[("dense", p)].append(dense.cpu().numpy())
        if progress is not None:
            progress(len(images))
    return AbsenceScores({k: np.concatenate(v) for k, v in parts.items()})


def per_class_table(
    scores: AbsenceScores, labels: np.ndarray, class_keys: Sequence[str]
) -> pl.DataFrame:
    """The tidy ``per_class.parquet`` frame (docs/RESULTS.md)."""
    rows = []
    for variant in VARIANTS:
        for prompt, target in COMPARISONS:
            s = scores.scores[(variant, prompt)]
            for c, key in enumerate(class_keys):
                y = target_labels(labels[:, c], target)
                ap = average_precision(s[:, c], y)
                rows.append(
                    {
                        C.class_: key,
                        C.variant: variant,
                        C.prompt: prompt,
                        C.target: target,
                        C.auroc: auroc(s[:, c], y),
                        C.ap: ap,
                        C.n_target: int((y == 1).sum()),
                        C.n_other: int((y == 0).sum()),
                    }
                )
    return pl.DataFrame(rows, schema=ABSENCE_PER_CLASS, orient="row")


def summarise(per_class: pl.DataFrame) -> list[dict]:
    """Per (variant, prompt, target): mean AUROC and AP over the classes where each is defined,
    the number of such classes and the fraction with AUROC above 0.5."""
    out = (
        per_class.group_by(C.variant, C.prompt, C.target, maintain_order=True)
        .agg(
            auroc_mean=pl.col(C.auroc).mean(),
            ap_mean=pl.col(C.ap).mean(),
            n_classes=pl.col(C.auroc).is_not_null().sum().cast(pl.Int64),
            frac_auroc_above_half=(pl.col(C.auroc) > 0.5).mean(),
        )
        .to_dicts()
    )
    return out
