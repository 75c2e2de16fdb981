"""Shard lists: files, directories, globs, brace patterns, fsspec URLs, empty matches; lexicons."""

import re
import uuid

import fsspec
import polars as pl
import pytest

from corpora.shards import expand, expand_braces
from negation.negscan.lexicon import load_lexicon


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_braces_keep_zero_padding_and_lists():
    assert expand_braces("part-{00000..00002}-x.parquet") == [
        "part-00000-x.parquet",
        "part-00001-x.parquet",
        "part-00002-x.parquet",
    ]
    assert expand_braces("p{8..10}") == ["p8", "p9", "p10"]
    assert expand_braces("{a,b}/{1..2}") == ["a/1", "a/2", "b/1", "b/2"]
    assert expand_braces("no{braces}here") == ["no{braces}here"]
    assert expand_braces("p{10..8}") == ["p10", "p9", "p8"]
    assert expand_braces("p{1..010}") == ["p001", "p002", "p003", "p004", "p005"] + [
        f"p{i:03d}" for i in range(6, 11)
    ]
    assert expand_braces("x{0..1}{00..01}") == ["x000", "x001", "x100", "x101"]
    assert expand_braces("p{a,}") == ["pa", "p"]
    # backslashes (Windows paths) and a stray brace are kept as written, as file-name characters
    assert expand_braces("C:\\d\\p{0..1}") == ["C:\\d\\p0", "C:\\d\\p1"]
    assert expand_braces("a{b") == ["a{b"]
    assert expand_braces("s3://b/{train,val/{0..1}}.tar") == [
        "s3://b/train.tar",
        "s3://b/val/0.tar",
        "s3://b/val/1.tar",
    ]  # nested groups


def test_files_directories_globs_and_braces_give_one_sorted_list(tmp_path):
    for i in (2, 0, 1, 31):
        touch(tmp_path / "d" / f"part-{i:05d}-abc.parquet", b"x" * (i + 1))
    touch(tmp_path / "d" / "notes.txt")
    touch(tmp_path / "d" / ".hidden.parquet")
    by_dir, _ = expand([str(tmp_path / "d")])
    assert [s.name for s in by_dir] == [
        "part-00000-abc.parquet",
        "part-00001-abc.parquet",
        "part-00002-abc.parquet",
        "part-00031-abc.parquet",
    ]
    assert by_dir[3].size == 32 and by_dir[0].fingerprint.startswith("mtime=")
    braces, _ = expand([str(tmp_path / "d" / "part-{00000..00002}-*.parquet")])
    assert [s.name for s in braces] == [s.name for s in by_dir[:3]]
    glob, _ = expand([str(tmp_path / "d" / "part-0000[12]-*.parquet"), str(by_dir[2].url)])
    assert [s.name for s in glob] == ["part-00001-abc.parquet", "part-00002-abc.parquet"]


def test_local_files_and_directories_are_read_as_fsspec_reads_them(tmp_path, monkeypatch):
    """A plain local path is resolved without fsspec: the same shards (URL, size, time)."""
    from corpora import shards

    root = tmp_path / "d"
    touch(root / "a.parquet", b"aaa")
    touch(root / "sub" / "deeper" / "b.parquet", b"bb")
    touch(root / ".hidden" / "c.parquet")  # a hidden directory is entered, a hidden file is not
    touch(root / ".d.parquet")
    touch(root / "notes.txt")
    (root / "sub" / "dir.parquet").mkdir()  # a directory named like a shard
    (tmp_path / "elsewhere").mkdir()
    touch(tmp_path / "elsewhere" / "e.parquet", b"e" * 5)
    (root / "link.parquet").symlink_to(tmp_path / "elsewhere" / "e.parquet")  # followed
    (root / "linked-dir").symlink_to(tmp_path / "elsewhere")  # not entered
    (root / "broken").symlink_to(tmp_path / "nowhere")
    (root / "sub" / "deeper" / "f.parquet").symlink_to(root / "a.parquet")
    (tmp_path / "alias").symlink_to(root)  # the directory named through a link
    monkeypatch.chdir(tmp_path)
    names = [str(root), "d", "alias", "d/a.parquet", "alias/link.parquet", "d/missing.parquet"]

    def matches(how, name):  # the kind of match, and the files found (in order)
        found = []
        kind, n = how(name, (".parquet",), lambda *file: found.append(file))
        assert n == len(found)
        return kind, sorted(found)

    for name in names:
        assert shards._is_plain(name)
        plain = matches(shards._plain_matches, name)
        assert plain == matches(shards._fsspec_matches, name), name
    kind, found = matches(shards._plain_matches, "d")
    assert kind == "directory" and sorted(url.rsplit("/", 1)[-1] for url, _, _ in found) == [
        "a.parquet",
        "a.parquet",  # f.parquet, a link to it
        "b.parquet",
        "c.parquet",
        "e.parquet",
    ]
    assert not shards._is_plain(str(root / "*.parquet")) and not shards._is_plain("s3://b/x")


