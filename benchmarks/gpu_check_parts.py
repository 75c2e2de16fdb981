"""The GPU check's four parts (``benchmarks/gpu_check.py`` runs them, in this order): what each
measures is in that module's docstring. A part fills its result dict ``res`` and returns its
status; it calls ``budget.check()`` between two measurements, which raises :class:`PartTimeout`
when its time budget has run out."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from backbone import BackboneConfig, load_backbone
from backbone.features import FeatureSource, cache_entry
from benchmarks.mlrtrain_bench import (
    paper_gpu_hours,
    projected_coco_hours,
    step_seconds,
    sync,
    synthetic_split,
    train_step,
)
from benchmarks.promptsim_bench import measure, prompts
from corpora.classes import load_classes
from corpora.multilabel import load_split
from corpora.reference import load_reference
from mlr.heads import METHODS, build_head
from mlr.train import FitConfig, make_optimizer

ROOT = Path(__file__).resolve().parents[1]
LOW = ("bf16", "fp16")


@dataclass(frozen=True)
class Sizes:
    """What each part runs on."""

    device: str = "cuda"
    model: str = "RN101"  # mlrtrain and precision parts
    image_size: int = 448
    batch_sizes: tuple[int, ...] = (8, 32, 96)
    n_images: int = 192  # synthetic 500×375 images for the mlrtrain part
    repeat: int = 3  # timed repeats after one warm-up (the fastest is kept)
    workers: int = 8  # image decode/augment threads (online features, cache build)
    promptsim_models: tuple[str, ...] = ("RN101", "ViT-B-32")
    n_classes: int = 80
    negbench_model: str = "ViT-B-32"
    negbench_images: int = 500
    precision_images: int = 8
    model_configs: str | None = None  # a folder of extra open_clip configs to register
    threads: int | None = None  # torch CPU threads during the check (None: unchanged)


DRY_RUN = Sizes(
    device="cpu",
    model="notclip-tiny-RN",
    image_size=64,
    batch_sizes=(2, 32),
    n_images=32,
    repeat=1,
    workers=0,
    promptsim_models=("notclip-tiny-RN",),
    n_classes=2,
    negbench_model="notclip-tiny-ViT",
    negbench_images=16,
    precision_images=2,
    model_configs=str(ROOT / "tests" / "model_configs"),
    threads=1,  # tiny models: more threads only wait on each other on a busy CPU
)


class PartTimeout(Exception):
    """A part's budget ran out (raised between two measurements)."""


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def check(self) -> None:
        if self.left() <= 0:
            raise PartTimeout


def backbone(s: Sizes, model: str, precision: str = "fp32", image_size: int | None = None):
    return load_backbone(
        BackboneConfig(
            model=model,
            pretrained="none",
            device=s.device,
            precision=precision,
            image_size=image_size,
        )
    )


