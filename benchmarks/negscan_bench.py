"""negscan benchmark — run by hand, not in CI.

Generates N SYNTHETIC LAION-400M-schema rows (``corpora.synthetic``, the generator of the
embedded sample shard) and writes the same rows twice: as big shards (1 M rows each) and as
small ones (10 000 rows, img2dataset's default). On each set it runs, every contender in a fresh
process (order rotated between repeats), what a user would otherwise write:

* DuckDB ``regexp_matches`` (RE2) counting captions with a negation (``standard`` lexicon as one
  case-insensitive whole-word alternation),
* the same count as a plain Polars ``str.contains`` one-liner,
* negscan's any-negation count (``standard`` lexicon, no classes, no samples),
* negscan's full report as ``negscan laion DIR --lexicon extended`` prints it with its default
  options (per-word counts, bigrams, COCO classes within 5 tokens, 5 samples a word; the progress
  bar runs but is not drawn, stderr not being a terminal),

and prints seconds, captions/s, CPU seconds (all threads; steadier than seconds on a shared
machine), each one's ratios to DuckDB and its peak RSS; each one's fixed cost (the same run on a
one-row shard: imports, start-up) and its marginal captions/s without it (what a corpus of
LAION-400M's size sees); how much longer the full report takes on small shards than on big ones,
next to the same ratio for DuckDB's count (what reading many small files costs any engine); and
negscan's start-up time (``negscan laion`` on a one-row shard against ``python -c pass``, best
of 10).
Before timing, the any-negation counts are checked to be identical on the ASCII-only captions,
where the three engines' rules coincide; on the rest negscan's rules differ on purpose (NFKC,
``’``, Unicode word boundaries) and the differences are printed. Needs
``pip install -e .[bench]`` (DuckDB).

    python benchmarks/negscan_bench.py                      # 2 M rows: 2 big, 200 small shards
    python benchmarks/negscan_bench.py --rows 20000000 --shard-rows 1000000,100000   # 20 / 200
    python benchmarks/negscan_bench.py --distinct-share 0    # captions repeated from a pool
    python benchmarks/negscan_bench.py --negated-share 0.01 --tricky-share 0.1   # ~5 % negated

``--data DIR`` keeps the generated shards (a folder per shard size and caption mix) for later
runs, which reuse them only when they hold the same rows, seed and mix (a manifest in each folder,
written once its shards are complete, says what it holds); other data there is refused.

The default caption mix is meant to look like real web captions: every caption unique (the
generator draws from a pool of a few thousand texts and prefixes each with its row number, so
that none repeats) and 0.47 % of rows negated, LAION-400M's published rate (its tricky "No. 5"
captions count as negations). ``--distinct-share 0`` keeps the pool's repeats (negscan analyses
a repeated caption once, so that mix flatters it); ``--negated-share 0.01 --tricky-share 0.1``
negates ~5 % of rows, ten times LAION's rate (the exact analysis of the candidates costs more).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from corpora.runio import atomic_write_json  # noqa: E402
from corpora.synthetic import synthetic_laion  # noqa: E402
from negation.negscan.lexicon import load_lexicon  # noqa: E402

LAION_400M_ROWS = 413_000_000
CHUNK = 2_000_000
MANIFEST = "generated.json"  # in each shard folder: what it holds (written once it is complete)
# The default caption mix is near real web captions: every caption unique (distinct_share: the
# share of rows whose caption is made unique), 0.47 % of rows negated as LAION-400M's published
# rate (negscan's `standard` count, "No. 5" included: 0.468 % over six 400 000-row seeds)
DEFAULT_MIX = {"negated_share": 0.0036, "tricky_share": 0.005, "distinct_share": 1.0}
CONTENDERS = ("duckdb", "polars", "negscan-any", "negscan-full")
LABELS = {
    "duckdb": "DuckDB regexp_matches (standard)",
    "polars": "Polars str.contains (standard)",
    "negscan-any": "negscan any-negation (standard)",
    "negscan-full": "negscan full report (extended)",
}


def folders(root: Path, shard_rows: list[int], mix: dict[str, float]) -> dict[int, Path]:
    """One folder per shard size (named by what differs from the default caption mix)."""
    tag = "".join(f"-{k}{v:g}" for k, v in mix.items() if v != DEFAULT_MIX[k])
    return {n: root / f"shards-{n}{tag}" for n in shard_rows}


def shards_label(rows: int, n: int) -> str:
    """How ``rows`` rows are sharded at ``n`` rows a shard: "1,000 × 10,000"; "1 × 5,000" when
    there are fewer rows than a shard holds; "3 × ≤10,000" when the last shard is smaller."""
    count = -(-rows // n)
    size = f"{min(n, rows):,}" if rows <= n or rows % n == 0 else f"≤{n:,}"
    return f"{count:,} × {size}"


def prepared(
    root: Path, rows: int, shard_rows: list[int], seed: int, mix: dict[str, float]
) -> tuple[dict[int, Path], bool]:
    """The shard folders for these rows, seed and mix, and whether they were generated now.

    A folder kept from an earlier run (``--data``) is reused only when its manifest (written once
    its shards are complete) records the same rows, seed, mix and shard size; otherwise it is
    refused, not silently timed under another label (an interrupted generation leaves none)."""
    dirs = folders(root, shard_rows, mix)
    want = {n: {"rows": rows, "seed": seed, "shard_rows": n, "mix": mix} for n in shard_rows}
    fresh = [n for n, d in dirs.items() if not d.exists()]
    for n, d in dirs.items():
        if n in fresh:
            continue
        manifest = d / MANIFEST
        if not manifest.is_file():
            raise SystemExit(
                f"{d}: no {MANIFEST} (its generation did not finish, or an older benchmark made "
                "it); delete the folder or pick another --data"
            )
        try:
            had = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"{manifest}: cannot be read ({exc}); delete the folder") from None
        if had != want[n]:
            raise SystemExit(
                f"{d} holds other benchmark data ({json.dumps(had)}), not {json.dumps(want[n])}; "
                "delete the folder or pick another --data"
            )
    if fresh:
        generate(root, rows, fresh, seed, mix)
        for n in fresh:
            atomic_write_json(dirs[n] / MANIFEST, want[n])
    return dirs, bool(fresh)


def generate(
    root: Path, rows: int, shard_rows: list[int], seed: int, mix: dict[str, float]
) -> None:
    """Write the same ``rows`` rows as shards of each size in ``shard_rows`` (one folder per
    size, see :func:`folders`)."""
    dirs = folders(root, shard_rows, mix)
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    done, part = 0, 0
    while done < rows:
        chunk = synthetic_laion(
            min(CHUNK, rows - done),
            seed=seed + part,
            negated_share=mix["negated_share"],
            tricky_share=mix["tricky_share"],
        )
        if mix["distinct_share"]:  # the caption prefixed with its row number: no longer repeated
            import numpy as np  # (not in the timed children)

            text = pl.col("TEXT")
            pick = np.random.default_rng(seed + part).random(chunk.height) < mix["distinct_share"]
            unique = pl.format("{} {}", pl.int_range(pl.len()) + done, text)
            chunk = chunk.with_columns(
                pl.when(pl.lit(pick) & (text.str.strip_chars() != ""))
                .then(unique)
                .otherwise(text)
                .alias("TEXT")
            )
        for n, d in dirs.items():
            for start in range(0, chunk.height, n):
                # a shard never spans two chunks: CHUNK is a multiple of every shard size used
                name = f"part-{(done + start) // n:06d}.parquet"
                chunk.slice(start, n).write_parquet(d / name, compression="snappy")
        done += chunk.height
        part += 1


def any_pattern() -> str:
    """The ``standard`` lexicon as one case-insensitive whole-word alternation (RE2 and Rust)."""
    entries = sorted(load_lexicon("standard").entries, key=lambda e: (-len(e), e))
    body = "|".join(r"\s+".join(map(re.escape, e.split())) for e in entries)
    return rf"(?i)\b(?:{body})\b"


def duckdb_count(folder: Path, *, ascii_only: bool = False) -> int:
    import duckdb

    where = "strlen(TEXT) = length(TEXT) AND " if ascii_only else ""
    query = (
        f"SELECT count(*) FROM read_parquet('{folder}/*.parquet') "
        f"WHERE {where}regexp_matches(TEXT, $pattern)"
    )
    row = duckdb.execute(query, {"pattern": any_pattern()}).fetchone()
    assert row is not None  # count(*) always returns one row
    return int(row[0])


def polars_count(folder: Path, *, ascii_only: bool = False) -> int:
    text = pl.col("TEXT")
    keep = text.str.contains(any_pattern())
    if ascii_only:
        keep &= text.str.len_bytes() == text.str.len_chars()
    frame = pl.scan_parquet(folder / "*.parquet").filter(keep).select(pl.len())
    return frame.collect(engine="streaming").item()


def _ascii_rows(read) -> pl.LazyFrame:
    c = pl.col("caption")
    return read().filter(c.str.len_bytes() == c.str.len_chars())


def negscan_any(folder: Path, *, ascii_only: bool = False) -> int:
    from functools import partial

    from corpora.captions import parquet_captions, parquet_footer
    from corpora.shards import expand
    from negation.negscan.scan import ScanOptions
    from negation.negscan.scanning import Unit, scan_units

    opts = ScanOptions(load_lexicon("standard"), classes=None, n_samples=0)
    units = []
    for shard in expand([str(folder)])[0]:
        captions = partial(parquet_captions, shard, "TEXT")
        if ascii_only:
            units.append(Unit(shard, None, partial(_ascii_rows, captions)))
        else:  # as `negscan laion` reads them
            units.append(Unit(shard, parquet_footer(shard, "TEXT").n_rows, captions, "TEXT"))
    return scan_units(units, opts).result.n_with_negation


def negscan_full(folder: Path) -> int:
    from negation.negscan.cli import main

    sys.argv = ["negscan", "laion", str(folder), "--lexicon", "extended", "--format", "json"]
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        main()
    return json.loads(text.getvalue())["n_with_negation"]


COUNT = {
    "duckdb": duckdb_count,
    "polars": polars_count,
    "negscan-any": negscan_any,
    "negscan-full": negscan_full,
}


def child(kind: str, folder: Path) -> None:
    """Run one contender once in this fresh process; print its seconds and count."""
    t0 = time.perf_counter()
    value = COUNT[kind](folder)
    seconds = time.perf_counter() - t0
    # this process's own peak (getrusage would include the parent's, inherited through fork)
    status = Path("/proc/self/status").read_text()
    peak_kb = int(re.search(r"VmHWM:\s*(\d+)", status).group(1))  # type: ignore[union-attr]
    print(json.dumps({"seconds": seconds, "count": value, "peak_rss_mb": peak_kb / 1024}))


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The children's environment: this one without ``PYTHONDONTWRITEBYTECODE``, so that they
    import notclip from its bytecode as an installed package does (with it set, every child
    would compile notclip's modules again, ~0.05 CPU-seconds counted in negscan's time only:
    DuckDB's and Polars' children import nothing of notclip's after their clock starts)."""
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def fresh(kind: str, folder: Path) -> dict[str, float]:
    """One contender in a fresh process: its timing, its count, its peak RSS (Linux) and the CPU
    seconds of the whole process (all threads, imports included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(folder)],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the progress bar
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{kind} on {folder} failed (exit {proc.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return json.loads(proc.stdout.splitlines()[-1]) | {"cpu": cpu}


def startup(root: Path, repeat: int = 10) -> tuple[float, float]:
    """Best of ``repeat``: ``negscan laion`` on a one-row shard, and ``python -c pass``."""
    one = root / "one-row.parquet"
    pl.DataFrame({"TEXT": ["no dog"]}).write_parquet(one)
    commands = {
        "negscan": [sys.executable, "-m", "negation.negscan.cli", "laion", str(one), "--quiet"],
        "python": [sys.executable, "-c", "pass"],
    }
    best = dict.fromkeys(commands, float("inf"))
    for r in range(repeat):
        for name, command in commands.items():
            out = ["--out", str(root / f"startup-{r}")] if name == "negscan" else []
            t0 = time.perf_counter()
            subprocess.run(
                command + out, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, check=True
            )
            best[name] = min(best[name], time.perf_counter() - t0)
    return best["negscan"], best["python"]


def check_counts(folder: Path) -> None:
    """Identical counts where the rules coincide (ASCII-only captions); the rest, reported."""
    ascii_counts = {
        k: count(folder, ascii_only=True)
        for k, count in (
            ("duckdb", duckdb_count),
            ("polars", polars_count),
            ("negscan-any", negscan_any),
        )
    }
    if len(set(ascii_counts.values())) != 1:
        raise SystemExit(f"the engines disagree on ASCII-only captions: {ascii_counts}")
    print(f"ASCII-only captions with a negation: {ascii_counts['duckdb']:,} in all three engines")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument(
        "--shard-rows", default="1000000,10000", help="shard sizes to compare (comma-separated)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--negated-share",
        type=float,
        default=DEFAULT_MIX["negated_share"],
        help="share of the caption pool carrying a negation (default %(default)s)",
    )
    parser.add_argument(
        "--tricky-share",
        type=float,
        default=DEFAULT_MIX["tricky_share"],
        help="share of the other captions that look like one: 'Chanel No. 5', 'knot'... "
        "(default %(default)s; with the default --negated-share, 0.47 %% of rows are negated, "
        "as published for LAION-400M; --negated-share 0.01 --tricky-share 0.1: ~5 %%)",
    )
    parser.add_argument(
        "--distinct-share",
        type=float,
        default=DEFAULT_MIX["distinct_share"],
        help="share of rows whose caption is made unique (prefixed with its row number); the "
        "generator draws captions from a small pool, so they repeat far more than real ones "
        "(default %(default)s: every non-blank caption distinct; 0: the pool's repeats)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="best of N (order rotated)")
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the generated shards here, and reuse them in later runs with the same "
        "--rows, --seed and caption mix (other data there is refused, never timed)",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"which to time (comma-separated; default: {','.join(CONTENDERS)})",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    shard_rows = [int(n) for n in args.shard_rows.split(",")]
    kinds = tuple(k for k in CONTENDERS if k in args.contenders.split(","))
    if any(CHUNK % n for n in shard_rows):
        parser.error(f"--shard-rows must divide {CHUNK:,}")

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        t0 = time.perf_counter()
        mix = {
            "negated_share": args.negated_share,
            "tricky_share": args.tricky_share,
            "distinct_share": args.distinct_share,
        }
        dirs, generated = prepared(root, args.rows, shard_rows, args.seed, mix)
        if generated:
            print(f"generated {args.rows:,} SYNTHETIC rows in {time.perf_counter() - t0:.1f}s")
        check_counts(dirs[shard_rows[0]])
        negscan_s, python_s = startup(Path(tmp))
        print(
            f"start-up: negscan laion on a one-row shard {negscan_s:.2f}s, python -c pass "
            f"{python_s:.2f}s (best of 10): {negscan_s - python_s:.2f}s more"
        )
        one_row = Path(tmp) / "one-row"  # each contender's fixed cost: a one-row shard
        one_row.mkdir()
        pl.DataFrame({"TEXT": ["no dog"]}).write_parquet(one_row / "part-0.parquet")
        for kind in kinds:  # a warm-up, not timed: every child then finds its bytecode written
            fresh(kind, one_row)
        best: dict[tuple[int, str], dict[str, float]] = {}
        for r in range(args.repeat):
            for n, folder in [*dirs.items(), (1, one_row)]:
                order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]
                for kind in order:
                    got = fresh(kind, folder)
                    old = best.setdefault((n, kind), got)
                    for key in ("seconds", "cpu"):  # each the best of the repeats
                        old[key] = min(old[key], got[key])
                    old["peak_rss_mb"] = max(old["peak_rss_mb"], got["peak_rss_mb"])

    counts = {kind: best[(shard_rows[0], kind)]["count"] for kind in kinds}
    print(
        f"\n{args.rows:,} SYNTHETIC rows; polars {pl.__version__}, duckdb "
        f"{__import__('duckdb').__version__}, {os.cpu_count()} CPUs; best of {args.repeat}, "
        "each in a fresh process"
    )
    print(
        f"{'shards':>16s}  {'contender':34s} {'seconds':>8s} {'captions/s':>12s} "
        f"{'vs DuckDB':>9s} {'CPU s':>6s} {'vs DuckDB':>9s} {'peak RSS':>9s} {'negated':>9s}"
    )
    for n in shard_rows:
        duck = best.get((n, "duckdb"))
        where = shards_label(args.rows, n)
        for kind in kinds:
            b = best[(n, kind)]
            ratio = [f"{b[k] / duck[k]:8.2f}×" if duck else "        —" for k in ("seconds", "cpu")]
            print(
                f"{where:>16s}  {LABELS[kind]:34s} {b['seconds']:8.2f} "
                f"{args.rows / b['seconds']:12,.0f} {ratio[0]} {b['cpu']:6.2f} {ratio[1]} "
                f"{b['peak_rss_mb']:6,.0f} MB {int(b['count']):9,}"
            )
    print(
        "\nwithout the fixed cost (each contender on a one-row shard: imports, start-up), "
        "marginal captions/s and its ratio to DuckDB's:"
    )
    fixed = {kind: best[(1, kind)]["seconds"] for kind in kinds}

    def marginal(n: int, kind: str) -> float:
        return args.rows / max(best[(n, kind)]["seconds"] - fixed[kind], 1e-9)

    header = " ".join(f"{shards_label(args.rows, n):>22s}" for n in shard_rows)
    print(f"{'':16s}  {'contender':34s} {'fixed s':>8s} {header}")
    for kind in kinds:
        cells = []
        for n in shard_rows:
            vs = marginal(n, "duckdb") / marginal(n, kind) if "duckdb" in kinds else None
            shown = f"{vs:8.2f}×" if vs is not None else "        —"
            cells.append(f"{marginal(n, kind):12,.0f} {shown}")
        print(f"{'':16s}  {LABELS[kind]:34s} {fixed[kind]:8.2f} " + " ".join(cells))
    big, small = shard_rows[0], shard_rows[-1]

    def slower(kind: str) -> str:
        a, b = best[(small, kind)], best[(big, kind)]
        return f"{a['seconds'] / b['seconds']:.2f}× the time ({a['cpu'] / b['cpu']:.2f}× the CPU)"

    if "negscan-full" in kinds:
        # (DuckDB's own ratio: how much of it every engine pays for reading many small files)
        duck_too = f"; DuckDB's count: {slower('duckdb')}" if "duckdb" in kinds else ""
        print(
            f"\nfull report: {shards_label(args.rows, small)} rows take "
            f"{slower('negscan-full')} of {shards_label(args.rows, big)} rows{duck_too}"
        )
        minutes = (fixed["negscan-full"] + LAION_400M_ROWS / marginal(big, "negscan-full")) / 60
        print(
            f"projected LAION-400M ({LAION_400M_ROWS / 1e6:.0f} M rows), full report: "
            f"{minutes:.1f} min on this machine (reading ~50 GB not included)"
        )
    engines = [k for k in kinds if k != "negscan-full"]
    if engines:
        print(
            "any-negation counts where the rules differ (NFKC, ’, Unicode word boundaries): "
            + ", ".join(f"{LABELS[k].split(' (')[0]} {int(counts[k]):,}" for k in engines)
        )


if __name__ == "__main__":
    main()
