"""Scaling-out benchmark — run by hand, not in CI (needs notclip[ray]).

Generates SHARDS synthetic LAION-400M-schema Parquet shards of ROWS rows each (negscan_bench's
default caption mix: every caption unique, 0.47 % negated) and measures, on this machine:

* Ray's start-up (a local Ray with ``--cpus`` CPUs, as ``--engine ray`` starts it) and its
  per-task overhead (the first task, which starts a worker, and the mean of 200 no-op tasks);
* the negscan scan of every shard (``standard`` lexicon, COCO classes, 5 samples) with
  ``--engine local`` (one process, Polars on every core) and ``--engine ray`` with 1 and 2 tasks
  in flight (1 CPU and ``POLARS_MAX_THREADS=1`` per task), all through ``scan_units``;
* a projection for LAION-5B (5.85 B captions) on N nodes from the measured time per shard and
  task: one task per core, the scan being CPU-bound (reading from object storage is not measured).

``--driver 1000,10000,100000`` measures the driver instead: for each number of tiny shards
(``--driver-rows`` rows each, every caption unique, local files), ``negscan laion --engine ray
--out DIR`` (``--unique`` unless ``--no-unique``) on a local Ray of ``--cpus`` CPUs started
beforehand, each in a fresh process: the driver's CPU seconds per shard, from listing the shards
to the last report file (Ray's start-up excluded), in the thread that runs negscan and in all the
process's threads (Ray's own, which poll while the driver waits, included), the tasks kept in
flight and sent, the driver's peak RSS, and the files written per shard. With the per-caption
cost of a scan (``--caption-us``, CPU µs per caption of one task, from the first benchmark) it
projects LAION-5B: the driver's time, the workers' CPU time, and reading the caption column at
``--gbps-per-node`` from object storage (``--caption-mb-per-shard`` of it per shard).

    python benchmarks/scaling_bench.py --shards 8 --rows 500000     # docs/PERFORMANCE.md's numbers
    python benchmarks/scaling_bench.py --shards 16 --rows 500000 --cores-per-node 64
    python benchmarks/scaling_bench.py --driver 1000,10000,100000   # the driver, on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
from negscan_bench import DEFAULT_MIX, folders, generate  # noqa: E402  (beside this file)

from corpora.classes import load_classes  # noqa: E402
from corpora.executors import RayExecutor, start_ray  # noqa: E402
from corpora.runio import markdown_table  # noqa: E402
from corpora.shards import DEFAULT_RETRIES, expand  # noqa: E402
from corpora.synthetic import synthetic_laion  # noqa: E402
from negation.negscan.distributed import scan_in_parallel  # noqa: E402
from negation.negscan.lexicon import load_lexicon  # noqa: E402
from negation.negscan.scan import ScanOptions  # noqa: E402
from negation.negscan.scanning import Unit, laion_units, prepare, scan_units  # noqa: E402
from negation.negscan.store import Outcome  # noqa: E402

LAION_5B_ROWS = 5_850_000_000
LAION_5B_SHARDS = 231_000  # img2dataset's LAION-5B metadata: about 25 000 rows a shard
T = TypeVar("T")


def on_ray(executor: RayExecutor, units: Sequence[Unit], opts: ScanOptions) -> Outcome:
    """The scan of ``units`` as Ray tasks (what ``negscan --engine ray`` runs)."""
    return scan_in_parallel(executor, units, opts, None, False, None, None, retries=DEFAULT_RETRIES)


def noop(x: int) -> int:
    return x


def timed(fn: Callable[[], T], repeat: int = 1) -> tuple[float, T]:
    """The fastest of ``repeat`` calls (this machine is shared and noisy) and its result."""
    best = float("inf")
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from its parent)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def driver_child(data: str, out: str, cpus: int, *, unique: bool) -> None:
    """One driver run (in its own process): print what it cost as a JSON line."""
    from negation.negscan import runner as negscan

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray, _ = start_ray(
        num_cpus=cpus,
        temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"),
        object_store_bytes=256 << 20,
    )
    started_mb, cpu, wall, own = _peak_mb(), _cpu(), time.perf_counter(), time.thread_time()
    report = negscan.run(
        negscan.laion_inputs([data]), negscan.scan_options(unique=unique), out, engine="ray"
    )
    cpu, wall, own = _cpu() - cpu, time.perf_counter() - wall, time.thread_time() - own
    files = sum(len(names) for _, _, names in os.walk(out))
    partials = sum(1 for p in Path(out, "partials").iterdir() if p.is_dir())
    in_flight = RayExecutor(ray, owned=False).capacity()
    ray.shutdown()
    n = int(report.body["n_shards"])  # type: ignore[call-overload]
    print(
        json.dumps(
            {
                "shards": n,
                "rows": report.body["n_rows"],
                "cpu_s": cpu,
                "thread_s": own,
                "wall_s": wall,
                "started_mb": started_mb,
                "peak_mb": _peak_mb(),
                "in_flight": in_flight,
                "tasks": partials,
                "files": files,
            }
        )
    )


def driver_bench(args: argparse.Namespace) -> None:
    """The driver benchmark: a fresh process per number of shards."""
    rows = []
    for n in [int(x) for x in args.driver.split(",")]:
        tmp = Path(tempfile.mkdtemp(prefix="nsd-", dir="/tmp"))
        frame = synthetic_laion(n * args.driver_rows, seed=0)
        text = pl.int_range(pl.len()).cast(pl.String) + " " + pl.col("TEXT")  # all unique
        frame = frame.with_columns(TEXT=text)
        (tmp / "in").mkdir()
        for i in range(n):
            frame.slice(i * args.driver_rows, args.driver_rows).write_parquet(
                tmp / "in" / f"part-{i:06d}.parquet"
            )
        child = [sys.executable, __file__, "--driver-child", str(tmp / "in"), str(tmp / "out")]
        child += ["--cpus", str(args.cpus)] + ([] if args.unique else ["--no-unique"])
        done = subprocess.run(child, capture_output=True, text=True, check=True)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        shutil.rmtree(tmp, ignore_errors=True)
        rows.append(got)
        print(f"{n:,} shards: {got}", file=sys.stderr)
    first = rows[0]
    table = [
        [
            "shards",
            "driver CPU / shard: its thread",
            "all its threads",
            "wall",
            "tasks in flight / sent",
            "driver peak RSS",
            "× the first",
            "files / shard",
        ]
    ]
    for r in rows:
        table.append(
            [
                f"{r['shards']:,}",
                f"{1e3 * r['thread_s'] / r['shards']:.3f} ms",
                f"{1e3 * r['cpu_s'] / r['shards']:.3f} ms",
                f"{r['wall_s']:.1f} s",
                f"{r['in_flight']} / {r['tasks']}",
                f"{r['peak_mb']:.0f} MB (after Ray's start: {r['started_mb']:.0f})",
                f"{r['peak_mb'] / first['peak_mb']:.2f}×",
                f"{r['files'] / r['shards']:.3f}",
            ]
        )
    what = "--unique" if args.unique else "no --unique"
    print(f"driver: {args.driver_rows} rows a shard, local Ray of {args.cpus} CPUs, {what}\n")
    print(markdown_table(table))
    per_shard = max(r["thread_s"] / r["shards"] for r in rows)
    node_s = (
        LAION_5B_ROWS * args.caption_us * 1e-6 / args.cores_per_node,
        LAION_5B_SHARDS * args.caption_mb_per_shard * 8e-3 / args.gbps_per_node,
    )
    print(
        f"\nprojection, LAION-5B ({LAION_5B_ROWS / 1e9:.2f} B captions in {LAION_5B_SHARDS:,} "
        f"shards): the driver {LAION_5B_SHARDS * per_shard / 60:.1f} min of CPU in its thread (at "
        f"the largest measured cost per shard); per node of {args.cores_per_node} cores, scanning "
        f"{node_s[0] / 60:.1f} min of CPU at {args.caption_us} µs a caption and reading "
        f"{LAION_5B_SHARDS * args.caption_mb_per_shard / 1e6:.1f} TB of caption columns, "
        f"{node_s[1] / 60:.1f} min at {args.gbps_per_node} Gbit/s, divided by the nodes:\n"
    )
    table = [["nodes", "minutes (the larger of CPU and reading, per node)"]]
    table += [[str(n), f"{max(node_s) / n / 60:.1f}"] for n in (1, 4, 16, 64)]
    print(markdown_table(table))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--driver", help="measure the driver with these numbers of tiny shards")
    ap.add_argument("--driver-rows", type=int, default=10, help="rows per tiny shard")
    ap.add_argument("--no-unique", dest="unique", action="store_false")
    ap.add_argument("--caption-us", type=float, default=0.47, help="CPU µs per caption, one task")
    ap.add_argument("--caption-mb-per-shard", type=float, default=8.4)
    ap.add_argument("--gbps-per-node", type=float, default=10.0)
    ap.add_argument("--driver-child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--rows", type=int, default=500_000, help="rows per shard")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    ap.add_argument("--repeat", type=int, default=3, help="scans timed; the fastest counts")
    ap.add_argument("--cores-per-node", type=int, default=32, help="for the projection")
    args = ap.parse_args()
    if args.driver_child:
        data, out = args.driver_child
        driver_child(data, out, args.cpus, unique=args.unique)
        return
    if args.driver:
        driver_bench(args)
        return

    tmp = Path(tempfile.mkdtemp(prefix="nsb-", dir="/tmp"))
    # negscan_bench's default mix: every caption unique, 0.47 % negated (LAION-400M's rate)
    generate(tmp, args.shards * args.rows, [args.rows], 0, DEFAULT_MIX)
    shards, _ = expand([str(folders(tmp, [args.rows], DEFAULT_MIX)[args.rows])])
    units = laion_units(shards, "TEXT")  # (a task reads its shards' footers)
    identified = prepare(list(units), None, skip_bad=False)[0]  # (a local scan: read here)
    opts = ScanOptions(load_lexicon("standard"), load_classes("coco"), n_samples=5)
    total = args.shards * args.rows

    t_local, local = timed(lambda: scan_units(identified, opts), args.repeat)

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    t_start, (ray, _) = timed(
        lambda: start_ray(num_cpus=args.cpus, temp_dir=str(tmp / "r"), object_store_bytes=256 << 20)
    )
    t_first, _ = timed(lambda: list(RayExecutor(ray, owned=False).map(noop, [0])))
    n_noop = 200
    t_noop, _ = timed(lambda: list(RayExecutor(ray, owned=False).map(noop, range(n_noop))))
    # workers started, Polars imported, regexes built
    warm = RayExecutor(ray, owned=False, in_flight=2)
    on_ray(warm, units[:2], opts)
    ray_times = {}
    for workers in (1, 2):
        scan_ray = partial(on_ray, RayExecutor(ray, owned=False, in_flight=workers), units, opts)
        ray_times[workers], out = timed(scan_ray, args.repeat)
        assert out.result.counts == local.result.counts  # the same numbers
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)

    per_shard = ray_times[1] / args.shards  # one task, one CPU
    per_caption = per_shard / args.rows
    print(f"machine: {os.cpu_count()} CPUs; {args.shards} shards × {args.rows:,} rows; ", end="")
    print(f"scans: fastest of {args.repeat}\n")
    rows = [
        ["measurement", "value"],
        [f"Ray start-up (local, {args.cpus} CPUs)", f"{t_start:.1f} s"],
        ["first task (starts a worker)", f"{t_first:.2f} s"],
        [f"per-task overhead (mean of {n_noop} no-op tasks)", f"{1e3 * t_noop / n_noop:.1f} ms"],
        [f"--engine local ({total:,} captions)", f"{t_local:.1f} s, {total / t_local:,.0f}/s"],
    ]
    for w, t in ray_times.items():
        rows.append(
            [
                f"--engine ray, {w} task(s) at once",
                f"{t:.1f} s, {total / t:,.0f}/s, {t_local / t:.2f}× local",
            ]
        )
    rows.append(["speed-up 1 → 2 tasks", f"{ray_times[1] / ray_times[2]:.2f}×"])
    rows.append(
        ["time per shard and task (1 CPU)", f"{per_shard:.2f} s ({1 / per_caption:,.0f}/s)"]
    )
    print(markdown_table(rows))
    core_hours = LAION_5B_ROWS * per_caption / 3600
    print(
        f"\nprojection, LAION-5B ({LAION_5B_ROWS / 1e9:.2f} B captions): "
        f"{core_hours:.1f} core-hours"
    )
    print(f"of scanning; one task per core, {args.cores_per_node} cores per node, compute only:\n")
    per_nodes = [
        [str(n), f"{60 * core_hours / (n * args.cores_per_node):.1f}"] for n in (1, 4, 16, 64)
    ]
    print(markdown_table([["nodes", "minutes"], *per_nodes]))


if __name__ == "__main__":
    main()
