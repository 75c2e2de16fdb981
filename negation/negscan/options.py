"""The options of negscan's commands (the common ones are the dialect's, :mod:`corpora.cli`):
declarations only, for :mod:`negation.negscan.cli`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from corpora import cli


class InputFormat(StrEnum):
    auto = "auto"
    lines = "lines"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


class Engine(StrEnum):
    local = "local"
    ray = "ray"


LexiconOpt = Annotated[
    str,
    typer.Option(
        "--lexicon",
        help="Built-in lexicon core (no, not), standard (core + never, none, nothing, nobody, "
        "nowhere, neither, nor, without, cannot) or extended (standard + n't contractions, "
        "'no longer', 'not any'); or a FILE with one word or phrase a line ('#' comments).",
    ),
]
Window = Annotated[
    int,
    typer.Option(
        "--window",
        min=1,
        help="A class counts when it starts within this many tokens after a negator (5 covers "
        "'not a photo of a dog').",
    ),
]
TopK = Annotated[
    int,
    typer.Option(
        "--top-k", min=1, help="How many negator+next-word bigrams to keep in the report."
    ),
]
FormatOpt = Annotated[str, cli.format_param(("table", "json"))]
Seed = Annotated[int, cli.seed_param("which example captions are kept per word (--samples)")]
Samples = Annotated[
    int,
    typer.Option(
        "--samples",
        min=0,
        help="Example captions kept per word (a seeded, order-independent random sample).",
    ),
]
ExcludeNumbering = Annotated[
    bool,
    typer.Option(
        "--exclude-numbering",
        help="Do not count 'no.' followed by a digit ('No. 5', 'no.3') as a negation.",
    ),
]
Unique = Annotated[
    bool,
    typer.Option(
        "--unique",
        help="Also count over distinct caption texts (LAION repeats "
        "captions across URLs); stores 8 bytes per distinct caption under --out.",
    ),
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Discard partial results in --out and start afresh.")
]
SkipBad = Annotated[
    bool,
    typer.Option(
        "--skip-bad-shards",
        help="Go on past corrupt or truncated shards and list them in "
        "bad_shards (otherwise the scan stops with an error naming the shard).",
    ),
]
AllowMissing = Annotated[
    bool,
    typer.Option(
        "--allow-missing",
        help="Scan what exists when a brace pattern lists names that match no file (they are "
        "listed under patterns in summary.json); otherwise that is an error.",
    ),
]
# scaling out: Ray and job arrays (corpora/executors.py, negation/distributed.py)
EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local: this process (Polars uses every core). ray: one Ray task per batch of "
        "unfinished shards, which writes their results into --out itself; this process adds them "
        "up (needs notclip[ray]; --out where every node sees it).",
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="With --engine ray: 'auto' (the cluster this machine is part of) or "
        "ray://HOST:PORT. Default: $RAY_ADDRESS when set, else a local Ray on this machine.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="With --engine ray: a local Ray gets this many CPUs (default: all), with 2 tasks "
        "in flight per CPU; on a cluster, the tasks in flight (default: 2 per CPU).",
    ),
]
Retries = Annotated[
    int,
    typer.Option(
        "--retries",
        min=0,
        help="A remote shard whose read fails with a storage or network error (throttling, a "
        "timeout) is read again this many times, waiting 1, 2, 4, … s; if it still fails the "
        "scan stops (exit 1; finished shards are kept: rerun to resume), --skip-bad-shards or "
        "not: such a shard is not corrupt.",
    ),
]
ShardIndex = Annotated[
    int | None,
    typer.Option(
        "--shard-index",
        min=0,
        help="Job arrays: scan only slice I (0-based) of --num-shards contiguous slices of the "
        "sorted shard list, e.g. $SLURM_ARRAY_TASK_ID; join the --out directories with "
        "`negscan merge`.",
    ),
]
NumShards = Annotated[
    int | None, typer.Option("--num-shards", min=1, help="Job arrays: the number of slices.")
]


def _out(value: str | None) -> str | None:
    """``--out``: a local directory (checked as every command's) or an fsspec URL."""
    from corpora.places import remote_url

    if value is None:
        return None
    try:
        url = remote_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from None
    if url is None:
        cli.check_out(Path(value))
    return value


OUT_HELP = (
    " A directory, or an fsspec URL (s3://bucket/runs/x, gs://…; pip install 'notclip[remote]'),"
    " written there directly (no lock: run one negscan into a URL at a time)."
)
ScanOut = Annotated[
    str | None,
    typer.Option(
        "--out",
        callback=_out,
        help="Write the report and per-shard partial results here; a rerun skips finished "
        "shards." + OUT_HELP,
    ),
]
MergeOut = Annotated[
    str, typer.Option("--out", callback=_out, help="Where to write the merged report." + OUT_HELP)
]


SHARDS_HELP = (
    "Parquet shards: files, directories, quoted globs, brace patterns "
    "('part-{00000..00031}-*.parquet') or fsspec URLs (s3://, gs://, hf://, https://, "
    "memory://). Without SHARDS: the embedded sample shard, 4 000 SYNTHETIC generated "
    "captions in the LAION-400M schema (not real data)."
)
FILES_HELP = (
    "Text (one caption a line), JSONL or CSV/TSV files, directories, globs or fsspec URLs; "
    ".gz/.bz2/.xz/.zst are decompressed."
)
Corpus = Annotated[
    str,
    typer.Option(
        "--corpus", help="laion400m (caption column TEXT) or img2dataset (column caption)."
    ),
]
TextColumn = Annotated[
    str | None, typer.Option("--text-column", help="Caption column (overrides --corpus).")
]
InputFormatOpt = Annotated[
    InputFormat,
    typer.Option(
        "--input-format",
        help="auto: from the file name (.txt lines, .jsonl/.ndjson/.json, .csv, .tsv).",
    ),
]
FileColumn = Annotated[
    str, typer.Option("--column", help="The caption field of JSONL / CSV / TSV files.")
]
Dataset = Annotated[
    str,
    typer.Argument(
        help="A directory saved with datasets' save_to_disk, or a Hub "
        "dataset name (streamed; needs the network).",
        show_default=False,
    ),
]
Split = Annotated[str, typer.Option("--split", help="Dataset split.")]
HfColumn = Annotated[str, typer.Option("--column", help="The caption column.")]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size", min=1, help="Rows per batch (each batch is one resumable unit under --out)."
    ),
]
RunDirs = Annotated[
    list[str],
    typer.Argument(
        help="Output directories (or URLs) of negscan runs (e.g. one per "
        "element of a shard-level job array).",
        show_default=False,
    ),
]
Shards = Annotated[list[str] | None, typer.Argument(help=SHARDS_HELP, show_default=False)]
Files = Annotated[list[str], typer.Argument(help=FILES_HELP, show_default=False)]
