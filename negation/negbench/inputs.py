"""Assembling what ``promptsim negbench`` scores (:class:`~negation.negbench.runner.Bench`): from a
multi-label split (questions built, or read from a ``--questions`` file) or from NegBench's MCQ CSV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from corpora.images import open_image
from corpora.multilabel import MultiLabelSplit
from corpora.schema import C
from negation.negbench.families import Family
from negation.negbench.question_files import read_negbench_csv, read_questions
from negation.negbench.questions import GroundTruth, build_questions, check_split
from negation.negbench.runner import Bench


def image_keys(split: MultiLabelSplit, root: Path) -> list[str]:
    """Image ids relative to the dataset root (so a question file does not depend on where the
    data lives)."""
    root = Path(root).expanduser().resolve()
    out = []
    for i in split.ids:
        try:
            out.append(Path(i).resolve().relative_to(root).as_posix())
        except ValueError:
            out.append(i)
    return out


def ground_truth(split: MultiLabelSplit, root: Path) -> GroundTruth:
    return GroundTruth(
        split.labels,
        tuple(split.classes.keys),
        tuple(split.classes.names),
        tuple(image_keys(split, root)),
    )


def _check_questions(frame: pl.DataFrame, path: Path, gt: GroundTruth, dataset: str, split: str):
    got = (frame[C.dataset][0], frame[C.split][0])
    if got != (dataset, split):
        raise ValueError(
            f"--questions {path}: built from {got[0]} {got[1]}, not from {dataset} {split}"
        )
    known = set(gt.images)
    for r, key in enumerate(frame[C.image].to_list()):
        if key is not None and key not in known:
            raise ValueError(
                f"--questions {path}, row {r}: image {key!r} is not in the {split} split"
            )
    classes = set(gt.keys)
    for col in (C.affirmed, C.negated):
        for r, names in enumerate(frame[col].to_list()):
            bad = [c for c in names if c not in classes]
            if bad:
                raise ValueError(f"--questions {path}, row {r}: unknown class {bad[0]!r}")


def bench_from_split(
    split: MultiLabelSplit,
    root: Path,
    *,
    tasks: list[str],
    families: list[Family],
    seed: int,
    max_images: int | None = None,
    max_queries: int = 200,
    questions: Path | None = None,
) -> Bench:
    gt = ground_truth(split, root)
    where = f"{split.dataset} {split.split} split"
    if questions is not None:
        frame = read_questions(questions)
        _check_questions(frame, questions, gt, split.dataset, split.split)
    else:
        check_split(gt, tasks, where)
        frame = build_questions(
            gt,
            tasks,
            families,
            seed,
            dataset=split.dataset,
            split=split.split,
            max_images=max_images,
            max_queries=max_queries,
        )
    inputs = {
        "dataset": {
            "name": split.dataset,
            "root": str(root),
            "split": split.split,
            "n_images": len(split),
            "n_classes": len(split.classes),
            "skipped": split.skipped,
        },
        "questions": str(questions) if questions else None,
    }
    return Bench(
        questions=frame,
        image_keys=list(gt.images),
        opener=split.image,
        dataset=f"negbench-{split.dataset}-{split.split}",
        labels=np.asarray(split.labels),
        class_keys=gt.keys,
        inputs=inputs,
    )


def bench_from_negbench_csv(path: Path, images: Path, seed: int) -> Bench:
    frame, files = read_negbench_csv(path, images, seed)
    keys = list(files)
    paths = [files[k] for k in keys]
    return Bench(
        questions=frame,
        image_keys=keys,
        opener=lambda i: open_image(paths[i]),
        dataset=f"negbench-csv-{Path(path).stem}",
        inputs={
            "negbench_csv": {
                "path": str(path),
                "bytes": Path(path).stat().st_size,
                "images": str(images),
                "n_questions": frame.height,
                "n_images": len(keys),
            }
        },
    )
