"""negscan's guarantees: a shard is counted once whatever its path, merge counts what each input
reported, the report is one unit, one writer per --out, and a full disk costs nothing computed."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
from test_negscan_cli import invoke, shards, summary_of, write_shard

import negation.negscan.report
import negation.negscan.scanning
from negation.negscan.store import index

REPORT = ("per_word", "per_shard", "bigrams", "classes", "samples")


def shards_of(out: Path) -> list[str]:
    """The shards a report counted, in order."""
    return pl.read_parquet(out / "per_shard.parquet")["shard"].to_list()


def json_of(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- the same shard under two paths ----------------------------------------------------------


def test_a_copied_shard_is_counted_once_in_a_scan_and_in_a_merge(tmp_path):
    p0, p1 = shards(tmp_path, 2)
    copy = tmp_path / "mount2" / "part-00001.parquet"
    copy.parent.mkdir()
    shutil.copy(p1, copy)  # same bytes, another path and modification time
    one = json_of(invoke("laion", p1, copy, "--format", "json", "-q"))
    assert one["n_rows"] == 4 and one["n_shards"] == 1
    assert one["duplicate_shards_counted_once"] == [str(copy.resolve())]

    a, b = tmp_path / "a", tmp_path / "b"
    assert invoke("laion", p0, p1, "--out", a, "-q").exit_code == 0
    assert invoke("laion", copy, "--out", b, "-q").exit_code == 0
    merged = json_of(invoke("merge", a, b, "--out", tmp_path / "m", "--format", "json", "-q"))
    assert merged["n_rows"] == 5 + 4 and merged["n_shards"] == 2
    assert merged["duplicate_shards_counted_once"] == [str(copy.resolve())]
    per_shard = pl.read_parquet(tmp_path / "m" / "per_shard.parquet")
    assert all(c.startswith("parquet:") for c in per_shard["content"])


def test_a_copied_text_file_is_counted_once(tmp_path):
    (tmp_path / "a.txt").write_text("no dog\nfine\n", "utf-8")
    shutil.copy(tmp_path / "a.txt", tmp_path / "b.txt")
    body = json_of(invoke("text", tmp_path / "a.txt", tmp_path / "b.txt", "--format", "json"))
    assert body["n_rows"] == 2
    assert body["duplicate_shards_counted_once"] == [str((tmp_path / "b.txt").resolve())]


def footer_twins(tmp_path):
    """Two Parquet files with the same size and footer but other captions (no statistics)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = []
    for name, captions in (("x", ["no dog", "a cat"]), ("y", ["no cat", "a dog"])):
        path = tmp_path / "twins" / f"{name}.parquet"
        path.parent.mkdir(exist_ok=True)
        table = pa.table({"TEXT": captions})
        pq.write_table(
            table, path, compression="none", write_statistics=False, use_dictionary=False
        )
        paths.append(path)
    return paths


def test_shards_sharing_a_parquet_footer_are_told_apart_from_copies(tmp_path):
    x, y = footer_twins(tmp_path)
    copy = tmp_path / "x-copy.parquet"
    shutil.copy(x, copy)
    one = json_of(invoke("laion", x, y, copy, "--format", "json", "-q"))
    assert one["n_rows"] == 4 and one["duplicate_shards_counted_once"] == [str(copy.resolve())]
    a, b = tmp_path / "a", tmp_path / "b"
    assert invoke("laion", x, "--out", a, "-q").exit_code == 0
    assert invoke("laion", y, copy, "--out", b, "-q").exit_code == 0
    merged = json_of(invoke("merge", a, b, "--out", tmp_path / "m", "--format", "json", "-q"))
    assert merged["n_rows"] == 4 and shards_of(tmp_path / "m") == [
        str(x.resolve()),
        str(y.resolve()),
    ]
    assert merged["duplicate_shards_counted_once"] == [str(copy.resolve())]


def test_merge_counts_only_the_shards_each_input_reported(tmp_path):
    shards(tmp_path)
    p0 = tmp_path / "in" / "part-00000.parquet"
    a = tmp_path / "a"
    assert invoke("laion", tmp_path / "in", "--out", a, "-q").exit_code == 0
    assert invoke("laion", p0, "--out", a, "-q").exit_code == 0  # its last report: p0 only
    assert len(list((a / "partials").glob("*/shard.json"))) == 3  # the others still lie there
    merged = json_of(invoke("merge", a, "--out", tmp_path / "m", "--format", "json", "-q"))
    assert merged["n_rows"] == 5 and shards_of(tmp_path / "m") == [str(p0.resolve())]


