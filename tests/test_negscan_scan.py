"""The negation scan: golden cases, a property test against a pure-Python reference, tables."""

import unicodedata

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpora.classes import load_classes
from negation.negscan import analysis
from negation.negscan.analysis import analyse, analyse_together, combine, scan
from negation.negscan.lexicon import Lexicon, _nfkc, load_lexicon, nfkc_table, normalise_all
from negation.negscan.scan import ScanOptions, prefilter
from negation.negscan.tables import unique_summary


def run(captions, lexicon="extended", source="s", **kw):
    frame = pl.DataFrame({"caption": captions}, schema={"caption": pl.String})
    return scan(frame.lazy(), ScanOptions(load_lexicon(lexicon), **kw), source)


def words(result):
    return {w: (c, o) for w, c, o in result.per_word.iter_rows() if c}


# --- golden cases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("There is no dog", {"no": (1, 1)}),
        ("NOT a cat, not a dog", {"not": (1, 2)}),
        ("Nothing beats it", {"nothing": (1, 1)}),  # never "no"
        ("How to tie a knot", {}),  # "knot" is not "not"
        ("note north know another cannon", {}),
        ("I cannot go", {"cannot": (1, 1)}),  # "cannot" is not "not"
        ("don't do it", {"don't": (1, 1)}),
        ("don’t do it", {"don't": (1, 1)}),  # curly apostrophe
        ("DON’T", {"don't": (1, 1)}),
        ("isn’t it", {"isn't": (1, 1)}),  # not counted as "not"
        ("ＮＯ parking", {"no": (1, 1)}),  # NFKC: full-width letters
        ("no longer sold", {"no longer": (1, 1)}),  # the longest entry wins
        ("no\u00a0 longer", {"no longer": (1, 1)}),  # any whitespace inside a phrase
        ("Chanel No. 5", {"no": (1, 1)}),  # documented false positive
        ("a no-brainer", {"no": (1, 1)}),  # documented false positive
        ("neither here nor there", {"neither": (1, 1), "nor": (1, 1)}),
        ("no, no, NO!", {"no": (1, 3)}),
        ("nº 5", {"no": (1, 1)}),  # NFKC turns º into o: a false positive too
        ("café sans rien", {}),
        # a negator right after another (in the word a bigram takes) is still counted
        ("not no longer a dog", {"not": (1, 1), "no longer": (1, 1)}),
        ("cannot cannot", {"cannot": (1, 2)}),
        ("no not never, nor", {"no": (1, 1), "not": (1, 1), "never": (1, 1), "nor": (1, 1)}),
    ],
)
def test_golden_words(caption, expected):
    assert words(run([caption])) == expected


def test_exclude_numbering_drops_no_dot_digit_only():
    caps = ["Chanel No. 5", "no.3 bus", "No.  12", "no. way", "say no. 5 times no", "no dog"]
    plain = run(caps)
    assert plain.n_with_negation == 6
    excl = run(caps, exclude_numbering=True)
    assert excl.n_with_negation == 3  # "no. way", "... times no", "no dog"
    assert words(excl) == {"no": (3, 3)}


def test_nulls_empties_and_denominators():
    r = run([None, "", "   ", "\t", "no", "fine", None])
    assert (r.n_rows, r.n_null, r.n_empty, r.n_with_negation) == (7, 2, 3, 1)


def test_a_60000_character_caption():
    long = "word " * 12_000 + "but not this"
    assert len(long) > 60_000
    r = run([long, "not " * 1000], classes=load_classes("coco"))
    assert words(r) == {"not": (2, 1001)}


def test_progress_is_reported_per_streamed_batch_and_adds_up_to_the_rows():
    frame = pl.DataFrame({"caption": ["a cat", "no dog", None, ""] * 62_500})
    calls = []
    opts = ScanOptions(load_lexicon("core"), unique=True)  # the --unique pass is not counted
    r = scan(frame.lazy(), opts, "s", calls.append)
    assert len(calls) > 1 and sum(calls) == r.n_rows == 250_000
    assert r.n_with_negation == 62_500


