"""The negscan benchmark's data (benchmarks/negscan_bench.py): generated shards kept with
``--data`` are reused only for the same rows, seed and caption mix, and its tables say how the
rows are sharded. No timing is run or asserted."""

from __future__ import annotations

import json

import polars as pl
import pytest

from benchmarks import negscan_bench as bench

MIX = dict(bench.DEFAULT_MIX)


def _rows(folder):
    return pl.scan_parquet(folder / "*.parquet").select(pl.len()).collect().item()


def test_shards_are_generated_once_then_reused_for_the_same_rows_seed_and_mix(tmp_path):
    dirs, generated = bench.prepared(tmp_path, 2_000, [1_000, 100], 0, MIX)
    assert generated
    assert sorted(len(list(d.glob("*.parquet"))) for d in dirs.values()) == [2, 20]
    assert all(_rows(d) == 2_000 for d in dirs.values())
    stamp = {n: d.joinpath("part-000000.parquet").stat().st_mtime_ns for n, d in dirs.items()}

    again, generated = bench.prepared(tmp_path, 2_000, [1_000, 100], 0, MIX)
    assert not generated
    assert again == dirs
    assert {n: d.joinpath("part-000000.parquet").stat().st_mtime_ns for n, d in again.items()} == (
        stamp
    )


@pytest.mark.parametrize(
    ("rows", "seed", "changed"),
    [(4_000, 0, '"rows": 2000'), (2_000, 1, '"seed": 0')],
)
def test_kept_shards_of_other_rows_or_seed_are_refused_not_timed(tmp_path, rows, seed, changed):
    bench.prepared(tmp_path, 2_000, [1_000], 0, MIX)
    with pytest.raises(SystemExit, match="holds other benchmark data") as err:
        bench.prepared(tmp_path, rows, [1_000], seed, MIX)
    assert changed in str(err.value)
    assert "shards-1000" in str(err.value)


def test_an_unfinished_generation_is_refused(tmp_path):
    dirs, _ = bench.prepared(tmp_path, 2_000, [1_000], 0, MIX)
    (dirs[1_000] / bench.MANIFEST).unlink()  # as when the generation was killed
    with pytest.raises(SystemExit, match=f"no {bench.MANIFEST}"):
        bench.prepared(tmp_path, 2_000, [1_000], 0, MIX)


def test_a_damaged_manifest_is_one_clear_line(tmp_path):
    dirs, _ = bench.prepared(tmp_path, 1_000, [1_000], 0, MIX)
    (dirs[1_000] / bench.MANIFEST).write_text('{"rows": 10')
    with pytest.raises(SystemExit, match=f"{bench.MANIFEST}: cannot be read"):
        bench.prepared(tmp_path, 1_000, [1_000], 0, MIX)


def test_another_mix_gets_a_folder_of_its_own(tmp_path):
    laion = MIX | {"negated_share": 0.003, "tricky_share": 0.005}
    default, _ = bench.prepared(tmp_path, 1_000, [1_000], 0, MIX)
    other, generated = bench.prepared(tmp_path, 1_000, [1_000], 0, laion)
    assert generated
    assert other[1_000] != default[1_000]
    assert json.loads((other[1_000] / bench.MANIFEST).read_text())["mix"] == laion


@pytest.mark.parametrize(
    ("rows", "n", "label"),
    [
        (10_000_000, 10_000, "1,000 × 10,000"),
        (10_000_000, 1_000_000, "10 × 1,000,000"),
        (5_000, 10_000, "1 × 5,000"),
        (25_000, 10_000, "3 × ≤10,000"),
    ],
)
def test_shard_labels_say_how_the_rows_were_split(rows, n, label):
    assert bench.shards_label(rows, n) == label


def test_the_default_mix_is_unique_captions_negated_at_laions_rate(tmp_path):
    from negation.negscan.analysis import scan
    from negation.negscan.lexicon import load_lexicon
    from negation.negscan.scan import ScanOptions

    dirs, _ = bench.prepared(tmp_path, 400_000, [400_000], 0, MIX)
    captions = pl.read_parquet(dirs[400_000] / "*.parquet").select(caption="TEXT")
    texts = captions.filter(pl.col("caption").str.strip_chars() != "")["caption"]
    assert texts.n_unique() == texts.len()  # no caption repeats, as in real web captions
    result = scan(captions.lazy(), ScanOptions(load_lexicon("standard"), n_samples=0))
    assert 0.0040 <= result.n_with_negation / result.n_rows <= 0.0055  # LAION-400M: 0.47 %


def test_children_write_and_read_bytecode_whatever_the_shell_says():
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/bin"}
    assert bench.child_env(env) == {"PATH": "/bin"}