def test_merge_refuses_an_input_without_a_whole_report(tmp_path):
    p0, p1 = shards(tmp_path, 2)
    a = tmp_path / "a"
    assert invoke("laion", p0, p1, "--out", a, "-q").exit_code == 0
    # a later run there changed p0's partial and was killed before its report
    key = pl.read_parquet(a / "per_shard.parquet")["partial"][0]
    shutil.rmtree(a / "partials" / key)
    gone = invoke("merge", a, "--out", tmp_path / "m")
    assert gone.exit_code == 1 and "Traceback" not in gone.output
    assert "part-00000.parquet" in gone.output and "rerun it to finish" in gone.output
    (a / "summary.json").unlink()
    none = invoke("merge", a, "--out", tmp_path / "m")
    assert none.exit_code == 1 and "no finished report (summary.json)" in none.output


# --- the report is one unit ------------------------------------------------------------------


class Killed(BaseException):
    """A kill at a chosen point (not an Exception: nothing catches it)."""


def consistent(out: Path) -> bool:
    """Whether the report files in ``out`` all come from one run (or there is no report)."""
    if not (out / "summary.json").exists():
        return True
    body = summary_of(out)
    per_shard = pl.read_parquet(out / "per_shard.parquet")
    per_word = pl.read_parquet(out / "per_word.parquet")
    run = json.loads((out / "run.json").read_text())
    return (
        per_shard["n_rows"].sum() == body["n_rows"]
        and per_shard.height == body["n_shards"] == run["inputs"]["n_shards"]
        and {w: c["captions"] for w, c in body["per_word"].items()}
        == dict(zip(per_word["word"], per_word["captions"], strict=True))
    )


def test_a_kill_while_writing_the_report_never_leaves_a_mixed_set(tmp_path, monkeypatch):
    p0, *_ = shards(tmp_path)
    real_write, real_replace = negation.negscan.report.write_report, os.replace
    for kill_at in range(1, 100):  # every rename of the report's files, until one run gets through
        out = tmp_path / f"out{kill_at}"
        assert invoke("laion", p0, "--out", out, "-q").exit_code == 0  # an earlier report: 5 rows
        calls = []

        def replace(src, dst, kill_at=kill_at, calls=calls):
            calls.append(dst)
            if len(calls) == kill_at:
                raise Killed
            return real_replace(src, dst)

        def write_report(*args, replace=replace, **kwargs):
            monkeypatch.setattr(os, "replace", replace)
            try:
                return real_write(*args, **kwargs)
            finally:
                monkeypatch.setattr(os, "replace", real_replace)

        monkeypatch.setattr(negation.negscan.report, "write_report", write_report)
        try:
            invoke("laion", tmp_path / "in", "--out", out, "-q")
        except Killed:
            pass
        else:
            break
        finally:
            monkeypatch.setattr(negation.negscan.report, "write_report", real_write)
        assert consistent(out), f"killed at rename {kill_at}: a mixed report"
        again = invoke("laion", tmp_path / "in", "--out", out, "--format", "json")
        assert json_of(again)["n_rows"] == 14 and "reused 3" in again.output
        assert consistent(out) and not list(out.glob(".tmp-*"))
    assert kill_at > 7 and summary_of(out)["n_rows"] == 14


# --- one writer per --out --------------------------------------------------------------------


def test_a_second_negscan_into_the_same_out_fails_at_once(tmp_path):
    p0, _ = shards(tmp_path, 2)
    out = tmp_path / "out"
    assert invoke("laion", p0, "--out", out, "-q").exit_code == 0
    with open(out / ".lock", "a") as held:  # another negscan writing there
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = invoke("laion", tmp_path / "in", "--out", out, "-q")
        assert busy.exit_code == 1
        assert busy.output.strip() == f"error: another negscan is writing {out}"
        into = invoke("merge", out, "--out", tmp_path / "m", "-q")
        assert into.exit_code == 1 and f"another negscan is writing {out}" in into.output
    assert summary_of(out)["n_rows"] == 5  # untouched
    assert invoke("laion", tmp_path / "in", "--out", out, "-q").exit_code == 0  # lock released
    assert invoke("merge", out, "--out", tmp_path / "m", "-q").exit_code == 0


def test_leftovers_of_killed_runs_are_removed_at_the_next_start(tmp_path):
    p0, _ = shards(tmp_path, 2)
    out = tmp_path / "out"
    assert invoke("laion", p0, "--out", out, "-q").exit_code == 0
    (out / "partials" / ".tmp-0123456789abcdef0123-deadbeef").mkdir()
    (out / "partials" / ".tmp-0123456789abcdef0123-deadbeef" / "per_word.parquet").write_text("x")
    (out / ".tmp-report-deadbeef").mkdir()
    (out / ".summary.json.x1y2.tmp").write_text("{")
    assert invoke("laion", tmp_path / "in", "--out", out, "-q").exit_code == 0
    assert not list(out.glob(".*tmp*")) and not list((out / "partials").glob(".tmp-*"))


