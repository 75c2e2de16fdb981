"""SYNTHETIC LAION-400M-style metadata: generated captions, never real data.

One generator serves both the embedded sample shard (``corpora/data/sample_laion400m.parquet``,
written by ``python -m corpora.synthetic``) and the negscan benchmark, so the two never drift.
Captions are drawn from a fixed pool of template-built texts (LAION repeats captions across URLs,
so repeats are realistic); the pool holds the cases a negation scanner must get right: nulls,
empty and whitespace-only captions, ``’`` vs ``'`` contractions, "No. 5", "no-brainer", "nothing",
"knot", "note", class mentions after a negator, full-width letters, and a few very long captions.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl

LAION_SCHEMA = {
    "SAMPLE_ID": pl.Int64,
    "URL": pl.String,
    "TEXT": pl.String,
    "HEIGHT": pl.Int32,
    "WIDTH": pl.Int32,
    "LICENSE": pl.String,
    "NSFW": pl.String,
    "similarity": pl.Float64,
}

_ADJ = [
    "red",
    "blue",
    "vintage",
    "modern",
    "small",
    "large",
    "wooden",
    "white",
    "black",
    "golden",
    "rustic",
    "cute",
    "happy",
]
_NOUN = [
    "dog",
    "cat",
    "car",
    "chair",
    "table",
    "bottle",
    "cup",
    "person",
    "bicycle",
    "horse",
    "bird",
    "boat",
    "pizza",
    "cake",
    "laptop",
    "house",
    "tree",
    "beach",
    "mountain",
    "dress",
    "shirt",
    "shoe",
    "bag",
    "watch",
    "ring",
    "lamp",
    "sofa",
    "kitchen",
    "garden",
    "city",
]
_PLACE = [
    "on the beach",
    "in the park",
    "at night",
    "in the kitchen",
    "on a table",
    "in winter",
    "at sunset",
]
_TAIL = [
    "stock photo",
    "free shipping",
    "hd wallpaper",
    "for sale",
    "illustration",
    "vector art",
    "royalty free image",
    "best price",
    "2019 collection",
    "high quality",
]
_PLAIN = [
    "{adj} {noun} {place}",
    "{Adj} {noun} {tail}",
    "photo of a {noun} {place}",
    "{noun} and {noun2} {place} - {tail}",
    "The {adj} {noun} | {tail}",
    "a {noun} near the {noun2}, {tail}",
    "Another {noun} now {place}",
    "knowing the {noun} {place}",
    "{noun} – {tail} ™",
    "café {noun} crème {place}",  # non-ASCII, no negation
]
_TRICKY = [  # look like negation to a careless matcher; 10 % of the plain captions
    "Nothing beats a {adj} {noun} {place}",  # "nothing" is not "no"
    "How to tie a knot with a {noun}",  # "knot" is not "not"
    "Note: {adj} {noun} {tail}",  # "note" is not "not"
    "north view of the {noun} {place}",
    "Chanel No. 5 {tail}",  # numbering: a false positive of \bno\b
    "Piano No. 2 sheet music {tail}",
    "I’m a {adj} {noun}",
]
_NEGATED = [
    "no {noun} {place}",
    "not a {noun} {tail}",
    "There is no {noun} in this picture",
    "{Adj} room without a {noun}",
    "never leave your {noun} {place}",
    "don't touch the {noun}",
    "don’t touch the {noun}",  # curly apostrophe
    "this isn't a {noun}",
    "this isn’t a {noun}",
    "NO {NOUN} ALLOWED",
    "a no-brainer {noun} deal",  # a false positive of \bno\b, documented
    "nobody likes a wet {noun}",
    "{noun} with no {noun2} {place}",
    "neither {noun} nor {noun2}",
    "can't find my {noun} {place}",
    "you cannot miss this {noun}",
    "no longer available: {noun} {tail}",
    "not any {noun} will do",
    "none of the {noun}s {place}",
    "going nowhere with a {noun}",
    "ＮＯ ｐａｒｋｉｎｇ for the {noun}",  # full-width: NFKC makes it "no parking"
    "I won’t sell my {noun}",
]


def caption_pool(
    seed: int = 0, n_plain: int = 4000, n_negated: int = 400, tricky_share: float = 0.1
) -> list[str | None]:
    """A deterministic pool of captions (plus ``None``, ``""``, ``"   "`` and a 60 000-char one);
    about ``tricky_share`` of the plain ones are tricky (look like a negation, a few are one)."""
    rng = random.Random(seed)

    def fill(template: str) -> str:
        noun, noun2 = rng.choice(_NOUN), rng.choice(_NOUN)
        adj = rng.choice(_ADJ)
        return template.format(
            adj=adj,
            Adj=adj.capitalize(),
            noun=noun,
            NOUN=noun.upper(),
            noun2=noun2,
            place=rng.choice(_PLACE),
            tail=rng.choice(_TAIL),
        )

    pool: list[str | None] = [
        fill(rng.choice(_TRICKY if rng.random() < tricky_share else _PLAIN)) for _ in range(n_plain)
    ]
    pool += [fill(rng.choice(_NEGATED)) for _ in range(n_negated)]
    long_caption = " ".join(rng.choice(_NOUN) for _ in range(12_000))[:59_990] + " not a dog"
    pool += [None, None, "", "   ", long_caption]
    return pool


def synthetic_laion(
    n_rows: int,
    seed: int = 0,
    pool_size: int = 20_000,
    negated_share: float = 0.01,
    tricky_share: float = 0.1,
) -> pl.DataFrame:
    """``n_rows`` SYNTHETIC rows with the LAION-400M metadata schema (fast: numpy sampling).

    About ``negated_share`` of the pool's captions carry a negation; nulls, empty captions and
    the 60 000-character caption are rare (about 0.1 % each, the long one rarer).
    """
    n_negated = max(1, round(pool_size * negated_share))
    pool = caption_pool(seed, pool_size - n_negated, n_negated, tricky_share)
    rng = np.random.default_rng(seed)
    weights = np.ones(len(pool))
    special = [i for i, c in enumerate(pool) if c is None or not c.strip() or len(c) > 10_000]
    weights[special] = pool_size / 1000  # ~0.1 % each: nulls, empties, the long caption
    weights[-1] = 0.1  # the 60 000-character caption stays rare (benchmark memory)
    idx = rng.choice(len(pool), size=n_rows, p=weights / weights.sum())
    text = pl.Series("TEXT", pool, dtype=pl.String).gather(idx)
    ids = np.arange(n_rows, dtype=np.int64)
    return pl.DataFrame(
        {
            "SAMPLE_ID": ids,
            "URL": "https://example.invalid/img/" + pl.Series(ids).cast(pl.String) + ".jpg",
            "TEXT": text,
            "HEIGHT": rng.integers(64, 2048, n_rows, dtype=np.int32),
            "WIDTH": rng.integers(64, 2048, n_rows, dtype=np.int32),
            "LICENSE": pl.Series(rng.choice(["?", "cc-by"], n_rows)),
            "NSFW": pl.Series(
                rng.choice(["UNLIKELY", "UNSURE", "NSFW"], n_rows, p=[0.9, 0.08, 0.02])
            ),
            "similarity": rng.uniform(0.3, 0.45, n_rows),
        },
        schema=LAION_SCHEMA,
    )


def sample_shard_path() -> Path:
    """The embedded SYNTHETIC sample shard that ships inside the package."""
    return Path(str(resources.files("corpora").joinpath("data/sample_laion400m.parquet")))


def write_sample(path: Path, n_rows: int = 4000, seed: int = 0) -> Path:
    """(Re)write the embedded sample shard. Run ``python -m corpora.synthetic``."""
    frame = synthetic_laion(n_rows, seed=seed, pool_size=2000, negated_share=0.05)
    frame.write_parquet(path, compression="zstd", compression_level=19, statistics=True)
    return path


if __name__ == "__main__":
    out = Path(__file__).parent / "data" / "sample_laion400m.parquet"
    write_sample(out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
