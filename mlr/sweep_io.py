"""Where a sweep's files are kept: a local directory or an fsspec URL (``s3://…``, ``gs://…``,
``memory://…``). A run kept at a URL trains in a local staging directory (:func:`staging_dir`),
downloaded from and uploaded to the URL; ``results.parquet`` is merged and rewritten after every
run (:func:`merge_results`, :func:`write_results`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import fsspec
import polars as pl

from corpora import schema as S
from corpora.places import remote_url
from corpora.runio import atomic_write_json, atomic_write_parquet, read_json
from corpora.schema import C

RESULTS_FILE = S.SWEEP_RESULTS_FILE
DEFAULT_WORK_DIR = "~/.cache/notclip/sweeps"  # where runs into a URL are staged


def staging_dir(url: str, work_dir: str | None = None) -> str:
    """The local directory where the runs of a sweep into ``url`` train: ``work_dir`` (default
    :data:`DEFAULT_WORK_DIR`, ``~`` expanded where the run runs) / 16 hex of the URL's SHA-256."""
    key = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]
    return f"{(work_dir or DEFAULT_WORK_DIR).rstrip('/')}/{key}"


def at(home: Path | str, name: str) -> Path | str:
    """The file ``name`` in a local directory or below a URL."""
    return home / name if isinstance(home, Path) else f"{home}/{name}"


def is_file(path: Path | str) -> bool:
    if isinstance(path, Path):
        return path.is_file()
    fs, p = fsspec.core.url_to_fs(path)
    return fs.isfile(p)


def run_state(run_dir: Path | str) -> str:
    """``complete``, ``partial`` (a last checkpoint to resume from) or ``new``, of a local run
    directory or a run's URL."""
    m = read_json(at(run_dir, "metrics.json"))
    if m is not None and m.get(C.complete) is True:
        return "complete"
    if any(is_file(at(run_dir, f"checkpoints/{n}.pt")) for n in ("last", "prev")):
        return "partial"
    return "new"


def download(url: str, local: Path) -> None:
    """Make ``local`` a copy of the run directory at ``url`` (empty when there is none)."""
    shutil.rmtree(local, ignore_errors=True)
    local.mkdir(parents=True)
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    for f in fs.find(root):
        dest = local / f[len(root) + 1 :]
        dest.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(f, str(dest))


def upload(local: Path, url: str) -> None:
    """Copy the files of a staged run directory to ``url``, ``metrics.json`` last (a complete
    ``metrics.json`` there means every other file is there too); temporary files stay."""
    fs, root = fsspec.core.url_to_fs(url)
    files = [p for p in local.rglob("*") if p.is_file() and not p.name.startswith(".")]
    for p in sorted(files, key=lambda p: (p.name == "metrics.json", str(p))):
        fs.put_file(str(p), f"{root.rstrip('/')}/{p.relative_to(local).as_posix()}")


def sweep_file(out: str, name: str) -> Path | str:
    """The file ``name`` of a sweep's directory: a local path, or a URL below a URL ``out``."""
    url = remote_url(out)
    return Path(out).expanduser() / name if url is None else at(url.rstrip("/"), name)


def results_path(out: str) -> Path | str:
    """A sweep's ``results.parquet``."""
    return sweep_file(out, RESULTS_FILE)


def write_json(path: Path | str, obj: dict) -> None:
    """Write a JSON file: atomically when local; one object write at a URL."""
    if isinstance(path, Path):
        atomic_write_json(path, obj)
    else:
        with fsspec.open(path, "wt", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, default=str)


def write_results(path: Path | str, frame: pl.DataFrame) -> None:
    """Write ``results.parquet``: atomically when local; one object write at a URL."""
    if isinstance(path, Path):
        atomic_write_parquet(path, frame)
    else:
        with fsspec.open(path, "wb") as f:
            frame.write_parquet(f)


def merge_results(path: Path | str, rows: list[dict]) -> pl.DataFrame:
    new = pl.DataFrame(rows, schema=S.SWEEP_RESULTS, orient="row")
    if not is_file(path):
        return new
    try:
        if isinstance(path, Path):
            old = pl.read_parquet(path)
        else:
            with fsspec.open(path, "rb") as f:
                old = pl.read_parquet(f)
    except Exception as exc:  # a corrupt file: name it
        raise ValueError(f"{path}: unreadable results file ({exc}); move it away") from exc
    missing = [c for c in S.SWEEP_RESULTS if c not in old.columns and c not in S.SWEEP_ADDED]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; move it away and rerun")
    old = old.select(
        [
            pl.col(c).cast(t) if c in old.columns else pl.lit(None, t).alias(c)
            for c, t in S.SWEEP_RESULTS.items()
        ]
    )
    # a new row replaces the old row of the same run: the same key, where a backbone or setting
    # column that one of them does not know (a run that failed before loading its weights, a
    # results file of an earlier version) matches any value
    p_key = S.rounded_partial()
    old = old.with_row_index("_i").with_columns(_p=p_key)
    keys = new.select(S.SWEEP_KEY).with_columns(_p=p_key).drop(C.partial)
    same = old.join(keys, on=[C.dataset, C.method, "_p", C.seed], suffix="_new").filter(
        pl.all_horizontal(
            pl.col(c).is_null() | pl.col(f"{c}_new").is_null() | (pl.col(c) == pl.col(f"{c}_new"))
            for c in S.SWEEP_GROUP
        )
    )
    kept = old.filter(~pl.col("_i").is_in(same["_i"].implode())).drop("_i", "_p")
    return pl.concat([kept, new]).sort(S.SWEEP_KEY, nulls_last=True)
