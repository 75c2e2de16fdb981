"""Training captions built exactly from multi-label labels — pure and seeded.

For each training image and epoch, one *true* caption and its *false* variants, from the image's
labels (1 present, 0 absent, −1 unknown: never affirmed, never negated) and the caption families of
``promptsim negbench`` (:mod:`negation.negbench.families`), by negbench's own MCQ builder
(:func:`negation.negbench.questions.mcq_options`):

- the caption type is drawn uniformly from affirmation / negation / hybrid (``negations="labels"``)
  or is affirmation only (``negations="none"``, the control), the family uniformly from the
  training families; when the type cannot be built for the image (e.g. nothing absent to negate),
  the other types are tried in a drawn order;
- the true caption affirms present classes and negates absent ones ("a photo of a A without a
  N"); its three false variants are of the same type and family, each with at least one slot
  violated (a present class negated, or an absent one affirmed) — they are the hard negatives;
- an image with no present class (nothing shown of the dataset's classes) cannot have false
  variants (they negate a present class or affirm an absent one, and any absent class affirmed
  is false) but is still truly described by negation: with ``labels`` it gets a negated caption
  of its absent classes ("a picture with neither A nor B"), in the contrastive term only;
- any other image for which no type can be built with three distinct false variants (too few
  classes) has no caption that epoch and is left out of the loss.

Extra affirmative captions (``--captions``) join the image's affirmative pool: when the drawn type
is affirmation, the contrastive caption is drawn uniformly from the pool (the label-built caption
counting as one); the hard-negative term always uses the label-built caption and its variants.

Every caption records its *meaning* (the classes it affirms and negates), so the objective knows
which captions of a batch may be true of which images (:attr:`Batch.truth`: not known to be false,
an unknown label making nothing false); an extra caption's meaning is unknown, and it counts as
true only of the image it was written for (and of an image whose caption has the same text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from negation.negbench.families import MCQ_TYPES, Family
from negation.negbench.questions import _caption, _draw, mcq_options

NEGATIONS = ("labels", "none")
Meaning = tuple[tuple[int, ...], tuple[int, ...]]  # (affirmed classes, negated classes)


def caption_types(negations: str) -> tuple[str, ...]:
    """The caption types trained on: all three with ``labels``, affirmation with ``none``."""
    if negations not in NEGATIONS:
        raise ValueError(f"negations must be labels or none, not {negations!r}")
    return MCQ_TYPES if negations == "labels" else ("affirmation",)


def check_labels(labels: np.ndarray, where: str) -> None:
    """A dataset must have at least two classes: with one, nothing can be negated."""
    n_classes = labels.shape[1]
    if n_classes < 2:
        raise ValueError(
            f"{where}: {n_classes} class — negation needs at least two (a caption negates a class "
            "that is absent while others are present)"
        )
    if not (labels == 1).any():
        raise ValueError(f"{where}: no image has a present class; nothing to caption")


def not_false(meaning: Meaning, row: np.ndarray) -> bool:
    """Whether a caption of ``meaning`` may be true of an image with label ``row``: none of its
    affirmed classes is absent and none of its negated classes present (unknown labels are not
    known to make it false)."""
    affirmed, negated = meaning
    return all(row[c] != 0 for c in affirmed) and all(row[c] != 1 for c in negated)


@dataclass
class Batch:
    """The captions of one batch of images (rows = images, in batch order)."""

    texts: list[str]  # the distinct captions of the batch (each encoded once)
    true: np.ndarray  # (B,) index into texts of each image's true caption; −1: none
    options: np.ndarray  # (B, 4) true caption first, then its 3 false variants; −1 row: none
    truth: np.ndarray  # (B, B) bool: image j's true caption is not known to be false of image i
    kinds: list[str | None]  # the caption type of each image (None: no caption)


class CaptionBuilder:
    """Captions of a training split: :meth:`batch` draws them, seeded by (seed, epoch, image)."""

    def __init__(
        self,
        labels: np.ndarray,
        names: tuple[str, ...],
        families: list[Family],
        negations: str,
        seed: int,
        extra: dict[int, list[str]] | None = None,
    ) -> None:
        self.labels = np.asarray(labels)
        self.names = names
        self.families = families
        self.kinds = caption_types(negations)
        self.seed = seed
        self.extra = extra or {}

    def draw(self, i: int, epoch: int) -> tuple[str, Meaning | None, list[str] | None, str] | None:
        """Image ``i``'s (contrastive caption, its meaning, [true, 3 false] options, type)."""
        rng = np.random.default_rng([self.seed, 11, epoch, i])
        row = self.labels[i]
        present = np.flatnonzero(row == 1).tolist()
        absent = np.flatnonzero(row == 0).tolist()
        family = self.families[int(rng.integers(len(self.families)))]
        first = int(rng.integers(len(self.kinds)))
        rest = [k for j, k in enumerate(self.kinds) if j != first]
        order = [self.kinds[first], *(rest[j] for j in rng.permutation(len(rest)))]
        for kind in order:
            built = mcq_options(rng, kind, present, absent)
            if built is None:
                continue
            roles, correct, wrong = built
            options = [
                _caption(family, kind, roles, [self.names[c] for c in slots])
                for slots in (correct, *wrong)
            ]
            meaning = (
                tuple(c for r, c in zip(roles, correct, strict=True) if r == "+"),
                tuple(c for r, c in zip(roles, correct, strict=True) if r == "-"),
            )
            extra = self.extra.get(i, [])
            if kind == "affirmation" and extra:
                pick = int(rng.integers(len(extra) + 1))
                if pick < len(extra):
                    return extra[pick], None, options, kind
            return options[0], meaning, options, kind
        if not present and "negation" in self.kinds:
            return self._nothing_present(rng, family, absent)
        return None

    def _nothing_present(
        self, rng: np.random.Generator, family: Family, absent: list[int]
    ) -> tuple[str, Meaning, None, str] | None:
        """The negated caption of an image with no present class (no false variants)."""
        slots = _draw(rng, [absent] * min(2, len(absent)))
        if not slots:
            return None
        roles = ("-",) * len(slots)
        text = _caption(family, "negation", roles, [self.names[c] for c in slots])
        return text, ((), slots), None, "negation"

    def batch(self, indices: np.ndarray, epoch: int) -> Batch:
        """The captions of images ``indices`` (training-split rows) at ``epoch``."""
        drawn = [self.draw(int(i), epoch) for i in indices]
        texts: dict[str, int] = {}

        def at(text: str) -> int:
            return texts.setdefault(text, len(texts))

        b = len(indices)
        true = np.full(b, -1, dtype=np.int64)
        options = np.full((b, 4), -1, dtype=np.int64)
        meanings: list[Meaning | None] = [None] * b
        for j, d in enumerate(drawn):
            if d is None:
                continue
            caption, meanings[j], opts, _ = d
            true[j] = at(caption)
            if opts is not None:
                options[j] = [at(t) for t in opts]
        rows = self.labels[np.asarray(indices, dtype=np.int64)]
        truth = np.zeros((b, b), dtype=bool)
        for j in range(b):
            if true[j] < 0:
                continue
            meaning = meanings[j]
            if meaning is None:  # an extra caption: true of its image and of the same text
                truth[:, j] = true == true[j]
            else:
                truth[:, j] = [not_false(meaning, rows[i]) for i in range(b)]
            truth[j, j] = True
        kinds = [None if d is None else d[3] for d in drawn]
        return Batch(list(texts), true, options, truth, kinds)


