"""negscan — how often do web captions say "no"? A streaming negation scan of caption corpora.

A thin typer layer in the commands' dialect (:mod:`corpora.cli`): each command parses its options,
makes one call to the runner :mod:`negation.negscan.runner` and renders its report
(:mod:`negation.negscan.view`). Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from corpora import cli
from corpora.shards import DEFAULT_RETRIES
from negation.negscan import options as o
from negation.negscan.options import Engine
from negation.negscan.scan import DEFAULT_WINDOW
from negation.negscan.view import ScanBar, print_interrupted, print_patterns, print_report

if TYPE_CHECKING:
    from negation.negscan.runner import Inputs, Report
    from negation.negscan.scan import ScanOptions

app = cli.make_app(
    "negscan",
    "Count negation words (no, not, never, n't, ...) in web caption corpora: LAION-style "
    "Parquet shards, text / JSONL / CSV files and Hugging Face datasets, in one streaming "
    "pass per shard, with resumable per-shard results.",
)
# older spellings, still accepted (shown nowhere)
SCAN = cli.hidden_aliases({"--skip-bad": "--skip-bad-shards"})


def _errors() -> Any:
    """The dialect's error policy; a bad option of the runner is a usage error naming it."""
    from negation.negscan.runner import BadOption

    return cli.input_errors(usage=(BadOption,))


def _warn(text: str) -> None:
    cli.stderr.print(f"[yellow]warning:[/] {escape(text)}")


def _render(call: Callable[[], Report], fmt: str, quiet: bool, out: str | None) -> None:
    """Run a runner (:mod:`negation.negscan.runner`) and print its report; a Ctrl-C says what was
    saved and exits 130."""
    from negation.negscan.runner import Interrupted

    try:
        report = call()
    except Interrupted as exc:
        print_interrupted(exc.saved, exc.out)
        raise typer.Exit(130) from None
    if not quiet:
        for note in report.notes:
            cli.stderr.print(note)
    print_report(report.body, report.result, as_json=fmt == "json", quiet=quiet, out=out)


def _listing(quiet: bool, index: int | None, count: int | None) -> dict[str, Any]:
    """How a shard list is listed: its patterns reported, a job array's slice selected."""
    from negation.negscan.runner import job_slice

    return {"on_patterns": partial(print_patterns, quiet=quiet), "select": job_slice(index, count)}


def _opts(*args: Any, exclude_numbering: bool, unique: bool) -> ScanOptions:
    from negation.negscan.runner import scan_options

    return scan_options(*args, exclude_numbering=exclude_numbering, unique=unique)


def _scan(inputs: Inputs, opts: ScanOptions, fmt: str, quiet: bool, **run: Any) -> None:
    """Scan ``inputs`` with ``opts`` and the run options ``run`` (:func:`.runner.run`),
    then print the report."""
    from negation.negscan.runner import run as scan_run

    engine = run.pop("engine", Engine.local)
    if engine is Engine.local and (run.get("address") or run.get("workers")):
        raise typer.BadParameter("needs --engine ray", param_hint="--address / --workers")
    bar = None if quiet else ScanBar(inputs.total)
    out = run.pop("out")
    call = partial(scan_run, inputs, opts, out, bar, engine=engine.value, on_warning=_warn, **run)
    _render(call, fmt, quiet, out)


# --- commands ------------------------------------------------------------------------------
@app.command(cls=SCAN)
def laion(
    shards: o.Shards = None,
    corpus: o.Corpus = "laion400m",
    text_column: o.TextColumn = None,
    lexicon: o.LexiconOpt = "standard",
    classes: cli.ClassesOpt = "coco",
    window: o.Window = DEFAULT_WINDOW,
    top_k: o.TopK = 50,
    samples: o.Samples = 5,
    seed: o.Seed = 0,
    exclude_numbering: o.ExcludeNumbering = False,
    unique: o.Unique = False,
    out: o.ScanOut = None,
    overwrite: o.Overwrite = False,
    skip_bad: o.SkipBad = False,
    allow_missing: o.AllowMissing = False,
    fmt: o.FormatOpt = "table",
    quiet: cli.QuietOpt = False,
    engine: o.EngineOpt = Engine.local,
    address: o.Address = None,
    workers: o.Workers = None,
    retries: o.Retries = DEFAULT_RETRIES,
    shard_index: o.ShardIndex = None,
    num_shards: o.NumShards = None,
) -> None:
    """Scan LAION-400M-style metadata Parquet shards (or the embedded SYNTHETIC sample)."""
    with _errors():
        from corpora.captions import text_column_for
        from negation.negscan.runner import laion_inputs

        opts = _opts(lexicon, classes, window, samples, seed,
                     exclude_numbering=exclude_numbering, unique=unique)  # fmt: skip
        try:
            column = text_column_for(corpus, text_column)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--corpus") from None
        inputs = laion_inputs(
            shards, corpus=corpus, text_column=column, allow_missing=allow_missing,
            **_listing(quiet, shard_index, num_shards),
        )  # fmt: skip
        _scan(
            inputs, opts, fmt, quiet, out=out, overwrite=overwrite, skip_bad=skip_bad,
            top_k=top_k, engine=engine, address=address, workers=workers, retries=retries,
            execution={"shard_index": shard_index, "num_shards": num_shards},
        )  # fmt: skip


