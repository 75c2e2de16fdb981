"""mlrtrain speed: cached vs online features, truncated vs full-length text encoder, step time vs
batch size per method, and a projected COCO (50 epochs) cost, cached and online-augmented (the
anchors' recipe, ``--config paper``), next to the paper's GPU hours.

Run by hand (not in CI), from the repository root:

    .venv/bin/python benchmarks/mlrtrain_bench.py                      # small random backbone
    .venv/bin/python benchmarks/mlrtrain_bench.py --model RN101 --image-size 448 \\
        --n-images 32 --batch-sizes 8,32 --repeat 2                          # real RN101 shapes

Random weights throughout (speed does not depend on them). The naive baselines run in the same
process: online features (decode + augment + backbone every step) and a full-length (77-token)
text encoder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backbone import BackboneConfig, load_backbone
from backbone.devices import PRECISIONS
from backbone.features import FeatureSource, cache_entry
from backbone.model import Backbone
from corpora.classes import load_classes
from corpora.multilabel import MultiLabelSplit
from corpora.reference import load_reference
from mlr.heads import METHODS, DualCoOpHead, build_head
from mlr.losses import get_loss
from mlr.train import FitConfig, make_optimizer

# A small ResNet CLIP (random init): 128 px → 4×4+1 regions, 512-d embeddings, 512-wide text tower
# with 4 layers (RN101's text tower has 12).
SMALL = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 128, "layers": [1, 1, 1, 1], "width": 32, "patch_size": None},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 4},
}
COCO_TRAIN, COCO_TEST = 82_081, 40_137  # COCO-2014 train2014 / val2014 images with annotations


def paper_gpu_hours() -> dict[str, float]:
    """The paper's GPU hours per COCO training run, per method (from corpora/data)."""
    return {m: load_reference()["gpu_hours"]["coco"][m] for m in METHODS}


def synthetic_split(n: int, classes, seed: int = 0) -> MultiLabelSplit:
    """``n`` random 500×375 JPEG-sized RGB images (decoded from memory, like a photo dataset)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 255, size=(375, 500, 3), dtype=np.uint8) for _ in range(n)]
    labels = (rng.random((n, len(classes))) < 0.05).astype(np.int8)
    return MultiLabelSplit(
        "bench",
        "train",
        classes,
        [f"img{i}" for i in range(n)],
        labels,
        lambda i: Image.fromarray(arrays[i]),
        content=lambda: f"synthetic 500x375 noise, seed {seed}, {n} images",
    )


def sync() -> None:
    """Wait for queued CUDA work (timings on a GPU are otherwise only launch times)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn, repeat: int) -> float:
    """Fastest of ``repeat`` runs after a warm-up (the least disturbed by other processes)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def train_step(head, opt, feats, targets, precision: str = "fp32") -> torch.Tensor:
    """One optimisation step as ``mlr.train.fit`` runs it: the head's forward under autocast
    (``precision`` bf16 or fp16; fp32 = none), the loss in fp32 × ``--loss-w``, SGD. Returns the
    step's loss (detached)."""
    cfg = FitConfig()
    with torch.autocast(
        feats.device.type, dtype=PRECISIONS[precision], enabled=precision != "fp32"
    ):
        logits = head(feats)
    loss = cfg.loss_w * get_loss(cfg.loss)(logits.float(), targets)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def step_seconds(head, opt, source, targets, batch_size: int, precision: str, repeat: int) -> float:
    """Seconds per training step at ``batch_size``: a batch from ``source`` (a
    :class:`FeatureSource`, cached or online) plus :func:`train_step`. Images are reused
    cyclically when the split is smaller than the batch."""
    idx = np.arange(batch_size) % len(source.split)
    y = targets[idx]
    return timed(lambda: train_step(head, opt, source.batch(idx, epoch=0), y, precision), repeat)


