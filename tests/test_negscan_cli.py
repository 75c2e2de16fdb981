"""negscan end to end through typer's CliRunner: reports, resume, merge, errors, remote paths."""

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import fsspec
import polars as pl
import pytest
from typer.testing import CliRunner

import negation.negscan.scanning
from negation.negscan.cli import app
from negation.negscan.store import ResultStore

runner = CliRunner()

REQUIRED_KEYS = {
    "n_rows",
    "n_null",
    "n_empty",
    "n_with_negation",
    "rate_all_rows",
    "rate_non_null",
    "per_word",
    "n_shards",
    "bad_shards",
    "synthetic",
}


def write_shard(path, captions, column="TEXT", dtype=pl.String):
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {"SAMPLE_ID": list(range(len(captions))), column: captions},
        schema={"SAMPLE_ID": pl.Int64, column: dtype},
    ).write_parquet(path)
    return path


def shards(tmp_path, n=3):
    data = {
        0: ["no dog here", "a cat", None, "", "not a cat, not a dog"],
        1: ["never again", "Chanel No. 5", "fine", "knot"],
        2: ["nothing", "no cat", "without a bird", "ok", "ok"],
    }
    return [write_shard(tmp_path / "in" / f"part-{i:05d}.parquet", data[i]) for i in range(n)]


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def summary_of(out):
    return json.loads((out / "summary.json").read_text())


def test_no_shards_scans_the_synthetic_sample_and_says_so():
    result = invoke("laion", "--format", "json", "--quiet")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["synthetic"] is True
    assert set(body) >= REQUIRED_KEYS
    assert body["n_rows"] == 4000 and body["n_with_negation"] > 0
    assert body["window"] == 5  # the default covers "not a photo of a dog"
    table = invoke("laion")
    assert table.exit_code == 0
    assert "captions negating a class (window 5)" in table.stdout  # the report states it
    one = invoke("laion", "--classes", "dog", "--format", "json", "--quiet")  # no trailing comma
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["classes"] == "custom"
    assert "SYNTHETIC" in table.stdout
    assert "PositiveCoOp" not in table.stdout  # no comparison of generated captions with LAION
    assert "SYNTHETIC" in invoke("laion", "--help").stdout


def test_a_laion_scan_prints_the_papers_rate_beside_ours(tmp_path):
    shards(tmp_path)
    result = invoke("laion", tmp_path / "in")
    assert result.exit_code == 0, result.output
    # 7 negated captions among 14 rows, one of them null (see shards()): the paper's "0.47 % of
    # 400 million" divides by every row, and so does every rate and share of the report
    ours = 100 * 7 / 14
    line = " ".join(result.stdout.split())
    assert "paper (PositiveCoOp, LAION-400M): 0.470% of rows" in line
    said = f"ours: 50.000% · ours − paper: {ours - 0.47:+.3f} percentage points (of all rows, the"
    assert said in line and "the paper's denominator)" in line
    assert "non-null" not in line
    assert "│ no │ 3 │ 21.429% │" in line  # per word "no": 3 of 14 rows (not 23.077 %, of 13)
    other = invoke("laion", tmp_path / "in", "--corpus", "img2dataset", "--text-column", "TEXT")
    assert "PositiveCoOp" not in other.stdout


