"""promptsim negbench speed: questions scored per second, the runner (image features once per
image, text features once per distinct caption, batched, through the text cache) vs a naive loop
that encodes each question's image and captions on its own — in one run.

Tiny random-init ResNet CLIP (``tests/model_configs``, no download) on a generated VOC-layout split
(``tests/mlr_data.py``); MCQ + existence questions. Run by hand (< 2 min on a small CPU):

    python benchmarks/negbench_bench.py                  # 64 images, naive loop on 100 questions
    python benchmarks/negbench_bench.py --images 256 --naive 600 --model RN50   # a real size
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import open_clip  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mlr_data import write_voc  # noqa: E402

from backbone import BackboneConfig, load_backbone  # noqa: E402
from corpora.multilabel import load_split  # noqa: E402
from negation.negbench.families import FAMILIES  # noqa: E402
from negation.negbench.inputs import bench_from_split  # noqa: E402
from negation.negbench.runner import RunConfig, score  # noqa: E402


def naive(bench, backbone, rows: int) -> float:
    """Seconds to score the first ``rows`` questions one at a time (no sharing, no cache)."""
    tf = backbone.image_transform(backbone.native_image_size)
    index = {k: i for i, k in enumerate(bench.image_keys)}
    q = bench.questions.head(rows)
    start = time.perf_counter()
    for image, options in q.select("image", "options").iter_rows():
        x = tf(bench.opener(index[image])).unsqueeze(0).to(backbone.device, backbone.dtype)
        with torch.no_grad():
            img = F.normalize(backbone.model.encode_image(x).float(), dim=-1)
        txt = backbone.encode_text(options)
        (img @ txt.T).argmax()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="notclip-tiny-RN", help="open_clip model (random init)")
    parser.add_argument("--images", type=int, default=64, help="images in the generated split")
    parser.add_argument("--naive", type=int, default=100, help="questions timed in the naive loop")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    open_clip.add_model_config(ROOT / "tests" / "model_configs")
    with tempfile.TemporaryDirectory() as tmp:
        root = write_voc(Path(tmp) / "voc", n_trainval=2, n_test=args.images)
        split = load_split("voc", root, "test")
        fams = [FAMILIES["negbench"], FAMILIES["photo"]]
        bench = bench_from_split(split, root, tasks=["mcq", "existence"], families=fams, seed=0)
        n = bench.questions.height
        captions = bench.questions["options"].explode().n_unique()
        print(f"{n} questions, {len(split)} images, {captions} distinct captions ({args.model})")
        # negbench's default transform: the model's own (crop)
        bb = load_backbone(
            BackboneConfig(args.model, "none", device=args.device, preprocess="crop")
        )
        cfg = RunConfig(bench=bench, out=Path(tmp) / "out", text_cache=Path(tmp) / "cache")
        quiet = lambda *a: None  # noqa: E731
        t0 = time.perf_counter()
        score(bench, bb, cfg, quiet)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        score(bench, bb, cfg, quiet)
        t_cached = time.perf_counter() - t0
        rows = min(args.naive, n)
        t_naive = naive(bench, bb, rows)
    naive_rate = rows / t_naive
    print(f"{'naive, per question':<34} {naive_rate:10.0f} questions/s  (timed on {rows})")
    for name, t in (("runner, empty text cache", t_first), ("runner, text cache filled", t_cached)):
        rate = n / t
        print(f"{name:<34} {rate:10.0f} questions/s  ×{rate / naive_rate:.1f} vs naive")


if __name__ == "__main__":
    main()
