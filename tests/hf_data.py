"""Tiny Hugging Face ``transformers`` CLIP folders for the tests (random weights, no download):
the layout of ``notclip-tiny-ViT`` (tests/model_configs), saved as transformers saves them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

TINY_TOWER = {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2}
MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]


def bpe_files(folder: Path) -> None:
    """``vocab.json`` + ``merges.txt`` of CLIP's BPE, as openai/clip-* repos hold them, written
    from the vocabulary open_clip ships (no download)."""
    from backbone.hf_tokenizer import clip_bpe

    vocab, merges = clip_bpe()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    lines = ["#version: 0.2", *(" ".join(pair) for pair in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", "utf-8")


def hf_clip(
    folder: Path,
    *,
    act: str = "quick_gelu",
    eps: float = 1e-5,
    bin_file: bool = False,
    tokenizer: str | None = None,
    seed: int = 0,
):
    """A tiny random transformers CLIPModel (the layout of ``notclip-tiny-ViT``), saved with
    ``save_pretrained`` (or as the ``pytorch_model.bin`` older transformers wrote), with a
    preprocessor config and optionally tokenizer files (``"bpe"``: vocab.json + merges.txt,
    ``"json"``: tokenizer.json as transformers saves it)."""
    transformers = pytest.importorskip("transformers")
    tower = {**TINY_TOWER, "num_attention_heads": 2, "hidden_act": act, "layer_norm_eps": eps}
    config = transformers.CLIPConfig(
        text_config=tower,
        vision_config={**tower, "image_size": 32, "patch_size": 8},
        projection_dim=512,
        initializer_factor=5.0,  # features far from zero: activations and layouts matter
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.CLIPModel(config).eval()
    model.save_pretrained(folder)
    if bin_file:
        (folder / "model.safetensors").unlink()
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    processor = {"image_processor_type": "CLIPImageProcessor", "image_mean": MEAN}
    (folder / "preprocessor_config.json").write_text(json.dumps({**processor, "image_std": STD}))
    if tokenizer == "bpe":
        bpe_files(folder)
    elif tokenizer == "json":
        bpe_files(folder / "bpe")
        transformers.CLIPTokenizer.from_pretrained(folder / "bpe").save_pretrained(folder)
    return model
