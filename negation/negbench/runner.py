"""Scoring one model on the negation questions and writing its result directory.

Image features: CLIP's own image embedding (``encode_image``) at the model's native input size,
through the run's image transform (``RunConfig.preprocess``; by default the model's own open_clip
eval transform, shortest side + centre crop, as NegBench and CLIP_benchmark), L2-normalised,
computed once per image used. Text features: one per distinct caption through
:meth:`~backbone.text.TextEncoder.encode_text` (de-duplicated, batched, the on-disk text cache).
Scores are cosines. The result directory (``docs/RESULTS.md``) is written into a temporary
sibling and renamed into place, so a directory that exists is complete.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from backbone import require_images
from backbone.model_list import name_part, weights_spec
from corpora.runio import atomic_write_json, atomic_write_parquet, run_info, write_run_json
from corpora.schema import NEGBENCH_SCORES, C
from negation.negbench import metrics as M
from negation.negbench.summaries import clip_benchmark_metrics, per_class, task_metrics

Progress = Callable[[str, int, int | None], None]  # (stage, advance, total)
CLIP_BENCHMARK_DIR = "clip_benchmark"  # the JSONs' own folder: `clip_benchmark build` reads it


@dataclass
class Bench:
    """What is scored: the questions, the images they name, the labels retrieval ranks by."""

    questions: pl.DataFrame
    image_keys: list[str]
    opener: Callable[[int], Any]
    dataset: str  # name in the CLIP_benchmark files, e.g. "negbench-voc-test"
    labels: np.ndarray | None = None  # (N, C) for retrieval galleries, rows = image_keys
    class_keys: tuple[str, ...] = ()
    inputs: dict = field(default_factory=dict)  # the run.json "inputs" section


@dataclass
class RunConfig:
    bench: Bench
    out: Path
    seed: int = 0
    n_boot: int = M.N_BOOT
    batch_size: int | None = None  # text batch; images go in batches of image_batch
    image_batch: int = 32
    text_cache: Path | None = None
    preprocess: str = "crop"  # the image transform (the model's own eval transform)
    options: dict = field(default_factory=dict)  # the run.json "config" section


@dataclass
class Result:
    out: Path
    questions: pl.DataFrame
    per_class: pl.DataFrame
    summary: dict


# ---- scoring --------------------------------------------------------------------------------
def image_features(backbone, opener, indices: list[int], batch: int, progress) -> np.ndarray:
    """Normalised ``encode_image`` features of ``indices`` (in that order), at the native size,
    through the backbone's transform (its ``config.preprocess``)."""
    import torch  # here: a bad option is said before PyTorch is imported
    import torch.nn.functional as F

    require_images(backbone, "an image transform")
    tf = backbone.image_transform(backbone.native_image_size)
    out = []
    for start in range(0, len(indices), batch):
        chunk = indices[start : start + batch]
        x = torch.stack([tf(opener(i)) for i in chunk]).to(backbone.device, backbone.dtype)
        with torch.no_grad():
            out.append(F.normalize(backbone.model.encode_image(x).float(), dim=-1).cpu().numpy())
        progress("images", len(chunk), None)
    return np.concatenate(out) if out else np.zeros((0, backbone.embed_dim), np.float32)


def option_scores(
    img: np.ndarray, ii: np.ndarray, txt: np.ndarray, tt: np.ndarray, chunk: int = 8192
) -> np.ndarray:
    """``s[q, k] = img[ii[q]] · txt[tt[q, k]]``, in chunks of questions (bounded memory)."""
    out = np.empty(tt.shape, dtype=np.float32)
    for start in range(0, len(ii), chunk):
        sl = slice(start, start + chunk)
        out[sl] = np.einsum("qd,qkd->qk", img[ii[sl]], txt[tt[sl]])
    return out


def float_lists(name: str, values: list[np.ndarray | None]) -> pl.Series:
    """A ``List(Float64)`` column (null where ``None``), built from offsets: fast for many rows."""
    import pyarrow as pa

    lengths = [0 if v is None else len(v) for v in values]
    offsets = np.cumsum([0, *lengths], dtype=np.int64)
    parts = [v for v in values if v is not None]
    flat = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
    mask = pa.array([v is None for v in values])
    arr = pa.LargeListArray.from_arrays(offsets, pa.array(flat), mask=mask)
    return pl.Series(name, arr).cast(pl.List(pl.Float64))