def test_progress_on_a_parquet_shard_adds_up_to_its_rows(tmp_path):
    """Not more: Polars also tests a filter on each row group's statistics."""
    path = tmp_path / "shard.parquet"
    pl.DataFrame({"caption": ["a cat", "no dog"] * 50_000}).write_parquet(
        path, row_group_size=10_000
    )
    calls = []
    r = scan(pl.scan_parquet(path), ScanOptions(load_lexicon("core")), "s", calls.append)
    assert sum(calls) == r.n_rows == 100_000


def test_core_lexicon_ignores_the_other_words():
    r = run(["nothing", "never", "no"], lexicon="core")
    assert words(r) == {"no": (1, 1)}
    assert r.per_word["word"].to_list() == ["no", "not"]


def test_counts_are_int64():
    r = run(["no", "not"], classes=load_classes("voc"))
    assert r.per_word.schema["captions"] == pl.Int64
    assert r.per_word.schema["occurrences"] == pl.Int64
    assert r.bigrams.schema["count"] == pl.Int64
    assert r.classes.schema["count"] == pl.Int64


# --- bigrams, classes, samples, unique --------------------------------------------------------


def test_bigrams_are_negator_and_next_word():
    r = run(["not a dog. No cat", "no cat", "no longer available", "Chanel No. 5"])
    got = {(n, w): c for n, w, c in r.bigrams.rows()}
    assert got == {("not", "a"): 1, ("no", "cat"): 2, ("no longer", "available"): 1, ("no", "5"): 1}


def test_a_negator_at_the_end_has_no_bigram_and_keeps_its_own_entry():
    # "no longer" at the end is counted under "no longer": it is not the bigram "no" + "longer"
    r = run(["sold out, no longer", "there is not any", "not any more", "just no"])
    assert words(r) == {"no": (1, 1), "no longer": (1, 1), "not any": (2, 2)}
    assert {(n, w): c for n, w, c in r.bigrams.rows()} == {("not any", "more"): 1}


def test_the_default_window_covers_the_posters_negated_prompt():
    caps = ["Not a photo of a dog"]  # the class is the 5th token after the negator
    assert run(caps, classes=load_classes("dog,")).classes.rows() == [("dog", 1)]
    assert run(caps, classes=load_classes("dog,"), window=4).classes.rows() == [("dog", 0)]


def test_class_negation_window_plural_and_multiword():
    classes = load_classes("hot dog,dog,cat")
    caps = [
        "no big red dog",  # dog is the 3rd token after "no": inside window 3
        "no big red old dog",  # 4th: outside
        "not a hot dog",  # both "hot dog" and "dog"
        "no dogs allowed",  # plural
        "a dog without a cat",  # cat after "without"; the dog comes before
        "a cat, no",  # negator after the class
    ]
    r = run(caps, classes=classes, window=3)
    assert dict(r.classes.rows()) == {"hot dog": 1, "dog": 3, "cat": 1}
    assert r.n_with_class_negation == 4
    wide = run(caps, classes=classes, window=4)
    assert dict(wide.classes.rows())["dog"] == 4


def test_class_negation_counts_the_same_in_ascii_and_other_captions():
    # all-ASCII captions are tested with ASCII twins of the class regexes, the others with the
    # Unicode ones (each route: through the combined regex, and per class for several classes)
    classes = load_classes("hot dog,dog,cat,café")
    caps = [
        "not a hot dog",
        "no big red old dog",  # outside the window
        "no cat or dog",
        "no dogs, no cats",
        "a dog without a cat",
        "no cafe",  # not café
    ]
    ascii = run(caps, classes=classes, window=3)
    assert dict(ascii.classes.rows()) == {"hot dog": 1, "dog": 3, "cat": 3, "café": 0}
    assert ascii.n_with_class_negation == 4
    both = run(caps + [c + " é" for c in caps] + ["ＮＯ café"], classes=classes, window=3)
    assert dict(both.classes.rows()) == {"hot dog": 2, "dog": 6, "cat": 6, "café": 1}
    assert both.n_with_class_negation == 9


