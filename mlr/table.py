"""The paper's results table from a sweep directory: rows = methods, columns = 10 % … 90 % known
labels + Avg, each cell the mean ± standard deviation of mAP over seeds, with the parameter count,
the measured compute, and the paper's published numbers beside ours.

Pure functions over result files only (``docs/RESULTS.md``):

- :func:`load_runs` reads a sweep's ``results.parquet`` or, when it is absent, every
  ``*/metrics.json`` below the directory (one per ``mlrtrain fit`` run);
- :func:`build_table` aggregates them into one numeric row per (dataset, backbone, method);
- :func:`render` writes that frame as Markdown, CSV or LaTeX: one table per (dataset, backbone).

Statistics (what a user relies on when reading the table):

- mAP is in percent, as ``metrics.json`` writes it: the headline test mAP of each run (its
  ``--select``: the epoch chosen on the held-out split, or the last epoch).
- Backbones are never pooled: a backbone is (``model``, ``pretrained``, ``image_size``,
  ``weights_id``) — :data:`BACKBONE` — and each gets its own table. Runs from files that do not
  record it (older versions) form a backbone of their own, "not recorded". Two finished runs with
  the same (dataset, backbone, method, p, seed) are an error naming both (a copied run directory),
  never two seeds.
- Cell = mean over the seeds that finished that (method, partial); std is the *sample* standard
  deviation (``ddof=1``), the usual seed-to-seed spread; it is undefined (blank) with one seed.
  ``map_<p>_n`` is the number of seeds behind each cell; the rendered tables show it in a
  ``seeds`` column (``3``, or ``2–3`` when cells differ).
- Avg = per seed, the mean over all the dataset's partial columns, then mean ± std over the seeds
  that finished *every* partial (seeds with a hole do not count towards Avg). It equals the paper's
  Avg only when the nine proportions 10 … 90 % are all present. ``map_last_avg_mean`` / ``_std``
  is the same Avg over the runs' last-epoch test mAP (``map_last``; rendered as "last ep."), so
  the noise of the epoch selection is visible beside it.
- A run counts when it finished: ``map`` is a number, ``error`` is empty (or ``status`` is
  ``conflict``: complete, made with other options than a later sweep's) and ``status`` is not one
  of :data:`FAILED_STATUSES` (``results.parquet``), or ``complete`` is true (``metrics.json``).
  Failed runs are counted in ``n_failed``, never averaged.
- Compute: ``hours_per_run`` = mean ``wall_seconds`` / 3600 over counted runs (comparable with the
  paper's GPU hours, which are per training run), ``hours_total`` = their sum, ``devices`` = the
  devices they ran on.
- Paper columns: ``paper_<p>`` the published mAP, ``diff_<p>`` = ours − paper in mAP points;
  ``paper_avg`` is the published Avg when all nine proportions are present, otherwise the mean of
  the published cells over the proportions we have (so the difference compares like with like).
  A backbone with random weights (``random_weights``) is never compared with the paper (its paper
  columns stay empty, ``paper_refused`` is true and the rendered table says so) unless
  ``allow_random``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import polars as pl

from corpora.reference import method_label, method_order, paper_map, paper_methods

RESULTS_FILE = "results.parquet"
METRICS_FILE = "metrics.json"
CONFLICT = "conflict"  # a complete run made with other options than a later sweep asked for
FAILED_STATUSES = frozenset({"failed", "error", "incomplete", "running", "pending", "killed"})
BACKBONE = ("model", "pretrained", "image_size", "weights_id")
_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "pretrained": pl.String,
    "image_size": pl.Int64,
    "weights_id": pl.String,
    "random_weights": pl.Boolean,
    "method": pl.String,
    "partial": pl.Float64,
    "seed": pl.Int64,
    "map": pl.Float64,
    "map_last": pl.Float64,
    "select": pl.String,
    "n_params": pl.Int64,
    "wall_seconds": pl.Float64,
    "device": pl.String,
    "status": pl.String,
    "error": pl.String,
    "run_dir": pl.String,
}
RUN_COLUMNS = tuple(_SCHEMA)
# columns that result files of earlier versions lack: read as null
_OPTIONAL = (*BACKBONE, "random_weights", "map_last", "select", "run_dir")
FORMATS = ("markdown", "csv", "latex")
_MAKE = "run `mlrtrain sweep … --out DIR` (or `mlrtrain fit … --out DIR/<run>`) first"
NOT_RECORDED = "backbone not recorded"


def _from_results(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # truncated, empty or not Parquet: name the file, not a traceback
        raise ValueError(
            f"{path}: unreadable results file (truncated or not Parquet: {type(exc).__name__}); "
            "rerun the sweep to rewrite it, or move it away to read the run directories"
        ) from exc
    missing = [c for c in RUN_COLUMNS if c not in frame.columns and c not in _OPTIONAL]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; it has {frame.columns}")
    return frame.select(
        [
            pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
            for c, t in _SCHEMA.items()
        ]
    )


def _from_metrics(files: list[Path], root: Path) -> pl.DataFrame:
    rows = []
    for f in files:
        try:
            m = json.loads(f.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{f}: unreadable metrics file ({exc})") from exc
        # a run still training (or stopped) writes metrics.json with complete=false and no map
        needed = ("dataset", "method", "partial", "seed", "complete")
        if m.get("complete"):
            needed += ("map", "n_params", "wall_seconds", "device")
        missing = [k for k in needed if k not in m]
        if missing:
            raise ValueError(f"{f}: missing key(s) {missing}")
        dataset = m["dataset"]["name"] if isinstance(m["dataset"], dict) else m["dataset"]
        rows.append(
            {
                **{k: m.get(k) for k in _SCHEMA if k not in ("dataset", "status", "run_dir")},
                "dataset": dataset,
                "status": "complete" if m["complete"] else "incomplete",
                "run_dir": str(f.parent.relative_to(root)),
            }
        )
    return pl.DataFrame(rows, schema=_SCHEMA)


def load_runs(sweep_dir: Path) -> pl.DataFrame:
    """Every run of a sweep, one row each: the ``results.parquet`` columns plus ``ok`` (the run
    counts, see the module docstring) and ``backbone`` (a label naming the model, its weights and
    input size). ``partial`` is rounded to 4 decimals (``0.1:0.9:0.1`` ranges give
    0.30000000000000004)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"{sweep_dir}: no such sweep directory — {_MAKE}")
    results = sweep_dir / RESULTS_FILE
    if results.is_file():
        runs = _from_results(results)
    else:
        files = sorted(sweep_dir.rglob(METRICS_FILE))
        if not files:
            raise FileNotFoundError(
                f"{results} not found and no */{METRICS_FILE} below {sweep_dir} — {_MAKE}"
            )
        runs = _from_metrics(files, sweep_dir)
    return runs.with_columns(
        pl.col("partial").round(4),
        ok=(
            pl.col("map").is_not_null()
            & pl.col("map").is_not_nan()
            # a ``conflict`` run is complete, only made with other options than the last sweep's
            # (``error`` names them): it counts, like ``skipped``
            & (pl.col("error").is_null() | (pl.col("error") == "") | (pl.col("status") == CONFLICT))
            & ~pl.col("status").str.to_lowercase().is_in(list(FAILED_STATUSES)).fill_null(False)
        ),
        backbone=pl.when(pl.col("model").is_null())
        .then(pl.lit(NOT_RECORDED))
        .otherwise(
            pl.format(
                "{} / {} / {} px",
                pl.col("model"),
                pl.col("pretrained").fill_null("?"),
                pl.col("image_size").cast(pl.String).fill_null("?"),
            )
            + pl.when(pl.col("random_weights").fill_null(False))
            .then(pl.lit(" (RANDOM WEIGHTS)"))
            .otherwise(pl.format(" (weights {})", pl.col("weights_id").fill_null("?")))
        ),
    )


