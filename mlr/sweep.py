"""Sweeps: every (method, known-label proportion, seed) as one :func:`mlr.train.fit` run.

Each run gets its own directory from an output-path template (default
``{dataset}/{method}/p{partial:.1f}/seed{seed}`` under the sweep directory; over several
backbones ``{backbone}/`` in front). A rerun of the same
sweep

- **skips** runs that are complete (``metrics.json`` has ``complete: true``) — after checking that
  the finished run was made with the same options (a changed ``--epochs`` leaves the run as it is,
  status ``conflict`` naming the differing options: its numbers are those of the options it was
  made with, never silently taken for the new ones);
- **resumes** runs that were interrupted (``checkpoints/last.pt``, or ``prev.pt``, exists:
  ``fit(resume=True)``);
- **starts** the rest, and
- **continues past a failed run**, recording it with its error.

``results.parquet`` (``docs/RESULTS.md``) is rewritten atomically after every run; rows of runs
that are not part of this invocation are kept, so several invocations into one directory
accumulate. A run is keyed by (dataset, model, pretrained, weights_id, image_size, preprocess,
augmentation, method, p, seed) — every row names its backbone and image setting — and a new row
replaces only the row with the same key (a backbone or setting column that one side does not
know, as after a run that failed before loading its weights, matches any value): sweeps of two
backbones into one directory keep both.

One sweep may run its grid on several backbones (``SweepConfig.backbones``: ``--models-file`` or
repeated ``--model``/``--pretrained``), e.g. a CLIP and its negation-tuned versions: each run
directory is then under the backbone's own folder (:data:`BACKBONE_TEMPLATE`,
``{backbone}/{dataset}/…``, the folder named as ``promptsim negbench --models-file`` names it;
the runs an earlier sweep of one of them alone left in ``{dataset}/…`` stay there:
:meth:`SweepConfig.kept_backbone`),
and skip, resume, job-array slices (over the whole plan, backbone → seed → partial → method) and
``results.parquet`` work across them as within one.

``status`` is ``complete`` (trained and evaluated by this invocation), ``skipped`` (already
complete, its numbers read from its ``metrics.json``), ``conflict`` (complete, made with other
options than this invocation's: its numbers kept, ``error`` names the options) or ``failed``
(``error`` holds the exception).

The partial-label mask of a run depends only on (dataset, p, seed) (:func:`mlr.masks.draw_mask` over
the whole training split), so the methods of one (p, seed) are trained on the same known labels.
The runs share one feature cache (``FitConfig.feature_cache``, keyed per backbone): the first run
of a backbone computes its dense features, the others read them.

``out`` may be an fsspec URL (``s3://…``, ``gs://…``, ``memory://…``): then the URL is where the
runs' files are kept and read back (skip, resume, ``results.parquet``), and each run trains in a
local staging directory (:func:`staging_dir`) whose files are uploaded after every epoch and at
the end, wherever the run runs; a run not yet complete is first downloaded from the URL.
"""

from __future__ import annotations

import itertools
import math
import string
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from backbone.model_list import identity_name, weights_spec
from corpora import schema as S
from corpora.executors import LocalExecutor, RayExecutor, Resources, take_slice
from corpora.places import Place, remote_url
from corpora.runio import SEED_MAX, run_info
from corpora.schema import C
from mlr.config import BACKBONE_TEMPLATE, DEFAULT_TEMPLATE, METHODS, FitConfig, check_partial
from mlr.sweep_io import (
    merge_results,
    results_path,
    run_state,
    staging_dir,
    sweep_file,
    write_json,
    write_results,
)
from mlr.sweep_run import SweepReporter, SweepRun, _finished_row, _row, train_run
from mlr.train import fit as fit  # (re-exported: `from mlr.sweep import fit`, as the README shows)

TEMPLATE_FIELDS = ("dataset", "method", "partial", "seed", "model", "backbone")


# --- parsing the grid -----------------------------------------------------------------------


def parse_partials(spec: str) -> list[float]:
    """``0.1:0.9:0.1`` (start:stop:step, stop included, float-safe) or ``0.1,0.5,0.9``; each
    proportion in (0, 1], sorted, duplicates removed, rounded to 6 decimals."""
    spec = spec.strip()
    try:
        if ":" in spec:
            parts = [float(x) for x in spec.split(":")]
            if len(parts) != 3:
                raise ValueError
            start, stop, step = parts
            if step <= 0 or stop < start:
                raise ValueError(f"{spec!r}: need start <= stop and step > 0")
            n = math.floor((stop - start) / step + 1e-9)
            values = [start + k * step for k in range(n + 1)]
        else:
            values = [float(x) for x in spec.split(",") if x.strip()]
    except ValueError as exc:
        why = str(exc) if str(exc).startswith(repr(spec)) else f"{spec!r}: not a proportion list"
        raise ValueError(f"--partial {why} (use 0.1:0.9:0.1 or 0.1,0.5,0.9)") from None
    out = sorted({round(v, S.PARTIAL_DECIMALS) for v in values})
    if not out:
        raise ValueError(f"--partial {spec!r}: no proportion")
    for v in out:
        check_partial(v)
    return out


