"""promptsim speed: EOT truncation and the on-disk text cache, vs the naive full-length encoding.

Encodes COCO classes × the 85 ensemble templates × 2 (positive + "not " negation) with
random-init open_clip models (no download) — 8 classes by default (1,360 prompts, runnable on a
small CPU), 13,600 prompts at the issue's full size ``--n-classes 80`` — and prints:

- full-length encoding (``model.encode_text`` on all 77 tokens; the naive baseline) vs the
  EOT-truncated encoding (each batch cut to its longest EOT position): time, ratio, and the max
  absolute difference of the normalised embeddings (must be ≤ 1e-5);
- the truncated encoding filling an empty cache vs a re-run from the cache: time and ratio.

Targets (issue 3): truncation ≥ 4× faster; cached re-run ≥ 50× faster. Run by hand, not in CI:

    python benchmarks/promptsim_bench.py                       # 8 classes: 1,360 prompts per model
    python benchmarks/promptsim_bench.py --n-classes 80        # the issue's 13,600 (slow on a CPU)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from backbone import BackboneConfig, load_backbone
from corpora.classes import load_classes
from negation.promptsim.templates import fill, load_template_set, setting


def prompts(n_classes: int) -> list[str]:
    s = setting(load_template_set("ensemble85"), "not-prefix")
    names = load_classes("coco").names[:n_classes]
    return [t for name in names for t in (*fill(s.positive, name), *fill(s.negative, name))]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def measure(bb, texts: list[str], batch_size: int | None = None) -> dict:
    """One model's row: full-length vs EOT-truncated encoding (seconds, ratio, max |Δ| of the
    normalised embeddings), then filling an empty on-disk cache vs a re-run from it."""
    full, t_full = timed(lambda: bb.encode_text(texts, batch_size, truncate=False))
    trunc, t_trunc = timed(lambda: bb.encode_text(texts, batch_size))
    with tempfile.TemporaryDirectory() as root:
        _, t_fill = timed(lambda: bb.encode_text(texts, batch_size, cache=root))
        cached, t_cached = timed(lambda: bb.encode_text(texts, cache=root))
    assert torch.equal(cached, trunc) or float((cached - trunc).abs().max()) <= 1e-6
    return {
        "full_s": t_full,
        "truncated_s": t_trunc,
        "truncation_speedup": t_full / t_trunc,
        "max_abs_diff": float((full - trunc).abs().max()),
        "fill_s": t_fill,
        "cached_s": t_cached,
        "cache_speedup": t_trunc / t_cached,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="ViT-B-32,RN101", help="comma-separated model names")
    parser.add_argument(
        "--n-classes", type=int, default=8, help="COCO classes to use (≤ 80; 80 = the issue's size)"
    )
    parser.add_argument("--limit", type=int, default=None, help="cap on the number of prompts")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = prompts(args.n_classes)[: args.limit]
    print(f"{len(texts)} prompts ({args.n_classes} COCO classes × 85 templates × 2)")
    header = (
        f"{'model':<10} {'full s':>8} {'trunc s':>8} {'×trunc':>7} {'max|Δ|':>9} "
        f"{'fill s':>8} {'cached s':>9} {'×cache':>8}"
    )
    print(header)
    for name in args.models.split(","):
        bb = load_backbone(BackboneConfig(model=name, pretrained="none", device=args.device))
        r = measure(bb, texts, args.batch_size)
        diff = r["max_abs_diff"]
        print(
            f"{name:<10} {r['full_s']:8.2f} {r['truncated_s']:8.2f} "
            f"{r['truncation_speedup']:6.1f}× {diff:9.1e} {r['fill_s']:8.2f} "
            f"{r['cached_s']:9.3f} {r['cache_speedup']:7.0f}×"
            f"  {'OK' if diff <= 1e-5 else 'MISMATCH > 1e-5'}"
        )


if __name__ == "__main__":
    main()
