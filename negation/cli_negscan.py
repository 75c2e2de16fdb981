"""negscan — how often do web captions say "no"? A streaming negation scan of caption corpora.

A thin typer layer: each command parses and validates its options, makes one call to the runner
:mod:`negation.negscan` and renders its report (:mod:`negation.negscan_view`). Importing this
module does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from corpora.launch import add_version_option
from negation.negscan_view import ScanBar, err, print_patterns, print_report
from negation.scan import DEFAULT_WINDOW

if TYPE_CHECKING:
    from negation.negscan import Inputs, Report

app = typer.Typer(
    name="negscan",
    help=(
        "Count negation words (no, not, never, n't, ...) in web caption corpora: LAION-style "
        "Parquet shards, text / JSONL / CSV files and Hugging Face datasets, in one streaming "
        "pass per shard, with resumable per-shard results."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
add_version_option(app)


class Format(StrEnum):
    table = "table"
    json = "json"


class InputFormat(StrEnum):
    auto = "auto"
    lines = "lines"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


# --- options shared by the scanning commands --------------------------------------------------
LexiconOpt = Annotated[
    str,
    typer.Option(
        "--lexicon",
        help="Built-in lexicon core (no, not), standard (core + never, none, nothing, nobody, "
        "nowhere, neither, nor, without, cannot) or extended (standard + n't contractions, "
        "'no longer', 'not any'); or a FILE with one word or phrase a line ('#' comments).",
    ),
]
Classes = Annotated[
    str,
    typer.Option(
        "--classes",
        help="Class names for class-negation co-occurrence: coco, voc, nuswide, a FILE, "
        "'cat,dog', one class name, or none.",
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
Samples = Annotated[
    int,
    typer.Option(
        "--samples",
        min=0,
        help="Example captions kept per word (a seeded, order-independent random sample).",
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the example-caption sample.")]
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
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Write the report and per-shard partial results here; a rerun skips finished shards.",
    ),
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Discard partial results in --out and start afresh.")
]
SkipBad = Annotated[
    bool,
    typer.Option(
        "--skip-bad",
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
FormatOpt = Annotated[Format, typer.Option("--format", help="Terminal report: a table or JSON.")]


# --- scaling out: Ray and job arrays (corpora/executors.py, negation/distributed.py) -------------
class Engine(StrEnum):
    local = "local"
    ray = "ray"


EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local: this process (Polars uses every core). ray: one Ray task per unfinished "
        "shard, results saved by this process as they arrive (needs notclip[ray]).",
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="With --engine ray: 'auto' (the cluster this machine is part of) or "
        "ray://HOST:PORT. Default: start a local Ray on this machine.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="With --engine ray: shards scanned at once (a local Ray gets this many CPUs; "
        "default: all).",
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


def _slice(shards: list, index: int | None, count: int | None) -> list:
    """The job-array slice of the expanded shard list (all of it without --shard-index)."""
    if index is None and count is None:
        return shards
    if index is None or count is None:
        raise typer.BadParameter(
            "give both --shard-index and --num-shards", param_hint="--shard-index"
        )
    from corpora.executors import take_slice

    try:
        return take_slice(shards, index, count)
    except ValueError:
        raise typer.BadParameter(
            f"{index} is not below --num-shards {count}", param_hint="--shard-index"
        ) from None


# --- end of scaling out options
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no table.")]


@contextmanager
def _errors() -> Iterator[None]:
    """Bad input becomes one red line naming the file, row or option, and exit status 1."""
    from corpora.captions import ShardError

    try:
        yield
    except (ValueError, OSError, ShardError) as exc:  # OSError: permissions, full disk, ...
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _options(
    lexicon: str,
    classes: str,
    window: int,
    samples: int,
    seed: int,
    exclude_numbering: bool,
    unique: bool,
):
    from negation.negscan import BadOption, scan_options

    try:
        return scan_options(
            lexicon,
            classes,
            window,
            samples,
            seed,
            exclude_numbering=exclude_numbering,
            unique=unique,
        )
    except BadOption as exc:
        raise typer.BadParameter(str(exc), param_hint=f"--{exc.option}") from None


def _warn(text: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(text)}")


def _render(call: Callable[[], Report], fmt: Format, quiet: bool, out: Path | None) -> None:
    """Run a runner (:mod:`negation.negscan`) and print its report; a Ctrl-C says what was
    saved and exits 130."""
    from negation.negscan import Interrupted

    try:
        report = call()
    except Interrupted as exc:
        if exc.saved is not None:
            err.print(
                f"[yellow]interrupted:[/] {exc.saved} finished shard(s) are saved in {exc.out}; "
                "rerun the same command to resume."
            )
        else:
            err.print("[yellow]interrupted[/] (nothing saved: use --out DIR to keep progress)")
        raise typer.Exit(130) from None
    if not quiet:
        for note in report.notes:
            err.print(note)
    print_report(report.body, report.result, as_json=fmt is Format.json, quiet=quiet, out=out)


def _scan(
    inputs: Inputs,
    opts,
    *,
    out: Path | None,
    overwrite: bool,
    skip_bad: bool,
    top_k: int,
    fmt: Format,
    quiet: bool,
    engine: Engine = Engine.local,
    address: str | None = None,
    workers: int | None = None,
    execution: dict[str, object] | None = None,
) -> None:
    from negation import negscan

    if engine is Engine.local and (address or workers):
        raise typer.BadParameter("needs --engine ray", param_hint="--address / --workers")
    bar = None if quiet else ScanBar(inputs.total)
    run = partial(
        negscan.run,
        inputs,
        opts,
        out,
        bar,
        overwrite=overwrite,
        skip_bad=skip_bad,
        top_k=top_k,
        engine=engine.value,
        address=address,
        workers=workers,
        execution=execution,
        on_warning=_warn,
    )
    _render(run, fmt, quiet, out)


# --- commands ------------------------------------------------------------------------------


@app.command()
def laion(
    shards: Annotated[
        list[str] | None,
        typer.Argument(
            help="Parquet shards: files, directories, quoted globs, brace patterns "
            "('part-{00000..00031}-*.parquet') or fsspec URLs (s3://, gs://, hf://, https://, "
            "memory://). Without SHARDS: the embedded sample shard, 4 000 SYNTHETIC generated "
            "captions in the LAION-400M schema (not real data).",
            show_default=False,
        ),
    ] = None,
    corpus: Annotated[
        str,
        typer.Option(
            "--corpus", help="laion400m (caption column TEXT) or img2dataset (column caption)."
        ),
    ] = "laion400m",
    text_column: Annotated[
        str | None, typer.Option("--text-column", help="Caption column (overrides --corpus).")
    ] = None,
    lexicon: LexiconOpt = "standard",
    classes: Classes = "coco",
    window: Window = DEFAULT_WINDOW,
    top_k: TopK = 50,
    samples: Samples = 5,
    seed: Seed = 0,
    exclude_numbering: ExcludeNumbering = False,
    unique: Unique = False,
    out: Out = None,
    overwrite: Overwrite = False,
    skip_bad: SkipBad = False,
    allow_missing: AllowMissing = False,
    fmt: FormatOpt = Format.table,
    quiet: Quiet = False,
    engine: EngineOpt = Engine.local,
    address: Address = None,
    workers: Workers = None,
    shard_index: ShardIndex = None,
    num_shards: NumShards = None,
) -> None:
    """Scan LAION-400M-style metadata Parquet shards (or the embedded SYNTHETIC sample)."""
    with _errors():
        from corpora.captions import text_column_for
        from negation.negscan import laion_inputs

        opts = _options(lexicon, classes, window, samples, seed, exclude_numbering, unique)
        try:
            column = text_column_for(corpus, text_column)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--corpus") from None
        inputs = laion_inputs(
            shards,
            corpus=corpus,
            text_column=column,
            skip_bad=skip_bad,
            allow_missing=allow_missing,
            on_patterns=partial(print_patterns, quiet=quiet),
            select=partial(_slice, index=shard_index, count=num_shards),
        )
        _scan(
            inputs,
            opts,
            out=out,
            overwrite=overwrite,
            skip_bad=skip_bad,
            top_k=top_k,
            fmt=fmt,
            quiet=quiet,
            engine=engine,
            address=address,
            workers=workers,
            execution={"shard_index": shard_index, "num_shards": num_shards},
        )


@app.command()
def text(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Text (one caption a line), JSONL or CSV/TSV files, directories, "
            "globs or fsspec URLs; .gz/.bz2/.xz/.zst are decompressed.",
            show_default=False,
        ),
    ],
    input_format: Annotated[
        InputFormat,
        typer.Option(
            "--input-format",
            help="auto: from the file name (.txt lines, .jsonl/.ndjson/.json, .csv, .tsv).",
        ),
    ] = InputFormat.auto,
    column: Annotated[
        str, typer.Option("--column", help="The caption field of JSONL / CSV / TSV files.")
    ] = "text",
    lexicon: LexiconOpt = "standard",
    classes: Classes = "coco",
    window: Window = DEFAULT_WINDOW,
    top_k: TopK = 50,
    samples: Samples = 5,
    seed: Seed = 0,
    exclude_numbering: ExcludeNumbering = False,
    unique: Unique = False,
    out: Out = None,
    overwrite: Overwrite = False,
    skip_bad: SkipBad = False,
    allow_missing: AllowMissing = False,
    fmt: FormatOpt = Format.table,
    quiet: Quiet = False,
    engine: EngineOpt = Engine.local,
    address: Address = None,
    workers: Workers = None,
    shard_index: ShardIndex = None,
    num_shards: NumShards = None,
) -> None:
    """Scan plain-text, JSONL and CSV caption files."""
    with _errors():
        from negation.negscan import text_inputs

        opts = _options(lexicon, classes, window, samples, seed, exclude_numbering, unique)
        inputs = text_inputs(
            files,
            input_format=input_format.value,
            column=column,
            skip_bad=skip_bad,
            allow_missing=allow_missing,
            on_patterns=partial(print_patterns, quiet=quiet),
            select=partial(_slice, index=shard_index, count=num_shards),
        )
        _scan(
            inputs,
            opts,
            out=out,
            overwrite=overwrite,
            skip_bad=skip_bad,
            top_k=top_k,
            fmt=fmt,
            quiet=quiet,
            engine=engine,
            address=address,
            workers=workers,
            execution={"shard_index": shard_index, "num_shards": num_shards},
        )


@app.command()
def hf(
    dataset: Annotated[
        str,
        typer.Argument(
            help="A directory saved with datasets' save_to_disk, or a Hub "
            "dataset name (streamed; needs the network).",
            show_default=False,
        ),
    ],
    split: Annotated[str, typer.Option("--split", help="Dataset split.")] = "train",
    column: Annotated[str, typer.Option("--column", help="The caption column.")] = "text",
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            help="Rows per batch (each batch is one resumable unit under --out).",
        ),
    ] = 200_000,
    lexicon: LexiconOpt = "standard",
    classes: Classes = "coco",
    window: Window = DEFAULT_WINDOW,
    top_k: TopK = 50,
    samples: Samples = 5,
    seed: Seed = 0,
    exclude_numbering: ExcludeNumbering = False,
    unique: Unique = False,
    out: Out = None,
    overwrite: Overwrite = False,
    fmt: FormatOpt = Format.table,
    quiet: Quiet = False,
) -> None:
    """Scan a Hugging Face dataset's caption column through `datasets`, batch by batch."""
    with _errors():
        from negation.negscan import hf_inputs

        opts = _options(lexicon, classes, window, samples, seed, exclude_numbering, unique)
        inputs = hf_inputs(dataset, split=split, column=column, batch_size=batch_size)
        _scan(
            inputs,
            opts,
            out=out,
            overwrite=overwrite,
            skip_bad=False,
            top_k=top_k,
            fmt=fmt,
            quiet=quiet,
        )


@app.command()
def merge(
    dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Output directories of negscan runs (e.g. one per "
            "machine of a shard-level job array).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the merged report.")],
    top_k: TopK = 50,
    fmt: FormatOpt = Format.table,
    quiet: Quiet = False,
) -> None:
    """Merge per-shard partial results from several runs into one report; a shard is never
    counted twice."""
    with _errors():
        from negation.negscan import merge as merge_dirs

        _render(partial(merge_dirs, dirs, out, top_k=top_k, on_warning=_warn), fmt, quiet, out)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