def test_samples_are_seeded_distinct_and_order_independent():
    a = [f"no cat {i}" for i in range(40)] + ["no cat 1"] * 5
    b = [f"not a dog {i}" for i in range(40)] + [f"no dog {i}" for i in range(40)]
    opts = ScanOptions(load_lexicon("core"), n_samples=4, seed=3)
    ra = scan(pl.DataFrame({"caption": a}).lazy(), opts, "A")
    rb = scan(pl.DataFrame({"caption": b}).lazy(), opts, "B")
    ab, ba = combine([ra, rb], opts).samples, combine([rb, ra], opts).samples
    assert ab.equals(ba)
    assert ab.group_by("word").len().sort("word").rows() == [("no", 4), ("not", 4)]
    assert ab.n_unique(["word", "caption"]) == ab.height
    # the merged sample equals the sample of one scan over everything
    whole = scan(pl.DataFrame({"caption": a + b}).lazy(), opts, "A")
    assert whole.samples.select("word", "caption").equals(ab.select("word", "caption"))
    other = combine(
        [
            scan(
                pl.DataFrame({"caption": x}).lazy(), ScanOptions(opts.lexicon, n_samples=4, seed=4)
            )
            for x in (a, b)
        ],
        opts,
    )
    assert not other.samples["caption"].equals(ab["caption"])


def test_distinct_caption_hashes_are_kept_in_one_order():
    """A shard's distinct-caption hashes are a set, saved sorted: a rerun writes the same bytes."""
    captions = [f"no dog {i}" for i in range(3_000)] + [f"a cat {i}" for i in range(3_000)]
    r = run(captions * 2, lexicon="core", unique=True)
    assert r.unique_all is not None and r.unique_neg is not None
    assert r.unique_all.height == 6_000 and r.unique_all["hash"].is_sorted()
    assert r.unique_neg.height == 3_000 and r.unique_neg["hash"].is_sorted()


def test_unique_counts_over_distinct_texts_across_shards():
    opts = ScanOptions(load_lexicon("core"), unique=True)
    r1 = scan(pl.DataFrame({"caption": ["no cat", "no cat", "a dog", None]}).lazy(), opts)
    r2 = scan(pl.DataFrame({"caption": ["no cat", "not not", "a dog"]}).lazy(), opts)
    u = unique_summary(combine([r1, r2], opts), opts)
    assert u["n_unique"] == 3
    assert u["n_unique_with_negation"] == 2
    assert u["per_word"] == {
        "no": {"captions": 1, "occurrences": 1},
        "not": {"captions": 1, "occurrences": 2},
    }


def test_unique_counts_past_the_exact_bound_are_estimates_the_same_in_any_grouping(monkeypatch):
    from negation.negscan import uniques

    opts = ScanOptions(load_lexicon("core"), unique=True)
    shards = [  # 9 000 distinct captions, a third repeated across shards
        [f"no cat {i} not {i % 7}" if i % 4 == 0 else f"a dog {i}" for i in range(k, k + 3_000)]
        for k in (0, 2_000, 4_000, 6_000)
    ]
    results = [scan(pl.DataFrame({"caption": c}).lazy(), opts) for c in shards]
    exact = unique_summary(combine(results, opts), opts)
    assert exact["n_unique"] == 9_000 and "estimated" not in exact
    monkeypatch.setattr(uniques, "UNIQUE_EXACT", 2_500)
    by_two = combine([combine(results[:2], opts), combine(results[2:], opts)], opts)
    one_by_one = combine([combine([combine(results[:3], opts), results[3]], opts)], opts)
    assert by_two.unique_all is None and by_two.unique_sketch is not None
    assert by_two.unique_sketch.equals(one_by_one.unique_sketch)  # the same however grouped
    est = unique_summary(by_two, opts)
    assert est["estimated"] and "HyperLogLog" in est["note"]
    for key in ("n_unique", "n_unique_with_negation"):
        assert abs(est[key] - exact[key]) <= 0.01 * exact[key], key
    for word, counts in exact["per_word"].items():
        for key, value in counts.items():
            assert abs(est["per_word"][word][key] - value) <= 0.01 * value + 1, (word, key)
    assert exact["per_word"]["not"]["occurrences"] > 0