def projected_coco_hours(step_s: float, cache_s_per_image: float | None = None) -> float:
    """Hours for one COCO run of ``FitConfig``'s epochs at its batch size: every step at
    ``step_s``, plus one feature-cache pass over train + test when ``cache_s_per_image`` is given
    (cached features) — evaluation passes not counted."""
    cfg = FitConfig()
    n_steps = -(-COCO_TRAIN // cfg.batch_size)
    cache = (cache_s_per_image or 0.0) * (COCO_TRAIN + COCO_TEST)
    return (cache + cfg.epochs * n_steps * step_s) / 3600


def full_length_text(backbone, emb, eot):
    """The naive text path: all 77 tokens through the transformer (same result as truncated)."""
    m = backbone.model
    x = emb + m.positional_embedding.to(emb.dtype)
    x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask))
    x = x[torch.arange(x.shape[0]), eot.to(x.device)]
    return (
        m.text_projection(x)
        if isinstance(m.text_projection, torch.nn.Linear)
        else (x @ m.text_projection)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="bench-small-RN")
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--n-images", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batch-sizes", default="8,32,128")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = ap.parse_args()
    torch.manual_seed(0)

    tmp = Path(tempfile.mkdtemp(prefix="mlrbench-"))
    if args.model == "bench-small-RN":
        import open_clip

        (tmp / "cfg").mkdir()
        (tmp / "cfg" / "bench-small-RN.json").write_text(json.dumps(SMALL))
        open_clip.add_model_config(tmp / "cfg")
    backbone = load_backbone(
        BackboneConfig(
            model=args.model, pretrained="none", device=args.device, image_size=args.image_size
        )
    )
    assert isinstance(backbone, Backbone)  # an open_clip model, not a text-only one
    size = backbone.image_size
    classes = load_classes("coco")
    split = synthetic_split(args.n_images, classes)
    out: dict = {
        "model": args.model,
        "image_size": size,
        "device": str(backbone.device),
        "n_images": args.n_images,
        "torch_threads": torch.get_num_threads(),
    }
    print(
        f"# {args.model} (random) at {size}px on {backbone.device}, "
        f"{torch.get_num_threads()} threads, {args.n_images} images, C = 80"
    )

    # 1. feature cost: cache build (one pass) and an online vs cached epoch (positivecoop)
    entry, meta = cache_entry(tmp / "fc", backbone.info(), size, split, 0, 0)
    t = time.perf_counter()
    feats = entry.build(backbone, split, 0, size, 0, meta, batch_size=args.batch_size)
    t_cache = time.perf_counter() - t
    regions, dim = feats.shape[1:]
    cached = FeatureSource(backbone, split, size, 0, [feats], 0, augment_online=False)
    online = FeatureSource(backbone, split, size, 0, None, 0, augment_online=True)
    targets = torch.from_numpy(split.labels).long().to(backbone.device)
    out.update(regions=int(regions), dim=int(dim), cache_build_s=t_cache)
    print(
        f"\n## features ({regions} regions × {dim}), one epoch of {args.n_images} images, "
        f"batch {args.batch_size}"
    )
    print(
        f"cache build (1 pass, no augmentation): {t_cache:8.3f} s  "
        f"({args.n_images / t_cache:.1f} img/s)"
    )
    print(f"{'method':<14}{'online s':>10}{'cached s':>10}{'speed-up':>10}")
    for method in ("baseline", "positivecoop"):
        head = build_head(method, backbone, classes.names).to(backbone.device)
        opt = make_optimizer(head, FitConfig(method=method, lr=0.002))

        def epoch(source, head=head, opt=opt):
            for s in range(0, args.n_images, args.batch_size):
                idx = np.arange(s, min(args.n_images, s + args.batch_size))
                train_step(head, opt, source.batch(idx, epoch=0), targets[idx])

        t_online = timed(lambda: epoch(online), 1)
        t_cached = timed(lambda: epoch(cached), args.repeat)
        out[f"epoch_{method}"] = {
            "online_s": t_online,
            "cached_s": t_cached,
            "speedup": t_online / t_cached,
        }
        print(f"{method:<14}{t_online:10.3f}{t_cached:10.3f}{t_online / t_cached:9.1f}×")
    print(
        "(online = decode + CutoutPIL + RandAugment + backbone + head; cached = fp16 memmap "
        "gather + head; target ≥ 10×)"
    )

    # 2. text encoder: truncated at EOT vs full length, forward + backward into the contexts
    pl = cast(DualCoOpHead, build_head("dualcoop", backbone, classes.names).to(backbone.device))

    def text(*, truncated: bool):
        feats = []
        for learner in (pl.neg, pl.pos):
            ctx = learner.ctx
            emb = torch.cat([learner.prefix, ctx, learner.suffix], dim=1)
            if truncated:
                feats.append(backbone.encode_token_embeddings(emb, learner.eot))
            else:
                feats.append(full_length_text(backbone, emb, learner.eot))
        return torch.cat(feats)

    def text_step(*, truncated: bool):
        pl.zero_grad(set_to_none=True)
        text(truncated=truncated).sum().backward()

    with torch.no_grad():
        diff = (text(truncated=True) - text(truncated=False)).abs().max().item()
    t_trunc = timed(lambda: text_step(truncated=True), args.repeat)
    t_full = timed(lambda: text_step(truncated=False), args.repeat)
    longest = int(pl.pos.eot.max()) + 1
    out.update(
        text_truncated_s=t_trunc,
        text_full_s=t_full,
        text_speedup=t_full / t_trunc,
        text_tokens=longest,
        text_max_abs_diff=diff,
    )
    print("\n## text encoder, 160 prompts (DualCoOp on COCO), forward + backward")
    print(
        f"truncated to {longest} tokens: {t_trunc:8.4f} s   full 77 tokens: {t_full:8.4f} s   "
        f"speed-up {t_full / t_trunc:.1f}×   max |diff| {diff:.2e}"
    )

    # 3. step time vs batch size per method (cached features)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    print("\n## training step (cached features), seconds per step")
    print(f"{'method':<14}" + "".join(f"{'B=' + str(b):>11}" for b in sizes))
    steps: dict = {}
    for method in METHODS:
        h = build_head(method, backbone, classes.names).to(backbone.device)
        o = make_optimizer(h, FitConfig(method=method))
        row = [step_seconds(h, o, cached, targets, b, "fp32", args.repeat) for b in sizes]
        steps[method] = dict(zip(map(str, sizes), row, strict=True))
        print(f"{method:<14}" + "".join(f"{v:11.4f}" for v in row))
    out["step_s"] = steps

    # 4. projected COCO cost at FitConfig's epochs and batch size: features once (train+test) +
    # every epoch on cached features; or every epoch online, augmented (the anchors' recipe,
    # --config paper): the cached step plus the image side per step (decode + augment + backbone,
    # the baseline's online − cached epoch of section 1, whose head costs next to nothing), plus
    # the clean images that online mode also encodes: the held-out split every epoch and the test
    # split twice (last and selected epoch), at the cache build's rate
    per_img = t_cache / args.n_images
    run = FitConfig()
    b32 = str(run.batch_size) if str(run.batch_size) in steps["baseline"] else str(sizes[-1])
    base = out["epoch_baseline"]
    image_step = (base["online_s"] - base["cached_s"]) / args.n_images * int(b32)
    clean_h = (run.epochs * run.val_fraction * COCO_TRAIN + 2 * COCO_TEST) * per_img / 3600
    paper = paper_gpu_hours()
    print(
        f"\n## projected COCO-2014 (train {COCO_TRAIN:,}, test {COCO_TEST:,}), {run.epochs} "
        f"epochs, batch {b32}, on THIS device ({backbone.device}, {args.model} at {size}px); "
        f"online: + {image_step:.3f} s of images per step"
    )
    print(f"{'method':<14}{'cached h':>10}{'online h':>10}{'ratio':>8}")
    proj, proj_online = {}, {}
    for method in METHODS:
        hours = projected_coco_hours(steps[method][b32], per_img)
        online_h = projected_coco_hours(steps[method][b32] + image_step) + clean_h
        proj[method], proj_online[method] = hours, online_h
        print(
            f"{method:<14}{hours:10.2f}{online_h:10.2f}{online_h / hours:7.1f}×   "
            f"(paper, GPU, online: {paper[method]} h)"
        )
    out["online_image_s_per_step"] = image_step
    out["projected_coco_hours_online"] = proj_online
    out["projected_coco_hours"] = proj
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)  # the feature cache and model config written above


if __name__ == "__main__":
    main()
