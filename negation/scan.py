"""The negation scan: one Polars pass over a frame of captions (column ``caption``) → ScanResult.

How shards are scanned:

1. :func:`prefilter`: one streaming pass (``collect(engine="streaming")``) over a shard's caption
   column keeps only the null and empty captions (to count them) and the *candidate* rows: those
   the cheap case-insensitive prefilter (see :meth:`Lexicon.prefilter_pattern`) says could
   contain a lexicon entry. The row count comes from the Parquet metadata.
2. :func:`analyse`: the candidates of one shard, or of a batch of shards together (so that small
   shards pay no per-shard cost), are normalised (NFKC, lower-case, ``’`` → ``'``; "no. 5"
   blanked with ``exclude_numbering``) and matched exactly. Everything else — per-word counts,
   bigrams, class co-occurrence, samples, unique-text counts — is computed on the few rows with a
   negation, per shard: each shard's result is the same however the shards are batched.

Per-word counting: a caption's lexicon matches are found left to right, preferring the longest
entry at each position ("no longer" is counted under "no longer", not also under "no"), so the
per-word occurrences add up to the caption's number of negations.

Counts are Int64, so sums over billions of rows cannot overflow.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import polars as pl

from corpora.captions import CAPTION
from corpora.classes import ClassSet
from negation.lexicon import (
    APOSTROPHES,
    COMPOSING_CLASS,
    NUMBERING_MASK,
    NUMBERING_PATTERN,
    SEP,
    SEP_ASCII,
    TOKEN,
    TOKEN_ASCII,
    Lexicon,
    entry_pattern,
    nfkc_table,
    normalise_entry,
)

# Fixed, so that hashes of caption texts agree across shards, runs and machines (same Polars).
HASH_SEED = 0x6E6F74
I64 = pl.Int64
EMPTY = r"^\s*$"  # an empty or whitespace-only caption


# A class counts when it starts within this many tokens after a negator: 5 is the smallest window
# that covers the poster's own negated prompt, "not a photo of a dog" (the class is token 5).
DEFAULT_WINDOW = 5


@dataclass(frozen=True)
class ScanOptions:
    lexicon: Lexicon
    classes: ClassSet | None = None
    window: int = DEFAULT_WINDOW
    n_samples: int = 5
    seed: int = 0
    exclude_numbering: bool = False
    unique: bool = False

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"--window must be at least 1, got {self.window}")
        if self.n_samples < 0:
            raise ValueError(f"--samples must be >= 0, got {self.n_samples}")

    def config(self) -> dict[str, object]:
        """Everything that changes the numbers (resume refuses partials made with other values)."""
        return {
            "lexicon": self.lexicon.name,
            "lexicon_entries": list(self.lexicon.entries),
            "classes": self.classes.name if self.classes else None,
            "class_names": list(self.classes.names) if self.classes else [],
            "window": self.window,
            "samples": self.n_samples,
            "seed": self.seed,
            "exclude_numbering": self.exclude_numbering,
            "unique": self.unique,
        }


def options_from_config(config: dict[str, Any]) -> ScanOptions:
    """Rebuild the options recorded by :meth:`ScanOptions.config` (``negscan merge``)."""
    names = tuple(config["class_names"])
    classes = ClassSet(str(config["classes"]), names, names) if config["classes"] else None
    return ScanOptions(
        lexicon=Lexicon(str(config["lexicon"]), tuple(config["lexicon_entries"])),
        classes=classes,
        window=int(config["window"]),
        n_samples=int(config["samples"]),
        seed=int(config["seed"]),
        exclude_numbering=bool(config["exclude_numbering"]),
        unique=bool(config["unique"]),
    )


def class_pattern(name: str) -> str:
    """A class name as a whole-word regex; a plural "s"/"es" is accepted ("no dogs")."""
    pat = entry_pattern(normalise_entry(name))
    return pat[:-2] + r"(?:e?s)?\b" if pat.endswith(r"\b") else pat


@dataclass(frozen=True)
class Patterns:
    """The regexes of one scan configuration (all but ``prefilter`` work on normalised text)."""

    prefilter: str
    any: str
    bigram: str
    any_ascii: str  # ``any`` and ``bigram`` for all-ASCII captions (exactly the same matches)
    bigram_ascii: str
    per_class: dict[str, str] = field(default_factory=dict)
    any_class: str = ""  # a negator followed within the window by any class name
    # first word of each class name → the classes it starts (an Aho–Corasick pre-check)
    class_triggers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, opts: ScanOptions) -> Patterns:
        any_pat = opts.lexicon.any_pattern()
        per_class: dict[str, str] = {}
        any_class = ""
        triggers: dict[str, tuple[str, ...]] = {}
        if opts.classes is not None:
            lead = f"{any_pat}(?:{SEP}{TOKEN}){{0,{opts.window - 1}}}{SEP}"
            per_class = {n: lead + class_pattern(n) for n in opts.classes.names}
            any_class = lead + "(?:" + "|".join(map(class_pattern, opts.classes.names)) + ")"
            for n in opts.classes.names:
                first = normalise_entry(n).split()[0]
                triggers[first] = (*triggers.get(first, ()), n)
        return cls(
            prefilter=opts.lexicon.prefilter_pattern(),
            any=any_pat,
            # every negator, with its next word when one follows: the optional tail never makes
            # the alternation pick a shorter entry ("no longer" at the end is not "no" + "longer")
            bigram=f"{any_pat}(?:{SEP}{TOKEN})?",
            any_ascii=opts.lexicon.any_pattern(ascii=True),
            bigram_ascii=f"{opts.lexicon.any_pattern(ascii=True)}(?:{SEP_ASCII}{TOKEN_ASCII})?",
            per_class=per_class,
            any_class=any_class,
            class_triggers=triggers,
        )


@lru_cache(maxsize=4)
def patterns(opts: ScanOptions) -> Patterns:
    """The regexes of ``opts``, built once per run."""
    return Patterns.build(opts)


@dataclass
class ScanResult:
    """Counts and tables of one shard (or of several, after :func:`combine`)."""

    n_rows: int
    n_null: int
    n_empty: int
    n_with_negation: int
    n_with_class_negation: int
    per_word: pl.DataFrame  # word, captions, occurrences
    bigrams: pl.DataFrame  # negator, next_word, count
    classes: pl.DataFrame  # class, count
    samples: pl.DataFrame  # word, caption, shard, key
    unique_all: pl.DataFrame | None = None  # hash (one row per distinct non-null caption)
    unique_neg: pl.DataFrame | None = None  # hash, word, occurrences

    @property
    def counts(self) -> dict[str, int]:
        return {
            "n_rows": self.n_rows,
            "n_null": self.n_null,
            "n_empty": self.n_empty,
            "n_with_negation": self.n_with_negation,
            "n_with_class_negation": self.n_with_class_negation,
        }


def normalised(expr: pl.Expr, *, exclude_numbering: bool, kind: str = "nfkc") -> pl.Expr:
    """The Polars twin of :func:`negation.lexicon.normalise` (+ optional numbering blanking).

    ``kind`` picks the cheapest exact route for a caption: ``"ascii"`` (NFKC is the identity:
    lower-case only), ``"chars"`` (no combining marks or Hangul jamo: NFKC character by
    character through an Aho–Corasick table, several times faster) or ``"nfkc"`` (whole-string
    NFKC).
    """
    if kind == "nfkc":
        out = expr.str.normalize("NFKC")
    elif kind == "chars":
        src, dst = nfkc_table()
        out = expr.str.replace_many(list(src), list(dst))
    else:
        out = expr
    out = out.str.to_lowercase()
    if kind != "ascii":
        for a in APOSTROPHES:
            out = out.str.replace_all(a, "'", literal=True)
    if exclude_numbering:
        out = out.str.replace_all(NUMBERING_PATTERN, NUMBERING_MASK)
    return out


def _empty_samples() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"word": pl.String, "caption": pl.String, "shard": pl.String, "key": pl.UInt64}
    )


def _per_word_frame(opts: ScanOptions, counts: pl.DataFrame) -> pl.DataFrame:
    words = pl.DataFrame({"word": list(opts.lexicon.entries)})
    return (
        words.join(counts, on="word", how="left", maintain_order="left")
        .with_columns(pl.col("captions", "occurrences").fill_null(0).cast(I64))
        .select("word", "captions", "occurrences")
    )


def _classes_frame(opts: ScanOptions, counts: dict[str, int]) -> pl.DataFrame:
    names = list(opts.classes.names) if opts.classes else []
    return pl.DataFrame(
        {"class": names, "count": [counts.get(n, 0) for n in names]},
        schema={"class": pl.String, "count": I64},
    )


@dataclass
class Candidates:
    """What the streaming pass over one shard keeps for the analysis (see :func:`prefilter`)."""

    source: str  # labels the shard's samples
    totals: dict[str, int]  # n_rows, n_null, n_empty
    rows: pl.DataFrame  # column caption: the non-null, non-empty prefilter candidates
    n_bytes: int  # of the candidates' captions (batches of candidates are bounded by it)
    unique_all: pl.DataFrame | None = None


# Hand-written on Polars, not an NLP library: one streaming pass with a prefilter (speed) and
# exact word-boundary matches (exactness).
def prefilter(
    captions: pl.LazyFrame,
    opts: ScanOptions,
    source: str = "",
    on_rows: Callable[[int], None] | None = None,
    n_rows: int | None = None,
) -> Candidates:
    """The streaming pass over one lazy frame with a string column ``caption``.

    ``on_rows(n)`` is called as the pass gets through each batch of ``n`` rows (about 100 000;
    for progress bars), so the calls add up to the row count. ``n_rows``: the row count when it
    is known already (from a Parquet footer); it is counted otherwise.
    """
    if n_rows is None:  # (the row count of a Parquet scan comes from its metadata)
        n_rows = captions.select(pl.len()).collect(engine="streaming").item()
    frame = captions.with_columns(s=pl.lit(0, pl.UInt32))
    return _prefilter(frame, [source], [int(n_rows)], opts, on_rows)[0]


def prefilter_parquet(
    paths: list[str],
    column: str,
    n_rows: list[int],
    opts: ScanOptions,
    on_rows: Callable[[int], None] | None = None,
) -> list[Candidates]:
    """:func:`prefilter` for several local Parquet files (caption column ``column``, ``n_rows``
    rows each, from their footers) in one streaming pass, so that small shards pay no per-shard
    cost. ``on_rows`` is called once, with the group's row count, when the pass is done."""
    # a kept row's shard is found from its position (row counts in order), not by carrying each
    # row's file path through the pass
    ends = pl.Series(list(accumulate(n_rows)), dtype=pl.UInt64)
    frame = pl.scan_parquet(paths, glob=False).select(pl.col(column).alias(CAPTION))
    out = _prefilter(frame, paths, n_rows, opts, None, ends)
    if on_rows is not None:
        on_rows(sum(n_rows))
    return out