def test_out_dir_has_the_report_files_and_rates_name_their_denominators(tmp_path):
    paths = shards(tmp_path)
    out = tmp_path / "out"
    result = invoke("laion", tmp_path / "in", "--out", out, "--quiet", "--unique")
    assert result.exit_code == 0, result.output
    for name in (
        "summary.json",
        "per_word.parquet",
        "per_shard.parquet",
        "bigrams.parquet",
        "classes.parquet",
        "samples.parquet",
        "run.json",
    ):
        assert (out / name).exists(), name
    body = summary_of(out)
    assert (body["n_rows"], body["n_null"], body["n_empty"]) == (14, 1, 1)
    assert body["n_with_negation"] == 7  # no, not, never, No. 5, nothing, no, without
    assert body["rate_all_rows"] == pytest.approx(7 / 14)
    assert body["rate_non_null"] == pytest.approx(7 / 13)
    assert "the paper's denominator" in body["denominators"]["rate_all_rows"]
    assert body["per_word"]["not"] == {"captions": 1, "occurrences": 2}
    assert body["n_shards"] == 3 and "shards" not in body  # (listed in per_shard.parquet)
    assert body["unique"]["n_unique"] == 12
    per_shard = pl.read_parquet(out / "per_shard.parquet")
    assert per_shard["shard"].to_list() == [str(p.resolve()) for p in paths]
    assert per_shard["n_rows"].to_list() == [5, 4, 5]
    assert per_shard["size"].to_list() == [p.stat().st_size for p in paths]
    assert all(c.startswith("parquet:") for c in per_shard["content"])
    assert per_shard.schema["n_rows"] == pl.Int64
    run = json.loads((out / "run.json").read_text())
    assert run["inputs"] == {"n_shards": 3, "per_shard": "per_shard.parquet"}
    assert run["config"]["lexicon"] == "standard" and run["seed"] == 0


def interrupt_second_shard(monkeypatch):
    """A Ctrl-C while the second shard is read (the first is finished by then); returns the real
    reader, to put back for the resumed run."""
    real_scan = negation.negscan.scanning.prefilter  # reads one shard
    calls = []

    def crash_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(negation.negscan.scanning, "prefilter", crash_on_second)
    return real_scan


def test_resume_after_a_crash_reuses_finished_shards(tmp_path, monkeypatch):
    shards(tmp_path)
    out = tmp_path / "out"
    real_scan = interrupt_second_shard(monkeypatch)
    crashed = invoke("laion", tmp_path / "in", "--out", out)
    assert crashed.exit_code == 130
    assert "1 finished shard(s) are saved" in crashed.output
    assert not (out / "summary.json").exists()
    # a run killed while writing leaves only a temporary directory behind
    (out / "partials" / ".tmp-deadbeef-1234").mkdir()
    monkeypatch.setattr(negation.negscan.scanning, "prefilter", real_scan)

    resumed = invoke("laion", tmp_path / "in", "--out", out)
    assert resumed.exit_code == 0, resumed.output
    assert "reused 1 finished shard(s)" in resumed.output
    fresh = invoke("laion", tmp_path / "in", "--out", tmp_path / "fresh", "--quiet")
    assert fresh.exit_code == 0
    a, b = summary_of(out), summary_of(tmp_path / "fresh")
    assert a["reused_shards"] == 1
    for key in ("n_rows", "n_null", "n_empty", "n_with_negation", "per_word", "n_shards"):
        assert a[key] == b[key]
    # everything is reused now; --overwrite starts afresh
    assert "reused 3" in invoke("laion", tmp_path / "in", "--out", out).output
    again = invoke("laion", tmp_path / "in", "--out", out, "--overwrite", "--format", "json")
    assert json.loads(again.stdout)["reused_shards"] == 0


def test_the_echo_of_a_ctrl_c_does_not_hide_what_was_saved(tmp_path, monkeypatch):
    # Polars raises KeyboardInterrupt itself; Python's handler fires again for the same Ctrl-C
    shards(tmp_path, 2)
    calls = []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    def finished_then_signal(self):
        calls.append(1)
        if len(calls) == 2:  # while the interrupt is being reported
            signal.raise_signal(signal.SIGINT)
        return real_finished(self)

    real_finished = ResultStore.finished
    monkeypatch.setattr(negation.negscan.scanning, "prefilter", interrupted)
    monkeypatch.setattr(ResultStore, "finished", finished_then_signal)
    before = signal.getsignal(signal.SIGINT)
    try:
        result = invoke("laion", tmp_path / "in", "--out", tmp_path / "out")
    except KeyboardInterrupt:
        pytest.fail("the second KeyboardInterrupt escaped the report of the first")
    assert result.exit_code == 130
    assert "rerun the same command to resume" in " ".join(result.output.split())
    assert signal.getsignal(signal.SIGINT) is before