def load_sweeps(sweep_dirs: Path | list[Path]) -> pl.DataFrame:
    """:func:`load_runs` over several sweep directories (e.g. one per job-array element). A run
    (same dataset, model columns, method, partial and seed) found in two of them is an error:
    it would be averaged twice."""
    dirs = [sweep_dirs] if isinstance(sweep_dirs, str | Path) else list(sweep_dirs)
    runs = pl.concat([load_runs(d) for d in dirs], how="diagonal_relaxed")
    key = [c for c in ("dataset", *BACKBONE, "method", "partial", "seed") if c in runs.columns]
    twice = runs.filter(pl.struct(key).is_duplicated())
    if len(dirs) > 1 and not twice.is_empty():
        raise ValueError(
            f"run {twice.select(key).row(0, named=True)} is in more than one of "
            f"{', '.join(map(str, dirs))}; give each run's directory once"
        )
    return runs


def partial_key(p: float) -> str:
    """Column key of a known-label proportion: 0.1 → ``10``, 0.125 → ``12.5``."""
    return f"{p * 100:.4g}"


def _method_rank(method: str) -> tuple[int, str]:
    order = method_order()
    return (order.index(method), "") if method in order else (len(order), method)


def _same_backbone(frame: pl.DataFrame, key: dict) -> pl.DataFrame:
    """The rows of ``frame`` on the backbone ``key``; a run that failed before it knew its weights'
    identity (``weights_id`` null) counts with its model, weights and size."""
    cond = pl.lit(True)
    for c in ("model", "pretrained", "image_size"):
        cond &= pl.col(c).eq_missing(key[c])
    cond &= pl.col("weights_id").eq_missing(key["weights_id"]) | pl.col("weights_id").is_null()
    return frame.filter(cond)


