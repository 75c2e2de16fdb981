"""``negtune``'s built-in evaluation, before and after tuning, on the held-out split (the
dataset's test split, never trained on):

- ``promptsim negbench`` on it (:mod:`negation.negbench`: MCQ accuracy by type, existence,
  negated retrieval), with its own caption families (``--eval-templates``, default ``negbench``:
  sentences the training captions never use), each stage into its own result directory;
- a forgetting check: affirmative zero-shot multi-label mAP on the same images — per class, the
  cosine of the image with the class's plain caption (``This image features A.``, averaged over
  the evaluation families), AP over the images whose label is known, the mean over the classes
  with a positive (as a fraction in [0, 1]; no CI).

:func:`table` puts both stages in one tidy frame (:data:`corpora.schema.NEGTUNE_EVAL`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F

from backbone.metrics import mean_average_precision
from corpora.schema import NEGTUNE_EVAL, C
from negation.negbench.families import load_families
from negation.negbench.inputs import bench_from_split
from negation.negbench.questions import parse_tasks
from negation.negbench.runner import Bench, Progress, RunConfig, image_features, run
from negation.negtune.config import TuneConfig

STAGES = ("before", "after")
ZERO_SHOT = "zeroshot"


def build_bench(cfg: TuneConfig, test, root: Path) -> Bench:
    """The evaluation questions on the test split (errors when the split cannot hold them)."""
    return bench_from_split(
        test,
        root,
        tasks=parse_tasks(cfg.eval_tasks),
        families=load_families(cfg.eval_templates),
        seed=cfg.seed,
        max_images=cfg.eval_max_images,
    )


def zero_shot_map(
    backbone, bench: Bench, names: list[str], cfg: TuneConfig, progress: Progress
) -> dict[str, Any]:
    """The forgetting check: affirmative zero-shot mAP over the bench's images, the classes
    named ``names`` (an estimate object: ``value`` null when no class has a positive)."""
    assert bench.labels is not None
    families = load_families(cfg.eval_templates)
    texts = [f.plain.format(name) for f in families for name in names]
    with torch.no_grad():
        tokens = backbone.tokenize(texts).to(backbone.device)
        per = F.normalize(backbone.model.encode_text(tokens).float(), dim=-1)
        txt = F.normalize(per.view(len(families), len(names), -1).mean(0), dim=-1).cpu().numpy()
    progress("zero-shot images", 0, len(bench.image_keys))
    img = image_features(
        backbone.with_preprocess(cfg.preprocess),
        bench.opener,
        list(range(len(bench.image_keys))),
        32,
        lambda _stage, n, _total: progress("zero-shot images", n, None),
    )
    value = mean_average_precision(img @ txt.T, bench.labels) / 100.0
    defined = int(((bench.labels == 1).sum(axis=0) > 0).sum())
    return {
        C.value: None if np.isnan(value) else float(value),
        C.ci_low: None,
        C.ci_high: None,
        C.n: defined,
    }


def evaluate(
    backbone, bench: Bench, names: list[str], cfg: TuneConfig, out: Path, progress: Progress
) -> dict[str, Any]:
    """Score ``backbone`` on ``bench`` into ``out`` (a ``promptsim negbench`` result directory,
    reused when complete) and add the zero-shot check; returns the negbench summary with
    ``zeroshot`` added to its metrics."""
    import json

    summary_path = out / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text("utf-8"))
    else:
        rc = RunConfig(
            bench=bench,
            out=out,
            seed=cfg.seed,
            n_boot=cfg.bootstrap,
            preprocess=cfg.preprocess,
            options={
                "tasks": parse_tasks(cfg.eval_tasks),
                "templates": cfg.eval_templates,
                "max_images": cfg.eval_max_images,
                "preprocess": cfg.preprocess,
            },
        )
        summary = run(rc, backbone, progress).summary
    summary[C.metrics][ZERO_SHOT] = zero_shot_map(backbone, bench, names, cfg, progress)
    return summary


def _rows(summary: dict[str, Any]) -> list[tuple[str, str, str, dict | None]]:
    """(task, type, metric, estimate) of a summary's metrics."""
    m = summary[C.metrics]
    out: list[tuple[str, str, str, dict | None]] = []
    if "mcq" in m:
        out.append(("mcq", "all", "accuracy", m["mcq"]["accuracy"]))
        out += [("mcq", t, "accuracy", v) for t, v in m["mcq"]["by_type"].items()]
        out.append(("mcq", "gap", "gap_affirmation_negation", m["mcq"]["gap_affirmation_negation"]))
    for sampling, block in m.get("existence", {}).items():
        out += [("existence", sampling, k, block[k]) for k in ("accuracy", "f1", "yes_ratio")]
    if "retrieval" in m:
        r = m["retrieval"]
        for kind in ("negated", "plain", "gap_negated_plain"):
            out += [("retrieval", kind, k, r[kind][k]) for k in (C.r5, C.ap)]
    out.append((ZERO_SHOT, "plain", C.map, m[ZERO_SHOT]))
    return out


def table(summaries: dict[str, dict[str, Any]]) -> pl.DataFrame:
    """One tidy frame of the stages' numbers (:data:`corpora.schema.NEGTUNE_EVAL`)."""
    rows = []
    for stage, s in summaries.items():
        for task, kind, metric, est in _rows(s):
            est = est or {}
            rows.append(
                {
                    C.stage: stage,
                    C.model: s[C.model],
                    C.pretrained: s[C.pretrained],
                    C.weights_id: s[C.weights_id],
                    C.random_weights: s[C.random_weights],
                    C.dataset: s[C.dataset],
                    C.split: s[C.split],
                    C.templates: s[C.templates],
                    C.task: task,
                    C.type: kind,
                    C.metric: metric,
                    C.value: est.get(C.value),
                    C.ci_low: est.get(C.ci_low),
                    C.ci_high: est.get(C.ci_high),
                    C.n: est.get(C.n),
                }
            )
    return pl.DataFrame(rows, schema=NEGTUNE_EVAL)
