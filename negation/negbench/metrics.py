"""Metrics of ``promptsim negbench`` and their seeded bootstrap 95 % CIs — pure functions.

- **MCQ**: the prediction is the option with the highest score; when two or more options share
  the highest score the question counts as wrong (prediction null), so ties never help.
- **existence**: "yes" when the yes-caption outscores the no-caption; a tie counts as the wrong
  answer. Accuracy, precision, recall and F1 of "yes", and the yes-ratio (share answered yes);
  precision is null without a "yes" answer, recall without a present probe, F1 when either is null
  or both are 0.
- **retrieval**: per query, over its gallery (images whose labels for A and N are known), hit@k =
  whether a relevant image (A present, N absent) ranks in the top k, ties ranked against the
  relevant image; AP = :func:`backbone.metrics.average_precision` (tied scores form one threshold).
  R@k and mAP are the means over queries.
- **CIs**: percentile bootstrap (2.5 %, 97.5 %) over questions (queries), ``n_boot`` resamples
  drawn from ``numpy.random.default_rng(seed)``; a difference of two groups resamples each group
  on its own. All values are fractions in [0, 1]; an undefined value is null.
"""

from __future__ import annotations

import zlib

import numpy as np

from backbone.metrics import average_precision
from corpora.schema import C

RECALL_AT = {1: C.r1, 5: C.r5, 10: C.r10}  # hit@k → its score column
N_BOOT = 1000


def mcq_predict(scores: np.ndarray) -> np.ndarray:
    """``(Q, K)`` scores → predicted option per question, −1 where the top score is tied."""
    scores = np.asarray(scores, dtype=np.float64)
    top = scores.max(axis=1, keepdims=True)
    tied = (scores == top).sum(axis=1) > 1
    return np.where(tied, -1, scores.argmax(axis=1))


def existence_predict(scores: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``(Q, 2)`` [yes, no] scores → answered yes; a tie answers wrong (``not present``)."""
    scores = np.asarray(scores, dtype=np.float64)
    present = np.asarray(present, dtype=bool)
    yes, no = scores[:, 0], scores[:, 1]
    return np.where(yes == no, ~present, yes > no)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)


def existence_stats(present: np.ndarray, yes: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall, F1, yes-ratio; works on ``(Q,)`` or ``(B, Q)`` arrays (NaN
    where undefined)."""
    present, yes = np.asarray(present, dtype=bool), np.asarray(yes, dtype=bool)
    tp = (present & yes).sum(-1)
    n = present.shape[-1]
    precision = _div(tp, yes.sum(-1))
    recall = _div(tp, present.sum(-1))
    f1 = _div(2 * precision * recall, precision + recall)
    f1 = np.where(np.isnan(precision) | np.isnan(recall), np.nan, f1)
    return {
        "accuracy": _div((present == yes).sum(-1), n),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": _div(yes.sum(-1), n),
    }


def retrieval_query(scores: np.ndarray, relevant: np.ndarray) -> dict[str, float | None]:
    """hit@1/5/10 and AP of one query over its gallery (``relevant``: bool per image)."""
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if not relevant.any():
        return {**dict.fromkeys(RECALL_AT.values()), C.ap: None}
    best = scores[relevant].max()
    ahead = int((scores[~relevant] >= best).sum())  # irrelevant images ranked before it
    out: dict[str, float | None] = {name: float(ahead < k) for k, name in RECALL_AT.items()}
    out[C.ap] = average_precision(scores, relevant.astype(np.int8))
    return out


def _ci(samples: np.ndarray) -> tuple[float | None, float | None]:
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return None, None
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def _value(v: float | np.ndarray | None) -> float | None:
    return None if v is None or np.isnan(v) else float(v)


_CHUNK = 4_000_000  # resampled entries held at once (memory bound for large splits)


def _boot(rng: np.random.Generator, n: int, n_boot: int, stat) -> np.ndarray:
    """``stat(idx)`` over ``n_boot`` resamples of ``n`` items, ``idx`` ``(b, n)`` in chunks."""
    step = max(1, _CHUNK // max(n, 1))
    parts = []
    for start in range(0, n_boot, step):
        parts.append(stat(rng.integers(0, n, (min(step, n_boot - start), n))))
    return np.concatenate(parts)


def _estimate(value: float | None, low: float | None, high: float | None, n: int) -> dict:
    """An estimate object: its value, CI and count, keyed as the per-class columns."""
    return {C.value: value, C.ci_low: low, C.ci_high: high, C.n: n}


def estimate(values: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT) -> dict:
    """Mean of ``values`` (NaN left out) with its bootstrap CI: ``{value, ci_low, ci_high, n}``."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return _estimate(None, None, None, 0)
    low, high = _ci(_boot(rng, values.size, n_boot, lambda idx: values[idx].mean(axis=1)))
    return _estimate(float(values.mean()), low, high, int(values.size))


def difference(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT
) -> dict:
    """mean(a) − mean(b) with a CI resampling each group on its own; null when a group is empty."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return _estimate(None, None, None, int(a.size + b.size))
    boot_a = _boot(rng, a.size, n_boot, lambda idx: a[idx].mean(axis=1))
    boot_b = _boot(rng, b.size, n_boot, lambda idx: b[idx].mean(axis=1))
    low, high = _ci(boot_a - boot_b)
    return _estimate(float(a.mean() - b.mean()), low, high, int(a.size + b.size))


def existence_estimates(
    present: np.ndarray, yes: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT
) -> dict[str, dict]:
    """Every existence statistic with its bootstrap CI (probes resampled together)."""
    present, yes = np.asarray(present, dtype=bool), np.asarray(yes, dtype=bool)
    point = existence_stats(present, yes)
    keys = list(point)

    def stat(idx: np.ndarray) -> np.ndarray:
        stats = existence_stats(present[idx], yes[idx])
        return np.stack([stats[k] for k in keys], axis=1)

    boot = _boot(rng, present.size, n_boot, stat)
    out = {}
    for j, (key, v) in enumerate(point.items()):
        low, high = _ci(boot[:, j])
        out[key] = _estimate(_value(v), low, high, int(present.size))
    return out


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and ``names``, so each CI is the same whatever else is
    computed before it."""
    return np.random.default_rng([int(seed), *(zlib.crc32(n.encode()) for n in names)])
