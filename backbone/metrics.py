"""Metrics that several commands share: the non-interpolated average precision of one class
(``mlrtrain``'s mAP, ``promptsim absence``, ``promptsim negbench`` retrieval).

**AP** = ``Σ_k (R_k − R_{k−1}) · P_k`` over the distinct score thresholds in descending order. Tied
scores form one threshold, so this equals ``sklearn.metrics.average_precision_score``, ties
included; tied infinite scores are one threshold too. NaN scores are refused (``ValueError``).
Entries labelled −1 (unknown) are left out.
"""

from __future__ import annotations

import numpy as np

# Hand-written, not scikit-learn: this is the tie-handling stated above (tests check it against
# average_precision_score and precision/recall/f1_score), and scikit-learn stays a test-only
# dependency.


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Non-interpolated AP of one class (``labels`` in {1, 0, −1}; −1 ignored); ``None`` if no
    positive."""
    s = np.asarray(scores, dtype=np.float64)
    check_scores(s)
    keep = labels >= 0
    s, y = s[keep], np.asarray(labels)[keep] == 1
    n_pos = int(y.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tps = np.cumsum(y)
    fps = np.cumsum(~y)
    # (compared, not subtracted: inf - inf is NaN, which would split tied infinite scores)
    last_of_tie = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]
    tps, fps = tps[last_of_tie], fps[last_of_tie]
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def check_scores(scores: np.ndarray) -> None:
    """Refuse NaN scores: a NaN has no rank and no side of the threshold, so any number made from
    it would be made up (±inf are scores: tied infinities are one threshold)."""
    n_nan = int(np.isnan(scores).sum())
    if n_nan:
        raise ValueError(f"{n_nan} score(s) are NaN; metrics need a number for every score")


def class_aps(scores: np.ndarray, labels: np.ndarray) -> list[float | None]:
    return [average_precision(scores[:, c], labels[:, c]) for c in range(labels.shape[1])]


def mean_ap(aps: list[float | None]) -> float:
    defined = [a for a in aps if a is not None]
    return 100.0 * float(np.mean(defined)) if defined else float("nan")


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """mAP ×100 over classes with at least one positive (NaN when none has)."""
    return mean_ap(class_aps(scores, labels))
