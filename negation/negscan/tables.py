"""The tables of a scan result: the per-word and class frames, the seeded sample captions kept
per word (:func:`samples_of`, :func:`bottom_k`: also what adding results up keeps), and the
summary of distinct captions (:func:`unique_summary`)."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from corpora.captions import CAPTION
from corpora.schema import C
from negation.negscan import uniques
from negation.negscan.scan import I64, ScanOptions, ScanResult


def empty_samples() -> pl.DataFrame:
    return pl.DataFrame(
        schema={C.word: pl.String, C.caption: pl.String, C.shard: pl.String, "key": pl.UInt64}
    )


def per_word_frame(opts: ScanOptions, counts: pl.DataFrame) -> pl.DataFrame:
    words = pl.DataFrame({C.word: list(opts.lexicon.entries)})
    return (
        words.join(counts, on=C.word, how="left", maintain_order="left")
        .with_columns(pl.col(C.captions, C.occurrences).fill_null(0).cast(I64))
        .select(C.word, C.captions, C.occurrences)
    )


def classes_frame(opts: ScanOptions, counts: dict[str, int]) -> pl.DataFrame:
    names = list(opts.classes.names) if opts.classes else []
    return pl.DataFrame(
        {C.class_: names, C.count: [counts.get(n, 0) for n in names]},
        schema={C.class_: pl.String, C.count: I64},
    )


def samples_of(
    neg: pl.DataFrame,
    hits: pl.DataFrame,
    spread: Callable[[pl.DataFrame], pl.DataFrame],
    n: int,
    seed: int,
    sources: list[str],
    *,
    by_shard: bool,
) -> pl.DataFrame:
    """Per word (and shard, ``by_shard``), the ``n`` distinct captions with the smallest seeded
    hash keys (see :func:`bottom_k`), found on the keys first so that only the chosen captions
    are copied; ``spread``: what was found in texts, once per shard each occurs in."""
    by = ("s",) if by_shard else ()
    keys = neg.select("i", key=pl.col(CAPTION).hash(seed))
    if by_shard:
        hits = spread(hits)
    chosen = (  # (a hit's key gathered by its text id: no join)
        hits.select(*by, C.word, key=keys["key"].gather(hits["i"]))
        .group_by(*by, C.word)
        .agg(pl.col("key").unique().bottom_k(n))
        .explode("key")
    )
    texts = (
        keys.with_columns(neg[CAPTION])
        .filter(pl.col("key").is_in(chosen["key"].implode()))
        .pipe(spread)
        .unique(["s", "key"])
        .select("s", "key", CAPTION)
    )
    shards = pl.DataFrame(
        {"s": range(len(sources)), C.shard: sources}, schema={"s": pl.UInt32, C.shard: pl.String}
    )
    found = (
        chosen.join(texts, on=[*by, "key"])
        .join(shards, on="s")
        .select(*by, C.word, CAPTION, C.shard, "key")
    )
    return bottom_k(found, n, by=by)


def bottom_k(samples: pl.DataFrame, n: int, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Per word (per ``by`` and word), the ``n`` distinct captions with the smallest seeded hash
    keys.

    Equivalent to a uniform random sample of distinct captions, and deterministic however shards
    are ordered or grouped: merging bottom-k samples gives the bottom-k of the union.
    """
    return (
        samples.sort(*by, C.word, "key", CAPTION, C.shard)
        .unique([*by, C.word, CAPTION], keep="first", maintain_order=True)
        .group_by(*by, C.word, maintain_order=True)
        .head(n)
    )


def unique_summary(result: ScanResult, opts: ScanOptions) -> dict[str, object] | None:
    """Counts over distinct caption texts (LAION repeats captions across URLs): exact, or
    HyperLogLog estimates (:mod:`negation.negscan.uniques`)."""
    if result.unique_sketch is not None:
        return uniques.estimated_summary(result.unique_sketch, list(opts.lexicon.entries))
    if result.unique_all is None or result.unique_neg is None:
        return None
    n_unique = result.unique_all.height
    n_neg = result.unique_neg["hash"].n_unique()
    per_word = result.unique_neg.group_by(C.word).agg(
        pl.len().cast(I64).alias(C.captions), pl.col(C.occurrences).sum().cast(I64)
    )
    table = per_word_frame(opts, per_word)
    words = {w: {C.captions: c, C.occurrences: o} for w, c, o in table.iter_rows()}
    return {
        "n_unique": n_unique,
        "n_unique_with_negation": n_neg,
        "rate_unique": n_neg / n_unique if n_unique else None,
        "per_word": words,
        C.note: "distinct non-null caption texts, identified by 64-bit hashes",
    }
