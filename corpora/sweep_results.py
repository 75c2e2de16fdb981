"""The results of ``mlrtrain sweep`` (and ``mlrtrain fit`` run directories) aggregated into the
paper's table: the numbers behind ``mlrtrain table`` and the sweep figures (``paperfigs``).

Pure functions over result files only (``docs/RESULTS.md``, the columns in :mod:`corpora.schema`):
:func:`build_table` reads the runs (:func:`corpora.sweep_runs.load_sweeps`, where what makes a run
count is described) and aggregates them into one numeric row per (dataset, backbone, method)
(``mlr.table.render`` writes it as Markdown, CSV or LaTeX).

Statistics (what a user relies on when reading the table):

- mAP is in percent, as ``metrics.json`` writes it: the headline test mAP of each run (its
  ``--select``: the epoch chosen on the held-out split, or the last epoch).
- Backbones are never pooled, nor image settings: a backbone is (``model``, ``pretrained``,
  ``image_size``, ``weights_id``), a setting (``preprocess``, ``augmentation``) — together
  :data:`GROUP` — and each (backbone, setting) gets its own table, its label (``backbone``)
  naming both. Runs from files that do not record the backbone (older versions) form a backbone
  of their own, "not recorded"; a setting not recorded (files of earlier versions) is left out of
  the label. Two finished runs with the same (dataset, backbone, setting, method, p, seed) are an
  error naming both (a copied run directory), never two seeds.
- A table's proportions, seeds and methods are those of any of its runs, finished or not.
- Cell = mean over the seeds that finished that (method, partial); std is the *sample* standard
  deviation (``ddof=1``), the usual seed-to-seed spread; it is undefined (blank) with one seed.
  ``map_<p>_n`` is the number of seeds behind each cell, ``map_<p>_failed`` the seeds whose run
  failed (or did not finish), ``map_<p>_missing`` the table's seeds with no run of it at all; the
  rendered tables give the row's ``seeds`` (the most behind any cell), mark a cell over fewer
  ``(n=K)`` and list the failed and missing runs per cell under the table.
- Avg = per seed, the mean over all the table's partial columns, then mean ± std over the seeds
  that finished *every* partial (seeds with a hole do not count towards Avg; ``map_avg_n``). The
  rendered Avg is marked ``(n=K)`` when those are fewer than its cells' seeds. It equals the
  paper's Avg only when the nine proportions 10 … 90 % are all present. ``map_last_avg_*`` is the
  same Avg over the runs' last-epoch test mAP (``map_last``; rendered as "last ep."), so the noise
  of the epoch selection is visible beside it.
- Failed runs (:mod:`corpora.sweep_runs`) are counted (``map_<p>_failed``, ``n_failed``), never
  averaged. A failed run whose backbone columns are null (it failed before loading its weights)
  counts with the one finished backbone they match; matching none or several, it gets a table of
  its own.
- Compute: ``hours_per_run`` = mean ``wall_seconds`` / 3600 over counted runs, ``hours_total`` =
  their sum, ``devices`` = the devices they ran on. ``wall_seconds`` includes building the feature
  cache, which only the run that found it missing pays: ``train_hours_per_run`` = mean
  (``wall_seconds`` − ``cache_seconds``) / 3600 over the ``train_hours_n`` counted runs that record
  ``cache_seconds`` (runs of earlier versions do not), ``cache_hours_total`` = their
  ``cache_seconds`` summed. Neither is the paper's end-to-end GPU hours per training run.
- Paper columns: ``paper_<p>`` the published mAP, ``diff_<p>`` = ours − paper in mAP points;
  ``paper_avg`` is the published Avg when all nine proportions are present, otherwise the mean of
  the published cells over the proportions we have (so the difference compares like with like).
  A backbone with random weights (``random_weights``) is never compared with the paper (its paper
  columns stay empty, ``paper_refused`` is true and the rendered table says so) unless
  ``allow_random``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import cast

import polars as pl

from corpora import schema as S
from corpora.reference import method_label, method_rank, paper_map, paper_methods
from corpora.schema import C
from corpora.sweep_runs import GROUP, load_sweeps, refuse_duplicates


def paper_refused(*, random: bool, paper: bool, allow_random: bool) -> bool:
    """The one policy of ``mlrtrain table`` and the sweep figures: runs on random weights are never
    put beside the paper's numbers (they say nothing about CLIP) unless ``allow_random``."""
    return paper and random and not allow_random


REFUSED_NOTE = "not compared with the paper (random weights; --allow-random to compare)"


def partial_key(p: float) -> str:
    """Column key of a known-label proportion: 0.1 → ``10``, 0.125 → ``12.5``."""
    return f"{p * 100:.4g}"


