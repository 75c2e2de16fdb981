"""corpora.schema: the result columns in code agree with docs/RESULTS.md and with what the
writers write; result directories are recognised by their run.json's command."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from corpora import schema as S
from corpora.runio import atomic_write_json, atomic_write_parquet
from corpora.sweep_results import build_table
from figures.gallery import find_dirs
from figures.inputs import MissingInput

DOCS = Path(__file__).resolve().parents[1] / "docs" / "RESULTS.md"
# result kind → the heading of its section in docs/RESULTS.md
SECTIONS = {
    "negscan": "## `negscan … --out DIR`",
    "promptsim": "## `promptsim --out DIR`",
    "maps": "## `promptsim maps … --out DIR`",
    "absence": "## `promptsim absence --out DIR`",
    "negbench": "## `promptsim negbench --out DIR`",
    "fit": "## `mlrtrain fit --out RUN_DIR`",
    "sweep": "## `mlrtrain sweep --out SWEEP_DIR`",
    "negtune": "## `negtune --out DIR`",
}
# files whose docs entry lists exactly the columns, nothing else in backticks
EXACT = {
    ("negscan", "per_word.parquet"),
    ("negscan", "per_shard.parquet"),
    ("negscan", "bigrams.parquet"),
    ("negscan", "classes.parquet"),
    ("negscan", "samples.parquet"),
    ("sweep", "results.parquet"),
}


def section(kind: str) -> str:
    text = DOCS.read_text("utf-8")
    start = text.index(SECTIONS[kind] + "\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else None]


def _parenthesised(text: str, start: int) -> str:
    """The text inside the parentheses that open at ``text[start]``."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    raise AssertionError(f"unbalanced parentheses after {text[start - 30 : start]!r}")


def documented(kind: str, file: str) -> list[str]:
    """The backticked names of ``file``'s docs entry: its table row, or the parenthesis after
    it."""
    text = section(kind)
    row = re.search(rf"^\| `{re.escape(file)}` \|(.*)$", text, re.M)
    if row:
        entry = row.group(1)
    else:
        at = text.index(f"`{file}` (")
        entry = _parenthesised(text, at + len(file) + 3)
    return backticked(entry)


def backticked(entry: str) -> list[str]:
    """The backticked names in ``entry`` up to its first blank line; ``_std`` after
    ``map_avg_mean`` is ``map_avg_std``."""
    names: list[str] = []
    for name in re.findall(r"`([^`]+)`", entry.split("\n\n")[0]):
        if name.startswith("_") and names:
            name = names[-1].rsplit("_", 1)[0] + name
        names.append(name)
    return names


@pytest.mark.parametrize(
    ("kind", "file"), [(k, f) for k, files in S.FILES.items() for f in files], ids=str
)
def test_every_schema_column_is_documented(kind: str, file: str) -> None:
    columns = list(S.FILES[kind][file])
    names = documented(kind, file)
    assert [c for c in columns if c not in names] == []
    if (kind, file) in EXACT:  # and nothing documented that the schema lacks
        assert [n for n in names if re.fullmatch(r"[a-z][a-z0-9_]*", n)] == columns


def test_the_table_frame_columns_are_documented() -> None:
    text = section("sweep")
    at = text.index("`mlrtrain table --format csv` (the `build_table` frame)")
    names = backticked(text[at:])
    per_p = [c.replace("{p}", "<p>") for c in S.TABLE_PER_PROPORTION]
    assert [c for c in [*S.TABLE_HEAD, *per_p, *S.TABLE_TAIL] if c not in names] == []


def test_the_fit_metrics_keys_are_documented() -> None:
    names = documented("fit", "metrics.json")
    assert [k for k in S.FIT_METRICS if k not in names] == []


@pytest.mark.parametrize("kind", S.SUMMARIES)
def test_every_summary_key_is_documented(kind: str) -> None:
    names = documented(kind, "summary.json")
    assert [k for k in S.SUMMARIES[kind] if k not in names] == []


def test_build_table_writes_the_schema_columns_in_order(tmp_path: Path) -> None:
    run = {c: None for c in S.SWEEP_RESULTS} | {
        "dataset": "voc",
        "model": "RN50",
        "pretrained": "openai",
        "weights_id": "0123456789ab",
        "image_size": 224,
        "random_weights": False,
        "method": "baseline",
        "map": 80.0,
        "n_params": 20_520,
        "wall_seconds": 60.0,
        "device": "cpu",
        "status": "complete",
    }
    rows = [run | {"partial": p, "seed": s} for p in (0.1, 0.5) for s in (0, 1)]
    atomic_write_parquet(tmp_path / S.SWEEP_RESULTS_FILE, pl.DataFrame(rows, S.SWEEP_RESULTS))
    per_p = [c.format(p=k) for k in ("10", "50") for c in S.TABLE_PER_PROPORTION]
    assert build_table(tmp_path).columns == [*S.TABLE_HEAD, *per_p, *S.TABLE_TAIL]


