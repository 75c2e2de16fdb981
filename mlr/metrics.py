"""Multi-label evaluation: mAP, CF1 (both definitions), OF1, per-class AP.

- **AP** is the non-interpolated average precision of each class,
  ``Σ_k (R_k − R_{k−1}) · P_k`` over the distinct score thresholds in descending order. Tied scores
  form one threshold, so this equals ``sklearn.metrics.average_precision_score`` per class, ties
  included (the anchors' ASL code breaks ties by sort order instead; docs/METHODS.md §3.1);
  tied infinite scores are one threshold too. NaN scores are refused (``ValueError``).
- **mAP** = 100 × the mean AP over the classes that have at least one positive among the evaluated
  entries. A class with no positive has no defined AP: it is reported as ``None`` and left out of
  the mean (the anchors count it as 0); ``n_classes_evaluated`` says how many classes entered.
- Entries labelled −1 (unknown: VOC ``difficult`` under ``ignore``, or masked validation labels)
  are left out of every metric.
- Scores are the logit differences ``l₊ − l₋`` (:func:`mlr.losses.logit_difference`), not
  ``σ(l₊ − l₋)``: the ranking is the same, but fp32 σ saturates to exactly 1.0 for large
  differences and would tie a perfect ranking (AP 0.5 instead of 1.0 on two such scores).
- At threshold 0 on ``l₊ − l₋`` (that is, ``σ(l₊ − l₋) ≥ 0.5``): per-class precision P_c and
  recall R_c (0 when TP_c = 0), **CP**, **CR** their means; **cf1_mean_of_f1** = mean over
  classes of per-class F1 (the anchors' "CF1"); **cf1_harmonic** = 2·CP·CR/(CP+CR) (the ML-GCN /
  ASL "CF1"); **OP**, **OR**, **OF1** micro-averaged over all evaluated entries.
"""

from __future__ import annotations

import numpy as np

from backbone.metrics import check_scores, class_aps, mean_ap
from backbone.metrics import mean_average_precision as mean_average_precision
from corpora.schema import C


def _safe_div(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def evaluate(
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...] | list[str] | None = None,
    threshold: float = 0.0,
) -> dict:
    """All metrics for ``scores`` (N, C) logit differences ``l₊ − l₋`` (``threshold`` 0 ≡
    ``σ ≥ 0.5``; pass 0.5 for probabilities) and ``labels`` (N, C) in {1, 0, −1}."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} differ in shape")
    check_scores(scores)
    n_classes = labels.shape[1]
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    aps = class_aps(scores, labels)
    known = labels >= 0
    pred = (scores >= threshold) & known
    pos = (labels == 1) & known
    tp = (pred & pos).sum(axis=0)
    n_pred = pred.sum(axis=0)
    n_pos = pos.sum(axis=0)
    p_c, r_c = _safe_div(tp, n_pred), _safe_div(tp, n_pos)  # 0 when TP = 0
    f_c = _safe_div(2 * p_c * r_c, p_c + r_c)
    cp, cr = float(p_c.mean()), float(r_c.mean())
    op = float(_safe_div(tp.sum(), n_pred.sum()))
    orr = float(_safe_div(tp.sum(), n_pos.sum()))
    return {
        C.map: mean_ap(aps),
        C.n_classes_evaluated: sum(a is not None for a in aps),
        C.cp: 100.0 * cp,
        C.cr: 100.0 * cr,
        C.cf1_mean_of_f1: 100.0 * float(f_c.mean()),
        C.cf1_harmonic: 100.0 * float(_safe_div(2 * cp * cr, cp + cr)),
        C.op: 100.0 * op,
        C.or_: 100.0 * orr,
        C.of1: 100.0 * float(_safe_div(2 * op * orr, op + orr)),
        C.threshold: threshold,
        C.per_class_ap: {
            n: (None if a is None else 100.0 * a) for n, a in zip(names, aps, strict=True)
        },
    }
