"""The numbers of a ``promptsim negbench`` run from its scored questions: summary.json's
``metrics`` block per task, the per-class table and the CLIP_benchmark metric files."""

from __future__ import annotations

import numpy as np
import polars as pl

from corpora.schema import NEGBENCH_PER_CLASS, C
from negation.negbench import metrics as M
from negation.negbench.families import MCQ_TYPES, SAMPLINGS

RET_METRICS = (C.r1, C.r5, C.r10, C.ap)


def _acc(frame: pl.DataFrame) -> np.ndarray:
    return frame[C.correct].cast(pl.Float64).to_numpy()


def task_metrics(scored: pl.DataFrame, seed: int, n_boot: int) -> dict[str, dict]:
    """The ``metrics`` block of summary.json (per task)."""
    out: dict[str, dict] = {}
    mcq = scored.filter(pl.col(C.task) == "mcq")
    if mcq.height:
        by = {t: mcq.filter(pl.col(C.type) == t) for t in MCQ_TYPES}
        out["mcq"] = {
            "accuracy": M.estimate(_acc(mcq), M.rng_for(seed, "mcq"), n_boot),
            "by_type": {
                t: M.estimate(_acc(f), M.rng_for(seed, "mcq", t), n_boot) for t, f in by.items()
            },
            "gap_affirmation_negation": M.difference(
                _acc(by["affirmation"]), _acc(by["negation"]), M.rng_for(seed, "mcq-gap"), n_boot
            ),
            "by_family": {
                fam: M.estimate(_acc(f), M.rng_for(seed, "mcq", fam), n_boot)
                for (fam,), f in mcq.group_by([C.family], maintain_order=True)
            },
        }
    exi = scored.filter(pl.col(C.task) == "existence")
    if exi.height:
        out["existence"] = {}
        for s in SAMPLINGS:
            part = exi.filter(pl.col(C.type) == s)
            out["existence"][s] = M.existence_estimates(
                part[C.present].to_numpy(),
                (part[C.prediction] == 0).to_numpy(),
                M.rng_for(seed, "existence", s),
                n_boot,
            )
    ret = scored.filter(pl.col(C.task) == "retrieval")
    if ret.height:
        neg, plain = ret.filter(pl.col(C.type) == "negated"), ret.filter(pl.col(C.type) == "plain")
        block: dict[str, dict] = {"negated": {}, "plain": {}, "gap_negated_plain": {}}
        for m in RET_METRICS:
            a, b = neg[m].to_numpy(), plain[m].to_numpy()
            block["negated"][m] = M.estimate(a, M.rng_for(seed, "ret-neg", m), n_boot)
            block["plain"][m] = M.estimate(b, M.rng_for(seed, "ret-plain", m), n_boot)
            block["gap_negated_plain"][m] = M.difference(
                a, b, M.rng_for(seed, "ret-gap", m), n_boot
            )
        out["retrieval"] = block
    return out


def per_class(scored: pl.DataFrame, seed: int, n_boot: int) -> pl.DataFrame:
    """Tidy per-class numbers: (task, class, type, metric) → value, CI, n."""
    rows = []
    model, pretrained = scored[C.model][0], scored[C.pretrained][0]

    def add(task, cls, typ, metric, est):
        rows.append(
            {C.model: model, C.pretrained: pretrained, C.task: task, C.class_: cls, C.type: typ}
            | {C.metric: metric, **est}
        )

    for (task, cls), part in scored.filter(pl.col(C.focus).is_not_null()).group_by(
        [C.task, C.focus], maintain_order=True
    ):
        types = part[C.type].unique(maintain_order=True).to_list()
        if task in ("mcq", "existence"):
            for t in types:
                f = part.filter(pl.col(C.type) == t)
                add(
                    task,
                    cls,
                    t,
                    "accuracy",
                    M.estimate(_acc(f), M.rng_for(seed, task, cls, t), n_boot),
                )
            if task == "mcq":
                a = _acc(part.filter(pl.col(C.type) == "affirmation"))
                b = _acc(part.filter(pl.col(C.type) == "negation"))
                est = M.difference(a, b, M.rng_for(seed, "gap", cls), n_boot)
                add(task, cls, "gap", "gap_affirmation_negation", est)
        else:
            neg = part.filter(pl.col(C.type) == "negated")
            plain = part.filter(pl.col(C.type) == "plain")
            for m in (C.r5, C.ap):
                for t, f in (("negated", neg), ("plain", plain)):
                    est = M.estimate(f[m].to_numpy(), M.rng_for(seed, task, cls, t, m), n_boot)
                    add(task, cls, t, m, est)
                est = M.difference(
                    neg[m].to_numpy(), plain[m].to_numpy(), M.rng_for(seed, "gap", cls, m), n_boot
                )
                add(task, cls, "gap", f"gap_negated_plain_{m}", est)
    return pl.DataFrame(rows, schema=NEGBENCH_PER_CLASS)


def clip_benchmark_metrics(metrics: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """Flat ``{task: {metric: value}}`` for the CLIP_benchmark JSON files."""
    out: dict[str, dict[str, float | None]] = {}
    if "mcq" in metrics:
        m = metrics["mcq"]
        out["mcq"] = {
            "accuracy": m["accuracy"][C.value],
            **{f"accuracy_{t}": v[C.value] for t, v in m["by_type"].items()},
            "gap_affirmation_negation": m["gap_affirmation_negation"][C.value],
            "n_questions": m["accuracy"][C.n],
        }
    if "existence" in metrics:
        out["existence"] = {
            f"{stat}_{s}": v[C.value]
            for s, block in metrics["existence"].items()
            for stat, v in block.items()
        }
    if "retrieval" in metrics:
        names = {
            C.r1: "recall@1",
            C.r5: "recall@5",
            C.r10: "recall@10",
            C.ap: "mean_average_precision",
        }
        out["retrieval"] = {
            f"image_retrieval_{names[m]}_{kind}": v[C.value]
            for kind in ("negated", "plain", "gap_negated_plain")
            for m, v in metrics["retrieval"][kind].items()
        }
    return out
