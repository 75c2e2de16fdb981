"""Negation lexicons and the regular expressions built from them.

A lexicon is data: ``negation/data/lexicons/{core,standard,extended}.txt`` (read with
:mod:`importlib.resources`) or a user file — one word or phrase a line, ``#`` starts a comment,
``@NAME`` includes a built-in lexicon.

Matching rules (shared by the Polars scan and by the pure-Python reference in the tests):

* captions are normalised with :func:`normalise` — Unicode NFKC, lower-case, ``’`` → ``'`` — so
  ``ＮＯ``, ``No`` and ``no`` are one word and ``don’t`` is ``don't``;
* an entry matches as a whole word: ``\\b`` (Unicode word boundaries) on each side that starts or
  ends with a word character, so "nothing" never counts as "no" and "knot" never as "not";
  a phrase's words may be separated by any run of whitespace;
* ``exclude_numbering`` first blanks out "no." followed by a digit ("No. 5", "no.3"), the one
  false positive of ``\\bno\\b`` that has a safe pattern. "no-brainer" still counts (documented).

Polars' regex engine (Rust ``regex``) has no look-arounds, so numbering is removed by a
replacement before matching rather than by a negative look-ahead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import polars as pl

from corpora.runio import atomic_write_json

BUILTIN = ("core", "standard", "extended")

APOSTROPHES = "’"  # mapped to ' by normalise()

# "no." followed by a digit, in normalised text; group 1 keeps what follows "no".
NUMBERING_PATTERN = r"\bno(\.\s*\d)"
NUMBERING_MASK = "__$1"  # "__" is made of word characters, so no \b-word can match inside it

# Separators and tokens for "within N tokens" (class co-occurrence) and "next word" (bigrams).
TOKEN = r"[\w']+"
SEP = r"[^\w']+"
# Their twins for all-ASCII text, where ASCII classes match exactly what the Unicode ones do
# (\w, \s and \b agree on ASCII characters) and the regexes are cheaper to build and run.
TOKEN_ASCII = r"[0-9A-Za-z_']+"
SEP_ASCII = r"[^0-9A-Za-z_']+"


def normalise_all(texts: Sequence[str]) -> list[str]:
    """The normalisation the scan applies before matching: NFKC and lower-case as Polars does
    them (see :func:`nfkc_table`), ’ → '. All-ASCII texts (the built-in lexicons, COCO's and
    VOC's class names) are lower-cased in Python: NFKC leaves ASCII as it is, and both lower-case
    it alike; a Polars call at every start cost more than the rest of reading a lexicon."""
    if all(text.isascii() for text in texts):
        return [text.lower() for text in texts]
    out = pl.Series(texts, dtype=pl.String).str.normalize("NFKC").str.to_lowercase()
    for a in APOSTROPHES:
        out = out.str.replace_all(a, "'", literal=True)
    return out.to_list()


def normalise(text: str) -> str:
    """:func:`normalise_all` of one text."""
    return normalise_all([text])[0]


def normalise_entries(entries: Sequence[str]) -> list[str]:
    """Lexicon entries or class names normalised (:func:`normalise_all`, runs of whitespace made
    one space), in one Polars call: a call per name cost ~0.4 ms, a tenth of a second for COCO's
    names at every start."""
    return [" ".join(text.split()) for text in normalise_all(entries)]


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def entry_pattern(entry: str, *, ascii: bool = False) -> str:
    """The regex body (no flags) for one normalised lexicon entry, with word boundaries
    (``ascii``: for all-ASCII text only, with ASCII classes)."""
    space, edge = (r"(?-u:\s)+", r"(?-u:\b)") if ascii else (r"\s+", r"\b")
    body = space.join(re.escape(part) for part in entry.split())
    start = edge if _is_word_char(entry[0]) else ""
    end = edge if _is_word_char(entry[-1]) else ""
    return f"{start}{body}{end}"


def _parse(text: str, source: str, seen: tuple[str, ...]) -> list[str]:
    parts: list[list[str] | tuple[int, str, str]] = []  # included entries, or (lineno, raw, line)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("@"):
            name = line[1:].strip().lower()
            if name not in BUILTIN:
                raise ValueError(f"{source}, line {lineno}: unknown built-in lexicon {line!r}")
            if name in seen:
                raise ValueError(f"{source}, line {lineno}: lexicon {name!r} includes itself")
            parts.append(_parse(_builtin_text(name), f"built-in lexicon {name!r}", (*seen, name)))
            continue
        parts.append((lineno, raw, line))
    lines = [part for part in parts if isinstance(part, tuple)]
    normal = iter(normalise_entries([line for _, _, line in lines]))
    entries: list[str] = []
    for part in parts:
        if isinstance(part, list):
            entries += part
            continue
        lineno, raw, _ = part
        entry = next(normal)
        if not entry:
            raise ValueError(f"{source}, line {lineno}: empty entry in {raw!r}")
        entries.append(entry)
    return entries


def _builtin_text(name: str) -> str:
    return resources.files("negation").joinpath(f"data/lexicons/{name}.txt").read_text("utf-8")


@dataclass(frozen=True)
class Lexicon:
    """An ordered, duplicate-free list of normalised entries and the regexes built from them."""

    name: str
    entries: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError(f"lexicon {self.name!r} has no entries")

    @property
    def by_length(self) -> tuple[str, ...]:
        """Entries longest first, so an alternation prefers "no longer" over "no"."""
        return tuple(sorted(self.entries, key=lambda e: (-len(e), e)))

    def any_pattern(self, *, ascii: bool = False) -> str:
        """One alternation of all entries (longest first), for normalised text (``ascii``: for
        all-ASCII text only)."""
        return "(?:" + "|".join(entry_pattern(e, ascii=ascii) for e in self.by_length) + ")"

    def prefilter_pattern(self) -> str:
        """A regex for RAW captions that matches every caption the exact rules can match.

        Case-insensitive, ASCII word boundaries (any non-ASCII neighbour counts as a boundary,
        so it is never stricter), apostrophes as ``['’]``, plus any character whose NFKC form
        could complete a match (see :func:`nfkc_unstable_class`), because only captions with
        such a character can match after normalisation without matching before it. It lets the
        scan normalise and analyse only a small share of rows.
        """
        alts = []
        for e in self.by_length:
            body = r"\s+".join(re.escape(part) for part in e.split()).replace("'", "['’]")
            # ASCII boundaries are cheaper and never stricter for ASCII edge characters; an edge
            # that is not an ASCII word character gets no boundary at all (a superset again).
            start = r"(?-u:\b)" if e[0].isascii() and _is_word_char(e[0]) else ""
            end = r"(?-u:\b)" if e[-1].isascii() and _is_word_char(e[-1]) else ""
            alts.append(f"{start}{body}{end}")
        return "(?i:" + "|".join(alts) + ")|" + nfkc_unstable_class(self.entries)


# Every Unicode fact the scan relies on is Polars': its NFKC (whole captions, and the per-character
# table below built from it), its lower-casing and its regex classes. Python's ``unicodedata``
# (an older Unicode version: 14.0 in Python 3.11, where Polars' NFKC knows Unicode 16 and 17
# letters) is not used, so a caption counts the same whichever route normalises it.
_Table = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@cache
def _nfkc() -> _Table:
    """Every character NFKC changes, what NFKC makes of it, and the characters besides
    :data:`COMPOSING_BASE` that make a caption take whole-string NFKC (see :func:`composing_class`).

    Built once per Polars version and kept in the user's cache directory (``notclip/``), keyed by
    that version and checked by a hash of its content; rebuilt when missing or damaged.
    """
    path = _cache_dir() / f"nfkc-polars-{pl.__version__}.json"
    try:
        stored = json.loads(path.read_text("utf-8"))
        table = tuple(stored["src"]), tuple(stored["dst"]), tuple(stored["composing"])
        if stored["sha256"] == _digest(*table):
            return table
    except (OSError, ValueError, KeyError, TypeError):
        pass
    table = _build_nfkc()
    src, dst, composing = table
    record = {"src": src, "dst": dst, "composing": composing, "sha256": _digest(*table)}
    with suppress(OSError):  # a read-only home: built again next time
        atomic_write_json(path, record)
    return table


def nfkc_table() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every character NFKC changes, and what NFKC makes of it (Polars' NFKC)."""
    src, dst, _ = _nfkc()
    return src, dst


def nfkc_of(chars: Iterable[str]) -> tuple[list[str], list[str]]:
    """:func:`nfkc_table` restricted to ``chars``: those of them NFKC changes, and what NFKC
    makes of each (an Aho–Corasick table of a batch's few characters is built in microseconds;
    the whole table's ~5 000 took ~6 ms at every use)."""
    table = _nfkc_map()
    src = sorted(set(chars) & table.keys())
    return src, [table[ch] for ch in src]


@cache
def _nfkc_map() -> dict[str, str]:
    return dict(zip(*nfkc_table(), strict=True))


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "notclip"


def _digest(*parts: tuple[str, ...]) -> str:
    return hashlib.sha256("\1".join("\0".join(p) for p in parts).encode()).hexdigest()


# Combining marks and Hangul jamo: NFKC may compose them with their neighbours, so a caption that
# holds one is normalised as a whole rather than character by character (:func:`composing_class`
# adds the other characters that need it).
COMPOSING_BASE = r"\p{M}\x{1100}-\x{11FF}"


def _build_nfkc() -> _Table:
    """:func:`_nfkc` from Polars' NFKC and NFD of every non-ASCII code point (surrogates aside).

    A character NFKC may join with the one before it is a later part of a canonical
    decomposition (a combining mark, a Hangul vowel or final, or a letter such as Kirat Rai's
    vowel sign E, which is neither); a caption whose NFKC holds one is normalised as a whole.
    """
    import numpy as np  # (built once per Polars version: not imported at every start)

    cps = np.arange(0x80, 0x110000, dtype=np.uint32)
    cps = cps[(cps < 0xD800) | (cps >= 0xE000)]
    chars = pl.Series(list(cps.tobytes().decode("utf-32-le")), dtype=pl.String)
    nfkc = chars.str.normalize("NFKC")
    changed = chars != nfkc
    src, dst = chars.filter(changed), nfkc.filter(changed)
    nfd = chars.str.normalize("NFD")
    joins = {ch for text in nfd.filter(nfd.str.len_chars() > 1) for ch in text[1:]}
    base = f"[{COMPOSING_BASE}]"
    joined = pl.Series(sorted(joins), dtype=pl.String)
    extra = joined.filter(~joined.str.contains(base)).to_list()
    joining = f"[{COMPOSING_BASE}{_class_body(extra)}]"
    composing = pl.Series(sorted(set(extra) | set(src.filter(dst.str.contains(joining)))))
    return tuple(src), tuple(dst), tuple(composing.filter(~composing.str.contains(base)))


def _class_body(chars: list[str]) -> str:
    """A regex character class's body for ``chars`` (ranges of consecutive code points)."""
    ranges: list[tuple[int, int]] = []
    for cp in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


@cache
def composing_class() -> str:
    """A regex character class of the characters that make a caption take whole-string NFKC:
    combining marks and Hangul jamo, the other characters NFKC may join with the one before
    them, and every character whose NFKC form holds one of those (compatibility jamo ``ㅏ``,
    half-width ``ﾞ``, ``¨``): character by character, NFKC would not compose them."""
    return f"[{COMPOSING_BASE}{_class_body(list(_nfkc()[2]))}]"


Pieces = tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]