def test_a_changed_shard_is_scanned_again_and_replaces_its_old_partial(tmp_path):
    p0, _ = shards(tmp_path, 2)
    out = tmp_path / "out"
    assert invoke("laion", tmp_path / "in", "--out", out, "--quiet").exit_code == 0
    write_shard(p0, ["no", "no", "fine"])  # a new version of part-00000
    again = invoke("laion", tmp_path / "in", "--out", out, "--format", "json", "--quiet")
    body = json.loads(again.stdout)
    assert body["reused_shards"] == 1 and body["n_rows"] == 3 + 4
    assert len([p for p in (out / "partials").iterdir() if p.is_dir()]) == 2
    merged = invoke("merge", out, "--out", tmp_path / "m", "--format", "json", "--quiet")
    assert merged.exit_code == 0, merged.output
    assert json.loads(merged.stdout)["n_rows"] == 3 + 4
    # merging a newer version into the same merged --out replaces the old one there too
    write_shard(p0, ["no"])
    assert invoke("laion", tmp_path / "in", "--out", out, "--quiet").exit_code == 0
    assert invoke("merge", out, "--out", tmp_path / "m", "--quiet").exit_code == 0
    again = invoke("merge", tmp_path / "m", "--out", tmp_path / "m2", "--format", "json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["n_rows"] == 1 + 4


def test_other_options_in_the_same_out_dir_are_refused(tmp_path):
    shards(tmp_path, 1)
    out = tmp_path / "out"
    assert invoke("laion", tmp_path / "in", "--out", out, "--quiet").exit_code == 0
    other = invoke("laion", tmp_path / "in", "--out", out, "--lexicon", "core", "--quiet")
    assert other.exit_code == 1
    assert "other options" in other.output and "--overwrite" in other.output


def test_merge_counts_each_shard_once(tmp_path):
    p0, p1, p2 = shards(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    assert invoke("laion", p0, p1, "--out", a, "--quiet").exit_code == 0
    assert invoke("laion", p1, p2, "--out", b, "--quiet").exit_code == 0
    merged = invoke("merge", a, b, "--out", tmp_path / "m", "--format", "json")
    assert merged.exit_code == 0, merged.output
    body = json.loads(merged.stdout)
    assert body["n_rows"] == 14 and body["n_shards"] == 3
    assert body["duplicate_shards_counted_once"] == [str(p1.resolve())]
    whole = invoke("laion", tmp_path / "in", "--format", "json", "--quiet")
    expected = json.loads(whole.stdout)
    for key in ("n_with_negation", "per_word", "top_bigrams"):
        assert body[key] == expected[key]
    # the same shard in two versions cannot be merged
    write_shard(p1, ["no", "no", "no", "no", "no", "no"])
    assert invoke("laion", p1, "--out", tmp_path / "c", "--quiet").exit_code == 0
    clash = invoke("merge", a, tmp_path / "c", "--out", tmp_path / "m2")
    assert clash.exit_code == 1
    assert "refusing to double-count" in clash.output and "part-00001" in clash.output


def test_merge_keeps_the_bad_shards_no_input_could_scan(tmp_path):
    p0, p1 = shards(tmp_path, 2)
    broken = tmp_path / "in" / "part-00002.parquet"
    broken.write_bytes(p0.read_bytes()[:100])
    a, b = tmp_path / "a", tmp_path / "b"
    assert invoke("laion", p0, p1, "--out", a, "--quiet").exit_code == 0
    assert invoke("laion", p1, broken, "--skip-bad", "--out", b, "--quiet").exit_code == 0
    merged = invoke("merge", a, b, "--out", tmp_path / "m", "--format", "json")
    body = json.loads(merged.stdout)
    assert [x["shard"] for x in body["bad_shards"]] == [str(broken.resolve())]
    assert "Parquet footer" in body["bad_shards"][0]["error"]


def test_wrong_or_non_string_caption_column_is_an_error_naming_shard_and_columns(tmp_path):
    bad = write_shard(tmp_path / "x" / "part-a.parquet", ["no"], column="caption")
    result = invoke("laion", bad)
    assert result.exit_code == 1
    assert "part-a.parquet" in result.output and "no caption column 'TEXT'" in result.output
    assert "SAMPLE_ID (int64), caption (string)" in result.output.replace("large_string", "string")
    assert invoke("laion", bad, "--corpus", "img2dataset", "--quiet").exit_code == 0
    ints = write_shard(tmp_path / "y" / "part-b.parquet", [1, 2], dtype=pl.Int64)
    result = invoke("laion", ints, "--skip-bad")
    assert result.exit_code == 1 and "is int64, not a string column" in result.output


def test_corrupt_shards_stop_the_scan_or_are_listed_with_skip_bad(tmp_path):
    good = shards(tmp_path, 1)[0]
    truncated = tmp_path / "in" / "part-00001.parquet"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result = invoke("laion", tmp_path / "in")
    assert result.exit_code == 1
    assert "part-00001.parquet" in result.output and "Traceback" not in result.output
    skipped = invoke("laion", tmp_path / "in", "--skip-bad", "--format", "json")
    assert skipped.exit_code == 0, skipped.output
    body = json.loads(skipped.stdout)
    assert body["n_rows"] == 5
    assert [b["shard"] for b in body["bad_shards"]] == [str(truncated.resolve())]


def test_a_shard_with_a_corrupt_data_page_is_a_bad_shard(tmp_path):
    path = tmp_path / "in" / "part-00000.parquet"
    path.parent.mkdir()
    pl.DataFrame({"TEXT": [f"no caption {i} " * 3 for i in range(20_000)]}).write_parquet(
        path, compression="snappy"
    )
    data = bytearray(path.read_bytes())
    for k in range(len(data) // 4, len(data) // 2):  # scramble pages, keep the footer
        data[k] = (data[k] * 7 + 3) % 256
    path.write_bytes(bytes(data))
    result = invoke("laion", path, "--quiet")
    assert result.exit_code == 1 and "part-00000.parquet: cannot be read" in result.output
    skipped = invoke("laion", path, "--skip-bad", "--format", "json", "--quiet")
    assert json.loads(skipped.stdout)["bad_shards"][0]["shard"] == str(path.resolve())


def panicking_shard(path):
    """A Parquet shard with an intact footer and a garbage data page on which Polars panics
    (``PanicException``, a BaseException, not a PolarsError). Its caption column is
    uncompressed and dictionary-encoded (10 distinct captions); the data page holds the
    definition levels (length 3, then one run: 2 000 × 1) and then the bit width of the
    dictionary indices (4), which is set to 255."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    captions = [f"no caption {i % 10}" for i in range(2_000)]
    pl.DataFrame({"TEXT": captions}).write_parquet(path, compression="uncompressed")
    page = pq.ParquetFile(path).metadata.row_group(0).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    levels = data.index(b"\x03\x00\x00\x00\xa0\x1f\x01\x04", page)
    data[levels + 7] = 255  # the bit width
    path.write_bytes(bytes(data))
    return path


def test_a_shard_on_which_polars_panics_is_a_bad_shard(tmp_path):
    bad = panicking_shard(tmp_path / "in" / "part-00009.parquet")
    with pytest.raises(pl.exceptions.PanicException):  # the fault reproduced, outside negscan
        pl.scan_parquet(bad).collect(engine="streaming")
    stopped = invoke("laion", bad, "--quiet")
    assert stopped.exit_code == 1, stopped.output
    assert "part-00009.parquet: cannot be read" in stopped.output
    assert "Traceback" not in stopped.output
    # alone, and among small shards read together in one pass (which then reads one by one)
    for n_good in (0, 9):
        for i in range(n_good):
            write_shard(tmp_path / "in" / f"part-{i:05d}.parquet", ["no dog", f"a cat {i}"])
        body = json.loads(
            invoke("laion", tmp_path / "in", "--skip-bad", "--format", "json", "-q").stdout
        )
        assert body["n_rows"] == 2 * n_good and body["n_with_negation"] == n_good
        assert [b["shard"] for b in body["bad_shards"]] == [str(bad.resolve())]


def test_a_remote_path_through_fsspec_memory(tmp_path):
    root = f"memory://negscan-cli-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    try:
        for i, p in enumerate(shards(tmp_path, 2)):
            fs.pipe(f"{root}/part-{i:05d}.parquet", p.read_bytes())
        result = invoke("laion", f"{root}/part-{{00000..00001}}.parquet", "--format", "json")
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert body["n_rows"] == 9 and body["n_shards"] == 2
        assert body["per_word"]["no"]["captions"] == 2
        missing = invoke("laion", f"{root}/part-00009.parquet")
        assert missing.exit_code == 1 and "no input matches" in missing.output
    finally:
        fs.rm(root.removeprefix("memory://"), recursive=True)


def test_a_remote_shard_is_read_one_row_group_at_a_time(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from corpora.synthetic import synthetic_laion

    local = tmp_path / "in" / "part-00000.parquet"
    local.parent.mkdir()
    frame = synthetic_laion(5_000, seed=3, negated_share=0.2).select("TEXT")
    frame.write_parquet(local, row_group_size=1_000)
    assert pq.ParquetFile(local).num_row_groups == 5
    read = []  # rows of each read of the remote shard
    row_group = pq.ParquetFile.read_row_group

    def counted(self, i, *args, **kwargs):
        table = row_group(self, i, *args, **kwargs)
        read.append(table.num_rows)
        return table

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counted)
    root = f"memory://negscan-rowgroups-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    try:
        fs.pipe(f"{root}/part-00000.parquet", local.read_bytes())
        outs = {}
        for name, shard in (("local", local), ("remote", f"{root}/part-00000.parquet")):
            outs[name] = tmp_path / name
            args = ("laion", shard, "--out", outs[name], "--unique", "--quiet")
            assert invoke(*args).exit_code == 0
    finally:
        fs.rm(root.removeprefix("memory://"), recursive=True)
    assert read == [1_000] * 10  # two passes (--unique), one row group at a time
    local_summary, remote_summary = summary_of(outs["local"]), summary_of(outs["remote"])
    for body in (local_summary, remote_summary):  # all but the names of the inputs
        for key in ("patterns",):
            body.pop(key, None)
    assert remote_summary == local_summary and local_summary["n_with_negation"] > 0
    for table in ("per_word", "bigrams", "classes", "samples"):
        a, b = (pl.read_parquet(outs[n] / f"{table}.parquet") for n in ("local", "remote"))
        assert a.drop("shard", strict=False).equals(b.drop("shard", strict=False)), table


def test_a_report_imports_neither_pyarrow_nor_numpy(tmp_path):
    """Start-up time: pyarrow and numpy (0.2 s to import) are not needed for a report."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    table = (
        "from negation.negscan.lexicon import nfkc_table; nfkc_table()"  # cached once (uses numpy)
    )
    subprocess.run([sys.executable, "-c", table], env=env, check=True)
    run = (
        "import sys; from negation.negscan.cli import main; "
        f"sys.argv = ['negscan', 'laion', {str(shards(tmp_path, 1)[0])!r}, '--quiet', "
        f"'--out', {str(tmp_path / 'out')!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code\n"
        "print(sorted({'pyarrow', 'numpy'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", run], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_partials_of_an_earlier_negscan_one_file_per_table_are_reused(tmp_path):
    shards(tmp_path)
    out = tmp_path / "out"
    args = ("laion", tmp_path / "in", "--out", out, "--unique", "--quiet")
    assert invoke(*args).exit_code == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.parquet")}
    for part in (p for p in (out / "partials").iterdir() if p.is_dir()):
        packed = pl.read_parquet(part / "tables.parquet")
        for name in packed.columns:  # the earlier layout: <table>.parquet
            table = packed.select(pl.col(name).explode(empty_as_null=False)).unnest(name)
            table.write_parquet(part / f"{name}.parquet")
        (part / "tables.parquet").unlink()
    (out / "summary.json").unlink()
    assert invoke(*args).exit_code == 0
    assert summary_of(out)["reused_shards"] == 3
    assert {p.name: p.read_bytes() for p in out.glob("*.parquet")} == first


def test_text_jsonl_and_csv_files(tmp_path):
    (tmp_path / "a.txt").write_text("no dog\n\nnot a cat\nfine\n", "utf-8")
    (tmp_path / "b.jsonl").write_text(
        '{"text": "never"}\n{"text": null}\n{"text": "ok"}\n', "utf-8"
    )
    (tmp_path / "c.csv").write_text('id,text\n1,"no, thanks"\n2,fine\n', "utf-8")
    result = invoke("text", tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["n_rows"], body["n_null"], body["n_empty"], body["n_with_negation"]) == (
        9,
        1,
        1,
        4,
    )
    (tmp_path / "d.csv").write_text("id,caption\n1,no\n", "utf-8")
    wrong = invoke("text", tmp_path / "d.csv")
    assert wrong.exit_code == 1
    assert "d.csv" in wrong.output and "id (String), caption (String)" in wrong.output


def test_brace_names_that_match_no_file_are_an_error_and_globs_say_what_they_matched(tmp_path):
    shards(tmp_path, 2)
    braces = str(tmp_path / "in" / "part-{00000..00003}.parquet")
    missing = invoke("laion", braces)
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert "2 of the 4 names it lists match no file" in " ".join(missing.output.split())
    allowed = invoke("laion", braces, "--allow-missing", "--format", "json")
    assert "2 name(s) it lists match no file, skipped" in " ".join(allowed.output.split())
    body = json.loads(allowed.stdout)
    assert body["n_rows"] == 9 and body["patterns"][0]["missing"] == [
        str(tmp_path / "in" / f"part-{i:05d}.parquet") for i in (2, 3)
    ]
    glob = str(tmp_path / "in" / "*.parquet")
    counted = invoke("laion", glob, "--format", "json")
    assert f"'{glob}': 2 file(s)" in counted.output
    assert json.loads(counted.stdout)["patterns"] == [
        {"pattern": glob, "kind": "glob", "matched": 2, "missing": []}
    ]


def test_an_all_null_or_categorical_caption_column_is_scanned(tmp_path):
    nulls = write_shard(tmp_path / "n" / "part-0.parquet", [None, None, None], dtype=pl.Null)
    result = invoke("laion", nulls, "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["n_rows"], body["n_null"], body["n_with_negation"]) == (3, 3, 0)
    assert body["rate_non_null"] is None
    warning = {"shard": str(nulls.resolve()), "warning": "every caption is null (3 rows)"}
    assert body["warnings"] == [warning]
    assert "every caption is null" in invoke("laion", nulls).output
    captions = ["no dog", "a cat", None, "not a cat", "no"]
    cat = write_shard(tmp_path / "c" / "part-0.parquet", captions, dtype=pl.Categorical)
    result = invoke("laion", cat, "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["n_rows"], body["n_null"], body["n_with_negation"]) == (5, 1, 3)
    assert body["per_word"]["no"]["captions"] == 2 and body["warnings"] == []


def test_cr_only_line_endings_and_an_empty_jsonl(tmp_path):
    (tmp_path / "mac.txt").write_bytes(b"no dog\rfine\rnot a cat\r")
    (tmp_path / "mac.jsonl").write_bytes(b'{"text": "never"}\r{"text": "ok"}\r')
    (tmp_path / "empty.jsonl").write_bytes(b"")
    result = invoke("text", tmp_path, "--skip-bad", "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["n_rows"], body["n_with_negation"], body["bad_shards"]) == (5, 3, [])
    empty = str((tmp_path / "empty.jsonl").resolve())
    assert body["warnings"] == [{"shard": empty, "warning": "no rows (an empty file)"}]


def test_a_jsonl_caption_that_is_not_a_string_names_its_line_or_is_listed_with_skip_bad(tmp_path):
    # Polars reads such values as their JSON text: '["not", "a dog"]' would count as a negation
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "no dog"}\n{"text": "[not] a \\"list\\""}\n{"text": "3 cats"}\n')
    bad = {
        "list.jsonl": ('{"text": "a cat"}\n\n{"text": ["not", "a dog"]}\n', 3, "a list"),
        "object.jsonl": ('{"text": {"no": "dog"}}\n', 1, "an object"),
        "number.jsonl": ('{"text": "a cat"}\n{"text": 7}\n', 2, "a number"),
        "lists.jsonl": ('{"text": ["no"]}\n{"text": ["not", "a dog"]}\n', 1, "a list"),
    }
    for name, (text, line, kind) in bad.items():
        (tmp_path / name).write_text(text, "utf-8")
        stopped = invoke("text", tmp_path / name, good)
        assert stopped.exit_code == 1, (name, stopped.output)
        assert f"{name}: line {line}: 'text' is {kind}" in stopped.output
        assert "not a string" in stopped.output and "Traceback" not in stopped.output
    body = json.loads(invoke("text", tmp_path, "--skip-bad", "--format", "json").stdout)
    assert (body["n_rows"], body["n_with_negation"]) == (3, 2)  # good.jsonl alone
    listed = {Path(b["shard"]).name: b["error"] for b in body["bad_shards"]}
    assert set(listed) == set(bad)
    assert listed["list.jsonl"].startswith('line 3: \'text\' is a list (["not", "a dog"])')


def test_an_unreadable_text_file_stops_the_scan_or_is_listed_with_skip_bad(tmp_path, monkeypatch):
    import corpora.shards

    (tmp_path / "a.txt").write_text("no dog\n", "utf-8")
    (tmp_path / "b.txt").write_text("not me\n", "utf-8")
    real_open = corpora.shards.Shard.open

    def refuse_b(self):
        if self.name == "b.txt":
            raise PermissionError(13, "Permission denied", self.url)
        return real_open(self)

    monkeypatch.setattr(corpora.shards.Shard, "open", refuse_b)
    stopped = invoke("text", tmp_path)
    assert stopped.exit_code == 1 and "b.txt: unreadable file" in stopped.output
    body = json.loads(invoke("text", tmp_path, "--skip-bad", "--format", "json").stdout)
    assert body["n_rows"] == 1 and [b["shard"] for b in body["bad_shards"]] == [
        str((tmp_path / "b.txt").resolve())
    ]


def test_hugging_face_dataset_saved_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict(
        {"text": ["no dog", "a cat", None, "not me"], "n": [1, 2, 3, 4]}
    )
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "ds"))
    result = invoke(
        "hf", tmp_path / "ds", "--split", "train", "--batch-size", "3", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["n_rows"], body["n_null"], body["n_with_negation"]) == (4, 1, 2)
    assert body["n_shards"] == 2
    out = tmp_path / "out"
    assert invoke("hf", tmp_path / "ds", "--batch-size", "3", "--out", out, "-q").exit_code == 0
    other = invoke("hf", tmp_path / "ds", "--batch-size", "2", "--out", out, "-q")
    assert other.exit_code == 1 and "batch_size differ" in other.output
    wrong = invoke("hf", tmp_path / "ds", "--split", "test")
    assert wrong.exit_code == 1 and "no split 'test'" in wrong.output
    col = invoke("hf", tmp_path / "ds", "--column", "n")
    assert col.exit_code == 1 and "not a string column" in col.output
    datasets.Dataset.from_dict({"text": [None, None]}).save_to_disk(str(tmp_path / "nulls"))
    nulls = json.loads(invoke("hf", tmp_path / "nulls", "--format", "json").stdout)
    assert (nulls["n_rows"], nulls["n_null"], len(nulls["warnings"])) == (2, 2, 1)


def test_an_unwritable_out_dir_is_a_clear_error(tmp_path, monkeypatch):
    def refuse(self, out, config, overwrite=False):
        raise PermissionError(13, "Permission denied", str(out / "partials"))

    monkeypatch.setattr(ResultStore, "__init__", refuse)
    result = invoke("laion", "--out", tmp_path / "ro")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Permission denied" in result.output and "ro/partials" in result.output


def test_bad_options_are_clear_errors():
    assert "unknown lexicon" in invoke("laion", "--lexicon", "huge").output
    assert "did you mean 'coco'" in invoke("laion", "--classes", "cocoo").output
    assert "unknown corpus" in invoke("laion", "--corpus", "laion5b").output


def test_importing_the_cli_does_not_import_torch():
    code = (
        "import sys, negation.negscan.cli as m; "
        "assert 'torch' not in sys.modules and 'datasets' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_shards_read_and_analysed_together_or_alone_give_the_same_report(tmp_path, monkeypatch):
    shards(tmp_path)
    more = ["I don’t know", "ＮＯ dog", "no cafe\u0301"]
    write_shard(tmp_path / "in" / "part-00003.parquet", more)
    reports = []
    # each shard read and analysed on its own; all read in one pass and analysed in one batch
    for name, batch_bytes, group_min in (("one", 1, 10**6), ("all", 2**30, 2)):
        monkeypatch.setattr(negation.negscan.scanning, "BATCH_BYTES", batch_bytes)
        monkeypatch.setattr(negation.negscan.scanning, "GROUP_MIN", group_min)
        out = tmp_path / name
        assert invoke("laion", tmp_path / "in", "--out", out, "--unique", "--quiet").exit_code == 0
        tables = {
            str(p.relative_to(out)): sorted(map(str, pl.read_parquet(p).rows()))
            for p in sorted(out.glob("*.parquet"))
        }
        for part in sorted((out / "partials").iterdir()):  # one file of tables per shard
            if part.is_dir():
                packed = pl.read_parquet(part / "tables.parquet")
                for name in packed.columns:
                    rows = packed.select(pl.col(name).explode(empty_as_null=False)).unnest(name)
                    tables[f"{part.name}/{name}"] = sorted(map(str, rows.rows()))
        reports.append((summary_of(out), tables))
    assert reports[0] == reports[1]
    assert len([k for k in reports[0][1] if "/" in k]) == 4 * 6


def test_shards_with_footers_larger_than_the_first_read_are_read_whole(tmp_path, monkeypatch):
    # Polars' first read of a local Parquet file is cut to FOOTER_READ bytes; a longer footer
    # (many row groups and columns) must still give every row, read alone or with other shards
    from corpora.captions import FOOTER_READ

    captions = ["no dog", "a cat", "not a bird", None, "never"] * 400
    for i in range(3):
        frame = pl.DataFrame({"TEXT": captions, **{f"x{k}": range(i, i + 2000) for k in range(12)}})
        frame.write_parquet(tmp_path / "in" / f"part-{i}.parquet", row_group_size=20, mkdir=True)
    tail = (tmp_path / "in" / "part-0.parquet").read_bytes()[-8:]
    assert int.from_bytes(tail[:4], "little") > FOOTER_READ
    for group_min in (2, 10**6):  # read in one pass, and one by one
        monkeypatch.setattr(negation.negscan.scanning, "GROUP_MIN", group_min)
        result = invoke("laion", tmp_path / "in", "--format", "json", "--quiet")
        body = json.loads(result.stdout)
        assert (body["n_rows"], body["n_null"], body["n_with_negation"]) == (6000, 1200, 3600)


def test_the_bar_says_all_shards_were_reused_not_0_of_0_captions(tmp_path):
    shards(tmp_path)
    out = tmp_path / "out"
    assert invoke("laion", tmp_path / "in", "--out", out).exit_code == 0
    again = invoke("laion", tmp_path / "in", "--out", out)
    assert again.exit_code == 0, again.output
    assert "all 3 shard(s) reused" in again.output and "0/0 captions" not in again.output


def test_a_pattern_is_echoed_as_typed_never_with_emoji(tmp_path):
    folder = tmp_path / "x:dog:y"
    write_shard(folder / "part-0.parquet", ["no dog"])
    pattern = str(folder / "*.parquet")
    result = invoke("laion", pattern, "--format", "json")
    assert result.exit_code == 0, result.output
    assert f"'{pattern}': 1 file(s)" in result.output


def test_an_error_line_names_a_path_as_typed_never_with_emoji(tmp_path):
    broken = tmp_path / "x:dog:y" / "part-0.parquet"
    broken.parent.mkdir()
    broken.write_bytes(b"not parquet")
    result = invoke("laion", str(broken))
    assert result.exit_code == 1 and "error:" in result.output
    assert ":dog:" in result.output and "🐶" not in result.output
