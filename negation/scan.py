"""The negation scan: one Polars pass over a frame of captions (column ``caption``) → ScanResult.

How one shard is scanned:

1. One streaming pass (``collect(engine="streaming")``) over the caption column keeps only the
   null and empty captions (to count them) and the *candidate* rows: those the cheap
   case-insensitive prefilter (see :meth:`Lexicon.prefilter_pattern`) says could contain a
   lexicon entry. The row count comes from the Parquet metadata.
2. Only candidates are normalised (NFKC, lower-case, ``’`` → ``'``; "no. 5" blanked with
   ``exclude_numbering``) and matched exactly. Everything else — per-word counts, bigrams, class
   co-occurrence, samples, unique-text counts — is computed on the few rows with a negation.

Per-word counting: a caption's lexicon matches are found left to right, preferring the longest
entry at each position ("no longer" is counted under "no longer", not also under "no"), so the
per-word occurrences add up to the caption's number of negations.

Counts are Int64, so sums over billions of rows cannot overflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from corpora.captions import CAPTION
from corpora.classes import ClassSet
from negation.lexicon import (
    APOSTROPHES,
    COMPOSING_CLASS,
    NUMBERING_MASK,
    NUMBERING_PATTERN,
    SEP,
    TOKEN,
    Lexicon,
    entry_pattern,
    nfkc_table,
    normalise_entry,
)

# Fixed, so that hashes of caption texts agree across shards, runs and machines (same Polars).
HASH_SEED = 0x6E6F74
I64 = pl.Int64


@dataclass(frozen=True)
class ScanOptions:
    lexicon: Lexicon
    classes: ClassSet | None = None
    window: int = 3
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


def options_from_config(config: dict[str, object]) -> ScanOptions:
    """Rebuild the options recorded by :meth:`ScanOptions.config` (``negscan merge``)."""
    names = tuple(config["class_names"])  # type: ignore[arg-type]
    classes = ClassSet(str(config["classes"]), names, names) if config["classes"] else None
    return ScanOptions(
        lexicon=Lexicon(str(config["lexicon"]), tuple(config["lexicon_entries"])),  # type: ignore[arg-type]
        classes=classes,
        window=int(config["window"]),  # type: ignore[arg-type]
        n_samples=int(config["samples"]),  # type: ignore[arg-type]
        seed=int(config["seed"]),  # type: ignore[arg-type]
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
    per_class: dict[str, str] = field(default_factory=dict)
    # first word of each class name → the classes it starts (an Aho–Corasick pre-check)
    class_triggers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, opts: ScanOptions) -> Patterns:
        any_pat = opts.lexicon.any_pattern()
        per_class: dict[str, str] = {}
        triggers: dict[str, tuple[str, ...]] = {}
        if opts.classes is not None:
            lead = f"{any_pat}(?:{SEP}{TOKEN}){{0,{opts.window - 1}}}{SEP}"
            per_class = {n: lead + class_pattern(n) for n in opts.classes.names}
            for n in opts.classes.names:
                first = normalise_entry(n).split()[0]
                triggers[first] = (*triggers.get(first, ()), n)
        return cls(
            prefilter=opts.lexicon.prefilter_pattern(),
            any=any_pat,
            # every negator, with its next word when one follows: the optional tail never makes
            # the alternation pick a shorter entry ("no longer" at the end is not "no" + "longer")
            bigram=f"{any_pat}(?:{SEP}{TOKEN})?",
            per_class=per_class,
            class_triggers=triggers,
        )


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


def normalised(expr: pl.Expr, exclude_numbering: bool, kind: str = "nfkc") -> pl.Expr:
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


def _empty_tables() -> dict[str, pl.DataFrame]:
    return {
        "bigrams": pl.DataFrame(
            schema={"negator": pl.String, "next_word": pl.String, "count": I64}
        ),
        "samples": pl.DataFrame(
            schema={"word": pl.String, "caption": pl.String, "shard": pl.String, "key": pl.UInt64}
        ),
        "unique_neg": pl.DataFrame(
            schema={"hash": pl.UInt64, "word": pl.String, "occurrences": I64}
        ),
    }


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


# Hand-written on Polars, not an NLP library: one streaming pass with a prefilter (speed) and
# exact word-boundary matches (exactness).
def scan(
    captions: pl.LazyFrame,
    opts: ScanOptions,
    source: str = "",
    on_rows: Callable[[int], None] | None = None,
) -> ScanResult:
    """Scan a lazy frame with a string column ``caption``; ``source`` labels its samples.

    ``on_rows(n)`` is called as the streaming pass gets through each batch of ``n`` rows (about
    100 000; for progress bars), so the calls add up to the row count.
    """
    pats = Patterns.build(opts)
    c = pl.col(CAPTION)
    empty = r"^\s*$"
    # One streaming pass keeps the rows that need a closer look: nulls, empty captions and the
    # prefilter's candidates. (The row count of a Parquet scan comes from its metadata.)
    n_rows = captions.select(pl.len()).collect(engine="streaming").item()
    source_rows = captions
    if on_rows is not None:

        def counted(batch: pl.Series) -> pl.Series:
            on_rows(len(batch))
            return batch

        source_rows = captions.with_columns(
            c.map_batches(counted, return_dtype=pl.String, is_elementwise=True)
        )
    kept = source_rows.filter(c.is_null() | c.str.contains(f"{pats.prefilter}|{empty}")).collect(
        engine="streaming"
    )
    is_empty = kept[CAPTION].str.contains(empty)
    totals = {
        "n_rows": n_rows,
        "n_null": kept[CAPTION].null_count(),
        "n_empty": int(is_empty.sum() or 0),
    }
    candidates = kept.filter(is_empty.not_())  # drops nulls and empties
    unique_all = None
    if opts.unique:  # a second pass, only when asked for
        unique_all = (
            captions.select(hash=c.drop_nulls().hash(HASH_SEED))
            .unique()
            .collect(engine="streaming")
        )
    return _analyse(candidates, totals, opts, pats, source, unique_all)


def _analyse(
    candidates: pl.DataFrame,
    totals: dict[str, int],
    opts: ScanOptions,
    pats: Patterns,
    source: str,
    unique_all: pl.DataFrame | None,
) -> ScanResult:
    c = pl.col(CAPTION)
    # Whole-string NFKC is the costliest step: each caption takes the cheapest exact route.
    is_ascii = candidates[CAPTION].str.len_bytes() == candidates[CAPTION].str.len_chars()
    other = candidates.filter(~is_ascii)
    composing = other[CAPTION].str.contains(COMPOSING_CLASS)
    routes = [
        ("ascii", candidates.filter(is_ascii)),
        ("chars", other.filter(~composing)),
        ("nfkc", other.filter(composing)),
    ]
    neg = (
        pl.concat(
            [
                part.lazy().with_columns(norm=normalised(c, opts.exclude_numbering, kind))
                for kind, part in routes
            ]
        )
        .with_columns(words=pl.col("norm").str.extract_all(pats.any))
        .filter(pl.col("words").list.len() > 0)
        .collect(engine="streaming")
        .with_row_index("i")
    )
    hits = (
        neg.select("i", word=pl.col("words"))
        .explode("word")
        .with_columns(pl.col("word").str.replace_all(r"\s+", " "))
    )
    per_word = _per_word_frame(
        opts,
        hits.group_by("word").agg(
            captions=pl.col("i").n_unique().cast(I64), occurrences=pl.len().cast(I64)
        ),
    )
    empty = _empty_tables()

    # a match is "negator SEP word", or a lone negator (then it is exactly a lexicon entry)
    matches = (
        neg.select(m=pl.col("norm").str.extract_all(pats.bigram))
        .explode("m")
        .select(pl.col("m").str.replace_all(r"\s+", " "))
        .filter(pl.col("m").is_not_null() & ~pl.col("m").is_in(list(opts.lexicon.entries)))
    )
    bigrams = (
        matches.select(
            negator=pl.col("m").str.replace(f"{SEP}{TOKEN}$", ""),
            next_word=pl.col("m").str.extract(f"({TOKEN})$", 1),
        )
        .group_by("negator", "next_word")
        .agg(count=pl.len().cast(I64))
        .sort("count", "negator", "next_word", descending=[True, False, False])
        if matches.height
        else empty["bigrams"]
    )

    n_class, class_counts = _class_negation(neg, pats)

    samples = (
        _samples(neg, hits, opts.n_samples, opts.seed, source)
        if opts.n_samples and neg.height
        else empty["samples"]
    )

    unique_neg = None
    if opts.unique:
        unique_neg = (
            hits.group_by("i", "word")
            .agg(occurrences=pl.len().cast(I64))
            .join(neg.select("i", hash=c.hash(HASH_SEED)), on="i")
            .select("hash", "word", "occurrences")
            .unique(["hash", "word"])
            if neg.height
            else empty["unique_neg"]
        )
    return ScanResult(
        n_rows=int(totals["n_rows"]),
        n_null=int(totals["n_null"]),
        n_empty=int(totals["n_empty"]),
        n_with_negation=neg.height,
        n_with_class_negation=n_class,
        per_word=per_word,
        bigrams=bigrams,
        classes=_classes_frame(opts, class_counts),
        samples=samples,
        unique_all=unique_all,
        unique_neg=unique_neg,
    )


def _class_negation(neg: pl.DataFrame, pats: Patterns) -> tuple[int, dict[str, int]]:
    """Captions where a negator is followed within the window by a class name: in all, per class.

    An Aho–Corasick pass finds which class names' first words occur at all (as substrings, so a
    superset); each class's exact regex then runs only on the captions that mention it.
    """
    if not pats.per_class or not neg.height:
        return 0, {}
    triggers = pl.DataFrame(
        [(t, n) for t, names in pats.class_triggers.items() for n in names],
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
    counts: dict[str, int] = {}
    rows: list[pl.Series] = []
    for (name,), part in pairs.partition_by("class", as_dict=True).items():
        ids = part["i"]  # one class at a time: its captions are gathered, tested, dropped
        hit = ids.filter(norm.gather(ids).str.contains(pats.per_class[str(name)]))
        counts[str(name)] = hit.len()
        rows.append(hit)
    n_any = pl.concat(rows).n_unique() if rows else 0
    return n_any, counts


def _samples(neg: pl.DataFrame, hits: pl.DataFrame, n: int, seed: int, source: str) -> pl.DataFrame:
    """Per word, the ``n`` distinct captions with the smallest seeded hash keys (see
    :func:`bottom_k`), found on the keys first so that only the chosen captions are copied."""
    keys = neg.select("i", key=pl.col(CAPTION).hash(seed))
    chosen = (
        hits.select("i", "word")
        .unique()
        .join(keys, on="i")
        .group_by("word")
        .agg(pl.col("key").unique().bottom_k(n))
        .explode("key")
    )
    texts = (
        keys.with_columns(neg[CAPTION])
        .filter(pl.col("key").is_in(chosen["key"].implode()))
        .unique("key")
        .select("key", CAPTION)
    )
    found = chosen.join(texts, on="key").select(
        "word", CAPTION, shard=pl.lit(source, pl.String), key="key"
    )
    return bottom_k(found, n)


def bottom_k(samples: pl.DataFrame, n: int) -> pl.DataFrame:
    """Per word, the ``n`` distinct captions with the smallest seeded hash keys.

    Equivalent to a uniform random sample of distinct captions, and deterministic however shards
    are ordered or grouped: merging bottom-k samples gives the bottom-k of the union.
    """
    return (
        samples.sort("word", "key", CAPTION, "shard")
        .unique(["word", CAPTION], keep="first", maintain_order=True)
        .group_by("word", maintain_order=True)
        .head(n)
    )


def combine(results: list[ScanResult], opts: ScanOptions) -> ScanResult:
    """Add up shard results (Int64 sums; merged tables; bottom-k samples; unique hashes)."""
    if not results:
        return _analyse(
            pl.DataFrame(schema={CAPTION: pl.String}),
            {"n_rows": 0, "n_null": 0, "n_empty": 0},
            opts,
            Patterns.build(opts),
            "",
            pl.DataFrame(schema={"hash": pl.UInt64}) if opts.unique else None,
        )
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