# --- property test against a pure-Python reference --------------------------------------------


def _is_word(ch):
    return ch.isalnum() or ch == "_"


def _match_at(text, i, entry):
    j = i
    for k, part in enumerate(entry.split(" ")):
        if k:
            w = j
            while w < len(text) and text[w].isspace():
                w += 1
            if w == j:
                return None
            j = w
        if not text.startswith(part, j):
            return None
        j += len(part)
    return j


def reference(caption, entries, exclude_numbering):
    """Character-by-character: at each word start try entries longest first."""
    import re

    text = unicodedata.normalize("NFKC", caption).lower().replace("’", "'")
    if exclude_numbering:
        text = re.sub(r"\bno(\.\s*\d)", r"__\1", text)
    order = sorted(entries, key=lambda e: (-len(e), e))
    found, i = [], 0
    while i < len(text):
        if _is_word(text[i]) and (i == 0 or not _is_word(text[i - 1])):
            for entry in order:
                end = _match_at(text, i, entry)
                if end is not None and (end == len(text) or not _is_word(text[end])):
                    found.append(entry)
                    i = end
                    break
            else:
                i += 1
        else:
            i += 1
    return found


PIECES = [
    "no",
    "No",
    "NOT",
    "not",
    "nothing",
    "knot",
    "don't",
    "don’t",
    "DON’T",
    "never",
    "no longer",
    "ＮＯ",
    "cafe\u0301",  # a combining mark: whole-string NFKC
    "ﬁno",  # a ligature: NFKC makes it "fino"
    "no™",  # NFKC makes it "notm": not a negation any more
    "…",
    "ｎｏｔ",
    "café",
    "5",
    "isn't",
    "cannot",
    "neither",
    "nor",
    "x",
]
SEPS = [" ", "", "-", ". ", "'", "’", "\t", ", ", "  "]
caption = st.one_of(
    st.none(),
    st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPS)), max_size=8).map(
        lambda parts: "".join(p + s for p, s in parts)
    ),
    st.text(alphabet="abnotNOT'’ .-5é\t", max_size=25),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    captions=st.lists(caption, max_size=12),
    lexicon=st.sampled_from(["core", "standard", "extended"]),
    exclude_numbering=st.booleans(),
)
def test_counts_equal_the_reference(captions, lexicon, exclude_numbering):
    lex = load_lexicon(lexicon)
    r = run(captions, lexicon=lexicon, exclude_numbering=exclude_numbering)
    found = [
        reference(c, lex.entries, exclude_numbering) if c is not None else [] for c in captions
    ]
    assert r.n_rows == len(captions)
    assert r.n_null == sum(c is None for c in captions)
    assert r.n_empty == sum(c is not None and not c.strip() for c in captions)
    assert r.n_with_negation == sum(bool(f) for f in found)
    expected = {
        e: (sum(e in f for f in found), sum(f.count(e) for f in found)) for e in lex.entries
    }
    assert {w: (c, o) for w, c, o in r.per_word.iter_rows()} == expected


@pytest.mark.parametrize(
    "entries",
    [
        ("not", "no longer"),  # "no" alone is no entry: "not no longer" still counts both
        ("'tis not", "no"),  # an entry that starts with an apostrophe
        ("-no", "not"),  # one that starts with no word character at all
    ],
)
def test_custom_lexicons_count_every_match_of_the_entries(entries):
    """Each caption's negators are the matches of one search for the entries alone."""
    lexicon = Lexicon("custom", entries)
    captions = ["not no longer", "no no longer not", "it 'tis not no", "x -no not", "not -no"]
    r = scan(pl.DataFrame({"caption": captions}).lazy(), ScanOptions(lexicon))
    found = pl.Series(captions).str.extract_all(lexicon.any_pattern()).to_list()
    expected = {e: (sum(e in f for f in found), sum(f.count(e) for f in found)) for e in entries}
    assert {w: (c, o) for w, c, o in r.per_word.iter_rows()} == expected


# --- shards analysed together ------------------------------------------------------------------


