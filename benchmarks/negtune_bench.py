"""negtune's offline proof: no negation in the captions → no negation in the model; negation in the
captions → negation in the model — in miniature, on generated data, from random weights.

A generated 6-class shapes set (``corpora.shapes``: 64 px, 1–3 shapes per image, 3,000 training
images, a separate 100-image test split) and the package's tiny ResNet CLIP
(``corpora/data/toy_model.json``) trained from random weights (``--pretrained none``, convolutions
re-initialised) with ``negtune --train all``: AdamW, lr 1e-3, batch 128, warm-up + cosine, 14
epochs; once with ``--negations labels`` and once with ``--negations none`` (the control), per
seed. Each tuned model is then evaluated by ``promptsim negbench`` (its job API: the export
loaded as ``--pretrained local-dir:OUT``) on the test split, MCQ with negbench's own caption
family ("This image features …"), which the training captions (negtune's default families: all
but negbench and photo) never use.

What it checks (printed at the end): negation-MCQ accuracy ≥ 0.8 with negations and ≥ 0.3 above
the control; affirmation no more than 0.05 below the control's. Run by hand (minutes per run):

    python benchmarks/negtune_bench.py --seeds 0,1,2 --out /tmp/negtune-bench
    python benchmarks/negtune_bench.py --seeds 0 --epochs 8          # a quicker look

Each model is also evaluated with the training families' sentences (on the same held-out images):
a diagnostic that tells what the model learned from what transfers to unseen sentences. Finished
runs are reused (rerun to finish an interrupted one); ``results.json`` and a markdown
table (mean ± std over seeds) are written under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from backbone.training import Reporter  # noqa: E402
from corpora.runio import atomic_write_json, atomic_write_text, markdown_table  # noqa: E402
from corpora.schema import C  # noqa: E402
from corpora.shapes import write_shapes  # noqa: E402
from corpora.toydata import toy_model_config  # noqa: E402
from negation.negbench.job import JobOptions, negbench  # noqa: E402
from negation.negtune.config import DEFAULT_TEMPLATES, TuneConfig  # noqa: E402
from negation.negtune.runner import negtune  # noqa: E402

CONDITIONS = ("labels", "none")
# the evaluation's sentences: negbench's own (never trained on; the proof), and the training
# families' (sentences seen in training, on the held-out images: a diagnostic)
EVALS = {"negbench": "negbench", "training": DEFAULT_TEMPLATES}
TYPES = ("affirmation", "negation", "hybrid")


class Printer(Reporter):
    """Each epoch's line on stdout (a run takes minutes)."""

    def message(self, text: str) -> None:
        print(f"  {text}", flush=True)


def tune(data: Path, out: Path, negations: str, seed: int, args) -> float:
    """Run negtune (or reuse a finished run); returns its training wall seconds."""
    summary = out / "summary.json"
    if not summary.is_file():
        cfg = TuneConfig(
            dataset="generic",
            root=str(data),
            out=str(out),
            model=str(toy_model_config()),
            pretrained="none",
            device=args.device,
            train="all",
            negations=negations,
            epochs=args.epochs,
            lr=1e-3,
            batch_size=128,
            seed=seed,
            eval=False,
            resume=(out / "run.json").is_file(),
        )
        negtune(cfg, Printer())
    return float(json.loads(summary.read_text())[C.wall_seconds])


def evaluate(data: Path, run: Path, seed: int, device: str, templates: str) -> dict[str, float]:
    """``promptsim negbench`` MCQ accuracy by type of the tuned model on the test split, with the
    caption families ``templates``."""
    out = run / f"negbench-test-{templates.replace(',', '+')}"
    opts = JobOptions(
        dataset="generic",
        root=data,
        split="test",
        tasks="mcq",
        templates=templates,
        seed=seed,
        n_boot=200,
    )
    model = (str(toy_model_config()), f"local-dir:{run}")
    from negation.promptsim.inputs import load_backbone

    def load(name: str, weights: str):
        return load_backbone(name, weights, device=device, seed=seed)

    summary = negbench(opts, out, model, load).summaries[0]
    by_type = summary[C.metrics]["mcq"]["by_type"]
    return {t: float(by_type[t][C.value]) for t in TYPES}


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("negtune-bench"))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument(
        "--conditions",
        default="labels,none",
        help="labels, none: which runs (two processes "
        "can share one --out, one condition each; a last call with both writes the table)",
    )
    parser.add_argument("--train-images", type=int, default=3000)
    parser.add_argument("--test-images", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default torch's; 1 when several runs share a busy machine)",
    )
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    data = args.out / "shapes"
    if not (data / "test.jsonl").is_file():
        write_shapes(data, args.train_images, args.test_images, seed=0)
    rows: list[dict] = []
    conditions = [c for c in args.conditions.split(",") if c]
    for seed in seeds:
        for negations in conditions:
            run = args.out / f"{negations}-seed{seed}"
            t0 = time.perf_counter()
            seconds = tune(data, run, negations, seed, args)
            for sentences, templates in EVALS.items():
                acc = evaluate(data, run, seed, args.device, templates)
                rows.append(
                    {
                        "negations": negations,
                        "sentences": sentences,
                        "seed": seed,
                        "train_seconds": seconds,
                        **acc,
                        "wall_seconds": time.perf_counter() - t0,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    atomic_write_json(args.out / "results.json", {"epochs": args.epochs, "rows": rows})
    table = [
        [
            "captions",
            "evaluated on",
            "affirmation",
            "negation",
            "hybrid",
            "train min / run",
            "seeds",
        ]
    ]
    for sentences in EVALS:
        for negations in conditions:
            part = [r for r in rows if r["negations"] == negations and r["sentences"] == sentences]
            label = (
                "with negations (labels)" if negations == "labels" else "affirmative only (none)"
            )
            where = "negbench's sentences" if sentences == "negbench" else "training sentences"
            table.append(
                [
                    label,
                    where,
                    *(mean_std([r[t] for r in part]) for t in TYPES),
                    mean_std([r["train_seconds"] / 60 for r in part]),
                    ",".join(str(r["seed"]) for r in part),
                ]
            )
    text = markdown_table(table, "llrrrrl")
    atomic_write_text(args.out / "results.md", text + "\n")
    print(text)
    if set(conditions) != set(CONDITIONS):
        return
    proof = [r for r in rows if r["sentences"] == "negbench"]
    means = {
        n: {t: statistics.mean(r[t] for r in proof if r["negations"] == n) for t in TYPES}
        for n in CONDITIONS
    }
    ok = (
        means["labels"]["negation"] >= 0.8
        and means["labels"]["negation"] - means["none"]["negation"] >= 0.3
        and means["labels"]["affirmation"] >= means["none"]["affirmation"] - 0.05
    )
    print(f"checks {'met' if ok else 'NOT met'}: {json.dumps(means)}")


if __name__ == "__main__":
    main()