def synthetic_generic(root: Path, n: int, names: tuple[str, ...], seed: int = 0) -> Path:
    """A ``generic`` dataset of ``n`` smooth random 500×375 JPEGs, image i labelled with class
    ``i mod C`` plus up to two random others (the same rows as train and test)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        small = rng.integers(0, 255, size=(19, 25, 3), dtype=np.uint8)
        Image.fromarray(small).resize((500, 375), Image.Resampling.BILINEAR).save(
            root / "images" / f"{i}.jpg", quality=90
        )
        labels = {names[i % len(names)], *rng.choice(names, size=rng.integers(0, 3))}
        rows.append(json.dumps({"image": f"images/{i}.jpg", "labels": sorted(labels)}))
    for split in ("train", "test"):
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


# ---- 1. mlrtrain step times and the projected COCO hours -------------------------------------
def part_mlrtrain(s: Sizes, res: dict, budget: Budget) -> str:
    bb = backbone(s, s.model, image_size=s.image_size)
    classes = load_classes("coco")
    size = bb.image_size
    res.update(model=s.model, image_size=size, n_classes=len(classes), n_images=s.n_images)
    res["batch_sizes"] = list(s.batch_sizes)
    res.update(paper_gpu_hours=paper_gpu_hours())
    res["paper_gpu_hours_source"] = load_reference()["gpu_hours"]["source"]
    steps = res["step_s"] = {}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        data = synthetic_generic(Path(tmp) / "data", s.n_images, classes.keys)
        split = load_split("generic", data, "train", classes="coco")
        entry, meta = cache_entry(Path(tmp) / "cache", bb.info(), size, split, 0, 0)
        t = time.perf_counter()
        feats = entry.build(bb, split, 0, size, 0, meta, max(s.batch_sizes), s.workers)
        sync()
        res["cache_build_img_s"] = s.n_images / (time.perf_counter() - t)
        res["regions"], res["dim"] = int(feats.shape[1]), int(feats.shape[2])
        sources = {
            "cached": FeatureSource(bb, split, size, 0, [feats], 0, augment_online=False),
            "online": FeatureSource(
                bb, split, size, 0, None, 0, augment_online=True, workers=s.workers
            ),
        }
        targets = torch.from_numpy(split.labels).long().to(bb.device)
        try:
            for precision in ("fp32", "bf16"):
                for mode, source in sources.items():
                    for method in METHODS:
                        head = build_head(method, bb, classes.names).to(bb.device)
                        opt = make_optimizer(head, FitConfig(method=method))
                        for b in s.batch_sizes:
                            budget.check()
                            t = step_seconds(head, opt, source, targets, b, precision, s.repeat)
                            row = steps.setdefault(precision, {}).setdefault(mode, {})
                            row.setdefault(method, {})[str(b)] = t
                            print(
                                f"  mlrtrain {precision} {mode:<6} {method:<13} B={b:<3} {t:.4f} s"
                            )
        finally:
            res["projected_coco_hours"] = projections(steps, 1.0 / res["cache_build_img_s"])
    return "ok"


def projections(steps: dict, cache_s_per_image: float) -> dict:
    """Hours of one COCO run per precision, mode and method, from the step time at FitConfig's
    batch size (null when that step was not measured)."""
    b = str(FitConfig().batch_size)
    out: dict = {}
    for precision, modes in steps.items():
        for mode, methods in modes.items():
            per_image = cache_s_per_image if mode == "cached" else None
            out.setdefault(precision, {})[mode] = {
                m: projected_coco_hours(methods[m][b], per_image)
                if b in methods.get(m, {})
                else None
                for m in METHODS
            }
    return out


# ---- 2. promptsim text encoding at full size -------------------------------------------------
def part_promptsim(s: Sizes, res: dict, budget: Budget) -> str:
    texts = prompts(s.n_classes)
    res.update(n_classes=s.n_classes, n_prompts=len(texts), rows=[])
    for name in s.promptsim_models:
        budget.check()
        row: dict[str, Any] = {"model": name, "pretrained": "none", "random_weights": True}
        row.update(measure(backbone(s, name), texts))
        row["equal_within_1e-5"] = row["max_abs_diff"] <= 1e-5
        res["rows"].append(row)
        print(f"  promptsim {name}: {json.dumps(row)}")
    return "ok"


# ---- 3. promptsim negbench throughput ----------------------------------------------------------
# the child processes running now (the watchdog kills them)
children: list[subprocess.Popen] = []
# Runs the promptsim CLI in a child process, after registering the model configs in argv[1].
_PROMPTSIM = (
    "import sys, open_clip; from negation.promptsim.cli import main; c = sys.argv.pop(1); "
    "c and open_clip.add_model_config(c); main()"
)


def negbench_available() -> bool:
    import typer

    from negation.promptsim.cli import app

    return "negbench" in typer.main.get_command(app).commands  # type: ignore[attr-defined]


def negbench_args(root: Path, out: Path, model: str) -> list[str]:
    """The ``promptsim negbench`` command line this part times (edit here if its options differ)."""
    return [
        "negbench",
        *("--dataset", "generic", "--root", str(root), "--split", "test"),
        *("--model", model, "--pretrained", "none"),
        *("--tasks", "mcq,existence,retrieval", "--seed", "0", "--out", str(out)),
    ]


def run_child(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``cmd`` from the repository root; killed (and PartTimeout) when ``timeout`` passes."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    children.append(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PartTimeout from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        children.remove(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def part_negbench(s: Sizes, res: dict, budget: Budget) -> str:
    if not negbench_available():
        res["note"] = "not available in this revision (promptsim has no negbench command)"
        return "not available"
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        root = synthetic_generic(Path(tmp) / "data", s.negbench_images, load_classes("coco").names)
        out = Path(tmp) / "out"
        args = negbench_args(root, out, s.negbench_model)
        res.update(model=s.negbench_model, pretrained="none", n_images=s.negbench_images)
        res["command"] = "promptsim " + " ".join(args)
        t = time.perf_counter()
        done = run_child(
            [sys.executable, "-c", _PROMPTSIM, s.model_configs or "", *args], budget.left()
        )
        res["wall_s"] = time.perf_counter() - t
        if done.returncode != 0:
            raise RuntimeError(
                f"promptsim negbench exited {done.returncode}: {done.stderr[-2000:]}"
            )
        import pyarrow.parquet as pq

        res["n_questions"] = sum(
            pq.read_metadata(p).num_rows for p in out.rglob("questions.parquet")
        )
        res["questions_per_s"] = res["n_questions"] / res["wall_s"]
    return "ok"


# ---- 4. bf16 / fp16 against fp32 ---------------------------------------------------------------
def normalised_features(bb, texts: list[str], images: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        glob = bb.model.encode_image(images.to(bb.device, bb.dtype)).float()
        return {
            "text": bb.encode_text(texts),
            "image_dense": F.normalize(bb.dense_features(images), dim=-1).cpu(),
            "image_global": F.normalize(glob, dim=-1).cpu(),
        }


def part_precision(s: Sizes, res: dict, budget: Budget) -> str:
    classes = load_classes("coco")
    texts = prompts(s.n_classes)
    split = synthetic_split(s.precision_images, classes)
    res.update(model=s.model, image_size=s.image_size, n_prompts=len(texts))
    res["n_images"] = s.precision_images
    res["features"] = "max |Δ| of L2-normalised features; the backbone loaded at that precision"
    res["loss"] = "one step's loss (× --loss-w) on fp32 features, the head under autocast"
    bbs = {}
    for p in ("fp32", *LOW):
        budget.check()
        bbs[p] = backbone(s, s.model, p, s.image_size)
    transform = bbs["fp32"].image_transform()
    images = torch.stack([transform(split.image(i)) for i in range(len(split))])
    ref = normalised_features(bbs["fp32"], texts, images)
    rows = res["max_abs_diff"] = {}
    for p in LOW:
        budget.check()
        low = normalised_features(bbs[p], texts, images)
        rows[p] = {k: float((low[k] - ref[k]).abs().max()) for k in ref}
    feats = bbs["fp32"].dense_features(images)
    targets = torch.from_numpy(split.labels).long().to(feats.device)
    losses = res["step_loss"] = {}
    for method in METHODS:
        row = losses[method] = {}
        for p in ("fp32", *LOW):
            budget.check()
            head = build_head(method, bbs["fp32"], classes.names).to(feats.device)
            opt = make_optimizer(head, FitConfig(method=method))
            row[p] = float(train_step(head, opt, feats, targets, p))
        for p in LOW:
            row[f"{p}_abs_diff"] = abs(row[p] - row["fp32"])
    return "ok"


# ---- the parts, in the order they run ----------------------------------------------------------
RUNNERS = {
    "mlrtrain": part_mlrtrain,
    "promptsim": part_promptsim,
    "negbench": part_negbench,
    "precision": part_precision,
}
