"""The tuned model as an open_clip ``local-dir:`` export, which every notclip command (and
open_clip itself) loads: ``open_clip_config.json`` (``model_cfg``: the architecture, with
``quick_gelu`` as the model was built; ``preprocess_cfg``: the image mean, std, interpolation and
resize mode; ``negtune``: what it was tuned from) and ``open_clip_model.safetensors`` (every tensor
of the model). The weights are written first, the config last, each atomically, so a folder whose
config exists holds its weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backbone.weights import EXPORT_CONFIG, LOCAL_DIR_PREFIX
from corpora.runio import atomic_write, atomic_write_json

WEIGHTS_FILE = "open_clip_model.safetensors"


def model_config(backbone) -> dict[str, Any]:
    """The open_clip architecture config of ``backbone``'s model, as built."""
    import open_clip

    cfg = dict(open_clip.get_model_config(backbone.spec.name))
    if backbone.quick_gelu:
        cfg["quick_gelu"] = True
    return cfg


def export(backbone, out: Path, provenance: dict[str, Any]) -> str:
    """Write ``backbone.model`` as a ``local-dir:`` export into ``out``; returns its
    ``--pretrained`` value (``local-dir:OUT``)."""
    from safetensors.torch import save_file

    out = Path(out)
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.model.state_dict().items()}
    atomic_write(out / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp)))
    config = {
        "model_cfg": model_config(backbone),
        "preprocess_cfg": {
            "mean": list(backbone.mean),
            "std": list(backbone.std),
            "interpolation": backbone.interpolation,
            "resize_mode": backbone.resize_mode,
        },
        "negtune": provenance,
    }
    atomic_write_json(out / EXPORT_CONFIG, config)
    return f"{LOCAL_DIR_PREFIX}{out.resolve()}"