@app.command(cls=SCAN)
def text(
    files: o.Files,
    input_format: o.InputFormatOpt = o.InputFormat.auto,
    column: o.FileColumn = "text",
    lexicon: o.LexiconOpt = "standard",
    classes: cli.ClassesOpt = "coco",
    window: o.Window = DEFAULT_WINDOW,
    top_k: o.TopK = 50,
    samples: o.Samples = 5,
    seed: o.Seed = 0,
    exclude_numbering: o.ExcludeNumbering = False,
    unique: o.Unique = False,
    out: o.ScanOut = None,
    overwrite: o.Overwrite = False,
    skip_bad: o.SkipBad = False,
    allow_missing: o.AllowMissing = False,
    fmt: o.FormatOpt = "table",
    quiet: cli.QuietOpt = False,
    engine: o.EngineOpt = Engine.local,
    address: o.Address = None,
    workers: o.Workers = None,
    retries: o.Retries = DEFAULT_RETRIES,
    shard_index: o.ShardIndex = None,
    num_shards: o.NumShards = None,
) -> None:
    """Scan plain-text, JSONL and CSV caption files."""
    with _errors():
        from negation.negscan.runner import text_inputs

        opts = _opts(lexicon, classes, window, samples, seed,
                     exclude_numbering=exclude_numbering, unique=unique)  # fmt: skip
        inputs = text_inputs(
            files, input_format=input_format.value, column=column, allow_missing=allow_missing,
            **_listing(quiet, shard_index, num_shards),
        )  # fmt: skip
        _scan(
            inputs, opts, fmt, quiet, out=out, overwrite=overwrite, skip_bad=skip_bad,
            top_k=top_k, engine=engine, address=address, workers=workers, retries=retries,
            execution={"shard_index": shard_index, "num_shards": num_shards},
        )  # fmt: skip


@app.command()
def hf(
    dataset: o.Dataset,
    split: o.Split = "train",
    column: o.HfColumn = "text",
    batch_size: o.BatchSize = 200_000,
    lexicon: o.LexiconOpt = "standard",
    classes: cli.ClassesOpt = "coco",
    window: o.Window = DEFAULT_WINDOW,
    top_k: o.TopK = 50,
    samples: o.Samples = 5,
    seed: o.Seed = 0,
    exclude_numbering: o.ExcludeNumbering = False,
    unique: o.Unique = False,
    out: o.ScanOut = None,
    overwrite: o.Overwrite = False,
    fmt: o.FormatOpt = "table",
    quiet: cli.QuietOpt = False,
) -> None:
    """Scan a Hugging Face dataset's caption column through `datasets`, batch by batch."""
    with _errors():
        from negation.negscan.runner import hf_inputs

        opts = _opts(lexicon, classes, window, samples, seed,
                     exclude_numbering=exclude_numbering, unique=unique)  # fmt: skip
        inputs = hf_inputs(dataset, split=split, column=column, batch_size=batch_size)
        _scan(inputs, opts, fmt, quiet, out=out, overwrite=overwrite, top_k=top_k)


@app.command()
def merge(
    dirs: o.RunDirs,
    out: o.MergeOut,
    top_k: o.TopK = 50,
    fmt: o.FormatOpt = "table",
    quiet: cli.QuietOpt = False,
) -> None:
    """Merge per-shard partial results from several runs into one report; a shard is never
    counted twice."""
    with _errors():
        from negation.negscan.runner import merge as merge_dirs

        _render(partial(merge_dirs, dirs, out, top_k=top_k, on_warning=_warn), fmt, quiet, out)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
