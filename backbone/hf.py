"""Hugging Face ``transformers`` CLIP folders as open_clip CLIP models (``hf:DIR`` weights).

A folder that ``CLIPModel.save_pretrained`` wrote (``config.json`` with ``model_type`` ``clip``,
and ``model.safetensors`` or ``pytorch_model.bin``, or their shards listed in an
``*.index.json``) is read without transformers:

- the architecture comes from ``config.json`` (:func:`open_clip_config`): a ViT (a Hugging Face
  CLIP vision tower always is one) with the towers' widths, depths, heads, MLP sizes, patch and
  image size, context length and projection dimension; QuickGELU when ``hidden_act`` is
  ``quick_gelu``, GELU when it is ``gelu`` (any other activation, or one per tower, is refused);
  a LayerNorm epsilon other than open_clip's 1e-5 is kept (``norm_kwargs``). Keys the file leaves
  out take transformers' defaults (:data:`TEXT_DEFAULTS`, :data:`VISION_DEFAULTS`);
- the weights the model is given with must have that architecture: an open_clip name
  (``ViT-B-32`` for ``openai/clip-vit-base-patch32``'s layout) or the folder itself as the model,
  whose derived config is registered like a model config file (``<folder name>-<8 hex>``);
- the tensors are renamed to open_clip's layout (:func:`convert_state_dict`: q/k/v projections
  concatenated into ``in_proj``, the two projections transposed, ``logit_scale`` as is, the
  ``position_ids`` buffers of older files dropped) and loaded strictly (:func:`load_hf_weights`);
- prompts are tokenized by open_clip's CLIP tokenizer: the folder's own tokenizer, when it has
  one, must be CLIP's BPE (:mod:`backbone.hf_tokenizer`), or the folder is refused;
- ``preprocessor_config.json``'s ``image_mean`` / ``image_std`` are the backbone's mean and std
  (its resize and crop are not: notclip resizes square to the model's input size).

The content identity hashes ``config.json``, ``preprocessor_config.json`` (when present) and every
weight file.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from backbone.config import unknown_model
from backbone.identity import EXPORT_CONFIG, REGISTERED, Weights, arch_differences
from corpora.runio import read_object

HF_PREFIX = "hf:"
HF_CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CLIP_VOCAB = 49408  # CLIP's BPE vocabulary, the one open_clip's tokenizer speaks
OPEN_CLIP_EPS = 1e-5  # open_clip's LayerNorm epsilon
ACTIVATIONS = {"quick_gelu": True, "gelu": False}  # hidden_act → open_clip's quick_gelu
# transformers' CLIPTextConfig / CLIPVisionConfig / CLIPConfig defaults, for keys a file omits
TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 12,
    "num_attention_heads": 8,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "eos_token_id": 49407,
}
VISION_DEFAULTS: dict[str, Any] = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}
PROJECTION_DEFAULT = 512


def is_hf_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with a ``config.json`` (and no open_clip export config)."""
    return path.is_dir() and (path / HF_CONFIG).is_file() and not (path / EXPORT_CONFIG).is_file()