def _prefilter(
    captions: pl.LazyFrame,
    sources: list[str],
    n_rows: list[int],
    opts: ScanOptions,
    on_rows: Callable[[int], None] | None,
    ends: pl.Series | None = None,
) -> list[Candidates]:
    """The streaming pass over the captions of several shards: their shard index is in column
    ``s``, or (``ends``: each shard's last row + 1, in order) found from the row's position."""
    pats = patterns(opts)
    c = pl.col(CAPTION)
    n = len(sources)
    is_null = c.is_null()
    if on_rows is not None:

        def counted(batch: pl.Series) -> pl.Series:
            on_rows(len(batch))
            return batch

        # counted on the null mask: handing the caption batches through Python would keep their
        # buffers alive in the kept rows
        is_null = is_null.map_batches(counted, return_dtype=pl.Boolean, is_elementwise=True)
    shard = pl.col("s")
    if ends is not None:
        captions = captions.with_row_index("s")
        shard = pl.lit(ends).search_sorted(shard.cast(pl.UInt64), side="right").cast(pl.UInt32)
    # One streaming pass keeps the rows that need a closer look: nulls, empty captions and the
    # prefilter's candidates.
    kept = captions.filter(is_null | c.str.contains(f"{pats.prefilter}|{EMPTY}")).collect(
        engine="streaming"
    )
    if ends is not None:
        kept = kept.with_columns(s=shard)
    is_empty = kept[CAPTION].str.contains(EMPTY)
    odd = {  # shard -> (nulls, empty captions)
        k: (nulls, empties)
        for k, nulls, empties in kept.with_columns(empty=is_empty)
        .group_by("s")
        .agg(c.null_count(), pl.col("empty").sum())
        .iter_rows()
    }
    rows = _split(kept.filter(is_empty.not_()), n)  # drops nulls and empties
    unique_all: list[pl.DataFrame | None] = [None] * n
    if opts.unique:  # a second pass, only when asked for
        unique_all = _split(  # type: ignore[assignment]
            captions.filter(c.is_not_null())
            .select(s=shard, hash=c.hash(HASH_SEED))
            .unique()
            .collect(engine="streaming"),
            n,
        )
    out = []
    for k, source in enumerate(sources):
        nulls, empties = odd.get(k, (0, 0))
        totals = {"n_rows": n_rows[k], "n_null": int(nulls), "n_empty": int(empties or 0)}
        n_bytes = int(rows[k][CAPTION].str.len_bytes().sum() or 0)
        out.append(Candidates(source, totals, rows[k], n_bytes, unique_all[k]))
    return out


