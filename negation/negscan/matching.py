"""Where the negations are, in the captions the prefilter kept (:mod:`.scan`): each caption's
normalised text and bigram matches (:func:`negated`), the negator+next-word hits (:func:`hits`)
and which classes each negation names (:func:`class_negation`), with the regexes of
:attr:`ScanOptions.patterns <negation.negscan.scan.ScanOptions.patterns>` (built once per run)."""

from __future__ import annotations

import polars as pl

from corpora.captions import CAPTION
from corpora.schema import C
from negation.negscan.scan import Patterns, ScanOptions, normalised

# Captions longer than this (bytes) are cut to start at their first negator before the analysis.
LONG = 1024


def negated(part: pl.DataFrame, kind: str, opts: ScanOptions) -> pl.LazyFrame:
    """The captions of one normalisation route that have a negation, with their normalised text
    ``norm`` and their bigram matches ``m`` (every negator with its next word). The ``"chars"``
    route's table holds the characters these captions hold, not all ~5 000.

    A caption longer than ``LONG`` bytes is cut to start at its first negator: nothing before it
    can count (a class counts after a negator), and each regex below then reads only the rest.
    """
    pats = opts.patterns
    any_pat, bigram = (
        (pats.any_ascii, pats.bigram_ascii) if kind == "ascii" else (pats.any, pats.bigram)
    )
    norm = pl.col("norm")
    chars = None
    if kind == "chars":
        chars = part[CAPTION].str.extract_all(r"[^\x00-\x7F]").explode().unique().drop_nulls()
    lazy = part.lazy().with_columns(
        norm=normalised(
            pl.col(CAPTION), exclude_numbering=opts.exclude_numbering, kind=kind, chars=chars
        ),
        ascii=pl.lit(kind == "ascii"),
    )
    long = pl.col(CAPTION).str.len_bytes() > LONG
    start = norm.str.find(any_pat).fill_null(norm.str.len_bytes())  # (none: the text is emptied)
    cut = lazy.filter(long).with_columns(norm=norm.cast(pl.Binary).bin.slice(start).cast(pl.String))
    lazy = pl.concat([lazy.filter(~long), cut])
    return lazy.with_columns(m=norm.str.extract_all(bigram)).filter(pl.col("m").list.len() > 0)


def hits(neg: pl.DataFrame, matches: pl.DataFrame, pats: Patterns) -> pl.DataFrame:
    """Every negator occurrence (text ``i``, ``word`` with single spaces).

    A bigram match starts with the very negator a search for negators alone finds there, and
    both searches go on alike unless another negator starts in the word the bigram match took
    ("not no longer"): the negators are read off the distinct bigram matches, and only the
    captions where that may happen (:func:`negation.negscan.scan.tail_risk`) are searched again.
    """
    m = pl.col("m")
    lead = m.str.extract(f"^({pats.any})", 1)
    tail = m.str.slice(lead.str.len_chars())
    risky = tail.str.contains(pats.tail_risk) if pats.tail_risk else tail != ""
    risky = risky | lead.is_null()  # (never, but then searched again rather than lost)
    forms = matches.select(m.unique()).select(
        "m", lead.str.replace_all(r"\s+", " ").alias(C.word), risky.alias("risky")
    )
    hits = matches.join(forms, on="m").select("i", C.word, "risky")
    again = hits.filter("risky")["i"].unique()
    if again.is_empty():
        return hits.drop("risky")
    norm = pl.col("norm")
    words = (
        pl.when("ascii")
        .then(norm.str.extract_all(pats.any_ascii))
        .otherwise(norm.str.extract_all(pats.any))
    )
    searched = (
        neg.filter(pl.col("i").is_in(again.implode()))
        .select("i", words.alias(C.word))
        .explode(C.word)
        .with_columns(pl.col(C.word).str.replace_all(r"\s+", " "))
    )
    return pl.concat([hits.filter(~pl.col("i").is_in(again.implode())).drop("risky"), searched])


def grid(n: int, name: str, values: list[str]) -> pl.DataFrame:
    """Each shard's rows of a table (shard ``s``, column ``name``) in the order of ``values``."""
    return pl.DataFrame(
        {"s": [k for k in range(n) for _ in values], name: values * n},
        schema={"s": pl.UInt32, name: pl.String},
    )


def class_negation(neg: pl.DataFrame, pats: Patterns) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The texts where a negator is followed within the window by a class name (column ``i``),
    and the classes each negates (``i``, class).

    An Aho–Corasick pass keeps the texts where a class name's first word occurs at all (as a
    substring, so a superset); one regex for a negator followed by any class name then keeps
    those that negate some class, and a second Aho–Corasick pass lists which classes' first
    words each of these mentions. A kept text that mentions one class only negates that one (the
    class the regex matched has its first word in the text); each class's exact regex runs on
    the kept texts that mention several (all classes in one query).
    """
    negated = pl.DataFrame(schema={"i": pl.UInt32, C.class_: pl.String})
    if not pats.per_class or not neg.height:
        return negated.select("i"), negated
    words = list(pats.class_triggers)
    triggers = pl.DataFrame(
        [(t, name) for t, names in pats.class_triggers.items() for name in names],
        schema={"trigger": pl.String, C.class_: pl.String},
        orient="row",
    )
    mention = neg.filter(pl.col("norm").str.contains_any(words))["i"]
    ids = _matching(neg, mention, pats.any_class_ascii, pats.any_class)
    pairs = (
        pl.select(
            i=ids,
            trigger=neg["norm"].gather(ids).str.extract_many(words, overlapping=True).list.unique(),
        )
        .explode("trigger")  # only row ids and short words: never copies a long caption
        .drop_nulls()
        .join(triggers, on="trigger")
        .select("i", C.class_)
        .unique()
    )
    several = pl.len().over("i") > 1
    one = pairs.filter(~several)
    regexes = pl.DataFrame(
        {
            C.class_: list(pats.per_class),
            "regex": list(pats.per_class.values()),
            "regex_ascii": [pats.per_class_ascii[name] for name in pats.per_class],
        }
    )
    # each (text, class) pair tested with its class's regex, in one query: the pairs sorted by
    # regex, so that each is compiled once
    tested = pairs.filter(several).join(regexes, on=C.class_)
    tested = tested.with_columns(
        norm=neg["norm"].gather(tested["i"]), ascii=neg["ascii"].gather(tested["i"])
    ).sort(C.class_, "ascii")
    hit = tested.filter(
        pl.col("norm").str.contains(pl.when("ascii").then("regex_ascii").otherwise("regex"))
    )
    return ids.to_frame("i"), pl.concat([one, hit.select("i", C.class_)])


def _matching(neg: pl.DataFrame, ids: pl.Series, pattern_ascii: str, pattern: str) -> pl.Series:
    """The row ids among ``ids`` whose normalised caption matches ``pattern``: all-ASCII
    captions are tested with its ASCII twin (the same matches, compiled faster). For one regex,
    splitting the ids costs less than a regex per row (the several-class query's way)."""
    ascii = neg["ascii"].gather(ids)
    found = [
        part.filter(neg["norm"].gather(part).str.contains(pat))
        for part, pat in ((ids.filter(ascii), pattern_ascii), (ids.filter(~ascii), pattern))
        if len(part)
    ]
    return pl.concat(found) if found else ids.clear()
