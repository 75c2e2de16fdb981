"""Reading the runs of ``mlrtrain sweep`` (and ``mlrtrain fit`` run directories): one row per
run, the input of :func:`corpora.sweep_results.build_table` and the sweep figures.

- :func:`load_runs` reads a sweep's ``results.parquet`` or, when it is absent, every
  ``*/metrics.json`` below the directory (one per ``mlrtrain fit`` run) — a local directory or
  an fsspec URL (:func:`~corpora.places.remote_url`); :func:`load_sweeps` reads several,
  refusing a run found in two of them.
- A run counts (``ok``) when it finished: ``map`` is a number, ``error`` is empty (or ``status``
  is ``conflict``: complete, made with other options than a later sweep's) and ``status`` is not
  one of :data:`FAILED_STATUSES` (``results.parquet``), or ``complete`` is true
  (``metrics.json``).
- ``backbone`` labels a run's model, weights, input size and image setting; a run whose files do
  not record the model is :data:`NOT_RECORDED`.
- :func:`refuse_duplicates`: two finished runs of one (dataset, backbone, setting, method, p,
  seed) are an error naming both (a copied run directory), never two seeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import fsspec
import polars as pl

from corpora import schema as S
from corpora.labels import model_label_column
from corpora.places import remote_url
from corpora.schema import C

RESULTS_FILE = S.SWEEP_RESULTS_FILE
METRICS_FILE = "metrics.json"
CONFLICT = "conflict"  # a complete run made with other options than a later sweep asked for
FAILED_STATUSES = frozenset({"failed", "error", "incomplete", "running", "pending", "killed"})
GROUP = S.SWEEP_GROUP  # a table's backbone and image setting
_SCHEMA = S.SWEEP_RESULTS
_MAKE = "run `mlrtrain sweep … --out DIR` (or `mlrtrain fit … --out DIR/<run>`) first"
NOT_RECORDED = "backbone not recorded"


def _from_results(path: Path | str, source=None) -> pl.DataFrame:
    """``results.parquet`` at ``path`` (read from ``source``, an open file, when given)."""
    try:
        frame = pl.read_parquet(path if source is None else source)
    except Exception as exc:  # truncated, empty or not Parquet: name the file, not a traceback
        raise ValueError(
            f"{path}: unreadable results file (truncated or not Parquet: {type(exc).__name__}); "
            "rerun the sweep to rewrite it, or move it away to read the run directories"
        ) from exc
    missing = [c for c in _SCHEMA if c not in frame.columns and c not in S.SWEEP_ADDED]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; it has {frame.columns}")
    return frame.select(
        [
            pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
            for c, t in _SCHEMA.items()
        ]
    )


def _from_metrics(files: list[tuple[str, str, Callable[[], str]]]) -> pl.DataFrame:
    """One row per ``(name, run_dir, read)``: a ``metrics.json`` file, its run directory
    relative to the sweep, and a function returning its text."""
    rows = []
    for f, run_dir, read in files:
        try:
            m = json.loads(read())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{f}: unreadable metrics file ({exc})") from exc
        # a run still training (or stopped) writes metrics.json with complete=false and no map
        needed: tuple[str, ...] = (C.dataset, C.method, C.partial, C.seed, C.complete)
        if m.get(C.complete):
            needed += (C.map, C.n_params, C.wall_seconds, C.device)
        missing = [k for k in needed if k not in m]
        if missing:
            raise ValueError(f"{f}: missing key(s) {missing}")
        dataset = m[C.dataset]["name"] if isinstance(m[C.dataset], dict) else m[C.dataset]
        rows.append(
            {
                **{k: m.get(k) for k in _SCHEMA if k not in (C.dataset, C.status, C.run_dir)},
                C.dataset: dataset,
                C.status: "complete" if m[C.complete] else "incomplete",
                C.run_dir: run_dir,
            }
        )
    return pl.DataFrame(rows, schema=_SCHEMA)


def load_runs(sweep_dir: Path) -> pl.DataFrame:
    """Every run of a sweep, one row each: the ``results.parquet`` columns plus ``ok`` (the run
    counts, see the module docstring) and ``backbone`` (a label naming the model, its weights and
    input size). ``partial`` is rounded to ``PARTIAL_DECIMALS`` decimals (``0.1:0.9:0.1``
    ranges give 0.30000000000000004). ``sweep_dir`` may be an fsspec URL."""
    url = remote_url(sweep_dir)
    runs = _load_local(Path(sweep_dir)) if url is None else _load_remote(url.rstrip("/"))
    return runs.with_columns(
        S.rounded_partial(),
        ok=(
            pl.col(C.map).is_not_null()
            & pl.col(C.map).is_not_nan()
            # a ``conflict`` run is complete, only made with other options than the last sweep's
            # (``error`` names them): it counts, like ``skipped``
            & (pl.col(C.error).is_null() | (pl.col(C.error) == "") | (pl.col(C.status) == CONFLICT))
            & ~pl.col(C.status).str.to_lowercase().is_in(list(FAILED_STATUSES)).fill_null(False)
        ),
        backbone=pl.when(pl.col(C.model).is_null())
        .then(pl.lit(NOT_RECORDED))
        .otherwise(
            pl.format(
                "{} / {} px",
                model_label_column(pl.col(C.model), pl.col(C.pretrained).fill_null("?")),
                pl.col(C.image_size).cast(pl.String).fill_null("?"),
            )
            + pl.when(pl.col(C.random_weights).fill_null(False))
            .then(pl.lit(" (RANDOM WEIGHTS)"))
            .otherwise(pl.format(" (weights {})", pl.col(C.weights_id).fill_null("?")))
            # the image setting, where the files record it (earlier versions did not)
            + pl.when(pl.col(C.preprocess).is_null() & pl.col(C.augmentation).is_null())
            .then(pl.lit(""))
            .otherwise(
                pl.format(
                    " · {}, augmentation {}",
                    pl.col(C.preprocess).fill_null("?"),
                    pl.col(C.augmentation).fill_null("?"),
                )
            )
        ),
    )


def _load_local(sweep_dir: Path) -> pl.DataFrame:
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"{sweep_dir}: no such sweep directory — {_MAKE}")
    results = sweep_dir / RESULTS_FILE
    if results.is_file():
        return _from_results(results)
    files = sorted(sweep_dir.rglob(METRICS_FILE))
    if not files:
        raise FileNotFoundError(
            f"{results} not found and no */{METRICS_FILE} below {sweep_dir} — {_MAKE}"
        )
    return _from_metrics(
        [
            (str(f), str(f.parent.relative_to(sweep_dir)), partial(f.read_text, "utf-8"))
            for f in files
        ]
    )


def _load_remote(url: str) -> pl.DataFrame:
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    if not fs.isdir(root):
        raise FileNotFoundError(f"{url}: no such sweep directory — {_MAKE}")
    results = f"{url}/{RESULTS_FILE}"
    if fs.isfile(f"{root}/{RESULTS_FILE}"):
        with fs.open(f"{root}/{RESULTS_FILE}", "rb") as f:
            return _from_results(results, f)
    files = sorted(fs.glob(f"{root}/**/{METRICS_FILE}"))
    if not files:
        raise FileNotFoundError(
            f"{results} not found and no */{METRICS_FILE} below {url} — {_MAKE}"
        )

    def entry(f: str) -> tuple[str, str, Callable[[], str]]:
        rel = f[len(root) + 1 :]
        return f"{url}/{rel}", rel.rpartition("/")[0], lambda: fs.cat_file(f).decode("utf-8")

    return _from_metrics([entry(f) for f in files])


def load_sweeps(sweep_dirs: Path | list[Path]) -> pl.DataFrame:
    """:func:`load_runs` over several sweep directories (e.g. one per job-array element). A run
    (same dataset, model columns, method, partial and seed) found in two of them is an error:
    it would be averaged twice."""
    dirs = [sweep_dirs] if isinstance(sweep_dirs, str | Path) else list(sweep_dirs)
    runs = pl.concat([load_runs(d) for d in dirs], how="diagonal_relaxed")
    key = [c for c in (C.dataset, *GROUP, C.method, C.partial, C.seed) if c in runs.columns]
    twice = runs.filter(pl.struct(key).is_duplicated())
    if len(dirs) > 1 and not twice.is_empty():
        raise ValueError(
            f"run {twice.select(key).row(0, named=True)} is in more than one of "
            f"{', '.join(map(str, dirs))}; give each run's directory once"
        )
    return runs


def refuse_duplicates(ok: pl.DataFrame, sweep_dir: Path | str) -> None:
    """Two finished runs of one (dataset, backbone, method, p, seed) would count as two seeds."""
    key = [C.dataset, *GROUP, C.method, C.partial, C.seed]
    dup = ok.filter(pl.len().over(key, mapping_strategy="group_to_rows") > 1)
    if dup.height:
        r = dup.sort(key).row(0, named=True)
        dirs = dup.filter(pl.all_horizontal(pl.col(c).eq_missing(r[c]) for c in key))[
            C.run_dir
        ].to_list()
        raise ValueError(
            f"{sweep_dir}: {len(dirs)} finished runs of {r[C.method]} p={r[C.partial]:g} "
            f"seed {r[C.seed]} on {r[C.dataset]} / {r[C.backbone]} ({', '.join(map(str, dirs))}); "
            "keep one (a copied run directory?)"
        )