def scan(
    captions: pl.LazyFrame,
    opts: ScanOptions,
    source: str = "",
    on_rows: Callable[[int], None] | None = None,
) -> ScanResult:
    """Scan a lazy frame with a string column ``caption``; ``source`` labels its samples.

    ``on_rows``: see :func:`prefilter`.
    """
    return analyse([prefilter(captions, opts, source, on_rows)], opts)[0]


def _split(frame: pl.DataFrame, n: int) -> list[pl.DataFrame]:
    """A frame with a shard column ``s`` (0..n-1) → one frame per shard, without ``s``."""
    parts = frame.partition_by("s", as_dict=True, include_key=False, maintain_order=True)
    empty = frame.drop("s").clear()
    return [parts.get((k,), empty) for k in range(n)]


def _owned(frame: pl.DataFrame) -> pl.DataFrame:
    """The same table in fresh buffers: a shard's result must not keep its captions' buffers
    (Polars strings can be views into a larger buffer) alive. Written out as Arrow IPC (which
    copies only the bytes the rows use) and read back."""
    return pl.read_ipc(frame.write_ipc(None).getvalue())


def analyse(batch: list[Candidates], opts: ScanOptions) -> list[ScanResult]:
    """The results of several shards from their candidates, analysed together (one set of
    Polars calls for the whole batch, however small its shards), each shard's result exact."""
    pats = patterns(opts)
    n = len(batch)
    c = pl.col(CAPTION)
    heights = pl.Series([b.rows.height for b in batch], dtype=pl.UInt32)
    shard = pl.int_range(n, dtype=pl.UInt32).repeat_by(pl.lit(heights))
    candidates = pl.concat([b.rows.select(CAPTION) for b in batch], rechunk=True).with_columns(
        s=pl.select(shard.explode(empty_as_null=False)).to_series()
    )
    # Whole-string NFKC is the costliest step: each caption takes the cheapest exact route.
    is_ascii = candidates[CAPTION].str.len_bytes() == candidates[CAPTION].str.len_chars()
    other = candidates.filter(~is_ascii)
    composing = other[CAPTION].str.contains(COMPOSING_CLASS)
    routes = [
        ("ascii", candidates.filter(is_ascii)),
        ("chars", other.filter(~composing)),
        ("nfkc", other.filter(composing)),
    ]
    norm = pl.col("norm")
    neg = (
        pl.concat(
            [
                part.lazy()
                .with_columns(
                    norm=normalised(c, exclude_numbering=opts.exclude_numbering, kind=kind)
                )
                .with_columns(
                    words=norm.str.extract_all(pats.any_ascii if kind == "ascii" else pats.any)
                )
                .filter(pl.col("words").list.len() > 0)
                # every negator with its next word (for the bigrams)
                .with_columns(
                    m=norm.str.extract_all(pats.bigram_ascii if kind == "ascii" else pats.bigram)
                )
                for kind, part in routes
            ]
        )
        .collect(engine="streaming")
        .with_row_index("i")
    )
    hits = (
        neg.select("i", "s", word=pl.col("words"))
        .explode("word")
        .with_columns(pl.col("word").str.replace_all(r"\s+", " "))
    )
    entries = list(opts.lexicon.entries)
    every = pl.DataFrame(  # each shard's rows of the per-word table, in the lexicon's order
        {"s": [k for k in range(n) for _ in entries], "word": entries * n},
        schema={"s": pl.UInt32, "word": pl.String},
    )
    per_word = _split(
        every.join(
            hits.group_by("s", "word").agg(captions=pl.col("i").n_unique(), occurrences=pl.len()),
            on=["s", "word"],
            how="left",
            maintain_order="left",
        ).with_columns(pl.col("captions", "occurrences").fill_null(0).cast(I64)),
        n,
    )

    # a match is "negator SEP word", or a lone negator (then it is exactly a lexicon entry);
    # counted per distinct match first, so that the regexes below run on few rows
    counts = neg.select("s", "m").explode("m").drop_nulls().group_by("s", "m").len("count")
    m = pl.col("m")
    forms = (
        counts.select(m.unique())
        .with_columns(form=m.str.replace_all(r"\s+", " "))
        .filter(~pl.col("form").is_in(entries))
        .select(
            "m",
            negator=pl.col("form").str.replace(f"{SEP}{TOKEN}$", ""),
            next_word=pl.col("form").str.extract(f"({TOKEN})$", 1),
        )
    )
    bigrams = _split(  # (the batch's tables are copied out of the captions' buffers once)
        _owned(
            counts.join(forms, on="m")
            .group_by("s", "negator", "next_word")
            .agg(count=pl.col("count").sum().cast(I64))
            .sort("s", "count", "negator", "next_word", descending=[False, True, False, False])
        ),
        n,
    )

    n_class, class_counts = _class_negation(neg, pats, n)

    sources = [b.source for b in batch]
    samples = (
        _split(_owned(_samples(neg, hits, opts.n_samples, opts.seed, sources)), n)
        if opts.n_samples and neg.height
        else [_empty_samples()] * n
    )

    unique_neg: list[pl.DataFrame | None] = [None] * n
    if opts.unique:
        unique_neg = _split(  # type: ignore[assignment]
            hits.group_by("i", "word")
            .agg(occurrences=pl.len().cast(I64))
            .join(neg.select("i", "s", hash=c.hash(HASH_SEED)), on="i")
            .select("s", "hash", "word", "occurrences")
            .unique(["s", "hash", "word"]),
            n,
        )
    n_neg = dict(neg.group_by("s").len().iter_rows())
    return [
        ScanResult(
            n_rows=int(b.totals["n_rows"]),
            n_null=int(b.totals["n_null"]),
            n_empty=int(b.totals["n_empty"]),
            n_with_negation=n_neg.get(k, 0),
            n_with_class_negation=n_class[k],
            per_word=per_word[k],
            bigrams=bigrams[k],
            classes=_classes_frame(opts, class_counts[k]),
            samples=samples[k],
            unique_all=b.unique_all,
            unique_neg=unique_neg[k],
        )
        for k, b in enumerate(batch)
    ]


