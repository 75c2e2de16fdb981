"""negscan — how often do web captions say "no"? A streaming negation scan of caption corpora.

A thin typer layer: each command parses and validates its options, makes one call to the runner
:mod:`negation.negscan` and renders its report. Importing this module does not import torch.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from corpora.launch import add_version_option
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
err = Console(stderr=True)
out_console = Console()


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


class _CaptionRate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} captions/s" if speed else "", style="progress.data.speed")


class _Captions(ProgressColumn):
    """``scanned/left captions``; nothing when no caption is left to scan (all shards reused)."""

    def render(self, task: Task) -> Text:
        if task.fields.get("all_reused"):
            return Text("")
        if task.total is None:
            return Text(f"{task.completed:,}")
        return Text(f"{task.completed:,}/{task.total:,} captions")


class _ScanBar:
    """The scan's progress bar: captions scanned of those left to scan. A shard reused from
    ``--out`` comes off the total and is said in the description; when every shard is reused the
    bar says so (not ``0/0 captions``)."""

    def __init__(self, total: int | None, console: Console = err):
        self.total = total
        self.reused_rows = self.done_rows = self.reused = 0
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            _Captions(),
            _CaptionRate(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("scanning", total=total)

    def on_rows(self, rows: int) -> None:  # within a shard, per streamed batch
        self.progress.advance(self.task, rows)

    def on_done(self, unit, rows: int, reused: bool) -> None:  # a shard finished, reused or bad
        if not reused:
            self.done_rows += rows
            self.progress.update(self.task, completed=self.done_rows)
            return
        self.reused += 1
        self.reused_rows += rows
        left = None if self.total is None else self.total - self.reused_rows
        if left == 0:
            what = f"all {self.reused} shard(s) reused"
            self.progress.update(self.task, total=1, completed=1, description=what, all_reused=True)
        else:
            what = f"scanning ({self.reused} shard(s) reused)"
            self.progress.update(self.task, total=left, description=what)

    def start(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()


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


def _report_patterns(patterns, quiet: bool) -> None:
    """Say what each multi-file pattern matched, and which names of a brace pattern are missing."""
    for m in patterns:
        if m.kind != "file" and not quiet:
            err.print(f"{m.pattern!r}: {m.matched:,} file(s)", highlight=False, soft_wrap=True)
        if m.missing:
            first = ", ".join(m.missing[:3]) + (", …" if len(m.missing) > 3 else "")
            err.print(
                f"[yellow]warning:[/] {m.pattern!r}: {len(m.missing)} name(s) it lists match no "
                f"file, skipped (--allow-missing): {first}",
                highlight=False,
                soft_wrap=True,
            )


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
    _print(report.body, report.result, fmt, quiet, out)


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
    bar = None if quiet else _ScanBar(inputs.total)
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


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.3f}%"


def _print_paper_rate(ours: float) -> None:
    """PositiveCoOp's LAION-400M statistic beside ours (its word list was never published)."""
    from corpora.reference import laion_negation_rate

    ref = laion_negation_rate()
    out_console.print(
        f"paper (PositiveCoOp, {ref['corpus']}): {_pct(ref['rate'])} of captions include a "
        f"negative word (unpublished word list) · ours − paper: "
        f"{100 * (ours - ref['rate']):+.3f} percentage points",
        highlight=False,
    )


def _print(body: dict, result, fmt: Format, quiet: bool, out: Path | None) -> None:
    if fmt is Format.json:
        sys.stdout.write(json.dumps(body, indent=2, default=str) + "\n")
        return
    if quiet:
        return
    if body["synthetic"]:
        out_console.print(
            "[bold yellow]SYNTHETIC DATA:[/] this report is about the embedded sample shard of "
            "generated captions, not real LAION captions. Pass SHARDS to scan real data."
        )
    t = Table(title=f"negscan — lexicon {body['lexicon']!r}, column {body['text_column']!r}")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    for label, key in [
        ("rows (all)", "n_rows"),
        ("null captions", "n_null"),
        ("empty captions", "n_empty"),
        ("captions with a negation", "n_with_negation"),
        (f"captions negating a class (window {body['window']})", "n_with_class_negation"),
    ]:
        t.add_row(label, f"{body[key]:,}")
    t.add_row("rate over all rows", _pct(body["rate_all_rows"]))
    t.add_row("rate over non-null captions", _pct(body["rate_non_null"]))
    if "unique" in body:
        u = body["unique"]
        t.add_row("distinct captions", f"{u['n_unique']:,}")
        t.add_row("rate over distinct captions", _pct(u["rate_unique"]))
    t.add_row(
        "shards (reused / bad)",
        f"{body['n_shards']:,} ({body['reused_shards']} / {len(body['bad_shards'])})",
    )
    out_console.print(t)
    if (
        body["corpus"] == "laion400m"
        and not body["synthetic"]
        and body["rate_non_null"] is not None
    ):
        _print_paper_rate(body["rate_non_null"])

    w = Table(title="per word")
    for col in ("word", "captions", "% of non-null", "occurrences"):
        w.add_column(col, justify="left" if col == "word" else "right")
    non_null = body["n_non_null"]
    for word, c in body["per_word"].items():
        share = _pct(c["captions"] / non_null if non_null else None)
        w.add_row(word, f"{c['captions']:,}", share, f"{c['occurrences']:,}")
    out_console.print(w)

    b = Table(title="top negator + next word")
    for col in ("negator", "next word", "count"):
        b.add_column(col, justify="right" if col == "count" else "left")
    for row in body["top_bigrams"][:15]:
        b.add_row(row["negator"], row["next_word"], f"{row['count']:,}")
    out_console.print(b)

    if body["classes"]:
        top = (
            result.classes.filter(result.classes["count"] > 0)
            .sort("count", descending=True)
            .head(10)
        )
        c = Table(title=f"negated classes ({body['classes']}, window {body['window']})")
        c.add_column("class")
        c.add_column("captions", justify="right")
        for name, count in top.rows():
            c.add_row(name, f"{count:,}")
        out_console.print(c)
    for bad in body["bad_shards"]:
        err.print(f"[red]bad shard[/] {bad['shard']}: {bad['error']}", highlight=False)
    for note in body["warnings"]:
        err.print(f"[yellow]warning:[/] {note['shard']}: {note['warning']}", highlight=False)
    if out:
        out_console.print(f"report written to {out}")


# --- commands ------------------------------------------------------------------------------


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
            on_patterns=partial(_report_patterns, quiet=quiet),
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
            on_patterns=partial(_report_patterns, quiet=quiet),
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