def read_extra_captions(path: Path, keys: list[str]) -> dict[int, list[str]]:
    """``--captions FILE``: extra affirmative captions of training images, by row of the split
    whose image keys (paths relative to the dataset root) are ``keys``. A COCO captions JSON
    (``images`` [{id, file_name}], ``annotations`` [{image_id, caption}]) or a JSONL file of
    ``{"image": key, "caption": text}``; an image is matched by its key, else by its file name.
    A file that matches no training image is an error (a caption file of another split?)."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise OSError(f"--captions {path}: {err.strerror or err}") from None
    pairs: list[tuple[str, str]] = []
    try:
        if path.suffix == ".jsonl":
            for line in text.splitlines():
                if line.strip():
                    row = json.loads(line)
                    pairs.append((str(row["image"]), str(row["caption"])))
        else:
            doc = json.loads(text)
            names = {img["id"]: img["file_name"] for img in doc["images"]}
            pairs = [(names[a["image_id"]], str(a["caption"])) for a in doc["annotations"]]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"--captions {path}: not a COCO captions JSON or a JSONL of image/caption rows "
            f"({type(err).__name__}: {err})"
        ) from None
    by_key = {k: i for i, k in enumerate(keys)}
    by_name: dict[str, int] = {}
    for row, k in enumerate(keys):
        by_name.setdefault(PurePosixPath(k).name, row)
    out: dict[int, list[str]] = {}
    for image, caption in pairs:
        at = by_key.get(image, by_name.get(PurePosixPath(image).name))
        if at is not None and caption.strip():
            out.setdefault(at, []).append(caption.strip())
    if not out:
        raise ValueError(
            f"--captions {path}: none of its {len(pairs)} captions names an image of the "
            "training split"
        )
    return out
