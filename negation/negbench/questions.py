"""Building the negation questions from multi-label ground truth — pure and seeded.

Input: a label matrix ``(N, C)`` in {1 present, 0 absent, −1 unknown} (VOC difficult-only objects
under ``--voc-difficult ignore``). A class labelled −1 in an image is neither present nor absent
there: it is never affirmed, never negated and never used as a wrong option for that image.

- **mcq**: per image, family and type (affirmation / negation / hybrid), four captions of that
  type; the correct one's affirmed slots hold present classes and its negated slots absent ones.
  Each wrong caption has at least one slot *violated* (an affirmed slot holding an absent class or
  a negated slot holding a present one) — so it is false — and the rest drawn like the correct
  one; no caption repeats a class, and no two options say the same thing. Affirmation has two
  slots when the image has ≥ 2 present classes, else one; negation one slot when it has ≥ 3
  present classes (three false "does not feature P" exist), else two. The answer's position is
  drawn uniformly. An image where three distinct wrong captions cannot be made gets no question
  of that type.
- **existence** (POPE): per image, up to 3 present classes (drawn) and as many absent ones per
  sampling: ``random`` (drawn), ``popular`` (in most images of the split), ``adversarial``
  (POPE's: for each probed present class in turn, in class order, the absent class that shares
  most images of the split with it, not one already drawn; when none of the undrawn absent
  classes shares an image with it, one of them drawn). Ties by split frequency, then class order.
- **retrieval**: query pairs (A, N), A ≠ N, for which the split has images with A and not N
  (relevant) and images with both (the ones the negated clause must push down); up to
  ``max_queries`` pairs drawn. Each pair gives the negated query of every variant and the plain
  query (the same text without the clause), scored against the same relevant set.

Everything is a deterministic function of (labels, image keys, class names, tasks, families,
seed, max_images, max_queries): one ``numpy`` generator per (seed, task).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from corpora import schema as S
from corpora.schema import NEGBENCH_META as META
from corpora.schema import NEGBENCH_QUESTIONS as SCHEMA
from corpora.schema import C
from negation.negbench.families import MCQ_TYPES, SAMPLINGS, Family

TASKS = ("mcq", "existence", "retrieval")
BENCHMARK = "notclip-negbench"
VERSION = 2  # 2: adversarial existence probes per present class (1: co-occurrence summed)
READABLE_VERSIONS = (1, VERSION)  # question files scored as they are (same columns)
N_OPTIONS = 4
MAX_PRESENT_PROBES = 3
MIN_RETRIEVAL_IMAGES = 10  # R@10 needs ten images
_TASK_STREAM = {
    "mcq": 1,
    "existence": 2,
    "retrieval": 3,
    "images": 4,
    "negbench-csv": 5,
    "adversarial": 6,
}


def parse_tasks(spec: str) -> list[str]:
    """``"mcq,existence"`` → the tasks; an unknown one is a ValueError naming the valid ones."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [n for n in names if n not in TASKS]
    if bad or not names:
        raise ValueError(f"unknown task {', '.join(bad) or '(none)'}: use {', '.join(TASKS)}")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class GroundTruth:
    """What questions are built from: labels, class keys and names, image keys."""

    labels: np.ndarray  # (N, C) int8
    keys: tuple[str, ...]
    names: tuple[str, ...]
    images: tuple[str, ...]


