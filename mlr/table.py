"""The paper's results table from a sweep directory: rows = methods, columns = 10 % … 90 % known
labels + Avg, each cell the mean ± standard deviation of mAP over seeds, with the parameter count,
the measured compute, and the paper's published numbers beside ours.

Pure functions over result files only (``docs/RESULTS.md``):

- :func:`load_runs` reads a sweep's ``results.parquet`` or, when it is absent, every
  ``*/metrics.json`` below the directory (one per ``mlrtrain fit`` run);
- :func:`build_table` aggregates them into one numeric row per (dataset, method);
- :func:`render` writes that frame as Markdown, CSV or LaTeX.

Statistics (what a user relies on when reading the table):

- mAP is in percent, as ``metrics.json`` writes it.
- Cell = mean over the seeds that finished that (method, partial); std is the *sample* standard
  deviation (``ddof=1``), the usual seed-to-seed spread; it is undefined (blank) with one seed.
  ``map_<p>_n`` is the number of seeds behind each cell; the rendered tables show it in a
  ``seeds`` column (``3``, or ``2–3`` when cells differ).
- Avg = per seed, the mean over all the dataset's partial columns, then mean ± std over the seeds
  that finished *every* partial (seeds with a hole do not count towards Avg). It equals the paper's
  Avg only when the nine proportions 10 … 90 % are all present.
- A run counts when it finished: ``map`` is a number, ``error`` is empty and ``status`` is not one
  of :data:`FAILED_STATUSES` (``results.parquet``), or ``complete`` is true (``metrics.json``).
  Failed runs are counted in ``n_failed``, never averaged.
- Compute: ``hours_per_run`` = mean ``wall_seconds`` / 3600 over counted runs (comparable with the
  paper's GPU hours, which are per training run), ``hours_total`` = their sum, ``devices`` = the
  devices they ran on.
- Paper columns: ``paper_<p>`` the published mAP, ``diff_<p>`` = ours − paper in mAP points;
  ``paper_avg`` is the published Avg when all nine proportions are present, otherwise the mean of
  the published cells over the proportions we have (so the difference compares like with like).
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
FAILED_STATUSES = frozenset({"failed", "error", "incomplete", "running", "pending", "killed"})
RUN_COLUMNS = (
    "dataset",
    "method",
    "partial",
    "seed",
    "map",
    "n_params",
    "wall_seconds",
    "device",
    "status",
    "error",
)
_SCHEMA = {
    "dataset": pl.String,
    "method": pl.String,
    "partial": pl.Float64,
    "seed": pl.Int64,
    "map": pl.Float64,
    "n_params": pl.Int64,
    "wall_seconds": pl.Float64,
    "device": pl.String,
    "status": pl.String,
    "error": pl.String,
}
FORMATS = ("markdown", "csv", "latex")
_MAKE = "run `mlrtrain sweep … --out DIR` (or `mlrtrain fit … --out DIR/<run>`) first"


def _from_results(path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path)
    missing = [c for c in RUN_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; it has {frame.columns}")
    return frame.select([pl.col(c).cast(t) for c, t in _SCHEMA.items()])


def _from_metrics(files: list[Path]) -> pl.DataFrame:
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
                **{k: m.get(k) for k in ("method", "partial", "seed", "map", "n_params")},
                **{k: m.get(k) for k in ("wall_seconds", "device")},
                "dataset": dataset,
                "status": "complete" if m["complete"] else "incomplete",
                "error": m.get("error"),
            }
        )
    return pl.DataFrame(rows, schema=_SCHEMA).select(RUN_COLUMNS)


def load_runs(sweep_dir: Path) -> pl.DataFrame:
    """Every run of a sweep, one row each: the ``results.parquet`` columns plus ``ok`` (the run
    counts, see the module docstring). ``partial`` is rounded to 4 decimals (``0.1:0.9:0.1``
    ranges give 0.30000000000000004)."""
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
        runs = _from_metrics(files)
    return runs.with_columns(
        pl.col("partial").round(4),
        ok=(
            pl.col("map").is_not_null()
            & pl.col("map").is_not_nan()
            & (pl.col("error").is_null() | (pl.col("error") == ""))
            & ~pl.col("status").str.to_lowercase().is_in(list(FAILED_STATUSES)).fill_null(False)
        ),
    )


def load_sweeps(sweep_dirs: Path | list[Path]) -> pl.DataFrame:
    """:func:`load_runs` over several sweep directories (e.g. one per job-array element). A run
    (same dataset, model columns, method, partial and seed) found in two of them is an error:
    it would be averaged twice."""
    dirs = [sweep_dirs] if isinstance(sweep_dirs, str | Path) else list(sweep_dirs)
    runs = pl.concat([load_runs(d) for d in dirs], how="diagonal_relaxed")
    key = [c for c in ("dataset", "model", "pretrained", "method", "partial", "seed") if c in runs]
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


def _dataset_table(ok: pl.DataFrame, failed: pl.DataFrame, ds: str, paper: bool) -> pl.DataFrame:
    partials = sorted(ok["partial"].unique().to_list())
    keys = [partial_key(p) for p in partials]
    cells = ok.group_by("method", "partial").agg(
        mean=pl.col("map").mean(), std=pl.col("map").std(ddof=1), n=pl.len()
    )
    per_seed = (
        ok.group_by("method", "seed")
        .agg(avg=pl.col("map").mean(), n_partials=pl.col("partial").n_unique())
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
        params = mine["n_params"].drop_nulls().unique().to_list()
        if len(params) > 1:
            raise ValueError(
                f"dataset {ds!r}, method {method!r}: runs disagree on n_params {sorted(params)} "
                "(mixed configurations in one sweep?); split them into separate sweeps"
            )
        m_meta = meta.filter(pl.col("method") == method)
        row: dict[str, object] = {
            "dataset": ds,
            "method": method,
            "label": method_label(method),
            "n_params": params[0] if params else None,
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
        s = per_seed.filter(pl.col("method") == method)["avg"]
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


def build_table(
    sweep_dir: Path | list[Path], dataset: str | None = None, *, paper: bool = True
) -> pl.DataFrame:
    """One numeric row per (dataset, method) — see the module docstring for every column.

    ``dataset`` selects one dataset of a sweep that holds several; ``paper=False`` leaves the
    paper columns empty. ``sweep_dir`` may be several directories (:func:`load_sweeps`).
    Raises ``FileNotFoundError`` / ``ValueError`` with the file at fault.
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
    failed = runs.filter(~pl.col("ok"))
    parts = [
        _dataset_table(
            ok.filter(pl.col("dataset") == ds), failed.filter(pl.col("dataset") == ds), ds, paper
        )
        for ds in sorted(ok["dataset"].unique().to_list())
    ]
    return pl.concat(parts, how="diagonal_relaxed")