def score(bench: Bench, backbone, cfg: RunConfig, progress: Progress) -> pl.DataFrame:
    """The questions with ``scores``, ``prediction``, ``correct`` (mcq/existence) and ``r1``,
    ``r5``, ``r10``, ``ap``, ``n_relevant``, ``n_gallery`` (retrieval), plus model columns;
    images through ``cfg.preprocess``."""
    backbone = require_images(backbone, "an image transform").with_preprocess(cfg.preprocess)
    q = bench.questions
    key_index = {k: i for i, k in enumerate(bench.image_keys)}
    has_retrieval = bool((q[C.task] == "retrieval").any())
    used = sorted({key_index[k] for k in q[C.image].drop_nulls().to_list()})
    if has_retrieval:
        used = list(range(len(bench.image_keys)))
    progress("images", 0, len(used))
    img = image_features(backbone, bench.opener, used, cfg.image_batch, progress)
    row_of = {i: r for r, i in enumerate(used)}

    options = q[C.options].to_list()
    texts = list(dict.fromkeys(t for opts in options for t in opts))
    progress("captions", 0, len(texts))
    txt = backbone.encode_text(
        texts,
        batch_size=cfg.batch_size,
        cache=cfg.text_cache,
        progress=lambda n: progress("captions", n, None),
    ).numpy()
    text_row = {t: i for i, t in enumerate(texts)}

    n = q.height
    scores: list[np.ndarray | None] = [None] * n
    prediction: list[int | None] = [None] * n
    correct: list[bool | None] = [None] * n
    ret: dict[str, list] = {k: [None] * n for k in (C.r1, C.r5, C.r10, C.ap)}
    ret[C.n_relevant], ret[C.n_gallery] = [None] * n, [None] * n
    tasks = q[C.task].to_list()
    images = q[C.image].to_list()
    answers = q[C.answer].to_list()
    present = q[C.present].to_list()
    for task in ("mcq", "existence"):
        rows = [r for r in range(n) if tasks[r] == task]
        if not rows:
            continue
        ii = np.array([row_of[key_index[images[r]]] for r in rows])
        tt = np.array([[text_row[t] for t in options[r]] for r in rows])
        s = option_scores(img, ii, txt, tt)
        if task == "mcq":
            pred = M.mcq_predict(s)
            ok = pred == np.array([answers[r] for r in rows])
            preds = [None if p < 0 else int(p) for p in pred]
        else:
            yes = M.existence_predict(s, np.array([present[r] for r in rows], dtype=bool))
            ok = yes == np.array([present[r] for r in rows], dtype=bool)
            preds = [0 if y else 1 for y in yes]
        for j, r in enumerate(rows):
            scores[r] = s[j]
            prediction[r], correct[r] = preds[j], bool(ok[j])
    if has_retrieval:
        col = {k: c for c, k in enumerate(bench.class_keys)}
        labels = bench.labels
        assert labels is not None  # retrieval questions come with the gallery's labels
        affirmed, negated = q[C.affirmed].to_list(), q[C.negated].to_list()
        for r in range(n):
            if tasks[r] != "retrieval":
                continue
            a, nn = col[affirmed[r][0]], col[negated[r][0]]
            gallery = (labels[:, a] >= 0) & (labels[:, nn] >= 0)
            relevant = (labels[:, a] == 1) & (labels[:, nn] == 0)
            s = img[gallery] @ txt[text_row[options[r][0]]]
            for k, v in M.retrieval_query(s, relevant[gallery]).items():
                ret[k][r] = v
            ret[C.n_relevant][r] = int(relevant[gallery].sum())
            ret[C.n_gallery][r] = int(gallery.sum())
    info = backbone.info()
    columns: dict[str, list[Any]] = {C.prediction: prediction, C.correct: correct, **ret}
    return q.with_columns(
        pl.lit(backbone.config.model).alias(C.model),
        pl.lit(weights_spec(info[C.pretrained])).alias(C.pretrained),
        float_lists(C.scores, scores),
        *(pl.Series(k, v, dtype=NEGBENCH_SCORES[k]) for k, v in columns.items()),
    )