def _pieces(entries: tuple[str, ...]) -> Pieces:
    """The entries, and every prefix, suffix and substring of them (for :func:`_can_contribute`,
    which then looks each piece up once instead of comparing it with every entry)."""
    subs = {e[i:j] for e in entries for i in range(len(e)) for j in range(i + 1, len(e) + 1)}
    prefixes = {e[:j] for e in entries for j in range(1, len(e) + 1)}
    suffixes = {e[i:] for e in entries for i in range(len(e))}
    return frozenset(entries), frozenset(prefixes), frozenset(suffixes), frozenset(subs)


def _can_contribute(text: str, pieces: Pieces) -> bool:
    """Could NFKC's output ``text`` for one character be part of a whole-word entry match
    (``pieces``: :func:`_pieces` of the entries)?

    The overlap of a match with ``text`` is a piece ``text[i:j]``: the whole entry when the match
    lies inside ``text``, a prefix of it when the match starts inside, a suffix when it ends
    inside, any substring when ``text`` lies inside the match — and a match that starts or ends
    inside ``text`` needs a word boundary there.
    """
    whole, prefixes, suffixes, subs = pieces
    n = len(text)
    for i in range(n):
        for j in range(i + 1, n + 1):
            piece = text[i:j]
            if i > 0 and _is_word_char(text[i - 1]) and _is_word_char(piece[0]):
                continue
            if j < n and _is_word_char(text[j]) and _is_word_char(piece[-1]):
                continue
            if i > 0 and j < n:
                hit = piece in whole
            elif i > 0:
                hit = piece in prefixes
            elif j < n:
                hit = piece in suffixes
            else:
                hit = piece in subs
            if hit:
                return True
    return False


