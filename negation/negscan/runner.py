"""The negscan runner: build the units of a scan, scan them into ``out`` and write the report.

From Python (a notebook)::

    from negation import negscan
    report = negscan.run(negscan.laion_inputs(["shards/"]), negscan.scan_options(), "runs/x")
    report.body["rate_non_null"]

:func:`run` and :func:`merge` never print and never exit: progress goes to an optional
``progress`` object (``start()``, ``stop()``, ``on_rows(n)``, ``on_done(unit, rows, reused)``;
each optional; ``on_rows`` is called from the threads that read shards, two at a time, so it must
be thread-safe), warnings said while working to ``on_warning(text)``, and what the run has to say
afterwards is in :attr:`Report.notes`. A Ctrl-C saves every finished shard and raises
:class:`Interrupted`. Importing this module does not import torch.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from corpora.places import Place
from corpora.schema import C
from corpora.shards import DEFAULT_RETRIES, Shard
from negation.negscan.scan import DEFAULT_WINDOW, ScanOptions, ScanResult
from negation.negscan.scanning import Unit, laion_units, text_units
from negation.negscan.store import Outcome

Warn = Callable[[str], None]


@dataclass
class Inputs:
    """What a scan reads: its units (a list, or an iterator for ``hf``) and how to describe them
    in the report."""

    command: str
    units: Iterable[Unit]
    corpus: str
    text_column: str
    total: int | None = None  # rows to scan, for progress (None: unknown)
    synthetic: bool = False
    patterns: list | None = None  # what each input pattern matched (corpora.shards.expand)
    extra_config: dict[str, object] = field(default_factory=dict)  # what else decides the units


@dataclass
class Report:
    """A finished scan or merge: ``body`` is ``summary.json`` (what ``--format json`` prints)."""

    body: dict[str, object]
    result: ScanResult
    outcome: Outcome
    out: Path | str | None  # (a local directory, or a URL)
    notes: list[str] = field(default_factory=list)  # e.g. "reused 3 finished shard(s) from DIR"


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C stopped the scan; ``saved`` finished shards are in ``out`` (None: no ``out``).
    A KeyboardInterrupt still, so that code catching Exception does not swallow it."""

    def __init__(self, saved: int | None, out: Path | str | None):
        super().__init__(f"interrupted; {saved} finished shard(s) saved in {out}")
        self.saved, self.out = saved, out


