"""Caption template families of ``promptsim negbench``: what each question type says, per family.

A template's ``{0}``, ``{1}`` are class names. MCQ captions come in three types, each with slots
that must hold a *present* class (affirmed) or an *absent* one (negated); the number of slots of a
type can be 1 or 2 (``features A`` / ``features A and B``; ``does not feature N`` / ``features
neither N nor M``); hybrid has one of each. Existence probes are a yes/no pair; retrieval queries
are a negated query (``A`` without ``N``) per variant and its plain form (``A``).
"""

from __future__ import annotations

from dataclasses import dataclass

MCQ_TYPES = ("affirmation", "negation", "hybrid")
SAMPLINGS = ("random", "popular", "adversarial")


@dataclass(frozen=True)
class Family:
    name: str
    affirmation: dict[int, str]  # number of slots -> template
    negation: dict[int, str]
    hybrid: str  # {0} affirmed, {1} negated
    yes: str  # existence: "there is X"
    no: str  # existence: "there is no X"
    plain: str  # retrieval: "A"
    negated: dict[str, str]  # retrieval variant -> "A without N" ({0} = A, {1} = N)


FAMILIES = {
    "negbench": Family(
        name="negbench",
        affirmation={1: "This image features {0}.", 2: "This image features {0} and {1}."},
        negation={
            1: "This image does not feature {0}.",
            2: "This image features neither {0} nor {1}.",
        },
        hybrid="This image features {0}, but not {1}.",
        yes="This image features {0}.",
        no="This image does not feature {0}.",
        plain="This image features {0}.",
        negated={"but-not": "This image features {0}, but not {1}."},
    ),
    "photo": Family(
        name="photo",
        affirmation={1: "a photo of a {0}.", 2: "a photo of a {0} and a {1}."},
        negation={1: "a photo with no {0}.", 2: "a photo with no {0} and no {1}."},
        hybrid="a photo of a {0} without a {1}.",
        yes="a photo with a {0}.",
        no="a photo with no {0}.",
        plain="a photo of a {0}.",
        negated={
            "without": "a photo of a {0} without a {1}.",
            "but-no": "a photo with a {0} but no {1}.",
        },
    ),
    # the rest: more phrasings, negtune's default training captions (so that a model tuned on them
    # is evaluated on "negbench"'s sentences, which it never saw), each a common English way of
    # saying "not", with its own filler words and the negation before or after the class name.
    # Each says "a" before every class name, or before none, in all three types alike: whether a
    # class is negated is never told by its article, only by the negation words
    "picture": Family(
        name="picture",
        affirmation={1: "a picture of {0}.", 2: "a picture of {0} and {1}."},
        negation={1: "a picture without {0}.", 2: "a picture with neither {0} nor {1}."},
        hybrid="a picture of {0} but not {1}.",
        yes="a picture with {0}.",
        no="a picture without {0}.",
        plain="a picture of {0}.",
        negated={"but-not": "a picture of {0} but not {1}."},
    ),
    "scene": Family(
        name="scene",
        affirmation={
            1: "there is a {0} in the scene.",
            2: "there is a {0} and a {1} in the scene.",
        },
        negation={
            1: "there is not a {0} in the scene.",
            2: "there is neither a {0} nor a {1} in the scene.",
        },
        hybrid="there is a {0} but not a {1} in the scene.",
        yes="there is a {0} in the scene.",
        no="there is not a {0} in the scene.",
        plain="there is a {0} in the scene.",
        negated={"but-not": "there is a {0} but not a {1} in the scene."},
    ),
    "shows": Family(
        name="shows",
        affirmation={1: "the photo shows {0}.", 2: "the photo shows {0} and {1}."},
        negation={1: "the photo does not show {0}.", 2: "the photo shows neither {0} nor {1}."},
        hybrid="the photo shows {0} and not {1}.",
        yes="the photo shows {0}.",
        no="the photo does not show {0}.",
        plain="the photo shows {0}.",
        negated={"and-not": "the photo shows {0} and not {1}."},
    ),
    "with-no": Family(
        name="with-no",
        affirmation={1: "a scene with {0}.", 2: "a scene with {0} and {1}."},
        negation={1: "a scene with no {0}.", 2: "a scene with no {0} and no {1}."},
        hybrid="a scene with {0} and no {1}.",
        yes="a scene with {0}.",
        no="a scene with no {0}.",
        plain="a scene with {0}.",
        negated={"and-no": "a scene with {0} and no {1}."},
    ),
    "absent": Family(
        name="absent",
        affirmation={1: "{0} is present.", 2: "{0} and {1} are present."},
        negation={1: "{0} is absent.", 2: "{0} and {1} are absent."},
        hybrid="{0} is present but {1} is absent.",
        yes="{0} is present.",
        no="{0} is absent.",
        plain="{0} is present.",
        negated={"but-absent": "{0} is present but {1} is absent."},
    ),
    "isnt": Family(
        name="isnt",
        affirmation={1: "{0} is in this picture.", 2: "{0} and {1} are in this picture."},
        negation={1: "{0} isn't in this picture.", 2: "neither {0} nor {1} is in this picture."},
        hybrid="{0} is in this picture but {1} isn't.",
        yes="{0} is in this picture.",
        no="{0} isn't in this picture.",
        plain="{0} is in this picture.",
        negated={"but-isnt": "{0} is in this picture but {1} isn't."},
    ),
    "there-are-no": Family(
        name="there-are-no",
        affirmation={1: "there is {0} here.", 2: "there are {0} and {1} here."},
        negation={1: "there is no {0} here.", 2: "there are no {0} and no {1} here."},
        hybrid="there is {0} here but no {1}.",
        yes="there is {0} here.",
        no="there is no {0} here.",
        plain="there is {0} here.",
        negated={"but-no": "there is {0} here but no {1}."},
    ),
}


# negtune's default training families: all but negbench's own (the evaluation's default, so that
# a tuned model is measured on sentences it never saw) and "photo" (its article is a cue: "a photo
# of a A" affirms, "a photo with no A" negates)
TRAINING = ",".join(n for n in FAMILIES if n not in ("negbench", "photo"))


def describe() -> str:
    """Each family's name and its hybrid caption, for ``--help``."""
    return ", ".join(f"{f.name} ('{f.hybrid.format('A', 'N')}')" for f in FAMILIES.values())


def load_families(spec: str) -> list[Family]:
    """``"negbench,photo"`` → the families, in that order; an unknown name is a ValueError."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in FAMILIES]
    if unknown or not names:
        raise ValueError(
            f"unknown template family {', '.join(unknown) or '(none given)'}: "
            f"choose from {', '.join(FAMILIES)}"
        )
    return [FAMILIES[n] for n in dict.fromkeys(names)]