def _class_negation(
    neg: pl.DataFrame, pats: Patterns, n: int
) -> tuple[list[int], list[dict[str, int]]]:
    """Per shard, the captions where a negator is followed within the window by a class name: in
    all, and per class.

    An Aho–Corasick pass finds which class names' first words occur at all (as substrings, so a
    superset); one regex for a negator followed by any class name then keeps the captions that
    negate some class (their count is the "in all"), and each class's exact regex runs only on
    those of them that mention it.
    """
    counts: list[dict[str, int]] = [{} for _ in range(n)]
    if not pats.per_class or not neg.height:
        return [0] * n, counts
    triggers = pl.DataFrame(
        [(t, name) for t, names in pats.class_triggers.items() for name in names],
        schema={"trigger": pl.String, "class": pl.String},
        orient="row",
    )
    pairs = (
        neg.select(
            "i",
            trigger=pl.col("norm")
            .str.extract_many(list(pats.class_triggers), overlapping=True)
            .list.unique(),
        )
        .explode("trigger")  # only row ids and short words: never copies a long caption
        .drop_nulls()
        .join(triggers, on="trigger")
        .select("i", "class")
        .unique()
    )
    norm = neg["norm"]
    ids = pairs["i"].unique()
    ids = ids.filter(norm.gather(ids).str.contains(pats.any_class))
    shard = neg["s"]
    n_any = dict(shard.gather(ids).value_counts().iter_rows())
    pairs = pairs.filter(pl.col("i").is_in(ids.implode()))
    found: list[pl.DataFrame] = []
    for (name,), part in pairs.partition_by("class", as_dict=True).items():
        ids = part["i"]  # one class at a time: its captions are gathered, tested, dropped
        hit = ids.filter(norm.gather(ids).str.contains(pats.per_class[str(name)]))
        found.append(shard.gather(hit).to_frame().with_columns(pl.lit(str(name)).alias("class")))
    if found:
        for k, name, count in pl.concat(found).group_by("s", "class").len().iter_rows():
            counts[k][name] = count
    return [n_any.get(k, 0) for k in range(n)], counts