def _on_backbone(key: dict) -> pl.Expr:
    """Rows on the backbone ``key``: a failed run's backbone column that it never learnt (null:
    it failed before loading its weights or knowing their input size) matches any value."""
    cond = pl.col(C.dataset) == key[C.dataset]
    for c in (C.model, C.pretrained):
        cond &= pl.col(c).eq_missing(key[c])
    for c in (C.image_size, C.weights_id, *S.SWEEP_SETTING):
        cond &= pl.col(c).eq_missing(key[c]) | pl.col(c).is_null()
    return cond


def _one_value(mine: pl.DataFrame, col: str, what: str, where: str):
    values = mine[col].drop_nulls().unique().to_list()
    if len(values) > 1:
        raise ValueError(
            f"{where}: runs disagree on {what} {sorted(values)} (mixed configurations in one "
            "sweep?); split them into separate sweeps"
        )
    return values[0] if values else None


def _seeds_of(frame: pl.DataFrame) -> dict[tuple[str, float], set[int]]:
    """(method, partial) → the seeds ``frame`` has of it."""
    out: dict[tuple[str, float], set[int]] = {}
    for m, p, s in frame.select(C.method, C.partial, C.seed).iter_rows():
        out.setdefault((m, p), set()).add(s)
    return out


def _backbone_table(
    ok: pl.DataFrame, failed: pl.DataFrame, ds: str, *, paper: bool, allow_random: bool
) -> pl.DataFrame:
    """The rows of one (dataset, backbone): ``ok`` its finished runs, ``failed`` the others (a
    table of failed runs only when ``ok`` is empty). Its proportions and seeds are those of any
    of its runs; a (method, proportion, seed) with no run at all is *missing*."""
    both = pl.concat([ok, failed], how="vertical_relaxed")
    partials = sorted(both[C.partial].unique().to_list())
    all_seeds = set(both[C.seed].to_list())
    first = (ok if ok.height else failed).row(0, named=True)
    random = bool((ok if ok.height else failed)[C.random_weights].fill_null(False).any())
    refused = paper_refused(random=random, paper=paper, allow_random=allow_random)
    paper = paper and not refused and ok.height > 0
    done, tried = _seeds_of(ok), _seeds_of(failed)
    cells = ok.group_by(C.method, C.partial).agg(
        mean=pl.col(C.map).mean(), std=pl.col(C.map).std(ddof=1)
    )
    per_seed = (
        ok.group_by(C.method, C.seed)
        .agg(
            avg=pl.col(C.map).mean(),
            avg_last=pl.col(C.map_last).mean(),
            n_partials=pl.col(C.partial).n_unique(),
        )
        .filter(pl.col("n_partials") == len(partials))
    )
    pub = paper_map() if paper else paper_map().clear()
    pub = pub.filter(pl.col(C.dataset) == ds)
    pub = pub.with_columns(S.rounded_partial())
    meta = paper_methods() if paper else paper_methods().clear()
    meta = meta.filter(pl.col(C.dataset) == ds)
    full_paper = sorted(pub[C.partial].unique().to_list()) == partials

    rows = []
    for method in sorted(both[C.method].unique().to_list(), key=method_rank):
        mine = ok.filter(pl.col(C.method) == method)
        where = f"dataset {ds!r}, {first[C.backbone]}, method {method!r}"
        n_params = _one_value(mine, C.n_params, C.n_params, where)
        select = _one_value(mine, C.select, "--select", where)
        m_meta = meta.filter(pl.col(C.method) == method)
        row: dict[str, object] = {
            C.dataset: ds,
            **{c: first[c] for c in (*GROUP, C.backbone)},
            C.random_weights: random,
            C.paper_refused: refused,
            C.select: select,
            C.method: method,
            C.label: method_label(method),
            C.n_params: n_params,
            C.params_paper: m_meta[C.params_paper].item() if m_meta.height else None,
            C.params_label: m_meta[C.params_label].item() if m_meta.height else None,
        }
        mine_pub = pub.filter(pl.col(C.method) == method)
        paper_cells = []
        n_failed = n_missing = 0
        for p in partials:
            c = cells.filter((pl.col(C.method) == method) & (pl.col(C.partial) == p))
            mean, std = (c["mean"].item(), c["std"].item()) if c.height else (None, None)
            good = done.get((method, p), set())
            bad = tried.get((method, p), set()) - good  # a failed attempt since redone counts not
            missing = len(all_seeds - good - bad)
            n_failed, n_missing = n_failed + len(bad), n_missing + missing
            pv = mine_pub.filter(pl.col(C.partial) == p)[C.map]
            ref = pv.item() if pv.len() else None
            paper_cells.append(ref)
            diff = None if mean is None or ref is None else mean - ref
            values = (mean, std, len(good), len(bad), missing, ref, diff)
            row |= dict(zip(S.per_proportion(partial_key(p)), values, strict=True))
        seeds = per_seed.filter(pl.col(C.method) == method)
        s, s_last = seeds["avg"], seeds["avg_last"].drop_nulls()
        avg_mean = s.mean() if s.len() else None
        avg_std = s.std(ddof=1) if s.len() > 1 else None
        if full_paper and m_meta.height:
            paper_avg = m_meta["map_avg"].item()
        elif mine_pub.height and all(v is not None for v in paper_cells):
            paper_avg = sum(v for v in paper_cells if v is not None) / len(paper_cells)
        else:
            paper_avg = None
        secs = mine[C.wall_seconds].drop_nulls()
        timed = mine.drop_nulls([C.wall_seconds, C.cache_seconds])
        train_secs = timed[C.wall_seconds] - timed[C.cache_seconds]
        row |= {
            C.map_avg_mean: avg_mean,
            C.map_avg_std: avg_std,
            C.map_avg_n: s.len(),
            # the same Avg over the last-epoch test mAP (runs that record it)
            C.map_last_avg_mean: s_last.mean() if s_last.len() else None,
            C.map_last_avg_std: s_last.std(ddof=1) if s_last.len() > 1 else None,
            C.map_last_avg_n: s_last.len(),
            C.paper_avg: paper_avg,
            C.diff_avg: None if avg_mean is None or paper_avg is None else avg_mean - paper_avg,
            C.hours_per_run: cast(float, secs.mean()) / 3600 if secs.len() else None,
            C.hours_total: cast(float, secs.sum()) / 3600 if secs.len() else None,
            C.train_hours_per_run: cast(float, train_secs.mean()) / 3600 if timed.height else None,
            C.train_hours_n: timed.height,
            C.cache_hours_total: cast(float, timed[C.cache_seconds].sum()) / 3600
            if timed.height
            else None,
            C.paper_gpu_hours: m_meta["gpu_hours"].item() if m_meta.height else None,
            C.devices: ", ".join(sorted(mine[C.device].drop_nulls().unique().to_list())),
            C.n_runs: mine.height,
            C.n_failed: n_failed,
            C.n_missing: n_missing,
        }
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def _split_failed(
    groups: list[dict], failed: pl.DataFrame
) -> tuple[list[pl.DataFrame], pl.DataFrame]:
    """Each group's failed runs, and those of no group: a failed run whose unknown backbone
    columns match no finished backbone, or more than one (it is never counted twice)."""
    failed = failed.with_row_index("_row")
    claims = [set(failed.filter(_on_backbone(key))["_row"].to_list()) for key in groups]
    shared = {i for a, b in itertools.combinations(claims, 2) for i in a & b}
    mine = [failed.filter(pl.col("_row").is_in(sorted(c - shared))).drop("_row") for c in claims]
    claimed = set().union(*claims) - shared
    return mine, failed.filter(~pl.col("_row").is_in(sorted(claimed))).drop("_row")