def _clip_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a Hugging Face CLIP model folder, or one clear error."""
    if not folder.is_dir():
        raise ValueError(f"Hugging Face model folder {folder} does not exist")
    file = folder / HF_CONFIG
    if not file.is_file():
        raise ValueError(f"{folder} holds no {HF_CONFIG}: not a Hugging Face model folder")
    config = read_object(file)
    kind = config.get("model_type")
    if kind != "clip":
        raise ValueError(
            f"{file} describes a {kind or 'model without model_type'!r} model, not CLIP: "
            "notclip reads Hugging Face CLIPModel folders (model_type 'clip', a text and a "
            "vision tower)"
        )
    return config


def _tower(config: dict[str, Any], key: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """One tower's settings: transformers' defaults, the file's ``*_config``, then the legacy
    ``*_config_dict`` (which transformers lets override it)."""
    out = dict(defaults)
    for part in (key, f"{key}_dict"):
        value = config.get(part)
        if isinstance(value, dict):
            out.update({k: v for k, v in value.items() if k in defaults})
    return out


def _mlp_ratio(width: int, hidden: int) -> float:
    """The ratio open_clip turns into ``hidden`` MLP units (it builds ``int(width * ratio)``)."""
    ratio = hidden / width
    return ratio if int(width * ratio) == hidden else (hidden + 0.5) / width


def _check_towers(
    file: Path, config: dict[str, Any], text: dict[str, Any], vision: dict[str, Any]
) -> None:
    """One clear error for settings open_clip cannot build as transformers does."""
    towers = {
        "text": text,
        "vision": vision,
        "model": {"projection_dim": config.get("projection_dim", PROJECTION_DEFAULT)},
    }
    for name, tower in towers.items():
        for key, value in tower.items():
            if key == "hidden_act":
                ok, want = isinstance(value, str) and value in ACTIVATIONS, "quick_gelu or gelu"
            elif key == "layer_norm_eps":
                ok, want = type(value) in (int, float) and value > 0, "a positive number"
            else:
                ok, want = type(value) is int and value > 0, "a positive integer"
            if not ok:
                raise ValueError(f"{file}: {name} {key} is {value!r}, not {want}")
    if text["hidden_act"] != vision["hidden_act"]:
        raise ValueError(
            f"{file}: hidden_act {text['hidden_act']!r} (text) / {vision['hidden_act']!r} "
            "(vision): open_clip builds one activation for both towers"
        )
    if text["vocab_size"] != CLIP_VOCAB or text["eos_token_id"] not in (2, CLIP_VOCAB - 1):
        raise ValueError(
            f"{file}: a text vocabulary of {text['vocab_size']} tokens (end of text "
            f"{text['eos_token_id']}), not CLIP's BPE ({CLIP_VOCAB}, end of text "
            f"{CLIP_VOCAB - 1}), which notclip tokenizes with"
        )
    if vision["num_channels"] != 3:
        raise ValueError(f"{file}: {vision['num_channels']} image channels, not RGB (3)")
    for name, tower in (("text", text), ("vision", vision)):
        if tower["hidden_size"] % tower["num_attention_heads"]:
            raise ValueError(
                f"{file}: {name} hidden_size {tower['hidden_size']} is not a multiple of its "
                f"{tower['num_attention_heads']} attention heads"
            )


def open_clip_config(folder: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The open_clip model config of the CLIP in ``folder`` (see the module docstring) and its
    ``preprocess`` (``mean``, ``std`` of ``preprocessor_config.json``), or None."""
    config = _clip_config(folder)
    file = folder / HF_CONFIG
    text = _tower(config, "text_config", TEXT_DEFAULTS)
    vision = _tower(config, "vision_config", VISION_DEFAULTS)
    _check_towers(file, config, text, vision)
    vision_cfg: dict[str, Any] = {
        "image_size": vision["image_size"],
        "layers": vision["num_hidden_layers"],
        "width": vision["hidden_size"],
        "head_width": vision["hidden_size"] // vision["num_attention_heads"],
        "patch_size": vision["patch_size"],
        "mlp_ratio": _mlp_ratio(vision["hidden_size"], vision["intermediate_size"]),
    }
    text_cfg: dict[str, Any] = {
        "context_length": text["max_position_embeddings"],
        "vocab_size": text["vocab_size"],
        "width": text["hidden_size"],
        "heads": text["num_attention_heads"],
        "layers": text["num_hidden_layers"],
        "mlp_ratio": _mlp_ratio(text["hidden_size"], text["intermediate_size"]),
    }
    for tower, cfg in ((vision, vision_cfg), (text, text_cfg)):
        if float(tower["layer_norm_eps"]) != OPEN_CLIP_EPS:
            cfg["norm_kwargs"] = {"eps": float(tower["layer_norm_eps"])}
    out: dict[str, Any] = {
        "embed_dim": config.get("projection_dim", PROJECTION_DEFAULT),
        **({"quick_gelu": True} if ACTIVATIONS[text["hidden_act"]] else {}),
        "vision_cfg": vision_cfg,
        "text_cfg": text_cfg,
    }
    return out, _preprocess(folder)