# --- rendering -------------------------------------------------------------------------------


def table_keys(df: pl.DataFrame) -> list[str]:
    """The partial keys (``10``, ``20``, …) of a :func:`build_table` frame, in column order, for
    proportions that at least one row of it has."""
    keys = [m.group(1) for c in df.columns if (m := re.fullmatch(r"map_(.+)_mean", c))]
    return [k for k in keys if k != "avg" and df[f"map_{k}_mean"].is_not_null().any()]


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
    mean, std = row[f"map_{key}_mean"], row[f"map_{key}_std"]
    if mean is None:
        return "—"
    return _num(mean) if std is None else f"{_num(mean)}{PM}{_num(std)}"


def _seeds(row: dict, keys: list[str]) -> str:
    ns = [row[f"map_{k}_n"] for k in keys if row[f"map_{k}_n"]]
    if not ns:
        return "0"
    return str(min(ns)) if min(ns) == max(ns) else f"{min(ns)}–{max(ns)}"


_Grid = tuple[str, list[str], list[list[str]], list[list[str]]]


def _grids(df: pl.DataFrame) -> list[_Grid]:
    """Per dataset: (dataset, header, our rows, comparison rows)."""
    out = []
    for ds in df["dataset"].unique(maintain_order=True).to_list():
        part = df.filter(pl.col("dataset") == ds)
        keys = table_keys(part)
        cols = [f"{k}%" for k in keys] + ["Avg"]
        header = ["Method", "Params", *cols, "seeds", "h/run", "h total", "device"]
        ours, comp = [], []
        for row in part.iter_rows(named=True):
            cells = [_cell(row, k) for k in [*keys, "avg"]]
            ours.append(
                [
                    row["label"],
                    _params(row["n_params"]),
                    *cells,
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
        out.append((ds, header, ours, [comp_header, *comp] if comp else []))
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

    ``markdown`` / ``latex``: per dataset, our table (mean ± std over seeds, params, seeds,
    hours per run and in total, devices) followed — when ``compare`` and the paper has numbers
    for the dataset — by the comparison: rows ours, paper, ours − paper over the mAP columns plus
    params and hours per run (the paper's: rounded params, GPU hours). ``csv``: the numeric frame
    itself, every column, for further analysis.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return df.write_csv()
    blocks = []
    for ds, header, ours, comp in _grids(df):
        title = f"{ds.upper()}: mAP (%) by known-label proportion, mean ± std over seeds"
        failed = _failed_note(df.filter(pl.col("dataset") == ds))
        if fmt == "markdown":
            note = f"\n\n{failed[0].upper()}{failed[1:]}." if failed else ""
            blocks.append(f"### {title}\n\n{_markdown([header, *ours])}{note}")
            if compare and comp:
                head = f"### {ds.upper()}: ours vs the paper (mAP points)"
                blocks.append(f"{head}\n\n{_markdown(comp)}")
        else:
            blocks.append(_latex([header, *ours], f"{title}; {failed}" if failed else title))
            if compare and comp:
                blocks.append(_latex(comp, f"{ds.upper()}: ours vs the paper (mAP points)"))
    return "\n\n".join(blocks) + "\n"
