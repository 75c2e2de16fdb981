"""The GPU check: every figure that needs an accelerator, in one call (random weights, no download).

    bash benchmarks/gpu_check.sh OUTDIR          # on a CUDA machine, from the repository root
    python benchmarks/gpu_check.py OUTDIR --dry-run   # CPU, tiny models and sizes (the tests)

Four parts, run in this process one after the other, each with a time budget (``--budget``); a part
that runs out stops between two measurements and reports ``"status": "timeout"`` with what it
finished. A watchdog ends the whole process after ``--hard-limit`` seconds, writing the summary
first (not in ``--dry-run``, which tests run in-process).

1. ``mlrtrain``: seconds per training step per method at RN101 / 448 px for B = 8, 32, 96, with
   cached features (fp16 memmap) and online (decode + augment + image encoder every step), fp32
   and bf16 (autocast of the head, as ``mlrtrain --precision bf16``); the projected hours of one
   COCO run (50 epochs, batch 32) per method beside the paper's GPU hours.
2. ``promptsim``: 80 COCO classes × 85 templates × 2 prompts, full 77-token vs EOT-truncated text
   encoding, and the re-run from the on-disk cache (``benchmarks/promptsim_bench.py``).
3. ``negbench``: ``promptsim negbench`` questions per second on a synthetic multi-label dataset,
   end to end (model load included); "not available" where this revision has no such command.
4. ``precision``: max |Δ| of bf16 / fp16 against fp32 for the L2-normalised text, dense-image and
   global-image features (backbone loaded at that precision), and one training step's loss per
   method (autocast of the head on fp32 features).

Writes ``OUTDIR/gpu_check.json`` and ``OUTDIR/gpu_check.md`` after every part. Exit status 0 when
every part is ok / not available / skipped, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mlrtrain_bench import (
    COCO_TRAIN,
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
from corpora.runio import atomic_write_json, atomic_write_text, markdown_table, run_info
from mlr.backbone import BackboneConfig, load_backbone
from mlr.features import FeatureSource, cache_entry
from mlr.heads import METHODS, build_head
from mlr.train import FitConfig, make_optimizer

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("mlrtrain", "promptsim", "negbench", "precision")
BUDGETS = {"mlrtrain": 170.0, "promptsim": 100.0, "negbench": 70.0, "precision": 50.0}
HARD_LIMIT = 450.0  # seconds for the whole process; gpu_check.sh kills it at 470
LOW = ("bf16", "fp16")
WEIGHTS_NOTE = "pretrained=none: random weights (seed 0), so these are speed and numerics only"


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
        row = {"model": name, "pretrained": "none", "random_weights": True}
        row.update(measure(backbone(s, name), texts))
        row["equal_within_1e-5"] = row["max_abs_diff"] <= 1e-5
        res["rows"].append(row)
        print(f"  promptsim {name}: {json.dumps(row)}")
    return "ok"


# ---- 3. promptsim negbench throughput ----------------------------------------------------------
_children: list[subprocess.Popen] = []
# Runs the promptsim CLI in a child process, after registering the model configs in argv[1].
_PROMPTSIM = (
    "import sys, open_clip; from negation.cli_promptsim import main; c = sys.argv.pop(1); "
    "c and open_clip.add_model_config(c); main()"
)


def negbench_available() -> bool:
    import typer

    from negation.cli_promptsim import app

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
    _children.append(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PartTimeout from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _children.remove(proc)
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


# ---- running, the watchdog, the summary ------------------------------------------------------
RUNNERS = {
    "mlrtrain": part_mlrtrain,
    "promptsim": part_promptsim,
    "negbench": part_negbench,
    "precision": part_precision,
}


def device_info(device: str) -> dict:
    info = {
        "device": device,
        "name": None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(name=props.name, memory_gib=props.total_memory / 2**30)
        info["capability"] = f"{props.major}.{props.minor}"
    return info


def write_summary(out: Path, summary: dict) -> None:
    atomic_write_json(out / "gpu_check.json", summary)
    atomic_write_text(out / "gpu_check.md", render_markdown(summary))


def run_part(name: str, s: Sizes, seconds: float, summary: dict, out: Path) -> None:
    res = summary["parts"][name] = {"status": "running", "budget_s": seconds}
    print(f"== {name} (budget {seconds:.0f} s)", flush=True)
    t = time.perf_counter()
    try:
        res["status"] = RUNNERS[name](s, res, Budget(seconds))
    except PartTimeout:
        res["status"] = "timeout"
        res["note"] = f"its {seconds:.0f} s budget ran out; the numbers here are what it finished"
    except Exception:
        res["status"] = "error"
        res["error"] = traceback.format_exc()
        print(res["error"], file=sys.stderr)
    finally:
        res["seconds"] = time.perf_counter() - t
        write_summary(out, summary)
    print(f"== {name}: {res['status']} in {res['seconds']:.1f} s", flush=True)


def arm_watchdog(seconds: float, summary: dict, out: Path) -> threading.Timer:
    """After ``seconds``: mark the running part as timed out, write the summary, kill any child
    process and end this process (exit status 124)."""

    def fire() -> None:
        try:
            for res in summary["parts"].values():
                if res["status"] in ("running", "pending"):
                    res["note"] = f"the whole check's {seconds:.0f} s ran out " + (
                        "here" if res["status"] == "running" else "before this part started"
                    )
                    res["status"] = "timeout"
            write_summary(out, summary)
        finally:
            for proc in list(_children):
                proc.kill()
            print(f"gpu_check: watchdog: {seconds:.0f} s passed; stopped", file=sys.stderr)
            os._exit(124)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def run_check(
    out: Path,
    sizes: Sizes,
    parts: tuple[str, ...] = PARTS,
    budgets: dict[str, float] | None = None,
    hard_limit: float | None = None,
    dry_run: bool = False,
) -> dict:
    """Run ``parts`` (the others are reported as skipped); returns the summary (also written)."""
    budgets = {**BUDGETS, **(budgets or {})}
    if sizes.model_configs:
        import open_clip

        open_clip.add_model_config(sizes.model_configs)
    threads = torch.get_num_threads()
    torch.set_num_threads(sizes.threads or threads)
    summary = run_info(
        "benchmarks/gpu_check.py",
        asdict(sizes),
        dry_run=dry_run,
        environment=device_info(sizes.device),
        weights=WEIGHTS_NOTE,
        budgets_s=budgets,
        hard_limit_s=hard_limit,
    )
    summary["parts"] = {p: {"status": "pending" if p in parts else "skipped"} for p in PARTS}
    out.mkdir(parents=True, exist_ok=True)
    timer = arm_watchdog(hard_limit, summary, out) if hard_limit else None
    start = time.perf_counter()
    try:
        torch.manual_seed(0)
        for name in PARTS:
            if name in parts:
                run_part(name, sizes, budgets[name], summary, out)
    finally:
        torch.set_num_threads(threads)
        if timer is not None:
            timer.cancel()
    summary["total_s"] = time.perf_counter() - start
    write_summary(out, summary)
    return summary


# ---- the Markdown summary --------------------------------------------------------------------
def _f(v, fmt: str = ".4f") -> str:
    return "—" if v is None else format(v, fmt)


def render_markdown(summary: dict) -> str:
    env, parts = summary["environment"], summary["parts"]
    name = env.get("name") or f"{env['device']} ({env['cpu_count']} CPUs)"
    lines = [
        "# notclip GPU check"
        + (
            " (DRY RUN: CPU, tiny models — no figure here means anything)"
            if summary.get("dry_run")
            else ""
        ),
        "",
        f"{name}; torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}; "
        f"git {summary.get('git_revision')}; {summary.get('created_utc')}.",
        f"Weights: {summary['weights']}.",
        "",
    ]
    table = [["part", "status", "seconds", "budget s"]]
    for p, r in parts.items():
        table.append([p, r["status"], _f(r.get("seconds"), ".1f"), _f(r.get("budget_s"), ".0f")])
    lines.append(markdown_table(table, "llrr"))
    for p, r in parts.items():
        if r.get("note"):
            lines.append(f"\n{p}: {r['note']}")
        if r.get("error"):
            lines.append(f"\n{p} failed:\n```\n{r['error'].strip()[-1500:]}\n```")
    m = parts["mlrtrain"]
    if m.get("step_s"):
        lines += [
            "",
            f"## mlrtrain: seconds per training step ({m['model']} at {m['image_size']} px, "
            f"{m['regions']} regions × {m['dim']}, C = {m['n_classes']})",
            "",
            f"Feature-cache build: {m['cache_build_img_s']:.1f} images/s. Cached = fp16 memmap "
            "gather + head step; online = JPEG decoding (synthetic 500×375 images) + augment + "
            "image encoder + head step. bf16 = autocast of the head (the backbone stays fp32).",
        ]
        for precision, modes in m["step_s"].items():
            cols = [(mode, str(b)) for mode in modes for b in m["batch_sizes"]]
            table = [["method", *(f"{mode} B={b}" for mode, b in cols)]]
            for method in METHODS:
                vals = [modes[mode].get(method, {}).get(b) for mode, b in cols]
                table.append([method, *(_f(v) for v in vals)])
            lines += ["", f"**{precision}**", "", markdown_table(table, "l" + "r" * len(cols))]
        proj = m.get("projected_coco_hours", {})
        heads = [(p, mo) for p, modes in proj.items() for mo in modes]
        lines += [
            "",
            f"Projected hours of one COCO run ({COCO_TRAIN:,} train images, "
            f"{FitConfig().epochs} epochs, batch {FitConfig().batch_size}; cached includes one "
            "feature pass over train + test; evaluation not counted), beside the paper's GPU "
            f"hours ({m['paper_gpu_hours_source']}):",
            "",
        ]
        table = [["method", "paper GPU h", *(f"{mo} {p} h" for p, mo in heads)]]
        for method in METHODS:
            vals = [proj[p][mo][method] for p, mo in heads]
            table.append([method, str(m["paper_gpu_hours"][method]), *(_f(v, ".2f") for v in vals)])
        lines.append(markdown_table(table, "lr" + "r" * len(heads)))
    ps = parts["promptsim"]
    if ps.get("rows"):
        lines += [
            "",
            f"## promptsim text encoding ({ps['n_prompts']:,} prompts: {ps['n_classes']} COCO "
            "classes × 85 templates × 2)",
            "",
        ]
        heads = ["full s", "truncated s", "×", "max abs Δ", "cache fill s", "cached re-run s", "×"]
        table = [["model", *heads]]
        for r in ps["rows"]:
            table.append(
                [
                    r["model"],
                    f"{r['full_s']:.3f}",
                    f"{r['truncated_s']:.3f}",
                    f"{r['truncation_speedup']:.1f}",
                    f"{r['max_abs_diff']:.1e}",
                    f"{r['fill_s']:.3f}",
                    f"{r['cached_s']:.4f}",
                    f"{r['cache_speedup']:.0f}",
                ]
            )
        lines.append(markdown_table(table, "l" + "r" * len(heads)))
    nb = parts["negbench"]
    if nb.get("questions_per_s") is not None:
        lines += [
            "",
            f"## promptsim negbench: {nb['n_questions']:,} questions in {nb['wall_s']:.1f} s = "
            f"**{nb['questions_per_s']:.0f} questions/s** end to end ({nb['model']}, "
            f"{nb['n_images']} synthetic images): `{nb['command']}`",
        ]
    pr = parts["precision"]
    if pr.get("max_abs_diff"):
        lines += [
            "",
            f"## precision against fp32 ({pr['model']} at {pr['image_size']} px, "
            f"{pr['n_prompts']:,} prompts, {pr['n_images']} images)",
            "",
            f"Features: {pr['features']}. Loss: {pr['loss']}.",
            "",
        ]
        table = [
            ["precision", "text", "dense image", "global image"]
            + [f"abs Δ loss {m}" for m in METHODS]
        ]
        for p, d in pr["max_abs_diff"].items():
            loss = [pr.get("step_loss", {}).get(m, {}).get(f"{p}_abs_diff") for m in METHODS]
            table.append(
                [p, f"{d['text']:.1e}", f"{d['image_dense']:.1e}", f"{d['image_global']:.1e}"]
                + [_f(v, ".1e") for v in loss]
            )
        lines.append(markdown_table(table, "lrrr" + "r" * len(METHODS)))
    return "\n".join(lines) + "\n"


# ---- command line ----------------------------------------------------------------------------
def _budget(text: str) -> tuple[str, float]:
    name, _, secs = text.partition("=")
    if name not in PARTS or not secs:
        raise argparse.ArgumentTypeError(f"--budget wants PART=SECONDS with PART in {PARTS}")
    return name, float(secs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="folder for gpu_check.json and gpu_check.md")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny models and sizes")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of the parts")
    ap.add_argument("--budget", type=_budget, action="append", default=[], metavar="PART=S")
    ap.add_argument("--hard-limit", type=float, default=HARD_LIMIT, help="seconds, whole check")
    ap.add_argument("--device", choices=("cuda", "cpu"), default=None)
    args = ap.parse_args(argv)
    parts = tuple(p for p in args.parts.split(",") if p)
    if unknown := set(parts) - set(PARTS):
        ap.error(f"--parts: unknown {sorted(unknown)}; choose from {', '.join(PARTS)}")
    sizes = DRY_RUN if args.dry_run else Sizes()
    if args.device:
        sizes = replace(sizes, device=args.device)
    if sizes.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; use --dry-run (or --device cpu)", file=sys.stderr)
        return 1
    summary = run_check(
        args.out,
        sizes,
        parts,
        dict(args.budget),
        hard_limit=None if args.dry_run else args.hard_limit,
        dry_run=args.dry_run,
    )
    print(render_markdown(summary))
    ok = {"ok", "not available", "skipped"}
    return 0 if all(r["status"] in ok for r in summary["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