def parse_seeds(spec: str) -> list[int]:
    """``0,1,2`` or an inclusive range ``0:4``."""
    spec = spec.strip()
    try:
        if ":" in spec:
            a, b = (int(x) for x in spec.split(":"))
            values = list(range(a, b + 1))
        else:
            values = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--seeds {spec!r}: use integers, e.g. 0,1,2 or 0:2") from None
    if not values:
        raise ValueError(f"--seeds {spec!r}: no seed")
    if not all(0 <= v <= SEED_MAX for v in values):
        raise ValueError(f"--seeds {spec!r}: a seed is 0 to 2**64 - 1")
    return list(dict.fromkeys(values))


def parse_methods(spec: str) -> list[str]:
    """Comma-separated method names (``all`` = every method)."""
    names = list(METHODS) if spec.strip() == "all" else [m.strip() for m in spec.split(",")]
    names = [m for m in names if m]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ValueError(f"--methods: unknown {unknown or 'none'}; use {', '.join(METHODS)} or all")
    return list(dict.fromkeys(names))


def check_template(template: str) -> str:
    """The template, after checking that it names only :data:`TEMPLATE_FIELDS`."""
    try:
        used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"--template {template!r}: {exc}") from None
    unknown = sorted(used - set(TEMPLATE_FIELDS))
    if unknown:
        raise ValueError(
            f"--template {template!r}: unknown field(s) {unknown}; use {', '.join(TEMPLATE_FIELDS)}"
        )
    return template


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: ``base`` holds every ``fit`` option; backbone, method, partial, seed and out vary.

    ``backbones``: the ``(model, pretrained)`` pairs the grid runs on (empty: ``base``'s own);
    ``template`` None: :data:`BACKBONE_TEMPLATE` when the sweep is over a backbone list (a
    ``models_file``, or several backbones), else :data:`~mlr.config.DEFAULT_TEMPLATE`."""

    base: FitConfig
    out: str
    methods: tuple[str, ...]
    partials: tuple[float, ...]
    seeds: tuple[int, ...]
    template: str | None = None
    work_dir: str | None = None  # staging for a URL ``out`` (:func:`staging_dir`)
    backbones: tuple[tuple[str, str], ...] = ()
    models_file: str | None = None  # where ``backbones`` were read from (run.json)

    def backbone_list(self) -> list[tuple[str, str]]:
        """The sweep's ``(model, pretrained)`` pairs, in order; one listed twice (the same model
        and weights as results record them) is a ``ValueError``."""
        pairs = list(self.backbones) or [(self.base.model, self.base.pretrained)]
        seen: dict[tuple[str, str], tuple[str, str]] = {}
        for model, pretrained in pairs:
            key = (model, weights_spec(pretrained))
            if key in seen:
                raise ValueError(f"backbone {model},{pretrained} is listed twice")
            seen[key] = (model, pretrained)
        return pairs

    def resolved_template(self) -> str:
        """The run-directory template in effect (:attr:`template`, or its default)."""
        if self.template is not None:
            return self.template
        several = self.models_file is not None or len(self.backbone_list()) > 1
        return BACKBONE_TEMPLATE if several else DEFAULT_TEMPLATE

    def kept_backbone(self) -> tuple[str, str] | None:
        """Over several backbones with the default layout: the backbone whose runs an earlier sweep
        of it alone left in the one-backbone layout (``{dataset}/…``, its runs' ``run.json``
        name its model and weights), when its ``{backbone}/`` folder holds nothing yet. Its runs
        stay where they are (skipped or resumed there, never trained again); None if there is
        no such backbone."""
        if self.template is not None or self.resolved_template() != BACKBONE_TEMPLATE:
            return None
        place = Place(self.out)
        files = set(place.files())
        grid = list(itertools.product(self.seeds, self.partials, self.methods))
        for model, pretrained in self.backbone_list() if files else []:
            if any(f.startswith(identity_name(model, pretrained) + "/") for f in files):
                continue
            for seed, p, method in grid:
                rel = DEFAULT_TEMPLATE.format(
                    dataset=self.base.dataset, method=method, partial=p, seed=seed
                )
                if f"{rel}/run.json" in files:
                    made = (place / rel / "run.json").read_json().get("config", {})
                    if made.get("model") == model and weights_spec(
                        str(made.get("pretrained"))
                    ) == weights_spec(pretrained):
                        return model, pretrained
                    break  # another backbone's runs
        return None

    def plan(self) -> list[SweepRun]:
        """Every run, ordered backbone → seed → partial → method (the methods of one mask run
        back to back). Raises ``ValueError`` when the template sends two runs to one directory."""
        template = check_template(self.resolved_template())
        kept = self.kept_backbone()
        url = remote_url(self.out)
        local = self.out if url is None else staging_dir(url, self.work_dir)
        runs: list[SweepRun] = []
        seen: dict[str, tuple[str, str, float, int]] = {}
        grid = itertools.product(self.backbone_list(), self.seeds, self.partials, self.methods)
        for (model, pretrained), seed, p, method in grid:
            values = {
                "dataset": self.base.dataset,
                "method": method,
                "partial": p,
                "seed": seed,
                "model": model,
                "backbone": identity_name(model, pretrained),
            }
            rel = (DEFAULT_TEMPLATE if (model, pretrained) == kept else template).format(**values)
            here = (f"{model},{pretrained}", method, p, seed)
            if rel in seen:
                raise ValueError(
                    f"--template {template!r} puts {seen[rel]} and {here} in the same directory "
                    f"{rel!r} (more digits for {{partial}}, e.g. p{{partial:.2f}}? {{backbone}} "
                    "for several backbones?)"
                )
            seen[rel] = here
            cfg = replace(
                self.base,
                model=model,
                pretrained=pretrained,
                method=method,
                partial=p,
                seed=seed,
                out=str(Path(local) / rel),
                resume=False,
            )
            home = None if url is None else f"{url.rstrip('/')}/{rel}"
            runs.append(SweepRun(method, p, seed, rel, cfg, home))
        return runs


@dataclass
class SweepResult:
    results: pl.DataFrame  # this invocation's rows
    path: Path | str  # results.parquet (a URL when the sweep's out is one)
    failed: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)  # complete runs made with other options


def _result(frame: pl.DataFrame, path: Path | str, rows: list[dict]) -> SweepResult:
    def having(status: str) -> list[dict]:
        return [r for r in rows if r[C.status] == status]

    return SweepResult(frame, path, having("failed"), having("conflict"))


def _run_info(cfg: SweepConfig, parallel: bool, part: tuple[int, int] | None) -> dict:  # noqa: FBT001
    """The sweep directory's ``run.json``: it names the command that owns the directory (each
    run's own ``run.json`` says how that run was made)."""
    config = {
        "base": cfg.base.to_dict(),
        "backbones": [list(b) for b in cfg.backbone_list()],
        "models_file": cfg.models_file,
        "methods": list(cfg.methods),
        "partials": list(cfg.partials),
        "seeds": list(cfg.seeds),
        "template": cfg.resolved_template(),
        "out": cfg.out,
        "work_dir": cfg.work_dir,
    }
    execution = {"engine": "ray" if parallel else "local", "part": list(part) if part else None}
    return run_info("mlrtrain sweep", config, seeds=list(cfg.seeds), execution=execution)