@cache
def nfkc_unstable_class(entries: tuple[str, ...]) -> str:
    """A regex character class of the characters whose NFKC form could create a match of one of
    ``entries`` (plus combining marks and Hangul jamo, which NFKC may compose).

    NFKC output made only of whitespace is left out: the prefilter's ``\\s+`` already matches
    every Unicode space inside a phrase. So are outputs that cannot be part of a match ("…" →
    "...", "™" → "TM" for the built-in lexicons), which keeps the candidates few.
    """
    letters = set("".join(entries))  # a piece of a match shares a character with some entry
    pieces = _pieces(entries)
    src, dst = nfkc_table()
    found = [
        ch
        for ch, text in zip(src, normalise_all(dst), strict=True)
        if text.strip() and not letters.isdisjoint(text) and _can_contribute(text, pieces)
    ]
    return "[" + _class_body(found) + composing_class()[1:-1] + "]"


def load_lexicon(spec: str | Path) -> Lexicon:
    """``core`` / ``standard`` / ``extended``, or a path to a lexicon file."""
    text = str(spec).strip()
    if text.lower() in BUILTIN:
        name = text.lower()
        entries = _parse(_builtin_text(name), f"built-in lexicon {name!r}", (name,))
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(
                f"unknown lexicon {text!r}: use one of {', '.join(BUILTIN)} or a lexicon file "
                "(one word or phrase a line, '#' comments)"
            )
        name = path.stem
        entries = _parse(path.read_text("utf-8"), str(path), ())
        if not entries:
            raise ValueError(f"{path}: no lexicon entries found")
    return Lexicon(name, tuple(dict.fromkeys(entries)))
