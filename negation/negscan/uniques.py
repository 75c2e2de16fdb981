"""``--unique``'s counts over distinct caption texts, in bounded memory: exact while the distinct
captions added up number at most :data:`UNIQUE_EXACT`, HyperLogLog sketches beyond.

Exact: each shard's distinct-caption hashes (``unique_all``) and its (hash, word, occurrences) of
the captions with a negation (``unique_neg``) are unions of sets, added up by
:func:`.analysis.combine`. Once the union of ``unique_all`` exceeds UNIQUE_EXACT, both are
replaced by HyperLogLog sketches (2^P registers each, the largest rank seen per register): one
of all captions, one of the negated ones, and per word one of its captions and one of its
occurrences (a caption that has a word ``k`` times adds ``(hash, 1)`` … ``(hash, k)``, so that the
distinct pairs number the occurrences over distinct captions). A register's maximum is the same
however the shards are grouped, so a local and a Ray scan give the same estimates; the switch
to sketches depends only on the size of the union, not on the grouping. The standard error of an
estimate is 1.04 / sqrt(2^P): 0.41 % with P = 16 (small counts use linear counting).
"""

from __future__ import annotations

import math

import polars as pl

from corpora.schema import C
from negation.negscan.scan import HASH_SEED

UNIQUE_EXACT = 1 << 22  # distinct captions counted exactly (8 bytes each held: 32 MiB)
# The union of exact tables is made a range of hashes at a time, a 2^BUCKET_BITS-th of them each:
# what it holds while it runs (a hash table) is then a bucket's, not the whole union's.
BUCKET_BITS = 4
P = 16  # a sketch has 2^P registers
M = 1 << P
ERROR = 1.04 / math.sqrt(M)  # the standard error of an estimate
ALL, NEG = "all", "neg"  # the sketches of all captions and of those with a negation
SKETCH_SCHEMA = {"sketch": pl.String, "register": pl.UInt32, "rank": pl.UInt8}


def _registers(hashes: pl.Expr) -> list[pl.Expr]:
    """A 64-bit hash's register (its top P bits) and rank (1 + the leading zeros of the rest)."""
    low = pl.lit(1 << (64 - P), pl.UInt64)
    rest = hashes % low
    rank = (rest.bitwise_leading_zeros() - P + 1).cast(pl.UInt8)
    return [(hashes // low).cast(pl.UInt32).alias("register"), rank.alias("rank")]


def _sketch(frame: pl.DataFrame, name: pl.Expr) -> pl.DataFrame:
    """The sketches of ``frame``'s column ``hash`` (one per value of ``name``)."""
    return (
        frame.select(name.alias("sketch"), *_registers(pl.col("hash")))
        .group_by("sketch", "register")
        .agg(pl.col("rank").max())
    )


def sketch(unique_all: pl.DataFrame, unique_neg: pl.DataFrame) -> pl.DataFrame:
    """Every sketch of exact ``unique_all`` / ``unique_neg`` tables (see the module's text)."""
    occurrences = (
        unique_neg.with_columns(k=pl.int_ranges(1, pl.col(C.occurrences) + 1))
        .explode("k")
        .select(C.word, hash=pl.struct("hash", "k").hash(HASH_SEED))
    )
    return pl.concat(
        [
            _sketch(unique_all, pl.lit(ALL)),
            _sketch(unique_neg.unique("hash"), pl.lit(NEG)),
            _sketch(unique_neg, pl.lit("captions:") + pl.col(C.word)),
            _sketch(occurrences, pl.lit("occurrences:") + pl.col(C.word)),
        ]
    )


def merge(sketches: list[pl.DataFrame]) -> pl.DataFrame:
    return (
        pl.concat(sketches)
        .group_by("sketch", "register")
        .agg(pl.col("rank").max())
        .sort("sketch", "register")
    )


def add_up(
    exact: list[tuple[pl.DataFrame, pl.DataFrame]], sketches: list[pl.DataFrame]
) -> tuple[pl.DataFrame | None, pl.DataFrame | None, pl.DataFrame | None]:
    """The union of exact tables (``unique_all``, ``unique_neg`` of each result) and
    sketches: exact tables while the union of the ``unique_all`` holds at most UNIQUE_EXACT
    hashes (and no sketch is given), else one table of sketches. Returns ``(unique_all,
    unique_neg, sketches)``."""
    if not sketches:
        hashes: list[pl.Series] = [pl.Series("hash", [], pl.UInt64)]
        negs: list[pl.DataFrame] = []
        width = 1 << (64 - BUCKET_BITS)
        for lo in range(0, 1 << 64, width):  # (a Series' unique: a frame's holds far more)
            inside = pl.col("hash").is_between(
                pl.lit(lo, pl.UInt64), pl.lit(lo + width - 1, pl.UInt64)
            )
            hashes.append(
                pl.concat([hashes[0]] + [a.filter(inside)["hash"] for a, _ in exact]).unique()
            )
            if sum(h.len() for h in hashes) > UNIQUE_EXACT:
                break
            if exact:
                negs.append(
                    pl.concat([n.filter(inside) for _, n in exact]).unique(["hash", C.word])
                )
        else:
            return (
                pl.concat(hashes, rechunk=False).to_frame(),
                pl.concat(negs, rechunk=False) if negs else None,
                None,
            )
    return None, None, merge([sketch(a, n) for a, n in exact] + sketches)


def estimate(sketches: pl.DataFrame, name: str) -> int:
    """HyperLogLog's estimate of the distinct values behind sketch ``name`` (linear counting
    while many registers are empty)."""
    ranks = sketches.filter(pl.col("sketch") == name)["rank"]
    zeros = M - ranks.len()
    total = float((2.0 ** -ranks.cast(pl.Float64)).sum()) + zeros
    raw = 0.7213 / (1 + 1.079 / M) * M * M / total
    if raw <= 2.5 * M and zeros:
        raw = M * math.log(M / zeros)
    return round(raw)


def estimated_summary(sketches: pl.DataFrame, words: list[str]) -> dict[str, object]:
    """:func:`negation.negscan.tables.unique_summary` from sketches."""
    n_unique, n_neg = estimate(sketches, ALL), estimate(sketches, NEG)
    per_word = {
        w: {
            C.captions: estimate(sketches, f"captions:{w}"),
            C.occurrences: estimate(sketches, f"occurrences:{w}"),
        }
        for w in words
    }
    return {
        "n_unique": n_unique,
        "n_unique_with_negation": n_neg,
        "rate_unique": n_neg / n_unique if n_unique else None,
        "per_word": per_word,
        "estimated": True,
        C.note: (
            f"distinct non-null caption texts, identified by 64-bit hashes; more than "
            f"{UNIQUE_EXACT:,} of them, so these are HyperLogLog estimates (2^{P} registers, "
            f"standard error {100 * ERROR:.2f} %)"
        ),
    }
