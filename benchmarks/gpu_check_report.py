"""The GPU check's Markdown summary (``OUTDIR/gpu_check.md``), rendered from its JSON summary."""

from __future__ import annotations

from benchmarks.mlrtrain_bench import COCO_TRAIN
from corpora.runio import markdown_table
from mlr.heads import METHODS
from mlr.train import FitConfig


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
    lines += _mlrtrain(parts["mlrtrain"])
    lines += _promptsim(parts["promptsim"])
    lines += _negbench(parts["negbench"])
    lines += _precision(parts["precision"])
    return "\n".join(lines) + "\n"


def _mlrtrain(m: dict) -> list[str]:
    """The mlrtrain part: step times per precision, the projected COCO hours."""
    if not m.get("step_s"):
        return []
    lines = [
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
    return lines


def _promptsim(ps: dict) -> list[str]:
    """The promptsim part: text encoding times."""
    if not ps.get("rows"):
        return []
    lines = [
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
    return lines


def _negbench(nb: dict) -> list[str]:
    """The negbench part: questions per second."""
    if nb.get("questions_per_s") is None:
        return []
    return [
        "",
        f"## promptsim negbench: {nb['n_questions']:,} questions in {nb['wall_s']:.1f} s = "
        f"**{nb['questions_per_s']:.0f} questions/s** end to end ({nb['model']}, "
        f"{nb['n_images']} synthetic images): `{nb['command']}`",
    ]


def _precision(pr: dict) -> list[str]:
    """The precision part: max |Δ| against fp32."""
    if not pr.get("max_abs_diff"):
        return []
    lines = [
        "",
        f"## precision against fp32 ({pr['model']} at {pr['image_size']} px, "
        f"{pr['n_prompts']:,} prompts, {pr['n_images']} images)",
        "",
        f"Features: {pr['features']}. Loss: {pr['loss']}.",
        "",
    ]
    table = [
        ["precision", "text", "dense image", "global image"] + [f"abs Δ loss {m}" for m in METHODS]
    ]
    for p, d in pr["max_abs_diff"].items():
        loss = [pr.get("step_loss", {}).get(m, {}).get(f"{p}_abs_diff") for m in METHODS]
        table.append(
            [p, f"{d['text']:.1e}", f"{d['image_dense']:.1e}", f"{d['image_global']:.1e}"]
            + [_f(v, ".1e") for v in loss]
        )
    lines.append(markdown_table(table, "lrrr" + "r" * len(METHODS)))
    return lines