# --- a full disk -----------------------------------------------------------------------------


def test_a_full_disk_while_saving_a_shard_is_one_line_and_keeps_finished_shards(
    tmp_path, monkeypatch
):
    shards(tmp_path)
    out = tmp_path / "out"
    real = pl.DataFrame.write_parquet
    dirs: list[Path] = []

    def full_after_one_shard(self, file, *args, **kwargs):
        parent = Path(file).parent
        dirs.append(parent) if parent not in dirs else None
        if len(dirs) > 1:
            raise pl.exceptions.ComputeError("No space left on device (os error 28)")
        return real(self, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_after_one_shard)
    result = invoke("laion", tmp_path / "in", "--out", out, "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = " ".join(result.output.split())
    assert line.startswith(f"error: cannot write {out / 'partials'}/")
    assert "No space left on device" in line and "rerun the same command to resume" in line
    monkeypatch.setattr(pl.DataFrame, "write_parquet", real)
    assert "reused 1 finished shard(s)" in invoke("laion", tmp_path / "in", "--out", out).output


def test_a_full_disk_while_writing_the_report_names_the_file_and_keeps_the_old_report(
    tmp_path, monkeypatch
):
    p0, *_ = shards(tmp_path)
    out = tmp_path / "out"
    assert invoke("laion", p0, "--out", out, "-q").exit_code == 0
    real = Path.write_text

    def full(self, data, *args, **kwargs):
        if "summary.json" in self.name:
            raise OSError(28, "No space left on device")
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    result = invoke("laion", tmp_path / "in", "--out", out, "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"cannot write {out / 'summary.json'}" in " ".join(result.output.split())
    assert summary_of(out)["n_rows"] == 5 and consistent(out)  # the previous report, whole
    monkeypatch.setattr(Path, "write_text", real)
    assert "reused 3" in invoke("laion", tmp_path / "in", "--out", out).output


def test_a_filesystem_that_cannot_lock_is_said_and_the_scan_goes_on(tmp_path, monkeypatch):
    import errno

    p0, _ = shards(tmp_path, 2)

    def unsupported(file, mode):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    result = invoke("laion", p0, "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    line = " ".join(result.output.split())
    assert f"cannot lock {tmp_path / 'out'}: its filesystem does not support it" in line


# --- many small shards are saved in batches ----------------------------------------------------


def many_shards(tmp_path, n=20):
    captions = [["no dog", f"cat {i}", "not a bird", None, "fine"][: 2 + i % 4] for i in range(n)]
    return [
        write_shard(tmp_path / "in" / f"part-{i:05d}.parquet", rows)
        for i, rows in enumerate(captions)
    ]


def count_reads(monkeypatch):
    """Counts the shards read (one by one or in groups) from now on."""
    read: list[str] = []
    one, group = negation.negscan.scanning.prefilter, negation.negscan.scanning.prefilter_parquet

    def prefilter(captions, opts, source="", *args, **kwargs):
        read.append(source)
        return one(captions, opts, source, *args, **kwargs)

    def prefilter_parquet(paths, *args, **kwargs):
        read.extend(paths)
        return group(paths, *args, **kwargs)

    monkeypatch.setattr(negation.negscan.scanning, "prefilter", prefilter)
    monkeypatch.setattr(negation.negscan.scanning, "prefilter_parquet", prefilter_parquet)
    return read


def test_a_run_killed_after_a_saved_batch_resumes_without_reading_its_shards(tmp_path, monkeypatch):
    paths = many_shards(tmp_path)
    out = tmp_path / "out"
    # analysed (and saved) 10 shards at a time; the process dies without any clean-up right after
    # the first batch is saved
    script = (
        "import os, sys\n"
        "import negation.negscan.scanning, negation.negscan.store\n"
        "negation.negscan.scanning.BATCH_ROWS = sum("
        "pl.scan_parquet(p).select(pl.len()).collect().item()"
        f" for p in {[str(p) for p in paths[:10]]!r})\n"
        "save = negation.negscan.store.ResultStore.save_batch\n"
        "def save_and_die(self, batch):\n"
        "    save(self, batch)\n"
        "    os._exit(9)\n"
        "negation.negscan.store.ResultStore.save_batch = save_and_die\n"
        "from negation.negscan.cli import main\n"
        f"sys.argv = ['negscan', 'laion', {str(tmp_path / 'in')!r}, '--out', {str(out)!r}, '-q']\n"
        "main()\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", "import polars as pl\n" + script], capture_output=True, text=True
    )
    assert killed.returncode == 9, killed.stderr
    assert not (out / "summary.json").exists()
    batches = list((out / "partials").glob("*/shards.json"))
    assert len(batches) == 1 and len(json.loads(batches[0].read_text())) == 10
    read = count_reads(monkeypatch)
    resumed = json_of(invoke("laion", tmp_path / "in", "--out", out, "--format", "json", "-q"))
    assert resumed["reused_shards"] == 10
    assert sorted(read) == sorted(str(p.resolve()) for p in paths[10:])
    fresh = tmp_path / "fresh"
    assert invoke("laion", tmp_path / "in", "--out", fresh, "-q").exit_code == 0
    for name in ("per_word", "per_shard", "bigrams", "classes", "samples"):
        table = f"{name}.parquet"
        assert (out / table).read_bytes() == (fresh / table).read_bytes(), table
    again = summary_of(fresh)
    assert {k: v for k, v in resumed.items() if k != "reused_shards"} == {
        k: v for k, v in again.items() if k != "reused_shards"
    }


def test_a_changed_shard_of_a_saved_batch_is_scanned_again_and_the_others_reused(
    tmp_path, monkeypatch
):
    paths = many_shards(tmp_path, 12)
    out = tmp_path / "out"
    assert invoke("laion", tmp_path / "in", "--out", out, "-q").exit_code == 0
    assert len(list((out / "partials").glob("*/shards.json"))) == 1  # one batch of 12
    write_shard(paths[0], ["no", "no", "fine"])  # a new version of the batch's first shard
    read = count_reads(monkeypatch)
    again = json_of(invoke("laion", tmp_path / "in", "--out", out, "--format", "json", "-q"))
    assert read == [str(paths[0].resolve())] and again["reused_shards"] == 11
    fresh = tmp_path / "fresh"
    assert invoke("laion", tmp_path / "in", "--out", fresh, "-q").exit_code == 0
    assert (out / "per_word.parquet").read_bytes() == (fresh / "per_word.parquet").read_bytes()
    # no two versions of a shard lie in the directory, and a merge counts each shard once
    keys = pl.read_parquet(out / "per_shard.parquet")["partial"].to_list()
    assert sorted(index(out / "partials")) == sorted(keys) and len(keys) == 12
    merged = json_of(invoke("merge", out, "--out", tmp_path / "m", "--format", "json", "-q"))
    assert merged["n_rows"] == again["n_rows"] and merged["n_shards"] == 12


def test_a_resumed_scan_reads_no_footer_of_a_finished_shard(tmp_path, monkeypatch):
    from corpora.shards import Shard

    paths = many_shards(tmp_path, 12)
    out = tmp_path / "out"
    first = json_of(invoke("laion", tmp_path / "in", "--out", out, "--format", "json", "-q"))
    write_shard(paths[3], ["no", "not", "fine"])  # changed: its footer is read again
    opened = set()  # the shards whose bytes negscan reads itself (footers; Polars reads the rest)
    for name in ("open", "read_range"):
        real = getattr(Shard, name)

        def counted(self, *args, real=real):
            opened.add(self.url)
            return real(self, *args)

        monkeypatch.setattr(Shard, name, counted)
    again = json_of(invoke("laion", tmp_path / "in", "--out", out, "--format", "json", "-q"))
    assert opened == {str(paths[3].resolve())} and again["reused_shards"] == 11
    assert again["n_shards"] == first["n_shards"] == 12


# --- options checked before any scanning -----------------------------------------------------


def test_a_seed_outside_0_to_2_64_is_refused_before_scanning(tmp_path):
    from negation.negscan.runner import BadOption, scan_options

    p0, _ = shards(tmp_path, 2)
    for seed in (-5, 2**64):
        out = tmp_path / f"out{seed}"
        bad = invoke("laion", p0, f"--seed={seed}", "--out", out, "-q")
        assert bad.exit_code == 2 and "--seed" in bad.output, bad.output
        assert "OverflowError" not in bad.output and not out.exists()
        try:
            scan_options(seed=seed)
        except BadOption as exc:
            assert exc.option == "seed"
        else:
            raise AssertionError(f"scan_options(seed={seed}) accepted")
    top = json_of(invoke("laion", p0, f"--seed={2**64 - 1}", "--format", "json", "-q"))
    assert top["n_rows"] == 5