def _one_value(mine: pl.DataFrame, col: str, what: str, where: str):
    values = mine[col].drop_nulls().unique().to_list()
    if len(values) > 1:
        raise ValueError(
            f"{where}: runs disagree on {what} {sorted(values)} (mixed configurations in one "
            "sweep?); split them into separate sweeps"
        )
    return values[0] if values else None


def _backbone_table(
    ok: pl.DataFrame, failed: pl.DataFrame, ds: str, paper: bool, allow_random: bool
) -> pl.DataFrame:
    partials = sorted(ok["partial"].unique().to_list())
    keys = [partial_key(p) for p in partials]
    first = ok.row(0, named=True)
    random = bool(ok["random_weights"].fill_null(False).any())
    refused = paper and random and not allow_random
    paper = paper and not refused
    cells = ok.group_by("method", "partial").agg(
        mean=pl.col("map").mean(), std=pl.col("map").std(ddof=1), n=pl.len()
    )
    per_seed = (
        ok.group_by("method", "seed")
        .agg(
            avg=pl.col("map").mean(),
            avg_last=pl.col("map_last").mean(),
            n_partials=pl.col("partial").n_unique(),
        )
        .filter(pl.col("n_partials") == len(partials))
    )
    pub = paper_map() if paper else paper_map().clear()
    pub = pub.filter(pl.col("dataset") == ds).with_columns(pl.col("partial").round(4))
    meta = paper_methods() if paper else paper_methods().clear()
    meta = meta.filter(pl.col("dataset") == ds)
    full_paper = sorted(pub["partial"].unique().to_list()) == partials

    rows = []
    for method in sorted(ok["method"].unique().to_list(), key=_method_rank):
        mine = ok.filter(pl.col("method") == method)
        where = f"dataset {ds!r}, {first['backbone']}, method {method!r}"
        n_params = _one_value(mine, "n_params", "n_params", where)
        select = _one_value(mine, "select", "--select", where)
        m_meta = meta.filter(pl.col("method") == method)
        row: dict[str, object] = {
            "dataset": ds,
            **{c: first[c] for c in (*BACKBONE, "backbone")},
            "random_weights": random,
            "paper_refused": refused,
            "select": select,
            "method": method,
            "label": method_label(method),
            "n_params": n_params,
            "params_paper": m_meta["params_paper"].item() if m_meta.height else None,
            "params_label": m_meta["params_label"].item() if m_meta.height else None,
        }
        mine_pub = pub.filter(pl.col("method") == method)
        paper_cells = []
        for p, k in zip(partials, keys, strict=True):
            c = cells.filter((pl.col("method") == method) & (pl.col("partial") == p))
            mean, std, n = (None, None, 0)
            if c.height:
                mean, std, n = c["mean"].item(), c["std"].item(), c["n"].item()
            pv = mine_pub.filter(pl.col("partial") == p)["map"]
            ref = pv.item() if pv.len() else None
            paper_cells.append(ref)
            row |= {
                f"map_{k}_mean": mean,
                f"map_{k}_std": std,
                f"map_{k}_n": n,
                f"paper_{k}": ref,
                f"diff_{k}": None if mean is None or ref is None else mean - ref,
            }
        seeds = per_seed.filter(pl.col("method") == method)
        s, s_last = seeds["avg"], seeds["avg_last"].drop_nulls()
        avg_mean = s.mean() if s.len() else None
        avg_std = s.std(ddof=1) if s.len() > 1 else None
        if full_paper and m_meta.height:
            paper_avg = m_meta["map_avg"].item()
        elif mine_pub.height and all(v is not None for v in paper_cells):
            paper_avg = sum(paper_cells) / len(paper_cells)
        else:
            paper_avg = None
        secs = mine["wall_seconds"].drop_nulls()
        row |= {
            "map_avg_mean": avg_mean,
            "map_avg_std": avg_std,
            "map_avg_n": s.len(),
            # the same Avg over the last-epoch test mAP (runs that record it)
            "map_last_avg_mean": s_last.mean() if s_last.len() else None,
            "map_last_avg_std": s_last.std(ddof=1) if s_last.len() > 1 else None,
            "paper_avg": paper_avg,
            "diff_avg": None if avg_mean is None or paper_avg is None else avg_mean - paper_avg,
            "hours_per_run": secs.mean() / 3600 if secs.len() else None,
            "hours_total": secs.sum() / 3600 if secs.len() else None,
            "paper_gpu_hours": m_meta["gpu_hours"].item() if m_meta.height else None,
            "devices": ", ".join(sorted(mine["device"].drop_nulls().unique().to_list())),
            "n_runs": mine.height,
            "n_failed": failed.filter(pl.col("method") == method).height,
        }
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def _refuse_duplicates(ok: pl.DataFrame, sweep_dir: Path) -> None:
    """Two finished runs of one (dataset, backbone, method, p, seed) would count as two seeds."""
    key = ["dataset", *BACKBONE, "method", "partial", "seed"]
    dup = ok.filter(pl.len().over(key, mapping_strategy="group_to_rows") > 1)
    if dup.height:
        r = dup.sort(key).row(0, named=True)
        dirs = dup.filter(pl.all_horizontal(pl.col(c).eq_missing(r[c]) for c in key))[
            "run_dir"
        ].to_list()
        raise ValueError(
            f"{sweep_dir}: {len(dirs)} finished runs of {r['method']} p={r['partial']:g} "
            f"seed {r['seed']} on {r['dataset']} / {r['backbone']} ({', '.join(map(str, dirs))}); "
            "keep one (a copied run directory?)"
        )


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
    if not isinstance(sweep_dir, str | Path):
        sweep_dir = ", ".join(map(str, sweep_dir))  # type: ignore[assignment]
    if dataset is not None:
        have = sorted(runs["dataset"].unique().to_list())
        runs = runs.filter(pl.col("dataset") == dataset)
        if runs.is_empty():
            raise ValueError(f"{sweep_dir}: no runs for dataset {dataset!r} (it has {have})")
    ok = runs.filter(pl.col("ok"))
    if ok.is_empty():
        raise ValueError(f"{sweep_dir}: none of its {runs.height} run(s) finished")
    _refuse_duplicates(ok, sweep_dir)
    failed = runs.filter(~pl.col("ok"))
    parts = []
    groups = (
        ok.select("dataset", *BACKBONE, "backbone")
        .unique()
        .sort("dataset", "backbone", nulls_last=True)
    )
    for key in groups.iter_rows(named=True):
        ds = key["dataset"]
        mine = _same_backbone(ok.filter(pl.col("dataset") == ds), key)
        mine = mine.filter(pl.col("weights_id").eq_missing(key["weights_id"]))
        theirs = _same_backbone(failed.filter(pl.col("dataset") == ds), key)
        parts.append(_backbone_table(mine, theirs, ds, paper, allow_random))
    return pl.concat(parts, how="diagonal_relaxed")