def _tables(result):
    out = dict(result.counts)
    for name in ("per_word", "bigrams", "classes", "samples", "unique_neg"):
        table = getattr(result, name)
        out[name] = sorted(map(str, table.rows()))
    return out


def test_shards_analysed_together_get_the_results_they_get_alone():
    shards = [
        ["no dog and a cat", "not a cat", None, "", "I don’t know", "ＮＯ ｐａｒｋｉｎｇ"],
        [],  # an empty shard
        ["no cafe\u0301 dog", "never a dog", "no dog and a cat", "knot", "nothing here"],
        ["no bicycle", "no. 5 not any dogs"] * 3,
    ]
    opts = ScanOptions(
        load_lexicon("extended"), load_classes("cat,dog,bicycle"), window=1, unique=True
    )
    frames = [pl.DataFrame({"caption": c}, schema={"caption": pl.String}).lazy() for c in shards]
    together = analyse([prefilter(f, opts, f"s{k}") for k, f in enumerate(frames)], opts)
    alone = [scan(f, opts, f"s{k}") for k, f in enumerate(frames)]
    assert [_tables(r) for r in together] == [_tables(r) for r in alone]
    # "no dog and a cat" mentions a cat, too far from the negator (window 1); "not a cat" too
    assert dict(together[0].classes.iter_rows()) == {"cat": 0, "dog": 1, "bicycle": 0}
    assert together[2].samples["shard"].unique().to_list() == ["s2"]
    # a scan that saves no shard results keeps the batch's tables together: the same report
    counts, batch = analyse_together(
        [prefilter(f, opts, f"s{k}") for k, f in enumerate(frames)], opts
    )
    assert counts == [r.counts for r in alone]
    assert _tables(combine([batch], opts)) == _tables(combine(alone, opts))
    assert unique_summary(combine([batch], opts), opts) == unique_summary(
        combine(alone, opts), opts
    )


@pytest.mark.parametrize("repeated", [-1.0, 2.0], ids=["each-text-once", "each-row-once"])
def test_a_repeated_caption_counts_in_every_shard_as_often_as_it_occurs(monkeypatch, repeated):
    """A batch's distinct texts are analysed once each when enough repeat (forced here with
    ``REPEATED`` -1; 2 never does): the counts, tables and samples are the rows' either way."""
    monkeypatch.setattr(analysis, "REPEATED", repeated)
    shards = [
        ["no dog", "no dog", "not a cat", "no dog", "no dog and no cat", None],
        ["no dog", "never", "never", "a cat"],
        ["no dog and no cat"],
    ]
    opts = ScanOptions(load_lexicon("extended"), load_classes("cat,dog"), unique=True)
    frames = [pl.DataFrame({"caption": c}, schema={"caption": pl.String}).lazy() for c in shards]
    first, second, third = analyse(
        [prefilter(f, opts, f"s{k}") for k, f in enumerate(frames)], opts
    )
    assert (first.n_with_negation, first.n_with_class_negation) == (5, 5)
    assert words(first) == {"no": (4, 5), "not": (1, 1)}
    assert first.bigrams.rows() == [("no", "dog", 4), ("no", "cat", 1), ("not", "a", 1)]
    assert dict(first.classes.iter_rows()) == {"cat": 2, "dog": 4}
    assert sorted(first.samples.select("word", "caption").rows()) == [
        ("no", "no dog"),
        ("no", "no dog and no cat"),
        ("not", "not a cat"),
    ]
    assert (second.n_with_negation, second.n_with_class_negation) == (3, 1)
    assert words(second) == {"no": (1, 1), "never": (2, 2)}
    assert words(third) == {"no": (1, 2)}
    assert dict(third.classes.iter_rows()) == {"cat": 1, "dog": 1}

    counts, batch = analyse_together(
        [prefilter(f, opts, f"s{k}") for k, f in enumerate(frames)], opts
    )
    assert counts == [r.counts for r in (first, second, third)]
    total = combine([batch], opts)
    assert _tables(total) == _tables(combine([first, second, third], opts))
    assert words(total) == {"no": (6, 8), "not": (1, 1), "never": (2, 2)}
    assert dict(total.classes.iter_rows()) == {"cat": 3, "dog": 6}
    # a sample names the first shard (by name) its caption occurs in
    assert sorted(total.samples.select("caption", "shard").unique().rows()) == [
        ("never", "s1"),
        ("no dog", "s0"),
        ("no dog and no cat", "s0"),
        ("not a cat", "s0"),
    ]
    summary = unique_summary(total, opts)
    assert summary is not None
    assert (summary["n_unique"], summary["n_unique_with_negation"]) == (5, 4)