def check_split(gt: GroundTruth, tasks: list[str], where: str) -> None:
    """Clear errors for a split too small for a task or classes that can never be negated."""
    n, c = gt.labels.shape
    never_absent = [k for j, k in enumerate(gt.keys) if not (gt.labels[:, j] == 0).any()]
    if never_absent:
        shown = ", ".join(never_absent[:5]) + (" …" if len(never_absent) > 5 else "")
        raise ValueError(
            f"{where}: class(es) {shown} have no negative image (every image is labelled with "
            "them or marks them difficult), so they cannot be negated; leave them out with "
            "--classes"
        )
    if "mcq" in tasks and c < N_OPTIONS:
        raise ValueError(
            f"{where}: mcq needs at least {N_OPTIONS} classes (one present and three absent per "
            f"image); the dataset has {c}"
        )
    if "existence" in tasks and c < 2:
        raise ValueError(f"{where}: existence needs at least 2 classes; the dataset has {c}")
    if "retrieval" in tasks and n < MIN_RETRIEVAL_IMAGES:
        raise ValueError(
            f"{where}: retrieval needs at least {MIN_RETRIEVAL_IMAGES} images (R@10); the split "
            f"has {n}"
        )


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """The generator of one stream (a task, the image subsample, the CSV shuffle, the adversarial
    fallback) for ``seed``."""
    return np.random.default_rng([int(seed), _TASK_STREAM[stream]])


def question_row(**kw) -> dict:
    """One question: the :data:`SCHEMA` columns given in ``kw``, the others null."""
    S.names(SCHEMA, *kw)  # a misspelt column is a KeyError, not a null column
    return {k: kw.get(k) for k in SCHEMA}


def _strings_list(name: str, values: list[list[str]]) -> pl.Series:
    """A ``List(String)`` column built from offsets (polars' own constructor is slow on lists)."""
    import pyarrow as pa

    offsets = np.cumsum([0, *(len(v) for v in values)], dtype=np.int64)
    flat = pa.array([x for v in values for x in v], type=pa.string())
    return pl.Series(name, pa.LargeListArray.from_arrays(offsets, flat)).cast(SCHEMA[name])


def question_frame(rows: list[dict]) -> pl.DataFrame:
    """:func:`question_row` rows as a frame with the :data:`SCHEMA` dtypes."""
    return pl.DataFrame(
        [
            _strings_list(k, [r[k] for r in rows])
            if isinstance(dt, pl.List)
            else pl.Series(k, [r[k] for r in rows], dtype=dt)
            for k, dt in SCHEMA.items()
        ]
    )


# ---- mcq ------------------------------------------------------------------------------------
def _roles(kind: str, n_present: int) -> tuple[str, ...]:
    """Slot roles of a caption: ``+`` affirmed (present), ``-`` negated (absent)."""
    if kind == "affirmation":
        return ("+", "+") if n_present >= 2 else ("+",)
    if kind == "negation":
        return ("-",) if n_present >= 3 else ("-", "-")
    return ("+", "-")


def _draw(rng, pools: list[list[int]]) -> tuple[int, ...] | None:
    """One class per slot from its pool, no class twice; None when impossible."""
    out: list[int] = []
    for pool in pools:
        free = [c for c in pool if c not in out]
        if not free:
            return None
        out.append(free[int(rng.integers(len(free)))])
    return tuple(out)


def _meaning(roles: tuple[str, ...], classes: tuple[int, ...]) -> frozenset:
    return frozenset(zip(roles, classes, strict=True))


def mcq_options(
    rng: np.random.Generator, kind: str, present: list[int], absent: list[int], tries: int = 64
) -> tuple[tuple[str, ...], tuple[int, ...], list[tuple[int, ...]]] | None:
    """Roles, the correct slot classes and three wrong ones for one image, or None."""
    roles = _roles(kind, len(present))
    ok = {"+": list(present), "-": list(absent)}
    bad = {"+": list(absent), "-": list(present)}
    correct = _draw(rng, [ok[r] for r in roles])
    if correct is None:
        return None
    seen = {_meaning(roles, correct)}
    wrong: list[tuple[int, ...]] = []
    n_masks = 2 ** len(roles) - 1
    for _ in range(tries):
        mask = int(rng.integers(1, n_masks + 1))
        pools = [bad[r] if mask >> s & 1 else ok[r] for s, r in enumerate(roles)]
        cand = _draw(rng, pools)
        if cand is None or _meaning(roles, cand) in seen:
            continue
        seen.add(_meaning(roles, cand))
        wrong.append(cand)
        if len(wrong) == N_OPTIONS - 1:
            return roles, correct, wrong
    return None