def _result_dir(d: Path, command: str | None) -> Path:
    """A ``per_class.parquet`` result directory; ``run.json`` naming ``command`` (none: made by
    hand)."""
    d.mkdir(parents=True)
    atomic_write_parquet(d / "per_class.parquet", pl.DataFrame({"class": ["dog"]}))
    if command is not None:
        atomic_write_json(d / "run.json", {"command": command})
    return d


def test_result_kinds_are_told_by_run_json_command_not_file_names(tmp_path: Path) -> None:
    table = _result_dir(tmp_path / "promptsim" / "a", "promptsim table")
    _result_dir(tmp_path / "promptsim" / "b", "promptsim absence")  # same file names
    by_hand = _result_dir(tmp_path / "promptsim" / "c", None)  # no run.json: its files tell
    assert find_dirs(tmp_path, "promptsim") == [table, by_hand]
    absence = _result_dir(tmp_path / "absence", "promptsim absence")
    assert find_dirs(tmp_path, "absence") == [absence]
    _result_dir(tmp_path / "other" / "absence", "promptsim table")
    with pytest.raises(MissingInput, match="promptsim absence"):
        find_dirs(tmp_path / "other", "absence")


def test_kinds_cover_every_command_with_result_files() -> None:
    assert {S.KINDS[c] for c in S.KINDS} >= set(S.FILES) - {"sweep"}
    assert S.names(S.MAPS, "image", "npy") == ("image", "npy")
    with pytest.raises(KeyError, match="no column"):
        S.names(S.MAPS, "imagefile")


def test_every_result_column_is_named_once_in_c() -> None:
    tables = [t for files in S.FILES.values() for t in files.values()]
    tables += [S.TABLE_HEAD, S.TABLE_TAIL, S.SWEEP_KEY, S.SWEEP_BACKBONE, S.SWEEP_ADDED]
    tables += [S.FIT_METRICS, *S.SUMMARIES.values(), S.NEGATION_GAP]
    columns = {c for t in tables for c in t}
    named = {a.rstrip("_"): v for a, v in vars(S.C).items() if not a.startswith("__")}
    assert all(a == v for a, v in named.items())  # C.cosine is "cosine", C.class_ is "class"
    assert set(named.values()) == columns


# modules that read or write result tables or keys (the negscan scan and store are not listed
# yet)
SCHEMA_USERS = [
    "corpora/sweep_results.py",
    "corpora/sweep_runs.py",
    "corpora/reference.py",
    *(f"negation/promptsim/{m}.py" for m in ("similarity", "absence", "maps", "cli", "runs")),
    "negation/promptsim/render.py",
    "negation/negscan/view.py",
    "negation/negbench/metrics.py",
    "negation/negbench/questions.py",
    "negation/negbench/question_files.py",
    "negation/negbench/inputs.py",
    *(f"negation/negscan/{m}.py" for m in ("scan", "analysis", "scanning", "store", "report")),
    *(f"negation/negscan/{m}.py" for m in ("matching", "tables")),
    "negation/negscan/runner.py",
    "corpora/captions.py",
    *(f"figures/{m}.py" for m in ("absence", "maps", "negbench", "negscan", "prompts", "sweeps")),
    *(
        f"mlr/{m}.py"
        for m in ("table", "sweep", "sweep_run", "sweep_io", "train", "metrics", "heads")
    ),
    *(f"mlr/{m}.py" for m in ("cli", "cli_sweep", "cli_progress")),
    *(f"backbone/{m}.py" for m in ("__init__", "model", "sentence", "features")),
    *(f"negation/negbench/{m}.py" for m in ("runner", "job", "summaries", "cli")),
    "negation/negscan/cli.py",
    *(f"negation/negtune/{m}.py" for m in ("evaluate", "runner", "cli")),
]


@pytest.mark.parametrize("module", SCHEMA_USERS)
def test_readers_and_writers_name_columns_through_the_schema(module: str) -> None:
    """``pl.col("cosine")`` in a reader or writer is a column name spelled a second time: it goes
    through ``corpora.schema.C``."""
    text = (DOCS.parents[1] / module).read_text("utf-8")
    columns = {v for a, v in vars(S.C).items() if not a.startswith("__")}
    spelled = re.findall(r'pl\.col\("(\w+)"\)', text)
    assert sorted({c for c in spelled if c in columns}) == []