def _samples(
    neg: pl.DataFrame, hits: pl.DataFrame, n: int, seed: int, sources: list[str]
) -> pl.DataFrame:
    """Per shard and word, the ``n`` distinct captions with the smallest seeded hash keys (see
    :func:`bottom_k`), found on the keys first so that only the chosen captions are copied."""
    keys = neg.select("i", "s", key=pl.col(CAPTION).hash(seed))
    chosen = (
        hits.select("i", "word")
        .unique()
        .join(keys, on="i")
        .group_by("s", "word")
        .agg(pl.col("key").unique().bottom_k(n))
        .explode("key")
    )
    texts = (
        keys.with_columns(neg[CAPTION])
        .filter(pl.col("key").is_in(chosen["key"].implode()))
        .unique(["s", "key"])
        .select("s", "key", CAPTION)
    )
    shards = pl.DataFrame(
        {"s": range(len(sources)), "shard": sources}, schema={"s": pl.UInt32, "shard": pl.String}
    )
    found = (
        chosen.join(texts, on=["s", "key"])
        .join(shards, on="s")
        .select("s", "word", CAPTION, "shard", "key")
    )
    return bottom_k(found, n, by=("s",))


def bottom_k(samples: pl.DataFrame, n: int, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Per word (per ``by`` and word), the ``n`` distinct captions with the smallest seeded hash
    keys.

    Equivalent to a uniform random sample of distinct captions, and deterministic however shards
    are ordered or grouped: merging bottom-k samples gives the bottom-k of the union.
    """
    return (
        samples.sort(*by, "word", "key", CAPTION, "shard")
        .unique([*by, "word", CAPTION], keep="first", maintain_order=True)
        .group_by(*by, "word", maintain_order=True)
        .head(n)
    )


def combine(results: list[ScanResult], opts: ScanOptions) -> ScanResult:
    """Add up shard results (Int64 sums; merged tables; bottom-k samples; unique hashes)."""
    if not results:
        nothing = Candidates(
            "",
            {"n_rows": 0, "n_null": 0, "n_empty": 0},
            pl.DataFrame(schema={CAPTION: pl.String}),
            0,
            pl.DataFrame(schema={"hash": pl.UInt64}) if opts.unique else None,
        )
        return analyse([nothing], opts)[0]
    per_word = pl.concat([r.per_word for r in results]).group_by("word").agg(pl.all().sum())
    bigrams = (
        pl.concat([r.bigrams for r in results])
        .group_by("negator", "next_word")
        .agg(pl.col("count").sum())
        .sort("count", "negator", "next_word", descending=[True, False, False])
    )
    classes = pl.concat([r.classes for r in results]).group_by("class").agg(pl.col("count").sum())
    unique_all = unique_neg = None
    if opts.unique:
        unique_all = pl.concat([r.unique_all for r in results if r.unique_all is not None]).unique()
        unique_neg = pl.concat([r.unique_neg for r in results if r.unique_neg is not None]).unique(
            ["hash", "word"]
        )
    return ScanResult(
        n_rows=sum(r.n_rows for r in results),
        n_null=sum(r.n_null for r in results),
        n_empty=sum(r.n_empty for r in results),
        n_with_negation=sum(r.n_with_negation for r in results),
        n_with_class_negation=sum(r.n_with_class_negation for r in results),
        per_word=_per_word_frame(opts, per_word),
        bigrams=bigrams,
        classes=_classes_frame(opts, dict(classes.iter_rows())),
        samples=bottom_k(pl.concat([r.samples for r in results]), opts.n_samples),
        unique_all=unique_all,
        unique_neg=unique_neg,
    )


def unique_summary(result: ScanResult, opts: ScanOptions) -> dict[str, object] | None:
    """Counts over distinct caption texts (LAION repeats captions across URLs)."""
    if result.unique_all is None or result.unique_neg is None:
        return None
    n_unique = result.unique_all.height
    n_neg = result.unique_neg["hash"].n_unique()
    per_word = result.unique_neg.group_by("word").agg(
        captions=pl.len().cast(I64), occurrences=pl.col("occurrences").sum().cast(I64)
    )
    table = _per_word_frame(opts, per_word)
    words = {w: {"captions": c, "occurrences": o} for w, c, o in table.iter_rows()}
    return {
        "n_unique": n_unique,
        "n_unique_with_negation": n_neg,
        "rate_unique": n_neg / n_unique if n_unique else None,
        "per_word": words,
        "note": "distinct non-null caption texts, identified by 64-bit hashes",
    }