def build_table(
    sweep_dir: Path | list[Path],
    dataset: str | None = None,
    *,
    paper: bool = True,
    allow_random: bool = False,
) -> pl.DataFrame:
    """One numeric row per (dataset, backbone, method) — see the module docstring for every
    column.

    ``dataset`` selects one dataset of a sweep that holds several; ``paper=False`` leaves the
    paper columns empty, as they stay for random weights unless ``allow_random``. ``sweep_dir``
    may be several directories (:func:`load_sweeps`). Raises ``FileNotFoundError`` /
    ``ValueError`` with the file at fault.
    """
    runs = load_sweeps(sweep_dir)
    where = sweep_dir if isinstance(sweep_dir, str | Path) else ", ".join(map(str, sweep_dir))
    if dataset is not None:
        have = sorted(runs[C.dataset].unique().to_list())
        runs = runs.filter(pl.col(C.dataset) == dataset)
        if runs.is_empty():
            raise ValueError(f"{where}: no runs for dataset {dataset!r} (it has {have})")
    ok = runs.filter(pl.col("ok"))
    if ok.is_empty():
        raise ValueError(f"{where}: none of its {runs.height} run(s) finished")
    refuse_duplicates(ok, where)
    failed = runs.filter(~pl.col("ok"))
    group_cols = (C.dataset, *GROUP, C.backbone)
    groups = ok.select(group_cols).unique().sort(C.dataset, C.backbone, nulls_last=True).to_dicts()
    theirs, orphans = _split_failed(groups, failed)
    parts = []
    for key, their in zip(groups, theirs, strict=True):
        mine = ok.filter(
            pl.all_horizontal(pl.col(c).eq_missing(key[c]) for c in (C.dataset, *GROUP))
        )
        parts.append(
            _backbone_table(mine, their, key[C.dataset], paper=paper, allow_random=allow_random)
        )
    # failed runs on a backbone without a finished run: a table of their own, never dropped
    for key in orphans.select(group_cols).unique(maintain_order=True).to_dicts():
        their = orphans.filter(pl.all_horizontal(pl.col(c).eq_missing(key[c]) for c in group_cols))
        parts.append(
            _backbone_table(ok.clear(), their, key[C.dataset], paper=paper, allow_random=False)
        )
    return pl.concat(parts, how="diagonal_relaxed")