# --- rendering -------------------------------------------------------------------------------


def table_keys(df: pl.DataFrame) -> list[str]:
    """The partial keys (``10``, ``20``, …) of a :func:`build_table` frame, in column order, for
    proportions that at least one row of it has."""
    keys = [m.group(1) for c in df.columns if (m := re.fullmatch(r"map_(.+)_mean", c))]
    keys = [k for k in keys if k not in ("avg", "last_avg")]
    return [k for k in keys if df[f"map_{k}_mean"].is_not_null().any()]


def _num(x: float | None, digits: int = 1, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _params(n: int | None) -> str:
    if n is None:
        return "—"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.1f}k"
    return str(n)


def _signed_params(ours: int | None, paper: int | None) -> str:
    if ours is None or paper is None:
        return "—"
    d = ours - paper
    return ("+" if d >= 0 else "-") + _params(abs(d))


PM = " ± "


def _cell(row: dict, key: str) -> str:
    mean, std = row.get(f"map_{key}_mean"), row.get(f"map_{key}_std")
    if mean is None:
        return "—"
    return _num(mean) if std is None else f"{_num(mean)}{PM}{_num(std)}"


def _seeds(row: dict, keys: list[str]) -> str:
    ns = [row[f"map_{k}_n"] for k in keys if row[f"map_{k}_n"]]
    if not ns:
        return "0"
    return str(min(ns)) if min(ns) == max(ns) else f"{min(ns)}–{max(ns)}"


