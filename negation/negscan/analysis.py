"""The exact analysis of the prefilter's candidates (:func:`analyse`: a result per shard;
:func:`analyse_together`: one for the batch, when no shard result is saved; see
:mod:`negation.negscan.scan`) and a whole scan of one frame (:func:`scan`). What is found where
is :mod:`.matching`'s, the result tables :mod:`.tables`'; :func:`combine` adds results up."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from corpora.captions import CAPTION
from corpora.schema import C
from negation.negscan import matching, uniques
from negation.negscan.lexicon import SEP, TOKEN, composing_class
from negation.negscan.scan import (
    HASH_SEED,
    I64,
    Candidates,
    ScanOptions,
    ScanResult,
    owned,
    prefilter,
    split_by_shard,
)
from negation.negscan.tables import (
    bottom_k,
    classes_frame,
    empty_samples,
    per_word_frame,
    samples_of,
)

# The share of a batch's candidates that must repeat an earlier one for each distinct caption to
# be analysed once: finding them costs about a tenth of analysing a caption.
REPEATED = 0.1


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


def analyse(batch: list[Candidates], opts: ScanOptions) -> list[ScanResult]:
    """The results of several shards from their candidates, analysed together (one set of
    Polars calls for the whole batch, however small its shards), each shard's result exact."""
    counts, tables = _analyse(batch, opts, by_shard=True)
    parts = {name: split_by_shard(table, len(batch)) for name, table in tables.items()}
    if "samples" not in tables:  # (none asked for, or no caption with a negation)
        parts["samples"] = [empty_samples()] * len(batch)
    return [
        ScanResult(
            *_counted(counts[k]),
            per_word=parts["per_word"][k],
            bigrams=parts["bigrams"][k],
            classes=parts["classes"][k],
            samples=parts["samples"][k],
            unique_all=b.unique_all,
            unique_neg=parts["unique_neg"][k] if opts.unique else None,
        )
        for k, b in enumerate(batch)
    ]


def analyse_together(
    batch: list[Candidates], opts: ScanOptions
) -> tuple[list[dict[str, int]], ScanResult]:
    """Each shard's counts, and one result for the whole batch (its tables computed over all its
    shards at once; :func:`combine` completes them): what a scan that saves no shard result
    needs, without a table per shard."""
    counts, tables = _analyse(batch, opts, by_shard=False)
    unique_all = None
    if opts.unique:
        unique_all = pl.concat([b.unique_all for b in batch if b.unique_all is not None])
    together = ScanResult(
        *_counted({key: sum(c[key] for c in counts) for key in counts[0]}),
        per_word=tables["per_word"],
        bigrams=tables["bigrams"],
        classes=tables["classes"],
        samples=tables.get("samples", empty_samples()),
        unique_all=unique_all,
        unique_neg=tables.get("unique_neg"),
    )
    return counts, together


def _counted(counts: dict[str, int]) -> tuple[int, int, int, int, int]:
    """:attr:`ScanResult.counts` as the first fields of a :class:`ScanResult`, in order."""
    return (
        int(counts[C.n_rows]),
        int(counts[C.n_null]),
        int(counts[C.n_empty]),
        int(counts[C.n_with_negation]),
        int(counts[C.n_with_class_negation]),
    )