def clip_benchmark_name(dataset: str, pretrained: str, model: str, task: str) -> str:
    """CLIP_benchmark's ``{dataset}_{pretrained}_{model}_{language}_{task}.json`` (:func:`name_part`
    of each)."""
    return f"{name_part(dataset)}_{name_part(pretrained)}_{name_part(model)}_en_{task}.json"


# ---- writing --------------------------------------------------------------------------------
def write_dir_atomically(out: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary sibling of ``out`` and rename it into place (replacing an old ``out``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        fill(tmp)
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run_options(cfg: RunConfig) -> dict:
    """run.json's ``config``: the run's options, its seed and bootstrap size."""
    return {**cfg.options, "seed": cfg.seed, "n_bootstrap": cfg.n_boot}


def run(cfg: RunConfig, backbone, progress: Progress) -> Result:
    """Score ``backbone`` on ``cfg.bench`` and write ``cfg.out`` (atomically)."""
    from backbone import weights_id

    backbone = require_images(backbone, "an image transform").with_preprocess(cfg.preprocess)
    bench = cfg.bench
    scored = score(bench, backbone, cfg, progress)
    table = per_class(scored, cfg.seed, cfg.n_boot)
    metrics = task_metrics(scored, cfg.seed, cfg.n_boot)
    preprocessing = backbone.preprocessing(backbone.native_image_size)  # image_features' own
    info = {**backbone.info(), C.preprocessing: preprocessing}  # at that size, the model's
    model, pretrained = backbone.config.model, weights_spec(info[C.pretrained])
    wid = weights_id(backbone)
    files = {
        task: f"{CLIP_BENCHMARK_DIR}/{clip_benchmark_name(bench.dataset, pretrained, model, task)}"
        for task in clip_benchmark_metrics(metrics)
    }
    q = bench.questions
    summary = {
        C.model: model,
        C.pretrained: pretrained,
        C.weights_id: wid,
        C.random_weights: backbone.random_weights,
        **({C.warning: info[C.warning]} if backbone.random_weights else {}),
        C.dataset: q[C.dataset][0],
        C.split: q[C.split][0],
        C.seed: cfg.seed,
        C.question_seed: int(q[C.seed][0]),
        C.templates: q[C.templates][0],
        C.benchmark_version: int(q[C.version][0]),
        C.image_features: f"encode_image of the image through {preprocessing['resize']} "
        f"(--preprocess {preprocessing[C.preprocess]}), L2-normalised; scores are cosines",
        C.preprocessing: preprocessing,
        C.n_images: len(bench.image_keys),
        C.n_questions: {
            t: int(n) for t, n in q.group_by(C.task, maintain_order=True).len().iter_rows()
        },
        C.n_bootstrap: cfg.n_boot,
        C.metrics: metrics,
        C.clip_benchmark_files: files,
        C.complete: True,
    }

    def fill(tmp: Path) -> None:
        atomic_write_parquet(tmp / "questions.parquet", scored)
        atomic_write_parquet(tmp / "per_class.parquet", table)
        for task, values in clip_benchmark_metrics(metrics).items():
            doc = {
                C.dataset: bench.dataset,
                C.model: model,
                C.pretrained: pretrained,
                C.weights_id: wid,
                C.task: task,
                "metrics": values,
                "language": "en",
                C.preprocessing: preprocessing,  # not CLIP_benchmark's: how images were fed
            }
            atomic_write_json(tmp / files[task], doc)
        run_cfg, model_info = run_options(cfg), {**info, C.pretrained: pretrained}
        write_run_json(
            tmp,
            run_info(
                "promptsim negbench", run_cfg, inputs=bench.inputs, model=model_info, seed=cfg.seed
            ),
        )
        atomic_write_json(tmp / "summary.json", summary)  # last: its presence means complete

    write_dir_atomically(cfg.out, fill)
    return Result(cfg.out, scored, table, summary)