def _preprocess(folder: Path) -> dict[str, Any] | None:
    file = folder / PREPROCESSOR
    if not file.is_file():
        return None
    data = read_object(file)
    out = {k: data[f"image_{k}"] for k in ("mean", "std") if f"image_{k}" in data}
    for key, value in out.items():
        numbers = isinstance(value, list) and len(value) == 3
        if not numbers or not all(isinstance(v, int | float) for v in value):
            raise ValueError(f"{file}: image_{key} is {value!r}, not three numbers")
    if 0 in out.get("std", ()):
        raise ValueError(f"{file}: image_std {out['std']!r} holds a zero")
    return out or None


# ---- matching the model named with the weights ----------------------------------------------
def _canonical(cfg: dict[str, Any]) -> dict[str, Any] | None:
    """``cfg`` with every open_clip default filled in and the sizes open_clip builds (heads, MLP
    units) in place of the ratios, so that two configs that build one architecture are equal;
    None for a config the CLIP dataclasses cannot hold."""
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    try:
        vision = asdict(CLIPVisionCfg(**cfg["vision_cfg"]))
        text = asdict(CLIPTextCfg(**cfg["text_cfg"]))
        for tower in (vision, text):
            tower["mlp_width"] = int(tower["width"] * tower.pop("mlp_ratio"))
        vision["heads"] = vision["width"] // vision.pop("head_width")
    except (KeyError, TypeError, ZeroDivisionError):
        return None
    size = vision["image_size"]
    vision["image_size"] = tuple(size) if isinstance(size, list | tuple) else (size, size)
    return {
        "embed_dim": cfg.get("embed_dim"),
        "vision_cfg": vision,
        "text_cfg": text,
        "custom_text": bool(cfg.get("custom_text")),
        "quick_gelu": bool(cfg.get("quick_gelu")),
    }


def _check_model(model_name: str, derived: dict[str, Any], spec: str, folder: Path) -> None:
    """The open_clip model ``model_name`` must build the architecture of ``derived``."""
    import open_clip

    model_cfg = open_clip.get_model_config(model_name)
    if model_cfg is None:
        raise unknown_model(model_name)
    theirs = _canonical(derived)
    assert theirs is not None  # built from the dataclasses' own fields
    ours = _canonical(model_cfg)
    if ours is None or isinstance(ours["vision_cfg"]["layers"], list | tuple):
        differ = ["a ViT, not a ResNet" if ours else "a ViT CLIP, not this model's kind"]
    else:
        differ = arch_differences(ours, theirs)
    if not differ:
        return
    fits = []
    for name in open_clip.list_models():
        other = None if name in REGISTERED else _canonical(open_clip.get_model_config(name))
        if other and not arch_differences(other, theirs):
            fits.append(name)
    held = (
        f"a {' / '.join(fits[:3])} model" if fits else "an architecture open_clip has no name for"
    )
    use = f"the model {fits[0]}, or " if fits else ""
    raise ValueError(
        f"model {model_name!r} does not match the weights in {spec}: its {HF_CONFIG} describes "
        f"{held} ({differ[0]}); use {use}the folder {folder} itself as the model"
    )