def _analyse(
    batch: list[Candidates], opts: ScanOptions, *, by_shard: bool
) -> tuple[list[dict[str, int]], dict[str, pl.DataFrame]]:
    """Each shard's counts, and the batch's tables: ``by_shard``, with the shard ``s`` of each
    row and every shard's rows of the per-word and class tables; otherwise over all shards.

    Each text is analysed once (a caption repeated across rows and shards too, when enough
    repeat: see :func:`_distinct`), and what is found in it counted in every shard it occurs
    in, as often as it occurs there."""
    pats = opts.patterns
    n = len(batch)
    heights = pl.Series([b.rows.height for b in batch], dtype=pl.UInt32)
    shard = pl.int_range(n, dtype=pl.UInt32).repeat_by(pl.lit(heights))
    texts, occurrences = _distinct(
        pl.concat([b.rows for b in batch], rechunk=True).with_columns(
            s=pl.select(shard.explode(empty_as_null=False)).to_series()
        )
    )
    # Whole-string NFKC is the costliest step: each caption takes the cheapest exact route.
    is_ascii = texts[CAPTION].str.len_bytes() == texts[CAPTION].str.len_chars()
    other = texts.filter(~is_ascii)
    composing = other[CAPTION].str.contains(composing_class())
    routes = [
        ("ascii", texts.filter(is_ascii)),
        ("chars", other.filter(~composing)),
        ("nfkc", other.filter(composing)),
    ]
    neg = (
        pl.concat([matching.negated(part, kind, opts) for kind, part in routes])
        .collect(engine="streaming")
        .with_row_index("i")
    )
    # where each text with a negation occurs: one row ``o`` per shard ``s``, ``w`` times there.
    # ``times``: how many findings a group of them stands for (a word twice in a caption that
    # occurs 3 times: 6); ``in_texts``: in how many caption rows (that caption: 3)
    w = pl.col("w")
    if occurrences is None:  # (each text is one row, with its shard: counted as rows)
        where = neg.select("i", "s")
        times, in_texts = pl.len(), pl.col("i").n_unique()
    else:
        where = neg.select("i", "t").join(occurrences, on="t").select("i", "s", "w")
        where = where.with_row_index("o")
        times, in_texts = w.sum(), w.filter(pl.col("o").is_first_distinct()).sum()
        # (the tables over all shards: each text once, ``w`` times in all)
        totals = where if by_shard else where.group_by("i").agg(w.sum()).with_columns(o="i")

    def spread(found: pl.DataFrame, *, per_shard: bool) -> pl.DataFrame:
        """What was found in texts (column ``i``), once per shard ``s`` each text occurs in
        (``per_shard``), or once in all; with its weight ``w`` when texts repeat."""
        if occurrences is None:
            return found.with_columns(s=neg["s"].gather(found["i"])) if per_shard else found
        return found.join(where if per_shard else totals, on="i")

    by = ["s"] if by_shard else []
    matches = neg.select("i", "m").explode("m")
    hits = matching.hits(neg, matches, pats)
    entries = list(opts.lexicon.entries)
    tables = {}
    tables["per_word"] = (
        spread(hits, per_shard=by_shard)
        .group_by(*by, C.word)
        .agg(in_texts.cast(I64).alias(C.captions), times.cast(I64).alias(C.occurrences))
    )
    if by_shard:  # every shard's row of every entry, in the lexicon's order
        tables["per_word"] = (
            matching.grid(n, C.word, entries)
            .join(tables["per_word"], on=["s", C.word], how="left", maintain_order="left")
            .with_columns(pl.col(C.captions, C.occurrences).fill_null(0))
        )

    # a match is "negator SEP word", or a lone negator (then it is exactly a lexicon entry);
    # counted per distinct match first, so that the regexes below run on few rows
    counts = spread(matches, per_shard=by_shard).group_by(*by, "m").agg(times.alias(C.count))
    m = pl.col("m")
    forms = (
        counts.select(m.unique())
        .with_columns(form=m.str.replace_all(r"\s+", " "))
        .filter(~pl.col("form").is_in(entries))
        .select(
            "m",
            pl.col("form").str.replace(f"{SEP}{TOKEN}$", "").alias(C.negator),
            pl.col("form").str.extract(f"({TOKEN})$", 1).alias(C.next_word),
        )
    )
    # (the batch's tables are copied out of the captions' buffers once)
    tables["bigrams"] = owned(
        counts.join(forms, on="m")
        .group_by(*by, C.negator, C.next_word)
        .agg(pl.col(C.count).sum().cast(I64))
        .sort(
            *by,
            C.count,
            C.negator,
            C.next_word,
            descending=[*[False] * len(by), True, False, False],
        )
    )

    negating, negated = matching.class_negation(neg, pats)
    n_class = dict(spread(negating, per_shard=True).group_by("s").agg(times).iter_rows())
    class_counts = (
        spread(negated, per_shard=by_shard).group_by(*by, C.class_).agg(times.alias(C.count))
    )
    if by_shard:
        class_counts = matching.grid(
            n, C.class_, list(opts.classes.names) if opts.classes else []
        ).join(class_counts, on=["s", C.class_], how="left", maintain_order="left")
    tables["classes"] = class_counts.with_columns(pl.col(C.count).fill_null(0).cast(I64))
    if opts.n_samples and neg.height:
        sources = [b.source for b in batch]
        samples = samples_of(
            neg,
            hits,
            lambda found: spread(found, per_shard=True),
            opts.n_samples,
            opts.seed,
            sources,
            by_shard=by_shard,
        )
        tables["samples"] = owned(samples)
    if opts.unique:
        hashed = hits.group_by("i", C.word).agg(pl.len().cast(I64).alias(C.occurrences))
        hashed = hashed.with_columns(hash=neg[CAPTION].hash(HASH_SEED).gather(hashed["i"]))
        tables["unique_neg"] = (
            (spread(hashed, per_shard=True) if by_shard else hashed)
            .select(*by, "hash", C.word, C.occurrences)
            .unique([*by, "hash", C.word])
            .sort(*by, "hash", C.word)  # (saved in one order, as the distinct hashes are)
        )
    n_neg = dict(where.group_by("s").agg(times).iter_rows())
    shard_counts = [
        {
            C.n_rows: int(b.totals[C.n_rows]),
            C.n_null: int(b.totals[C.n_null]),
            C.n_empty: int(b.totals[C.n_empty]),
            C.n_with_negation: n_neg.get(k, 0),
            C.n_with_class_negation: n_class.get(k, 0),
        }
        for k, b in enumerate(batch)
    ]
    return shard_counts, tables