def _caption(family: Family, kind: str, roles: tuple[str, ...], names: list[str]) -> str:
    if kind == "hybrid":
        return family.hybrid.format(*names)
    table = family.affirmation if kind == "affirmation" else family.negation
    return table[len(roles)].format(*names)


def build_mcq(gt: GroundTruth, families: list[Family], seed: int, images: np.ndarray) -> list:
    rng = stream_rng(seed, "mcq")
    rows: list[dict] = []
    for i in images:
        y = gt.labels[i]
        present, absent = np.flatnonzero(y == 1).tolist(), np.flatnonzero(y == 0).tolist()
        for kind in MCQ_TYPES:
            for family in families:
                built = mcq_options(rng, kind, present, absent)
                if built is None:
                    continue
                roles, correct, wrong = built
                answer = int(rng.integers(N_OPTIONS))
                slots = list(wrong)
                slots.insert(answer, correct)
                options = [_caption(family, kind, roles, [gt.names[c] for c in s]) for s in slots]
                aff = [gt.keys[c] for r, c in zip(roles, correct, strict=True) if r == "+"]
                neg = [gt.keys[c] for r, c in zip(roles, correct, strict=True) if r == "-"]
                rows.append(
                    question_row(
                        qid=f"mcq-{len(rows):06d}",
                        task="mcq",
                        type=kind,
                        family=family.name,
                        image=gt.images[i],
                        options=options,
                        answer=answer,
                        focus=neg[0] if neg else aff[0],
                        affirmed=aff,
                        negated=neg,
                    )
                )
    return rows