class BadOption(ValueError):
    """A bad value of the option ``option`` (a parameter name of :func:`scan_options`)."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


def scan_options(
    lexicon: str = "standard",
    classes: str = "coco",
    window: int = DEFAULT_WINDOW,
    samples: int = 5,
    seed: int = 0,
    *,
    exclude_numbering: bool = False,
    unique: bool = False,
) -> ScanOptions:
    """:class:`ScanOptions` from the command line's spellings (``classes='none'``: no classes).
    A bad lexicon, class set or seed raises :class:`BadOption`."""
    from corpora.classes import load_classes
    from corpora.runio import SEED_MAX
    from negation.negscan.lexicon import load_lexicon

    if not 0 <= seed <= SEED_MAX:  # it seeds a 64-bit hash: checked before any scanning
        raise BadOption("seed", f"{seed} is not in the range 0 to 2**64 - 1")
    try:
        lex = load_lexicon(lexicon)
    except ValueError as exc:
        raise BadOption("lexicon", str(exc)) from None
    try:
        cls = None if classes.strip().lower() == "none" else load_classes(classes)
    except ValueError as exc:
        raise BadOption("classes", str(exc)) from None
    return ScanOptions(lex, cls, window, samples, seed, exclude_numbering, unique)


def job_slice(index: int | None, count: int | None) -> Callable[[Sequence], list] | None:
    """The ``select`` of :func:`laion_inputs` / :func:`text_inputs` for slice ``index`` (0-based)
    of a job array of ``count`` (contiguous, balanced slices of the sorted shard list); ``None``
    without a job array."""
    if index is None and count is None:
        return None
    if index is None or count is None:
        raise BadOption("shard_index", "give both the slice index and the number of slices")
    if not 0 <= index < count:
        raise BadOption("shard_index", f"{index} is not below the number of slices {count}")
    from corpora.executors import take_slice

    return partial(take_slice, index=index, count=count)


# --- inputs of each kind --------------------------------------------------------------------
def laion_inputs(
    shards: Sequence[str] | None = None,
    *,
    corpus: str = "laion400m",
    text_column: str | None = None,
    allow_missing: bool = False,
    on_patterns: Callable[[list], None] | None = None,
    select: Callable[[Sequence], Sequence] | None = None,
) -> Inputs:
    """LAION-style Parquet shards (files, directories, globs, brace patterns, URLs) as
    :class:`Inputs`, each distinct content counted once; no ``shards``: the embedded SYNTHETIC
    sample shard. ``on_patterns`` is told what each pattern matched; ``select`` picks from the
    sorted shard list (e.g. a job array's slice). Nothing is read but the listing: a shard's
    footer is read when it is scanned."""
    from corpora.captions import text_column_for
    from corpora.shards import expand

    column = text_column_for(corpus, text_column)
    synthetic = not shards
    if synthetic:
        from corpora.synthetic import sample_shard_path  # (imports numpy: only when used)

        shards = [str(sample_shard_path())]
    shard_list, patterns = expand(list(shards or []), allow_missing=allow_missing)
    if on_patterns is not None:
        on_patterns(patterns)
    units = laion_units(select(shard_list) if select else shard_list, column)
    return Inputs("negscan laion", units, corpus, column, None, synthetic, patterns=patterns)


def text_inputs(
    files: Sequence[str],
    *,
    input_format: str = "auto",
    column: str = "text",
    allow_missing: bool = False,
    on_patterns: Callable[[list], None] | None = None,
    select: Callable[[Sequence], Sequence] | None = None,
) -> Inputs:
    """Text (one caption a line), JSONL and CSV/TSV files as :class:`Inputs`, each distinct
    content counted once (``on_patterns``, ``select``: as for :func:`laion_inputs`)."""
    from corpora.captions import TEXT_SUFFIXES
    from corpora.shards import expand

    shard_list, patterns = expand(list(files), TEXT_SUFFIXES, allow_missing)
    if on_patterns is not None:
        on_patterns(patterns)
    units = text_units(select(shard_list) if select else shard_list, input_format, column)
    return Inputs("negscan text", units, "text", column, None, patterns=patterns)


def hf_inputs(
    dataset: str, *, split: str = "train", column: str = "text", batch_size: int = 200_000
) -> Inputs:
    """A Hugging Face dataset's caption column, a unit per batch of ``batch_size`` rows."""
    from corpora.captions import hf_batches

    batches, n_rows, fingerprint = hf_batches(dataset, split, column, batch_size)

    def units() -> Iterator[Unit]:
        for i, frame in enumerate(batches):
            name = f"{dataset}#{split}/batch-{i:06d}"
            # the dataset's fingerprint names its content (wherever it is saved); else its name
            content = f"hf:{fingerprint}#{split}/batch-{i:06d}" if fingerprint else f"hf:{name}"
            shard = Shard(name, frame.height, fingerprint or f"rows={n_rows}", content)
            yield Unit(shard, frame.height, frame.lazy)

    return Inputs(
        "negscan hf",
        units(),
        "hf",
        column,
        n_rows,
        extra_config={"batch_size": batch_size},  # the batches are the resumable units
    )


# --- running ---------------------------------------------------------------------------------
@contextmanager
def _locked(out: Place, on_warning: Warn | None, *, overwrite: bool | None) -> Iterator[None]:
    """Claim ``out`` (:func:`corpora.runio.claim_out_dir`; first, so that a refused directory
    gets no lock file), then hold its lock: one negscan writes a directory at a time (an object
    store has no locks: that is then up to the user)."""
    from corpora.locks import cannot_lock, writing
    from corpora.runio import claim_out_dir

    claim_out_dir(out, "negscan", overwrite)
    if out.local is None:
        if on_warning is not None:
            on_warning(f"{out} cannot be locked (a URL): run one negscan into it at a time")
        yield
        return
    with writing(out.local, "negscan") as held:
        if not held and on_warning is not None:
            on_warning(cannot_lock(out.local))
        yield


def _shown(out: Place | None) -> Path | str | None:
    """``out`` as the user gave it: a local path, or the URL."""
    return None if out is None else out.local or str(out)


def _ignore(signum: int, frame: object) -> None:
    pass


def _hook(progress: Any, name: str) -> Callable | None:
    return getattr(progress, name, None) if progress is not None else None


def run(
    inputs: Inputs,
    opts: ScanOptions,
    out: str | Path | None = None,
    progress: Any = None,
    *,
    overwrite: bool = False,
    skip_bad: bool = False,
    top_k: int = 50,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    retries: int = DEFAULT_RETRIES,
    execution: dict[str, object] | None = None,
    on_warning: Warn | None = None,
) -> Report:
    """Scan ``inputs`` with ``opts``; with ``out`` (a directory or an fsspec URL), resume from
    and save into it (holding its lock) and write the report files. ``engine`` 'ray' scans the
    unfinished units as Ray tasks (``address``, ``workers``), which write their results into
    ``out`` themselves; a remote read that fails with a storage or network error is tried again
    ``retries`` times; ``execution`` is added to ``run.json``'s execution."""
    place = Place(out) if out is not None else None
    if engine == "local" and (address or workers):
        raise ValueError("address and workers need engine='ray'")
    with _locked(place, on_warning, overwrite=overwrite) if place else nullcontext():
        return _scan_and_report(
            inputs,
            opts,
            place,
            progress,
            overwrite=overwrite,
            skip_bad=skip_bad,
            top_k=top_k,
            engine=engine,
            address=address,
            workers=workers,
            retries=retries,
            execution=execution,
        )


def _scan_and_report(
    inputs: Inputs,
    opts: ScanOptions,
    out: Place | None,
    progress: Any,
    *,
    overwrite: bool,
    skip_bad: bool,
    top_k: int,
    engine: str,
    address: str | None,
    workers: int | None,
    retries: int,
    execution: dict[str, object] | None,
) -> Report:
    from corpora.executors import ClusterLost, make_executor
    from corpora.runio import run_info
    from negation.negscan import report as rp
    from negation.negscan import scanning
    from negation.negscan import store as st

    config = {
        **opts.config(),
        "corpus": inputs.corpus,
        "text_column": inputs.text_column,
        "synthetic": inputs.synthetic,
    }
    config |= inputs.extra_config
    store = st.ResultStore(out, config, overwrite=overwrite) if out else None
    executor = None
    if engine == "ray":  # started before the progress bar: Ray may print as it starts
        executor = make_executor("ray", address=address, workers=workers)
    start, stop = _hook(progress, "start"), _hook(progress, "stop")
    try:
        if start is not None:
            start()
        units = inputs.units
        bad: list[dict[str, str]] = []
        copies: list[str] = []
        if executor is None and isinstance(units, Sequence):  # (a Ray task identifies its own)
            units, bad, copies = scanning.prepare(
                list(units), store, skip_bad=skip_bad, retries=retries
            )
            on_total = _hook(progress, "on_total")
            if on_total is not None:
                on_total(sum(u.n_rows or 0 for u in units))
        on_done = _hook(progress, "on_done")
        if executor is not None and executor.parallel:  # tasks that save their own results
            from corpora.executors import RayExecutor
            from negation.negscan.distributed import scan_in_parallel

            assert isinstance(executor, RayExecutor)  # (the only parallel one negscan makes)
            seq = units if isinstance(units, Sequence) else list(units)  # (LaionUnits: lazy)
            outcome = scan_in_parallel(
                executor, seq, opts, store, skip_bad, bad, on_done, retries=retries
            )
        else:
            outcome = scanning.scan_units(
                units, opts, store, skip_bad, bad, on_done, _hook(progress, "on_rows"),
                retries=retries,
            )  # fmt: skip
        outcome.duplicates = copies or outcome.duplicates
        outcome.bad.sort(key=lambda entry: entry[C.shard])  # (in the order of the shard list)
    except KeyboardInterrupt:
        # Polars raises KeyboardInterrupt for a Ctrl-C itself and Python's own handler fires for
        # the same Ctrl-C at the next chance: ignore that echo while counting what was saved.
        try:
            previous = signal.signal(signal.SIGINT, _ignore)
        except KeyboardInterrupt:  # the echo came before the handler was in place
            previous = signal.signal(signal.SIGINT, _ignore)
        try:
            if stop is not None:
                stop()
            saved = len(store.finished()) if store else None
        finally:
            signal.signal(signal.SIGINT, previous)
        raise Interrupted(saved, _shown(out)) from None
    except ClusterLost as exc:  # one line: what is kept, and how to go on
        kept = (
            f"{len(store.finished())} finished shard(s) are kept in {out}: rerun the same "
            "command to resume"
            if store
            else "nothing is kept without --out"
        )
        raise ClusterLost(f"{exc}; {kept}") from None
    finally:
        if stop is not None:
            stop()
        if executor is not None:
            executor.close()

    body = rp.summary(
        outcome,
        opts,
        corpus=inputs.corpus,
        text_column=inputs.text_column,
        synthetic=inputs.synthetic,
        top_k=top_k,
        duplicates=outcome.duplicates,
        patterns=inputs.patterns,
    )
    if out:
        run_json = run_info(
            inputs.command,
            config | {"top_k": top_k, "out": str(out)},
            inputs=rp.run_inputs(outcome.shards),
            seed=opts.seed,
            execution={"engine": engine, "address": address, "workers": workers}
            | (execution or {}),
        )
        rp.write_report(out, outcome, body, run_json, top_k)
    notes = []
    if outcome.reused:
        notes.append(f"reused {outcome.reused} finished shard(s) from {out}")
    if outcome.duplicates:
        n = len(outcome.duplicates)
        notes.append(f"{n} shard(s) are copies of others (same content); counted once")
    return Report(body, outcome.result, outcome, _shown(out), notes)


def merge(
    dirs: Sequence[str | Path], out: str | Path, *, top_k: int = 50, on_warning: Warn | None = None
) -> Report:
    """Merge the per-shard partial results of several runs' output directories (local or URLs)
    into one report in ``out``; a shard is never counted twice."""
    from corpora.locks import reading
    from corpora.runio import run_info
    from negation.negscan import merging
    from negation.negscan import report as rp
    from negation.negscan.scan import options_from_config

    place, paths = Place(out), [Place(d) for d in dirs]
    with ExitStack() as locks:
        locks.enter_context(_locked(place, on_warning, overwrite=None))
        for d in paths:  # (merging into one of the inputs is fine)
            if d.local is not None and d.local.resolve() != (place.local or Path()).resolve():
                locks.enter_context(reading(d.local, "negscan"))
        config, outcome, duplicates = merging.merge_partials(paths, place)
        opts = options_from_config(config)
        body = rp.summary(
            outcome,
            opts,
            corpus=str(config["corpus"]),
            text_column=str(config["text_column"]),
            synthetic=bool(config["synthetic"]),
            top_k=top_k,
            duplicates=duplicates,
        )
        body["merged_from"] = [str(d) for d in paths]
        run_json = run_info(
            "negscan merge",
            config | {"top_k": top_k, "out": str(place)},
            inputs=rp.run_inputs(outcome.shards),
            merged_from=[str(d) for d in paths],
            seed=opts.seed,
        )
        rp.write_report(place, outcome, body, run_json, top_k)
    notes = []
    if duplicates:
        notes.append(f"{len(duplicates)} shard(s) appear in several inputs; each counted once")
    return Report(body, outcome.result, outcome, _shown(place), notes)
