"""How a negscan run looks on the terminal: its progress bar and its report (tables or JSON).

Results go to stdout, progress and messages to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
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

from corpora import cli
from corpora.schema import C

err, stdout = cli.stderr, cli.stdout  # the commands' consoles


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


class ScanBar:
    """The scan's progress bar: captions scanned of those left to scan. A shard reused from
    ``out`` comes off the total and is said in the description; when every shard is reused the
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

    def on_total(self, rows: int) -> None:  # the rows to scan, once the footers are read
        self.total = rows
        self.progress.update(self.task, total=rows)

    def on_rows(self, rows: int) -> None:  # within a shard, per streamed batch
        self.progress.advance(self.task, rows)

    # a shard finished, reused or bad (the runner calls ``on_done(unit, rows, reused)``)
    def on_done(self, unit, rows: int, reused: bool) -> None:  # noqa: FBT001
        if not reused:  # (never backwards: the next shards' reads may have advanced it already)
            self.done_rows += rows
            shown = next(t.completed for t in self.progress.tasks if t.id == self.task)
            self.progress.update(self.task, completed=max(shown, self.done_rows))
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


def print_patterns(patterns: list, *, quiet: bool) -> None:
    """Say what each multi-file pattern matched, and which names of a brace pattern are missing."""
    for m in patterns:
        if m.kind != "file" and not quiet:  # (the pattern as typed: no markup, no emoji codes)
            err.print(
                f"{m.pattern!r}: {m.matched:,} file(s)",
                highlight=False,
                soft_wrap=True,
                markup=False,
                emoji=False,
            )
        if m.missing:
            first = ", ".join(m.missing[:3]) + (", …" if len(m.missing) > 3 else "")
            err.print(
                f"[yellow]warning:[/] {m.pattern!r}: {len(m.missing)} name(s) it lists match no "
                f"file, skipped (--allow-missing): {first}",
                highlight=False,
                soft_wrap=True,
            )


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.3f}%"


def _print_paper_rate(ours: float) -> None:
    """PositiveCoOp's LAION-400M statistic beside ours (``rate_all_rows``: the paper's
    denominator; its word list was never published)."""
    from corpora.reference import LAION_DENOMINATOR, laion_negation_rate  # (imports Polars)

    ref = laion_negation_rate()
    stdout.print(
        f"paper (PositiveCoOp, {ref['corpus']}): {_pct(ref['rate'])} of rows include a negative "
        f"word (unpublished word list) · ours: {_pct(ours)} · ours − paper: "
        f"{100 * (ours - ref['rate']):+.3f} percentage points ({LAION_DENOMINATOR})",
        highlight=False,
    )


def print_interrupted(saved: int | None, out: Path | str | None) -> None:
    """What a Ctrl-C left: ``saved`` finished shards in ``out`` (None: nothing saved)."""
    if saved is not None:
        err.print(
            f"[yellow]interrupted:[/] {saved} finished shard(s) are saved in {out}; "
            "rerun the same command to resume."
        )
    else:
        err.print("[yellow]interrupted[/] (nothing saved: use --out DIR to keep progress)")


def print_report(body: dict, result, *, as_json: bool, quiet: bool, out: Path | str | None) -> None:
    """Print a negscan report on stdout: JSON, or its tables; bad shards and warnings on stderr
    (also with ``quiet``, which drops only the closing note on where the report was written)."""
    if as_json:
        sys.stdout.write(json.dumps(body, indent=2, default=str) + "\n")
        return
    from corpora.reference import LAION_DENOMINATOR  # (imports Polars)

    if body["synthetic"]:
        stdout.print(
            "[bold yellow]SYNTHETIC DATA:[/] this report is about the embedded sample shard of "
            "generated captions, not real LAION captions. Pass SHARDS to scan real data."
        )
    t = Table(title=f"negscan — lexicon {body['lexicon']!r}, column {body['text_column']!r}")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    for label, key in [
        ("rows (all)", C.n_rows),
        ("null captions", C.n_null),
        ("empty captions", C.n_empty),
        ("captions with a negation", C.n_with_negation),
        (f"captions negating a class (window {body['window']})", C.n_with_class_negation),
    ]:
        t.add_row(label, f"{body[key]:,}")
    t.add_row(f"rate ({LAION_DENOMINATOR})", _pct(body["rate_all_rows"]))
    if "unique" in body:
        u = body["unique"]
        t.add_row("distinct captions", f"{u['n_unique']:,}")
        t.add_row("rate over distinct captions", _pct(u["rate_unique"]))
    t.add_row(
        "shards (reused / bad)",
        f"{body['n_shards']:,} ({body['reused_shards']} / {len(body['bad_shards'])})",
    )
    stdout.print(t)
    if (
        body["corpus"] == "laion400m"
        and not body["synthetic"]
        and body["rate_all_rows"] is not None
    ):
        _print_paper_rate(body["rate_all_rows"])

    w = Table(title="per word")
    for col in ("word", "captions", "% of all rows", "occurrences"):
        w.add_column(col, justify="left" if col == "word" else "right")
    n_rows = body[C.n_rows]
    for word, c in body["per_word"].items():
        share = _pct(c[C.captions] / n_rows if n_rows else None)
        w.add_row(word, f"{c[C.captions]:,}", share, f"{c[C.occurrences]:,}")
    stdout.print(w)

    b = Table(title="top negator + next word")
    for col in ("negator", "next word", "count"):
        b.add_column(col, justify="right" if col == "count" else "left")
    for row in body["top_bigrams"][:15]:
        b.add_row(row[C.negator], row[C.next_word], f"{row[C.count]:,}")
    stdout.print(b)

    if body[C.classes]:
        top = (
            result.classes.filter(result.classes[C.count] > 0)
            .sort(C.count, descending=True)
            .head(10)
        )
        c = Table(title=f"negated classes ({body[C.classes]}, window {body['window']})")
        c.add_column("class")
        c.add_column("captions", justify="right")
        for name, count in top.rows():
            c.add_row(name, f"{count:,}")
        stdout.print(c)
    for bad in body["bad_shards"]:
        err.print(f"[red]bad shard[/] {bad[C.shard]}: {bad[C.error]}", highlight=False)
    for note in body["warnings"]:
        err.print(f"[yellow]warning:[/] {note[C.shard]}: {note[C.warning]}", highlight=False)
    if out and not quiet:
        err.print(f"report written to {out}")