# ---- files -----------------------------------------------------------------------------------
def weight_files(folder: Path) -> list[str]:
    """The weight files of ``folder``: ``model.safetensors`` or ``pytorch_model.bin``, else the
    shards an ``*.index.json`` of either lists."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return [str(folder / name)]
    for name in WEIGHT_FILES:
        index = folder / f"{name}.index.json"
        if index.is_file():
            weight_map = read_object(index).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise ValueError(f"{index}: no 'weight_map' of tensors to files")
            shards = [folder / f for f in sorted(set(weight_map.values()))]
            absent = [s.name for s in shards if not s.is_file()]
            if absent:
                raise ValueError(f"{index} lists {absent[0]}, which is not in {folder}")
            return [str(s) for s in shards]
    raise ValueError(
        f"{folder} holds no weights beside its {HF_CONFIG}: no {' or '.join(WEIGHT_FILES)} "
        "(nor a sharded *.index.json)"
    )


def hf_weights(folder: Path, spec: str, model_name: str) -> Weights:
    """What to load for ``spec`` (``hf:DIR`` or a Hugging Face folder) with the open_clip model
    ``model_name``: checked against the folder's config and tokenizer (module docstring)."""
    from backbone.hf_tokenizer import check_tokenizer

    derived, preprocess = open_clip_config(folder)
    _check_model(model_name, derived, spec, folder)
    files = weight_files(folder)
    check_tokenizer(folder)
    configs = [folder / HF_CONFIG, *([folder / PREPROCESSOR] if preprocess else [])]
    tag_cfg = {"quick_gelu": bool(derived.get("quick_gelu")), **(preprocess or {})}
    return Weights("hf", str(folder), tag_cfg, (*map(str, configs), *files))


# ---- tensors ---------------------------------------------------------------------------------
_PREFIXES = {  # Hugging Face CLIPModel → open_clip CLIP, by the start of a tensor's name
    "text_model.embeddings.token_embedding.": "token_embedding.",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.encoder.layers.": "transformer.resblocks.",
    "text_model.final_layer_norm.": "ln_final.",
    "vision_model.embeddings.class_embedding": "visual.class_embedding",
    "vision_model.embeddings.patch_embedding.": "visual.conv1.",
    "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
    "vision_model.pre_layrnorm.": "visual.ln_pre.",  # sic: transformers' name
    "vision_model.encoder.layers.": "visual.transformer.resblocks.",
    "vision_model.post_layernorm.": "visual.ln_post.",
}
_LAYER_PARTS = {  # … and inside a transformer layer
    ".layer_norm1.": ".ln_1.",
    ".layer_norm2.": ".ln_2.",
    ".mlp.fc1.": ".mlp.c_fc.",
    ".mlp.fc2.": ".mlp.c_proj.",
    ".self_attn.out_proj.": ".attn.out_proj.",
}
_PROJECTIONS = {
    "text_projection.weight": "text_projection",
    "visual_projection.weight": "visual.proj",
}
_QKV = re.compile(r"(.+)\.self_attn\.([qkv])_proj\.(weight|bias)$")


def _rename(key: str) -> str:
    for old, new in _PREFIXES.items():
        if key.startswith(old):
            key = new + key[len(old) :]
            break
    for old, new in _LAYER_PARTS.items():
        key = key.replace(old, new)
    return key


def convert_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A Hugging Face ``CLIPModel`` state dict in open_clip ``CLIP``'s names and layout. Tensors
    it does not know keep their names (``load_state_dict`` then reports them)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.endswith("embeddings.position_ids"):  # a buffer older transformers saved
            continue
        if key in _PROJECTIONS:  # nn.Linear(width, dim).weight → a [width, dim] matrix
            out[_PROJECTIONS[key]] = value.T.contiguous()
            continue
        name = _rename(key)
        found = _QKV.match(name)
        if found:
            qkv.setdefault((found[1], found[3]), {})[found[2]] = value
        else:
            out[name] = value
    for (layer, kind), parts in qkv.items():
        if parts.keys() == {"q", "k", "v"}:
            out[f"{layer}.attn.in_proj_{kind}"] = torch.cat([parts[c] for c in "qkv"])
        else:  # incomplete: left for load_state_dict to report
            out.update({f"{layer}.self_attn.{c}_proj.{kind}": t for c, t in parts.items()})
    return out


def load_hf_weights(model: torch.nn.Module, weights: Weights) -> None:
    """Copy the tensors of a Hugging Face CLIP folder (:func:`hf_weights`) into ``model``."""
    from open_clip.factory import load_state_dict

    state: dict[str, torch.Tensor] = {}
    for file in weights.files:
        if not file.endswith(".json"):
            state.update(load_state_dict(file, weights_only=True))
    model.load_state_dict(convert_state_dict(state), strict=True)