def run_sweep(
    cfg: SweepConfig,
    reporter: SweepReporter | None = None,
    *,
    executor: LocalExecutor | RayExecutor | None = None,
    resources: Resources = Resources(),
    part: tuple[int, int] | None = None,
) -> SweepResult:
    """Run (or skip, or resume) every run of ``cfg.plan()``; never raises for a failed run —
    failures are in ``SweepResult.failed`` and in ``results.parquet`` with ``status`` ``failed``.
    ``KeyboardInterrupt`` stops the sweep (the interrupted run resumes on the next invocation).

    ``part=(I, N)``: only slice I of N contiguous slices of the plan (job arrays). A parallel
    ``executor`` trains the unfinished runs as tasks of ``resources`` (:mod:`mlr.distributed`)."""
    rep = reporter or SweepReporter()
    runs = cfg.plan()
    if part is not None:  # job arrays
        runs = take_slice(runs, *part)
    path = results_path(cfg.out)
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    merge_results(path, [])  # fail early on an unusable results file
    parallel = executor is not None and executor.parallel
    write_json(sweep_file(cfg.out, "run.json"), _run_info(cfg, parallel, part))
    rows: list[dict] = []
    if parallel:  # --- executor seam: runs as tasks
        from mlr.distributed import run_in_parallel

        rows = run_in_parallel(runs, path, executor, rep, resources)
        frame = pl.DataFrame(rows, schema=S.SWEEP_RESULTS, orient="row")
        return _result(frame, path, rows)
    for i, run in enumerate(runs):
        state = run_state(run.home)
        action = {"complete": "skip", "partial": "resume", "new": "start"}[state]
        rep.run_start(i, len(runs), run, action)
        if state == "complete":
            row = _finished_row(run, run.home)
        else:
            done = train_run(run, state, rep)
            status = "complete" if done["error"] is None else "failed"
            row = _row(run, status, done["metrics"], done["error"])
        rows.append(row)
        write_results(path, merge_results(path, [row]))
        rep.run_end(i, len(runs), run, row)
    frame = pl.DataFrame(rows, schema=S.SWEEP_RESULTS, orient="row")
    return _result(frame, path, rows)