def _distinct(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The texts to analyse (id ``t``, caption) and where they occur (``t``, shard ``s``, count
    ``w``), from the candidate rows (``s``, caption).

    Each distinct text once when at least ``REPEATED`` of the rows repeat an earlier one
    (the same caption at many URLs, in many shards). Otherwise every
    row is a text, with its shard ``s``, and None is returned for where they occur (finding
    the repeats would cost more than it saves)."""
    distinct = rows.select(pl.col(CAPTION).approx_n_unique()).item()  # (enough to choose)
    if distinct > (1 - REPEATED) * rows.height:
        return rows.with_row_index("t"), None
    # (texts in their first order: the strings stay where they were, and reading them stays
    # cheap; a text's rows in row order, so by shard: a run of one shard is where it occurs)
    texts = rows.group_by(CAPTION, maintain_order=True).agg(runs=pl.col("s").rle())
    texts = texts.with_row_index("t")
    occurrences = (
        texts.select("t", "runs")
        .explode("runs")
        .unnest("runs")
        .select("t", s="value", w=pl.col("len").cast(I64))
    )
    return texts.select("t", CAPTION), occurrences


def combine(results: list[ScanResult], opts: ScanOptions) -> ScanResult:
    """Add up shard results (Int64 sums; merged tables; bottom-k samples; unique hashes)."""
    if not results:
        nothing = Candidates(
            "",
            {C.n_rows: 0, C.n_null: 0, C.n_empty: 0},
            pl.DataFrame(schema={CAPTION: pl.String}),
            0,
            pl.DataFrame(schema={"hash": pl.UInt64}) if opts.unique else None,
        )
        return analyse([nothing], opts)[0]
    per_word = pl.concat([r.per_word for r in results]).group_by(C.word).agg(pl.all().sum())
    bigrams = (
        pl.concat([r.bigrams for r in results])
        .group_by(C.negator, C.next_word)
        .agg(pl.col(C.count).sum())
        .sort(C.count, C.negator, C.next_word, descending=[True, False, False])
    )
    classes = pl.concat([r.classes for r in results]).group_by(C.class_).agg(pl.col(C.count).sum())
    unique_all = unique_neg = sketch = None
    if opts.unique:
        unique_all, unique_neg, sketch = uniques.add_up(
            [
                (r.unique_all, r.unique_neg)
                for r in results
                if r.unique_all is not None and r.unique_neg is not None
            ],
            [r.unique_sketch for r in results if r.unique_sketch is not None],
        )
    return ScanResult(
        n_rows=sum(r.n_rows for r in results),
        n_null=sum(r.n_null for r in results),
        n_empty=sum(r.n_empty for r in results),
        n_with_negation=sum(r.n_with_negation for r in results),
        n_with_class_negation=sum(r.n_with_class_negation for r in results),
        per_word=per_word_frame(opts, per_word),
        bigrams=bigrams,
        classes=classes_frame(opts, dict(classes.iter_rows())),
        samples=bottom_k(pl.concat([r.samples for r in results]), opts.n_samples),
        unique_all=unique_all,
        unique_neg=unique_neg,
        unique_sketch=sketch,
    )


FOLD = 64  # results are added up (combine) in groups of this many


class Sum:
    """Shard results added up as they come, :data:`FOLD` at a time, so that the memory held
    does not grow with their number; :meth:`result` is :func:`combine` of all of them."""

    def __init__(self, opts: ScanOptions) -> None:
        self.opts = opts
        self.parts: list[ScanResult] = []

    def add(self, result: ScanResult) -> None:
        self.parts.append(result)
        if len(self.parts) >= FOLD:
            self.parts[:] = [combine(self.parts, self.opts)]

    def result(self) -> ScanResult:
        return combine(self.parts, self.opts)