_Grid = tuple[str, str, pl.DataFrame, list[str], list[list[str]], list[list[str]]]


def _parts(df: pl.DataFrame) -> list[tuple[str, str, pl.DataFrame]]:
    """(dataset, backbone label, its rows) per table; frames without backbone columns (earlier
    versions) are one table per dataset."""
    if "backbone" not in df.columns:
        df = df.with_columns(backbone=pl.lit(NOT_RECORDED))
    out = []
    for ds, bb in df.select("dataset", "backbone").unique(maintain_order=True).iter_rows():
        out.append((ds, bb, df.filter((pl.col("dataset") == ds) & (pl.col("backbone") == bb))))
    return out


def _grids(df: pl.DataFrame) -> list[_Grid]:
    """Per (dataset, backbone): (dataset, backbone, its rows, header, our rows, comparison
    rows)."""
    out = []
    for ds, backbone, part in _parts(df):
        keys = table_keys(part)
        cols = [f"{k}%" for k in keys] + ["Avg"]
        header = ["Method", "Params", *cols, "last ep.", "seeds", "h/run", "h total", "device"]
        ours, comp = [], []
        for row in part.iter_rows(named=True):
            cells = [_cell(row, k) for k in [*keys, "avg"]]
            ours.append(
                [
                    row["label"],
                    _params(row["n_params"]),
                    *cells,
                    _cell(row, "last_avg"),
                    _seeds(row, keys),
                    _num(row["hours_per_run"], 2),
                    _num(row["hours_total"], 2),
                    row["devices"] or "—",
                ]
            )
            if row.get("paper_avg") is None and all(row.get(f"paper_{k}") is None for k in keys):
                continue
            ks = [*keys, "avg"]
            params, paper_params = row["n_params"], row.get("params_paper")
            hours, paper_hours = row["hours_per_run"], row.get("paper_gpu_hours")
            comp.append(
                [
                    row["label"],
                    "ours",
                    *[_num(row[f"map_{k}_mean"]) for k in ks],
                    _params(params),
                    _num(hours, 2),
                ]
            )
            comp.append(
                [
                    "",
                    "paper",
                    *[_num(row.get(f"paper_{k}")) for k in ks],
                    row.get("params_label") or "—",
                    _num(paper_hours, 2),
                ]
            )
            comp.append(
                [
                    "",
                    "ours − paper",
                    *[_num(row.get(f"diff_{k}"), sign=True) for k in ks],
                    _signed_params(params, paper_params),
                    _num(
                        None if hours is None or paper_hours is None else hours - paper_hours,
                        2,
                        sign=True,
                    ),
                ]
            )
        comp_header = ["Method", "", *cols, "Params", "h/run"]
        out.append((ds, backbone, part, header, ours, [comp_header, *comp] if comp else []))
    return out


