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
import os
import sys
import threading
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gpu_check_parts import (
    DRY_RUN,
    RUNNERS,
    Budget,
    PartTimeout,
    Sizes,
    children,
)
from benchmarks.gpu_check_report import render_markdown
from corpora.runio import atomic_write_json, atomic_write_text, run_info

PARTS = tuple(RUNNERS)
BUDGETS = {"mlrtrain": 170.0, "promptsim": 100.0, "negbench": 70.0, "precision": 50.0}
HARD_LIMIT = 450.0  # seconds for the whole process; gpu_check.sh kills it at 460
WEIGHTS_NOTE = "pretrained=none: random weights (seed 0), so these are speed and numerics only"


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
            for proc in list(children):
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
    *,
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
