"""negscan benchmark — run by hand, not in CI.

Generates N SYNTHETIC LAION-400M-schema rows (``corpora.synthetic``, the generator of the
embedded sample shard) into one Parquet file and measures, in one run:

* a pure-Python ``re`` loop (NFKC + lower-case + one whole-word alternation per caption),
* pandas ``str.contains`` (the same alternation, ``case=False``; no NFKC),
* negscan's any-negation count (``standard`` lexicon, no classes, no samples),
* negscan's full report (``extended`` lexicon, per-word counts, bigrams, COCO class co-occurrence
  within 3 tokens, 5 samples per word),

printing seconds, captions/s, the ratios to the Python loop, the peak RSS of the full report (in
a fresh process) and the projected time for LAION-400M (413 M rows).

    python benchmarks/negscan_bench.py                 # 2 M rows
    python benchmarks/negscan_bench.py --rows 20000000 --skip-baselines   # peak RSS on 20 M rows
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from corpora.classes import load_classes  # noqa: E402
from corpora.synthetic import synthetic_laion  # noqa: E402
from negation.lexicon import load_lexicon  # noqa: E402
from negation.scan import ScanOptions, scan  # noqa: E402

LAION_400M_ROWS = 413_000_000
CHUNK = 2_000_000


def generate(path: Path, rows: int, seed: int) -> None:
    """Write ``rows`` synthetic rows in row groups of at most 2 M (bounded memory)."""
    writer = None
    done, i = 0, 0
    while done < rows:
        n = min(CHUNK, rows - done)
        table = synthetic_laion(n, seed=seed + i).to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=n)
        done += n
        i += 1
    assert writer is not None
    writer.close()


def python_pattern(lexicon: str) -> str:
    entries = sorted(load_lexicon(lexicon).entries, key=lambda e: (-len(e), e))
    return r"\b(?:" + "|".join(r"\s+".join(map(re.escape, e.split())) for e in entries) + r")\b"


def python_loop(path: Path) -> int:
    rx = re.compile(python_pattern("standard"))
    captions = pl.read_parquet(path, columns=["TEXT"])["TEXT"].to_list()
    n = 0
    for caption in captions:
        if caption and rx.search(unicodedata.normalize("NFKC", caption).lower().replace("’", "'")):
            n += 1
    return n


def pandas_contains(path: Path) -> int:
    import pandas as pd

    text = pd.read_parquet(path, columns=["TEXT"])["TEXT"]
    return int(
        text.str.contains(python_pattern("standard"), case=False, regex=True, na=False).sum()
    )


def captions(path: Path) -> pl.LazyFrame:
    return pl.scan_parquet(path).select(pl.col("TEXT").alias("caption"))


def negscan_any(path: Path) -> int:
    opts = ScanOptions(load_lexicon("standard"), classes=None, n_samples=0)
    return scan(captions(path), opts).n_with_negation


def negscan_full(path: Path) -> int:
    opts = ScanOptions(load_lexicon("extended"), classes=load_classes("coco"), window=3)
    return scan(captions(path), opts).n_with_negation


def timed(fn, path: Path, repeat: int) -> tuple[float, int]:
    best, value = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn(path)
        best = min(best, time.perf_counter() - t0)
    return best, value


def child(path: Path) -> None:
    """Run the full report once in this fresh process and print its time and peak RSS."""
    load_lexicon("extended")
    seconds, value = timed(negscan_full, path, 1)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "n_with_negation": value, "peak_rss_mb": rss_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for negscan")
    parser.add_argument("--skip-baselines", action="store_true", help="only negscan (+ RSS)")
    parser.add_argument("--data", type=Path, help="reuse/keep the generated Parquet file here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = args.data or Path(tmp) / f"synthetic-{args.rows}.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            generate(path, args.rows, args.seed)
            print(
                f"generated {args.rows:,} SYNTHETIC rows in {time.perf_counter() - t0:.1f}s "
                f"({path.stat().st_size / 2**20:.0f} MiB)"
            )
        rows = pq.read_metadata(path).num_rows
        results: dict[str, tuple[float, int]] = {}
        if not args.skip_baselines:
            results["python re loop (standard)"] = timed(python_loop, path, 1)
            results["pandas str.contains (standard)"] = timed(pandas_contains, path, 1)
        results["negscan any-negation (standard)"] = timed(negscan_any, path, args.repeat)
        results["negscan full report (extended)"] = timed(negscan_full, path, args.repeat)
        fresh = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        rss = json.loads(fresh.stdout)

    base = results.get("python re loop (standard)", (None, None))[0]
    print(f"\n{rows:,} rows, polars {pl.__version__}, {pl.thread_pool_size()} threads")
    print(f"{'method':34s} {'seconds':>8s} {'captions/s':>12s} {'vs loop':>8s} {'negated':>9s}")
    for name, (seconds, value) in results.items():
        ratio = f"{base / seconds:7.1f}x" if base else "     —"
        print(f"{name:34s} {seconds:8.3f} {rows / seconds:12,.0f} {ratio:>8s} {value:9,}")
    full = results["negscan full report (extended)"][0]
    print(
        f"\nfull report in a fresh process: {rss['seconds']:.2f}s, "
        f"peak RSS {rss['peak_rss_mb']:,.0f} MB"
    )
    print(
        f"projected LAION-400M ({LAION_400M_ROWS / 1e6:.0f} M rows), full report: "
        f"{LAION_400M_ROWS / (rows / full) / 60:.1f} min of compute on this machine "
        "(reading ~50 GB of shards not included)"
    )


if __name__ == "__main__":
    main()