def test_empty_match_names_the_pattern(tmp_path):
    touch(tmp_path / "part-00000.parquet")
    pattern = str(tmp_path / "part-{00001..00003}.parquet")
    with pytest.raises(FileNotFoundError, match=re.escape("part-{00001..00003}.parquet")):
        expand([str(tmp_path / "part-00000.parquet"), pattern])
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        expand([str(tmp_path / "nothing-here" / "*.parquet")])


def test_memory_urls_and_a_changed_file_gets_a_new_key():
    root = f"memory://negscan-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    try:
        fs.pipe(f"{root}/a/part-1.parquet", b"abc")
        fs.pipe(f"{root}/a/part-0.parquet", b"abcd")
        shards, _ = expand([f"{root}/a/*.parquet"])
        assert [s.url.rsplit("/", 1)[-1] for s in shards] == ["part-0.parquet", "part-1.parquet"]
        assert shards[0].url.startswith("memory://") and shards[0].size == 4
        key = shards[0].key
        fs.pipe(f"{root}/a/part-0.parquet", b"abcde")
        assert expand([f"{root}/a/part-0.parquet"])[0][0].key != key
    finally:
        fs.rm(root.removeprefix("memory://"), recursive=True)


def test_lexicon_files_comments_includes_and_errors(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("# my words\n@core\nSans   Doute  # a phrase\nnever\nno\n", "utf-8")
    lex = load_lexicon(str(f))
    assert lex.name == "mine" and lex.entries == ("no", "not", "sans doute", "never")
    assert load_lexicon("extended").entries[:2] == ("no", "not")
    assert "can't" in load_lexicon("extended").entries
    bad = tmp_path / "bad.txt"
    bad.write_text("@nope\n", "utf-8")
    with pytest.raises(ValueError, match=re.escape("bad.txt, line 1: unknown built-in lexicon")):
        load_lexicon(str(bad))
    with pytest.raises(ValueError, match=re.escape("unknown lexicon 'missing.txt'")):
        load_lexicon("missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", "utf-8")
    with pytest.raises(ValueError, match="no lexicon entries"):
        load_lexicon(str(empty))


def test_a_brace_pattern_with_missing_names_is_an_error_unless_allowed(tmp_path):
    for i in (18, 21):
        touch(tmp_path / f"part-{i:05d}.parquet")
    pattern = str(tmp_path / "part-{00018..00025}.parquet")
    first = ", ".join(str(tmp_path / f"part-{i:05d}.parquet") for i in (19, 20, 22))
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(
            f"6 of the 8 names it lists match no file ({first}, …); pass --allow-missing"
        ),
    ):
        expand([pattern])
    found, matches = expand([pattern, str(tmp_path / "*.parquet")], allow_missing=True)
    assert [s.name for s in found] == ["part-00018.parquet", "part-00021.parquet"]
    braces, glob = matches
    assert (braces.kind, braces.matched, len(braces.missing)) == ("braces", 2, 6)
    assert braces.missing[0] == str(tmp_path / "part-00019.parquet")
    assert (glob.kind, glob.matched, glob.missing) == ("glob", 2, ())