def test_the_nfkc_table_is_stored_once_and_a_damaged_copy_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _nfkc.cache_clear()
    try:
        table = nfkc_table()
        stored = tmp_path / "notclip" / f"nfkc-polars-{pl.__version__}.json"
        assert stored.exists()
        chars = pl.Series([chr(cp) for cp in range(0x80, 0x110000) if not 0xD800 <= cp < 0xE000])
        nfkc = chars.str.normalize("NFKC")  # Polars' NFKC, the one whole captions get
        changed = chars != nfkc
        assert table == (tuple(chars.filter(changed)), tuple(nfkc.filter(changed)))
        stored.write_text(stored.read_text("utf-8").replace('"\\u00aa"', '"x"', 1), "utf-8")
        _nfkc.cache_clear()
        assert nfkc_table() == table
    finally:
        _nfkc.cache_clear()


def test_ascii_entries_are_normalised_as_polars_normalises_them():
    """Lexicon entries and class names that are all ASCII skip Polars (lower-cased in Python):
    the same text as Polars' NFKC and lower-casing, for every ASCII character; a list with one
    other text goes through Polars as a whole."""
    every = "".join(map(chr, range(128)))
    texts = [every, "No Longer", "DON'T", " Hot  Dog "]
    polars = pl.Series(texts).str.normalize("NFKC").str.to_lowercase().to_list()
    assert normalise_all(texts) == polars
    assert normalise_all([*texts, "ＤＯＮ’T"]) == [*polars, "don't"]


# --- one Unicode version: Polars' ------------------------------------------------------------

OUTLINED_NOT = "\U0001cce3\U0001cce4\U0001cce9"  # OUTLINED LATIN CAPITAL N, O, T (Unicode 16)


def test_a_caption_counts_the_same_whatever_else_it_holds():
    """Unicode 16 letters count as Polars' NFKC reads them in every caption: alone (which the
    prefilter must let through), beside other non-ASCII letters (NFKC character by character)
    and beside a combining mark (NFKC of the whole caption)."""
    polars_says = pl.Series([OUTLINED_NOT]).str.normalize("NFKC").str.to_lowercase().item()
    expected = 1 if polars_says == "not" else 0  # (a Polars without Unicode 16: 0 everywhere)
    for rest in (" a dog", " a dog, café", " a dog, cafe\u0301"):
        r = run([OUTLINED_NOT + rest], "core")
        assert r.n_with_negation == expected
        assert words(r) == ({"not": (1, 1)} if expected else {}), rest
    assert expected == 1, f"this Polars reads {OUTLINED_NOT!r} as {polars_says!r}"


