"""The negation scan's options, regexes and result types, and its streaming pass over captions.

How shards are scanned:

1. :func:`prefilter` (here): one streaming pass (``collect(engine="streaming")``) over a shard's
   caption column keeps only the null and empty captions (to count them) and the *candidate*
   rows: those the cheap case-insensitive prefilter (see :meth:`Lexicon.prefilter_pattern`) says
   could contain a lexicon entry. The row count comes from the Parquet metadata.
2. :func:`negation.negscan.analysis.analyse`: the candidates of one shard, or of a batch of shards
   together (so that small shards pay no per-shard cost; a caption repeated in the batch is
   analysed once when many are, then counted wherever it occurs), are normalised (NFKC,
   lower-case, ``’`` → ``'``; "no. 5" blanked with ``exclude_numbering``; a long caption cut to
   start at its first negator) and matched exactly: one regex pass finds every negator with its
   next word (the bigrams; the negators are read off them). Everything else — per-word counts,
   class co-occurrence, samples, unique-text counts — is computed on the few rows with a
   negation, per shard: each shard's result is the same however the shards are batched (a
   scan that saves no shard result keeps a batch's tables together instead of splitting them).
   :func:`negation.negscan.analysis.scan` does both for one frame.

Per-word counting: a caption's lexicon matches are found left to right, preferring the longest
entry at each position ("no longer" is counted under "no longer", not also under "no"), so the
per-word occurrences add up to the caption's number of negations.

Counts are Int64, so sums over billions of rows cannot overflow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate
from typing import Any

import polars as pl

from corpora.captions import CAPTION
from corpora.classes import ClassSet
from corpora.schema import C
from negation.negscan.lexicon import (
    APOSTROPHES,
    NUMBERING_MASK,
    NUMBERING_PATTERN,
    SEP,
    SEP_ASCII,
    TOKEN,
    TOKEN_ASCII,
    Lexicon,
    entry_pattern,
    nfkc_of,
    nfkc_table,
    normalise_entries,
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

    @cached_property
    def patterns(self) -> Patterns:
        """The regexes of these options: built once, on first use, and carried with the options
        wherever they go (the prefilter, the analysis, a Ray task)."""
        return Patterns.build(self)


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


def class_pattern(name: str, *, ascii: bool = False) -> str:
    """A normalised class name (:func:`negation.negscan.lexicon.normalise_entries`) as a whole-word
    regex; a plural "s"/"es" is accepted ("no dogs") (``ascii``: for all-ASCII text only, see
    :func:`negation.negscan.lexicon.entry_pattern`)."""
    pat = entry_pattern(name, ascii=ascii)
    edge = r"(?-u:\b)" if ascii else r"\b"
    return pat.removesuffix(edge) + rf"(?:e?s)?{edge}" if pat.endswith(edge) else pat


def tail_risk(entries: tuple[str, ...]) -> str | None:
    """A regex that finds every place in a bigram match's tail (the separator and word it took
    after its negator) where another entry could start: each entry's leading run of ASCII word
    characters and apostrophes, with its start boundary and no end boundary (so a superset).
    None when an entry starts otherwise (a custom lexicon): then no tail is trusted."""
    runs = set()
    for entry in entries:
        lead = re.match(r"[0-9A-Za-z_']+", entry)
        if lead is None:
            return None
        run = lead.group()
        runs.add((r"\b" if run[0] != "'" else "") + re.escape(run))
    return "(?:" + "|".join(sorted(runs)) + ")"


@dataclass(frozen=True)
class Patterns:
    """The regexes of one scan configuration (all but ``prefilter`` work on normalised text)."""

    prefilter: str
    any: str
    bigram: str
    any_ascii: str  # ``any`` and ``bigram`` for all-ASCII captions (exactly the same matches)
    bigram_ascii: str
    per_class: dict[str, str] = field(default_factory=dict)
    # ``per_class`` and ``any_class`` for all-ASCII captions: the same matches, and about four
    # times cheaper to compile (the Unicode ones take a few ms each; both run as fast)
    per_class_ascii: dict[str, str] = field(default_factory=dict)
    # where a negator could start in the word a bigram match took (see :func:`tail_risk`)
    tail_risk: str | None = None
    any_class: str = ""  # a negator followed within the window by any class name
    any_class_ascii: str = ""
    # first word of each class name → the classes it starts (an Aho–Corasick pre-check)
    class_triggers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, opts: ScanOptions) -> Patterns:
        any_pat = opts.lexicon.any_pattern()
        any_ascii = opts.lexicon.any_pattern(ascii=True)
        names = list(opts.classes.names) if opts.classes is not None else []
        normal = dict(zip(names, normalise_entries(names), strict=True))  # (one Polars call)
        per_class, any_class = _class_regexes(opts, normal, ascii=False)
        per_class_ascii, any_class_ascii = _class_regexes(opts, normal, ascii=True)
        triggers: dict[str, tuple[str, ...]] = {}
        for n in names:
            first = normal[n].split()[0]
            triggers[first] = (*triggers.get(first, ()), n)
        return cls(
            prefilter=opts.lexicon.prefilter_pattern(),
            any=any_pat,
            # every negator, with its next word when one follows: the optional tail never makes
            # the alternation pick a shorter entry ("no longer" at the end is not "no" + "longer")
            bigram=f"{any_pat}(?:{SEP}{TOKEN})?",
            any_ascii=any_ascii,
            bigram_ascii=f"{any_ascii}(?:{SEP_ASCII}{TOKEN_ASCII})?",
            tail_risk=tail_risk(opts.lexicon.entries),
            per_class=per_class,
            per_class_ascii=per_class_ascii,
            any_class=any_class,
            any_class_ascii=any_class_ascii,
            class_triggers=triggers,
        )


def _class_regexes(
    opts: ScanOptions, normal: dict[str, str], *, ascii: bool
) -> tuple[dict[str, str], str]:
    """Per class, and for any class: a negator followed within the window by the class name
    (``normal``: each name normalised; ``ascii``: for all-ASCII text only)."""
    if opts.classes is None:
        return {}, ""
    any_pat, sep, token = (
        (opts.lexicon.any_pattern(ascii=True), SEP_ASCII, TOKEN_ASCII)
        if ascii
        else (opts.lexicon.any_pattern(), SEP, TOKEN)
    )
    lead = f"{any_pat}(?:{sep}{token}){{0,{opts.window - 1}}}{sep}"
    names = {n: class_pattern(normal[n], ascii=ascii) for n in opts.classes.names}
    return {n: lead + pat for n, pat in names.items()}, lead + f"(?:{'|'.join(names.values())})"


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
    # sketch, register, rank: HyperLogLog sketches instead of the two above, once the distinct
    # captions added up are too many to hold (negation.negscan.uniques)
    unique_sketch: pl.DataFrame | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {
            C.n_rows: self.n_rows,
            C.n_null: self.n_null,
            C.n_empty: self.n_empty,
            C.n_with_negation: self.n_with_negation,
            C.n_with_class_negation: self.n_with_class_negation,
        }


def normalised(
    expr: pl.Expr,
    *,
    exclude_numbering: bool,
    kind: str = "nfkc",
    chars: Iterable[str] | None = None,
) -> pl.Expr:
    """The Polars twin of :func:`.lexicon.normalise` (+ optional numbering blanking).

    ``kind`` picks the cheapest exact route for a caption: ``"ascii"`` (NFKC is the identity:
    lower-case only), ``"chars"`` (no character of :func:`negation.negscan.lexicon.composing_class`:
    NFKC character by character through an Aho–Corasick table, several times faster) or
    ``"nfkc"`` (whole-string NFKC). ``chars``: every character the texts of the ``"chars"``
    route hold, or more (the table then holds only those: the same text, each entry being one
    character); None: the whole table.
    """
    if kind == "nfkc":
        out = expr.str.normalize("NFKC")
    elif kind == "chars":
        src, dst = nfkc_table() if chars is None else nfkc_of(chars)
        out = expr.str.replace_many(list(src), list(dst)) if src else expr
    else:
        out = expr
    out = out.str.to_lowercase()
    if kind != "ascii":
        for a in APOSTROPHES:
            out = out.str.replace_all(a, "'", literal=True)
    if exclude_numbering:
        out = out.str.replace_all(NUMBERING_PATTERN, NUMBERING_MASK)
    return out


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
    """:func:`prefilter` for several small local Parquet files (caption column ``column``,
    ``n_rows`` rows each, from their footers) read together and filtered in one pass, so that
    small shards pay no per-shard cost; the caller bounds their rows (they are held in memory
    at once). ``on_rows`` is called once, with the group's row count, when the pass is done."""
    # a kept row's shard is found from its position (row counts in order), not by carrying each
    # row's file path through the pass; read at once, small files cost less than streamed
    ends = pl.Series(list(accumulate(n_rows)), dtype=pl.UInt64)
    frame = pl.read_parquet(paths, columns=[column], glob=False).lazy()
    frame = frame.select(pl.col(column).alias(CAPTION))
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
    pats = opts.patterns
    c = pl.col(CAPTION)
    n = len(sources)
    shard = pl.col("s")
    if ends is not None:
        captions = captions.with_row_index("s")
        shard = pl.lit(ends).search_sorted(shard.cast(pl.UInt64), side="right").cast(pl.UInt32)
    read = captions
    if on_rows is not None:

        def counted(batch: pl.DataFrame) -> pl.DataFrame:
            on_rows(batch.height)
            return batch

        # every batch the pass reads, counted before the filter (a counter inside the filter
        # would also count the row-group statistics Polars tests it on)
        read = captions.map_batches(counted, streamable=True)
    # One streaming pass keeps the rows that need a closer look: nulls, empty captions and the
    # prefilter's candidates.
    kept = read.filter(c.is_null() | c.str.contains(f"{pats.prefilter}|{EMPTY}")).collect(
        engine="streaming"
    )
    # (copied: views into the pass's buffers would keep them alive while the rows wait for their
    # batch; appending "" makes every string anew, several times cheaper than :func:`owned`)
    kept = kept.with_columns(pl.concat_str([c, pl.lit("")]), s=shard)
    is_empty = kept[CAPTION].str.contains(EMPTY)
    odd = {  # shard -> (nulls, empty captions, bytes of the other kept captions)
        k: (nulls, empties, size)
        for k, nulls, empties, size in kept.with_columns(empty=is_empty)
        .group_by("s")
        .agg(
            c.null_count(),
            pl.col("empty").sum(),
            c.filter(~pl.col("empty")).str.len_bytes().sum().alias("bytes"),
        )
        .iter_rows()
    }
    rows = split_by_shard(kept.filter(is_empty.not_()), n)  # drops nulls and empties
    unique_all: list[pl.DataFrame | None] = [None] * n
    if opts.unique:  # a second pass, only when asked for
        unique_all = split_by_shard(  # type: ignore[assignment]
            captions.filter(c.is_not_null())
            .select(s=shard, hash=c.hash(HASH_SEED))
            .unique()
            .sort("s", "hash")  # (sets, saved in one order: a rerun writes the same bytes)
            .collect(engine="streaming"),
            n,
        )
    out = []
    for k, source in enumerate(sources):
        nulls, empties, n_bytes = odd.get(k, (0, 0, 0))
        totals = {C.n_rows: n_rows[k], C.n_null: int(nulls), C.n_empty: int(empties or 0)}
        out.append(Candidates(source, totals, rows[k], int(n_bytes or 0), unique_all[k]))
    return out


def owned(frame: pl.DataFrame) -> pl.DataFrame:
    """The same table in fresh buffers, so that it does not keep a larger frame's buffers alive
    (Polars strings can be views into them): the rows kept by a pass, a shard's result. Written
    out as Arrow IPC (which copies only the bytes the rows use) and read back."""
    return pl.read_ipc(frame.write_ipc(None).getvalue())


def split_by_shard(frame: pl.DataFrame, n: int) -> list[pl.DataFrame]:
    """A frame with a shard column ``s`` (0..n-1) → one frame per shard, without ``s``."""
    parts = frame.partition_by("s", as_dict=True, include_key=False, maintain_order=True)
    empty = frame.drop("s").clear()
    return [parts.get((k,), empty) for k in range(n)]
