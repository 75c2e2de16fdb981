"""One ``negtune`` run in one call (:func:`negtune`): check everything, then evaluate the base
model, train, export, evaluate the tuned model, and write the result directory.

Everything that can be refused is checked before the first file is written: the dataset (at
least two classes; the evaluation questions buildable from the test split), the extra captions,
the model and its weights (a checkpoint of another architecture is refused by the loader),
``--train text-front:K`` against the text tower, and a directory that already holds a run
(``--resume`` continues it, with the same options). The directory (``docs/RESULTS.md``):
``run.json``, ``checkpoints/``, the ``local-dir:`` export (``open_clip_config.json``,
``open_clip_model.safetensors``), ``eval/before`` and ``eval/after`` (``promptsim negbench``
result directories), ``eval.parquet`` / ``eval.csv`` and ``summary.json`` (last: its presence
means the run is complete).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from backbone import weights_id
from backbone.training import Reporter
from corpora.locks import cannot_lock, writing
from corpora.multilabel import load_split, verify_images
from corpora.runio import (
    atomic_write,
    atomic_write_json,
    atomic_write_parquet,
    claim_out_dir,
    run_info,
    write_run_json,
)
from corpora.schema import C
from negation.negbench.families import load_families
from negation.negbench.inputs import image_keys
from negation.negbench.runner import Progress
from negation.negtune import evaluate as E
from negation.negtune.config import TuneConfig
from negation.negtune.data import CaptionBuilder, check_labels, read_extra_captions
from negation.negtune.towers import parse_train, reinit_random, select_trainable

COMMAND = "negtune"


@dataclass
class TuneResult:
    out: Path
    pretrained: str  # the tuned model's --pretrained value (local-dir:OUT)
    table: pl.DataFrame | None  # eval.parquet (None with --no-eval)
    summary: dict[str, Any]


def _splits(cfg: TuneConfig):
    kw: dict[str, Any] = {
        "skip_bad_images": cfg.skip_bad_images,
        "voc_difficult": cfg.voc_difficult,
        "classes": cfg.classes,
    }
    train, test = (load_split(cfg.dataset, cfg.root, s, **kw) for s in ("train", "test"))
    if cfg.skip_bad_images:
        train, test = verify_images(train, skip_bad=True), verify_images(test, skip_bad=True)
    if len(train) < 2:
        raise ValueError(f"{cfg.dataset} at {cfg.root}: the train split has {len(train)} image(s)")
    check_labels(train.labels, f"{cfg.dataset} at {cfg.root}")
    return train, test


def _backbone(cfg: TuneConfig):
    from backbone import BackboneConfig, load_backbone, require_images

    loaded = load_backbone(
        BackboneConfig(
            model=cfg.model,
            pretrained=cfg.pretrained,
            cache_dir=cfg.cache_dir,
            offline=cfg.offline,
            device=cfg.device,
            preprocess=cfg.preprocess,
            seed=cfg.seed,
        )
    )
    return require_images(loaded, COMMAND)


def _check_out(cfg: TuneConfig, out: Path) -> None:
    claim_out_dir(out, COMMAND, None)
    ckpt = out / "checkpoints"
    held = (ckpt / "last.pt").exists() or (ckpt / "prev.pt").exists()
    if held and not cfg.resume:
        raise FileExistsError(
            f"{out} already holds a run; pass --resume to continue it, or choose another --out"
        )
    if cfg.resume and (out / "run.json").is_file():
        old = json.loads((out / "run.json").read_text("utf-8")).get("config", {})
        diff = cfg.differences(old)
        if diff:
            raise ValueError(f"--resume: options differ from the run in {out}: {', '.join(diff)}")


def negtune(
    cfg: TuneConfig, reporter: Reporter | None = None, progress: Progress | None = None
) -> TuneResult:
    """Tune ``cfg.model`` on ``cfg.dataset`` into ``cfg.out`` (see the module docstring)."""
    rep = reporter or Reporter()
    prog = progress or (lambda stage, advance, total: None)
    out = Path(cfg.out).expanduser()
    mode = parse_train(cfg.train)
    # ---- checks: nothing is written before they all pass
    train_split, test = _splits(cfg)
    bench = E.build_bench(cfg, test, Path(cfg.root)) if cfg.eval else None
    keys = image_keys(train_split, Path(cfg.root))
    extra = read_extra_captions(Path(cfg.captions), keys) if cfg.captions else None
    backbone = _backbone(cfg)
    select_trainable(backbone.model, mode)  # K within the text tower
    _check_out(cfg, out)
    with writing(out, COMMAND) as held:  # one negtune per --out at a time
        if not held:
            rep.message(f"warning: {cannot_lock(out)}")
        return _run(cfg, out, mode, train_split, test, bench, extra, backbone, rep, prog)


def _run(cfg, out, mode, train_split, test, bench, extra, backbone, rep, prog) -> TuneResult:
    from negation.negtune.embeddings import image_embeddings
    from negation.negtune.export import export
    from negation.negtune.train import train

    base = backbone.info()
    if backbone.random_weights:
        rep.random_weights(base)
    init = reinit_random(backbone.model, cfg.seed) if backbone.random_weights else None
    names = list(train_split.classes.names)
    inputs = {
        "dataset": {
            "name": cfg.dataset,
            "root": str(cfg.root),
            "classes": list(train_split.classes.keys),
            "n_train": len(train_split),
            "n_test": len(test),
            "skipped": train_split.skipped + test.skipped,
        },
        "captions": None
        if extra is None
        else {
            "path": str(cfg.captions),
            "images": len(extra),
            "captions": sum(map(len, extra.values())),
        },
    }
    write_run_json(
        out,
        run_info(
            COMMAND,
            cfg.to_dict(),
            seed=cfg.seed,
            model=base,
            init=init,
            inputs=inputs,
            train={"mode": str(mode)},
        ),
    )
    summaries: dict[str, dict[str, Any]] = {}
    if bench is not None:
        rep.message("evaluating the base model")
        summaries["before"] = E.evaluate(backbone, bench, names, cfg, out / "eval" / "before", prog)
    embeddings = None
    if not mode.image_tower:
        rep.task("image embeddings", len(train_split))
        embeddings = image_embeddings(
            backbone,
            train_split,
            cache_root=None if cfg.cache_root is None else Path(cfg.cache_root),
            init=f"kaiming-seed{cfg.seed}" if init else None,
            batch_size=64,
            workers=cfg.workers,
            on_progress=lambda done, _n: rep.advance(completed=done),
        )
        rep.done()
    families = load_families(cfg.templates)
    captions = CaptionBuilder(
        train_split.labels, tuple(names), families, cfg.negations, cfg.seed, extra
    )
    trained = train(cfg, backbone, train_split, mode, captions, out, rep, embeddings)
    provenance = {
        "base_model": cfg.model,
        "base_pretrained": base[C.pretrained],
        "base_weights_id": base[C.weights_id],
        "base_random_weights": backbone.random_weights,
        "dataset": cfg.dataset,
        "train": str(mode),
        "negations": cfg.negations,
        "preprocess": cfg.preprocess,  # the image transform it was tuned (and evaluated) with
        "seed": cfg.seed,
    }
    pretrained = export(backbone, out, provenance)
    tuned = _backbone(replace(cfg, pretrained=pretrained))
    frame = None
    if bench is not None:
        rep.message("evaluating the tuned model")
        summaries["after"] = E.evaluate(tuned, bench, names, cfg, out / "eval" / "after", prog)
        frame = E.table(summaries)
        atomic_write_parquet(out / "eval.parquet", frame)
        atomic_write(out / "eval.csv", lambda tmp: frame.write_csv(tmp))
    summary = {
        C.model: cfg.model,
        C.pretrained: base[C.pretrained],
        C.weights_id: weights_id(backbone),
        C.random_weights: backbone.random_weights,
        **({C.warning: base[C.warning]} if backbone.random_weights else {}),
        C.tuned_pretrained: pretrained,
        C.tuned_weights_id: weights_id(tuned),
        C.dataset: cfg.dataset,
        C.n_train: len(train_split),
        C.seed: cfg.seed,
        C.train: str(mode),
        C.negations: cfg.negations,
        C.templates: cfg.templates,
        C.history: trained.history,
        C.wall_seconds: trained.wall_seconds,
        C.complete: True,
    }
    atomic_write_json(out / "summary.json", summary)
    return TuneResult(out, pretrained, frame, summary)