def test_the_character_route_is_taken_only_where_it_equals_whole_string_nfkc():
    """The analysis normalises a caption without combining characters one character at a time
    (:func:`negation.negscan.lexicon.composing_class`). For every canonical composition of Polars'
    Unicode (a first part, then a part NFKC joins to it), a caption spelling it with either part
    or a compatibility form of it (``ㄱㅏ``, half-width ``ｶﾞ``) gets whole-string NFKC."""
    from negation.negscan.lexicon import composing_class
    from negation.negscan.scan import normalised

    chars = pl.Series([chr(cp) for cp in range(0x80, 0x110000) if not 0xD800 <= cp < 0xE000])
    nfd = chars.str.normalize("NFD")
    pairs = [(p[0], p[1]) for p in nfd.filter(nfd.str.len_chars() == 2).to_list()]
    src, dst = nfkc_table()
    ends = {}  # a character -> it and every character whose NFKC form ends with it
    starts = {}  # ... starts with it
    for ch, out in zip(src, dst, strict=True):
        ends.setdefault(out[-1], []).append(ch)
        starts.setdefault(out[0], []).append(ch)
    captions = sorted(
        {
            f"no {a}{b} x"
            for first, second in pairs
            for a in [first, *ends.get(first, [])]
            for b in [second, *starts.get(second, [])]
        }
    )
    assert "no \u3131\u314f x" in captions and "no \uff76\uff9e x" in captions  # ㄱㅏ, ｶﾞ
    frame = pl.DataFrame({"caption": captions})
    routed = frame.with_columns(
        kind=pl.when(pl.col("caption").str.contains(composing_class()))
        .then(pl.lit("nfkc"))
        .otherwise(pl.lit("chars"))
    )
    chars_route = routed.filter(pl.col("kind") == "chars")
    got = chars_route.select(normalised(pl.col("caption"), exclude_numbering=False, kind="chars"))
    whole = chars_route.select(normalised(pl.col("caption"), exclude_numbering=False))
    differ = chars_route.filter((got.to_series() != whole.to_series()).to_list())
    assert differ.is_empty(), differ.head(5)


def test_the_character_route_needs_only_the_characters_the_captions_hold():
    """A batch's character route uses the table of the characters its captions hold: every
    character NFKC changes, each in a caption beside others (and ASCII), comes out as the whole
    table makes it, and a table of none of them leaves the text as it is."""
    from negation.negscan.lexicon import nfkc_of
    from negation.negscan.scan import normalised

    src, _ = nfkc_table()
    captions = ["no " + "".join(src[i : i + 7]) + " x" for i in range(0, len(src), 7)]
    frame = pl.DataFrame({"caption": [*captions, "café", "ascii only"]})
    caption = pl.col("caption")
    held = frame["caption"].str.extract_all(r"[^\x00-\x7F]").explode().unique().drop_nulls()
    assert len(nfkc_of(held)[0]) == len(src) and nfkc_of(["é", "a"]) == ([], [])
    whole = frame.select(normalised(caption, exclude_numbering=False, kind="chars"))
    some = frame.select(normalised(caption, exclude_numbering=False, kind="chars", chars=held))
    assert some.equals(whole)
    none = frame.select(normalised(caption, exclude_numbering=False, kind="chars", chars=[]))
    assert none.to_series().to_list() == frame["caption"].str.to_lowercase().to_list()


def test_the_exact_union_of_unique_hashes_is_exact_at_every_bucket_edge(monkeypatch):
    """The union is made a range of hashes at a time: hashes on the ranges' edges (0, 2^60 - 1,
    2^60, 2^64 - 1) are each counted once, and the switch to sketches comes past UNIQUE_EXACT
    distinct hashes, not before."""
    from negation.negscan import uniques

    edges = [0, (1 << 60) - 1, 1 << 60, (1 << 64) - 1, 7 << 60, (8 << 60) - 1]
    parts = [edges[:4], edges[2:], [5, 1 << 63, *edges[:2]]]
    neg_words = {0: "no", 1 << 60: "not", (1 << 64) - 1: "no"}

    def tables(hashes):
        negs = [(h, neg_words[h], 1) for h in hashes if h in neg_words]
        return (
            pl.DataFrame({"hash": hashes}, schema={"hash": pl.UInt64}),
            pl.DataFrame(negs, schema={"hash": pl.UInt64, "word": pl.String,
                                       "occurrences": pl.Int64}, orient="row"),
        )  # fmt: skip

    everything = {h for part in parts for h in part}
    union, negs, sketch = uniques.add_up([tables(p) for p in parts], [])
    assert sketch is None and sorted(union["hash"].to_list()) == sorted(everything)
    assert sorted(negs.rows()) == sorted((h, w, 1) for h, w in neg_words.items())
    monkeypatch.setattr(uniques, "UNIQUE_EXACT", len(everything))
    assert uniques.add_up([tables(p) for p in parts], [])[2] is None
    monkeypatch.setattr(uniques, "UNIQUE_EXACT", len(everything) - 1)
    assert uniques.add_up([tables(p) for p in parts], [])[2] is not None
