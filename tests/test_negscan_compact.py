"""What a scan keeps per shard stays small: the shard list in compact columns, each shard's record
in a frame, and report files whose JSON does not list every shard (LAION-5B has ~230 000)."""

import json
import tracemalloc

import polars as pl
from test_negscan_cli import write_shard

from corpora.listing import ShardList
from corpora.shards import Shard, expand
from negation import negscan


def test_a_long_shard_list_is_held_in_a_few_bytes_a_shard(tmp_path):
    n = 3000
    for i in range(n):
        (tmp_path / f"part-{i:06d}.parquet").touch()
    tracemalloc.start()
    try:
        listing, _ = expand([str(tmp_path)])
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(listing, ShardList) and len(listing) == n
    # (as Shard objects: ~300 bytes each; here the names and times, ~45 bytes, and arrays)
    assert held / n < 120
    first = tmp_path / "part-000000.parquet"
    assert listing[0] == Shard(str(first.resolve()), 0, f"mtime={first.stat().st_mtime}")
    assert [s.name for s in listing[-2:]] == ["part-002998.parquet", "part-002999.parquet"]
    assert [s.url for s in listing] == sorted(str(p.resolve()) for p in tmp_path.iterdir())


def test_a_shard_list_sorts_and_keeps_each_url_once():
    listing = ShardList()
    for url, size in (("s3://b/x/2", 1), ("/a/1", 2), ("s3://b/x/2", 3), ("rel", 4), ("/1", 5)):
        listing.append(url, size, f"etag={size}")
    got = [(s.url, s.size, s.fingerprint) for s in listing.sorted()]
    assert got == [("/1", 5, "etag=5"), ("/a/1", 2, "etag=2"), ("rel", 4, "etag=4"),
                   ("s3://b/x/2", 3, "etag=3")]  # fmt: skip


def longest_list(value: object) -> int:
    if isinstance(value, list):
        return max([len(value), *map(longest_list, value)])
    if isinstance(value, dict):
        return max([0, *map(longest_list, value.values())])
    return 0


def test_records_are_columns_and_the_json_files_do_not_list_every_shard(tmp_path):
    n = 40
    for i in range(n):
        write_shard(tmp_path / "in" / f"part-{i:05d}.parquet", [f"no dog {i}", f"a cat {i}"])
    out = tmp_path / "out"
    inputs = negscan.laion_inputs([str(tmp_path / "in")])
    report = negscan.run(inputs, negscan.scan_options(classes="none", unique=True), out)
    records = report.outcome.records
    assert isinstance(records, pl.DataFrame) and records.height == n
    assert records["url"].to_list() == sorted(str(p) for p in (tmp_path / "in").iterdir())
    assert records["n_rows"].to_list() == [2] * n
    for name in ("summary.json", "run.json"):
        body = json.loads((out / name).read_text())
        assert longest_list({k: v for k, v in body.items() if k != "argv"}) < n, name
    per_shard = pl.read_parquet(out / "per_shard.parquet")
    assert per_shard["shard"].to_list() == records["url"].to_list()
    assert per_shard["partial"].to_list() == records["key"].to_list()


def _record_frame(slots, empty=()):
    """Records of made-up shards at ``slots`` (slot 47: a copy of slot 46's content)."""
    from negation.negscan.records import RECORDS

    rows = [
        (f"/d/part-{s:03d}", 100 + s, f"mtime={s}", f"parquet:{min(s, 46)}", f"k{s:03d}",
         0 if s in empty else 3, 0, 0, s % 2, 0)
        for s in slots
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=RECORDS, orient="row")


def test_records_past_the_memory_bound_go_to_files_and_come_back_in_order(tmp_path, monkeypatch):
    """A driver keeps at most SPILL records in memory, the others in files sorted by slot: in
    whatever order they arrive, per_shard.parquet is the same bytes as from records that never
    left memory, and the rows, the shards without captions and the copies found are the same."""
    from negation.negscan import records as rec

    empty = {4, 31}
    in_memory = rec.Records.of(_record_frame(range(48), empty))
    distinct = rec.Records.of(_record_frame(range(47), empty))
    monkeypatch.setattr(rec, "SPILL", 7)
    monkeypatch.setattr(rec, "ROW_GROUP", 8)  # (several row groups)
    batches = [list(range(k, min(k + 5, 48))) for k in range(0, 48, 5)]
    spilled = rec.Records()
    for slots in batches[3:6] + batches[:3] + batches[6:][::-1]:  # (tasks finish out of order)
        spilled.add_frame(slots, _record_frame(slots, empty))
        assert sum(frame.height for frame in spilled._parts) < rec.SPILL  # the rest in files
    assert len(spilled) == 48 and spilled.frame().equals(in_memory.frame())
    assert spilled.frame()["url"].to_list() == [f"/d/part-{s:03d}" for s in range(48)]
    assert spilled.repeats_content() and not distinct.repeats_content()
    assert spilled.empty()["url"].to_list() == ["/d/part-004", "/d/part-031"]
    assert spilled.empty().equals(in_memory.empty())
    for name, records in (("memory", in_memory), ("spilled", spilled)):
        records.write_per_shard(tmp_path / f"{name}.parquet")
    assert (tmp_path / "memory.parquet").read_bytes() == (tmp_path / "spilled.parquet").read_bytes()
    got = pl.read_parquet(tmp_path / "spilled.parquet")
    assert got.equals(rec.per_shard(in_memory.frame()))