def _markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


_TEX_ESCAPE = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "−": "$-$", "–": "--", "·": "/"}


def _tex(s: str) -> str:
    out = re.sub(r"(?<![\w.])-(?=\d)", "−", s)  # a minus sign, not a hyphen, before a number
    for a, b in _TEX_ESCAPE.items():
        out = out.replace(a, b)
    return out.replace(PM, r" $\pm$ ")


def _latex(rows: list[list[str]], caption: str) -> str:
    n = len(rows[0])
    body = [" & ".join(_tex(c) for c in rows[0]) + r" \\", r"\midrule"]
    body += [" & ".join(_tex(c) for c in r) + r" \\" for r in rows[1:]]
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{_tex(caption)}}}",
            r"\begin{tabular}{l" + "r" * (n - 1) + "}",
            r"\toprule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
        ]
    )


def _notes(part: pl.DataFrame) -> list[str]:
    """What a reader must know under a table: random weights, a refused comparison with the paper,
    the headline's epoch choice, failed runs."""
    notes = []

    def flag(col: str, value: object = True) -> bool:
        return col in part.columns and (part[col].cast(type(value)) == value).any()

    if flag("random_weights"):
        notes.append(
            "RANDOM WEIGHTS: this backbone was never trained; its numbers mean nothing about CLIP"
        )
    if flag("paper_refused"):
        notes.append("not compared with the paper (random weights; --allow-random to compare)")
    if flag("select", "last"):
        notes.append("cells: the last epoch's test mAP (--select last)")
    failed = _failed_note(part)
    return [*notes, failed] if failed else notes


def _failed_note(part: pl.DataFrame) -> str:
    """``not averaged: 1 failed or unfinished run (PositiveCoOp 1)``, or ``""``."""
    if "n_failed" not in part.columns:
        return ""
    rows = [(r["label"], r["n_failed"]) for r in part.iter_rows(named=True) if r["n_failed"]]
    if not rows:
        return ""
    n = sum(k for _, k in rows)
    each = ", ".join(f"{label} {k}" for label, k in rows)
    return f"not averaged: {n} failed or unfinished run{'s' if n > 1 else ''} ({each})"


def render(df: pl.DataFrame, fmt: str = "markdown", *, compare: bool = True) -> str:
    """Render a :func:`build_table` frame.

    ``markdown`` / ``latex``: per (dataset, backbone), our table (mean ± std over seeds, Avg and
    the last epoch's Avg, params, seeds, hours per run and in total, devices) with its notes
    (random weights, a refused comparison, failed runs) followed — when ``compare`` and the paper
    has numbers for the dataset — by the comparison: rows ours, paper, ours − paper over the mAP
    columns plus params and hours per run (the paper's: rounded params, GPU hours). ``csv``: the
    numeric frame itself, every column, for further analysis.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return df.write_csv()
    blocks = []
    for ds, backbone, part, header, ours, comp in _grids(df):
        name = f"{ds.upper()} · {backbone}"
        title = f"{name}: mAP (%) by known-label proportion, mean ± std over seeds"
        notes = _notes(part)
        if fmt == "markdown":
            note = "".join(f"\n\n{n[0].upper()}{n[1:]}." for n in notes)
            blocks.append(f"### {title}\n\n{_markdown([header, *ours])}{note}")
            if compare and comp:
                head = f"### {name}: ours vs the paper (mAP points)"
                blocks.append(f"{head}\n\n{_markdown(comp)}")
        else:
            blocks.append(_latex([header, *ours], "; ".join([title, *notes])))
            if compare and comp:
                blocks.append(_latex(comp, f"{name}: ours vs the paper (mAP points)"))
    return "\n\n".join(blocks) + "\n"
