"""Remote shards through an fsspec filesystem that counts the bytes it serves and can fail the
next reads: only the caption column's byte ranges are fetched, and a storage error is retried,
never taken for a corrupt shard."""

from __future__ import annotations

import json
import uuid

import fsspec
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from test_negscan_cli import invoke, summary_of

import corpora.captions
from corpora.synthetic import synthetic_laion


class CountingFS(MemoryFileSystem):
    """``count://``: an in-memory object store that counts the bytes it serves and fails the
    next ``fail`` reads with a connection error (throttling, an outage)."""

    protocol = ("count",)
    served = 0
    fail = 0

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(str(path).removeprefix("count://"))

    def cat_file(self, path, start=None, end=None, **kwargs):
        if CountingFS.fail:
            CountingFS.fail -= 1
            raise ConnectionResetError(104, "Connection reset by peer (throttled)")
        data = super().cat_file(path, start, end, **kwargs)
        CountingFS.served += len(data)
        return data


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A bucket with one 5 000-row LAION-schema shard of 5 row groups; yields its URL."""
    fsspec.register_implementation("count", CountingFS, clobber=True)
    monkeypatch.setattr(corpora.captions, "RETRY_WAIT", 0.0)
    local = tmp_path / "part-00000.parquet"
    synthetic_laion(5_000, seed=1, negated_share=0.2).write_parquet(local, row_group_size=1_000)
    url = f"count://bucket-{uuid.uuid4().hex}/part-00000.parquet"
    fs = CountingFS()
    fs.pipe(url, local.read_bytes())
    CountingFS.served = CountingFS.fail = 0
    yield url, local
    fs.rm(url)


def test_a_remote_shard_is_read_as_its_caption_chunks_and_footer_only(store, tmp_path):
    url, local = store
    remote = invoke("laion", url, "--out", tmp_path / "remote", "--quiet")
    assert remote.exit_code == 0, remote.output
    meta = pq.ParquetFile(local).metadata
    text = meta.schema.names.index("TEXT")
    chunks = [meta.row_group(r).column(text) for r in range(meta.num_row_groups)]
    caption_bytes = sum(c.total_compressed_size for c in chunks)
    footer_reads = 2 * min(corpora.captions.FOOTER_READ, local.stat().st_size)  # check + read
    assert caption_bytes < 0.5 * local.stat().st_size  # (the other columns are most of it)
    assert caption_bytes <= CountingFS.served <= caption_bytes + footer_reads
    assert invoke("laion", local, "--out", tmp_path / "local", "--quiet").exit_code == 0
    a, b = summary_of(tmp_path / "remote"), summary_of(tmp_path / "local")
    assert a["n_rows"] == b["n_rows"] == 5_000 and a["per_word"] == b["per_word"]


def test_a_storage_error_is_retried_and_one_that_persists_stops_the_scan_loudly(store, tmp_path):
    url, _ = store
    CountingFS.fail = 3  # the footer twice, then the caption chunks once
    passed = invoke("laion", url, "--quiet", "--format", "json")
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.stdout)["n_rows"] == 5_000 and CountingFS.fail == 0
    # an outage: never a "bad shard", and never exit 0, --skip-bad-shards or not
    CountingFS.fail = 10**6
    out = tmp_path / "out"
    for skip in ([], ["--skip-bad-shards"]):
        failed = invoke("laion", url, "--retries", "2", "--out", out, "--quiet", *skip)
        assert failed.exit_code == 1
        said = " ".join(failed.output.split())
        assert "a storage or network error persisted through 2 retries" in said
        assert "Connection reset by peer" in said and not (out / "summary.json").exists()


def test_out_at_a_url_gives_the_local_report_resumes_from_it_and_merges(tmp_path):
    from test_negscan_cli import shards

    shards(tmp_path)
    root = f"memory://negscan-out-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    local = tmp_path / "local"
    assert invoke("laion", tmp_path / "in", "--unique", "--out", local, "-q").exit_code == 0
    try:
        first = invoke("laion", tmp_path / "in", "--unique", "--out", f"{root}/a", "-q")
        assert first.exit_code == 0, first.output
        assert not (tmp_path / "memory:").exists()  # never a local folder
        names = [p.name for p in local.iterdir() if p.suffix in (".parquet", ".json")]
        for name in names:
            if name != "run.json":
                assert fs.cat_file(f"{root}/a/{name}") == (local / name).read_bytes(), name
        again = invoke(
            "laion", tmp_path / "in", "--unique", "--out", f"{root}/a", "-q", "--format", "json"
        )
        assert json.loads(again.stdout)["reused_shards"] == 3
        merged = invoke("merge", f"{root}/a", "--out", f"{root}/m", "-q")
        assert merged.exit_code == 0, merged.output
        assert (
            fs.cat_file(f"{root}/m/per_word.parquet") == (local / "per_word.parquet").read_bytes()
        )
    finally:
        fs.rm(root.removeprefix("memory://"), recursive=True)