# ---- existence ------------------------------------------------------------------------------
def _ranked(candidates: np.ndarray, score: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """``candidates`` by ``score`` desc, then split frequency desc, then class index."""
    order = np.lexsort((candidates, -freq[candidates], -score[candidates]))
    return candidates[order]


def adversarial(
    rng: np.random.Generator,
    probes: np.ndarray,
    absent: np.ndarray,
    cooc: np.ndarray,
    freq: np.ndarray,
) -> np.ndarray:
    """POPE's adversarial absent classes: for each probed present class in turn, the absent class
    that co-occurs with it in most images (``cooc[p]``), not one already drawn (ties: split
    frequency, then class order); when no undrawn absent class co-occurs with it, one drawn
    uniformly from them. One per probe while undrawn absent classes remain."""
    picks: list[int] = []
    for p in probes:
        free = absent[~np.isin(absent, picks)]
        if free.size == 0:
            break
        best = _ranked(free, cooc[p], freq)[0]
        picks.append(int(best if cooc[p, best] > 0 else free[rng.integers(free.size)]))
    return np.array(picks, dtype=absent.dtype)


def build_existence(gt: GroundTruth, families: list[Family], seed: int, images: np.ndarray) -> list:
    rng = stream_rng(seed, "existence")
    fallback = stream_rng(seed, "adversarial")  # its own stream: random and popular unchanged
    pos = (gt.labels == 1).astype(np.int64)
    freq = pos.sum(axis=0)
    cooc = pos.T @ pos
    rows: list[dict] = []
    for i in images:
        y = gt.labels[i]
        present, absent = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        k = min(present.size, MAX_PRESENT_PROBES)
        if k == 0:
            continue
        shown = np.sort(rng.choice(present, k, replace=False))
        m = min(k, absent.size)
        picks = {
            "random": np.sort(rng.choice(absent, m, replace=False)) if m else absent[:0],
            "popular": _ranked(absent, freq, freq)[:m],
            "adversarial": adversarial(fallback, shown, absent, cooc, freq),
        }
        for sampling in SAMPLINGS:
            probes = [(int(c), True) for c in shown] + [(int(c), False) for c in picks[sampling]]
            for family in families:
                for c, is_present in probes:
                    name = gt.names[c]
                    rows.append(
                        question_row(
                            qid=f"exi-{len(rows):06d}",
                            task="existence",
                            type=sampling,
                            family=family.name,
                            image=gt.images[i],
                            options=[family.yes.format(name), family.no.format(name)],
                            answer=0 if is_present else 1,
                            focus=gt.keys[c],
                            affirmed=[gt.keys[c]] if is_present else [],
                            negated=[] if is_present else [gt.keys[c]],
                            present=is_present,
                        )
                    )
    return rows


# ---- retrieval ------------------------------------------------------------------------------
def retrieval_pairs(labels: np.ndarray) -> np.ndarray:
    """All (A, N) with an image of A without N and one of A with N, as a sorted ``(P, 2)``."""
    pos = (labels == 1).astype(np.int64)
    neg = (labels == 0).astype(np.int64)
    ok = ((pos.T @ neg) > 0) & ((pos.T @ pos) > 0)
    np.fill_diagonal(ok, False)
    return np.argwhere(ok)


def build_retrieval(gt: GroundTruth, families: list[Family], seed: int, max_queries: int) -> list:
    rng = stream_rng(seed, "retrieval")
    pairs = retrieval_pairs(gt.labels)
    if pairs.shape[0] > max_queries:
        pairs = pairs[np.sort(rng.choice(pairs.shape[0], max_queries, replace=False))]
    rows = []
    for p, (a, n) in enumerate(pairs):
        na, nn = gt.names[a], gt.names[n]
        for family in families:
            variants = [(v, t.format(na, nn)) for v, t in family.negated.items()]
            variants.append(("plain", family.plain.format(na)))
            for variant, text in variants:
                rows.append(
                    question_row(
                        qid=f"ret-{p:05d}-{family.name}-{variant}",
                        task="retrieval",
                        type="plain" if variant == "plain" else "negated",
                        family=family.name,
                        variant=variant,
                        options=[text],
                        focus=gt.keys[n],
                        affirmed=[gt.keys[a]],
                        negated=[gt.keys[n]],
                    )
                )
    return rows


# ---- all ------------------------------------------------------------------------------------
def build_questions(
    gt: GroundTruth,
    tasks: list[str],
    families: list[Family],
    seed: int,
    *,
    dataset: str,
    split: str,
    max_images: int | None = None,
    max_queries: int = 200,
) -> pl.DataFrame:
    """The questions of ``tasks`` (one row each, :data:`SCHEMA` + :data:`META` columns)."""
    n = gt.labels.shape[0]
    images = np.arange(n)
    if max_images is not None and max_images < n:
        images = np.sort(stream_rng(seed, "images").choice(n, max_images, replace=False))
    rows: list[dict] = []
    where = f"{dataset} {split} split"
    for task in tasks:
        if task == "mcq":
            part = build_mcq(gt, families, seed, images)
            need = "one present and three absent classes"
        elif task == "existence":
            part = build_existence(gt, families, seed, images)
            need = "a present class"
        else:
            part = build_retrieval(gt, families, seed, max_queries)
            need = "a class pair (A, N) with images of A both with and without N"
        if not part:
            raise ValueError(
                f"{where}: no {task} question can be built from its {images.size} images "
                f"(each needs {need})"
            )
        rows += part
    return with_meta(
        question_frame(rows),
        dataset=dataset,
        split=split,
        seed=seed,
        templates=",".join(f.name for f in families),
    )


def with_meta(questions: pl.DataFrame, **meta: str | int) -> pl.DataFrame:
    """``questions`` with the :data:`META` columns: this benchmark and version, then ``meta``
    (dataset, split, seed, templates)."""
    values = {C.benchmark: BENCHMARK, C.version: VERSION, **meta}
    return questions.with_columns(pl.lit(values[k], dtype=dt).alias(k) for k, dt in META.items())