@pytest.mark.parametrize(
    "options",
    [{}, {"write_statistics": False}, {"row_group_size": 7}, {"use_dictionary": False}],
)
def test_the_row_count_is_read_from_any_parquet_footer(tmp_path, options):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpora.parquet import footer_facts

    n = 300  # nested, map, boolean and double columns and long key-value metadata to skip
    table = pa.table(
        {
            "m": pa.array(
                [[("k", i)] if i % 3 else None for i in range(n)], pa.map_(pa.string(), pa.int32())
            ),
            "s": pa.array([{"x": i, "y": [True, None]} for i in range(n)]),
            "b": [i % 2 == 0 for i in range(n)],
            "d": [i / 3 for i in range(n)],
            "TEXT": [f"caption {i}" if i % 5 else None for i in range(n)],
        }
    ).replace_schema_metadata({"k" * 300: "v" * 5000})
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, **options)
    data = path.read_bytes()
    footer = data[-8 - int.from_bytes(data[-8:-4], "little") : -8]
    assert footer_facts(footer, "TEXT") == (n, True)
    assert footer_facts(footer, "s") == (n, False)  # a struct


def test_a_text_column_is_told_from_the_footer_as_polars_reads_it(tmp_path):
    """The footer walk calls a column text only where Polars reads text (String, Categorical,
    Enum); everything else is left to Polars' own schema (and its errors)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpora.captions import _TEXT_TYPES
    from corpora.parquet import footer_facts

    n = 4
    table = pa.table(
        {
            "plain": ["a", "b", None, "d"],
            "large": pa.array(["a", "b", "c", "d"], pa.large_string()),
            "dict": pa.array(["a", "b", "a", "b"]).dictionary_encode(),
            "binary": pa.array([b"a", b"b", b"c", b"d"]),
            "ints": [1, 2, 3, 4],
            "nulls": pa.nulls(n),
            "list": pa.array([["a"], [], None, ["b", "c"]]),
            "struct": pa.array([{"plain": "a"}] * n),  # a nested column of the same name
        }
    )
    frame = pl.DataFrame(
        {"cat": ["a", "b", "a", "b"], "enum": ["x", "y", "x", "y"]},
        schema={"cat": pl.Categorical, "enum": pl.Enum(["x", "y"])},
    )
    for path, write in (
        (tmp_path / "a.parquet", lambda p: pq.write_table(table, p)),
        (tmp_path / "b.parquet", lambda p: pq.write_table(table, p, use_dictionary=False)),
        (tmp_path / "c.parquet", frame.write_parquet),
    ):
        write(path)
        data = path.read_bytes()
        footer = data[-8 - int.from_bytes(data[-8:-4], "little") : -8]
        schema = pl.read_parquet_schema(path)
        for name, dtype in schema.items():
            rows, text = footer_facts(footer, name)
            assert rows == n
            if text:  # (the walk may leave a text column to Polars, never the other way)
                assert isinstance(dtype, _TEXT_TYPES), (path.name, name, dtype)
            assert text == (name in {"plain", "large", "dict", "cat", "enum"}), (path.name, name)
        assert footer_facts(footer, "missing") == (n, False)


def test_footers_of_one_schema_and_of_another_are_each_read_right_in_turn(tmp_path):
    """A corpus's shards share their schema's bytes, walked once: the row count is still each
    footer's own, and a column of the same name but another type, or another schema, is told."""
    from corpora.parquet import footer_facts

    def footer(name: str, frame: pl.DataFrame) -> bytes:
        path = tmp_path / f"{name}.parquet"
        frame.write_parquet(path)
        data = path.read_bytes()
        return data[-8 - int.from_bytes(data[-8:-4], "little") : -8]

    text3 = footer("a", pl.DataFrame({"TEXT": ["x", "y", None], "URL": ["u"] * 3}))
    text5 = footer("b", pl.DataFrame({"TEXT": ["x"] * 5, "URL": ["u"] * 5}))
    ints5 = footer("c", pl.DataFrame({"TEXT": [1] * 5, "URL": ["u"] * 5}))
    other7 = footer("d", pl.DataFrame({"key": [1] * 7, "TEXT": ["x"] * 7}))
    # (the same as text5 up to URL's annotation, near the end: binary, not UTF-8)
    url_bytes = footer("e", pl.DataFrame({"TEXT": ["x"] * 5, "URL": [b"u"] * 5}))
    walk = [(text3, 3), (text5, 5), (url_bytes, 5), (ints5, 5), (text3, 3), (other7, 7), (ints5, 5)]
    for got, want in walk:
        assert footer_facts(got, "TEXT") == (want, got is not ints5)
        assert footer_facts(got, "URL") == (want, got not in (other7, url_bytes))
