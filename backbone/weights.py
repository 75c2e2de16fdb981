"""Which weights: resolution, the cache lookup, the hub probe, downloads, offline mode (the
weight files' content identity is :mod:`backbone.identity`'s).

Weights are never fetched behind the user's back in ``offline`` mode: a tag is first looked up in
the cache (Hugging Face hub cache and open_clip's URL cache under ``cache_dir``); when it is not
there and ``offline`` is set, :class:`~backbone.MissingWeightsError` says which weights are
missing and the two ways out. Without ``offline``, weights that are not cached are downloaded only
after one short probe (:func:`reachable`, ``HUB_PROBE_TIMEOUT`` s) finds their host reachable:
without network the same error comes at once instead of after a minute of Hugging Face retries.
:func:`preflight` makes those checks before PyTorch and open_clip are imported (seconds), reading
open_clip's table of tags on its own, so that the error comes before them.
Offline mode is passed to every loader explicitly; the only third-party code that reads it from
the environment alone (open_clip's builders and tokenizers, through Hugging Face) runs inside
:func:`hub_offline`, which restores the environment afterwards.

The weights' content identity (:attr:`Backbone.weights_id`) keys every cache (text embeddings,
dense features): the SHA-256 of every weight file (with a ``local-dir:``'s config) and the
architecture config, or for random weights that config and the seed; never their path. A file's
hash is computed once and remembered with its size, ``mtime_ns``, ``ctime_ns`` and inode
(:func:`corpora.identity.file_identities`); it is computed again whenever one of them changes,
so weights overwritten in place never reuse the old cache entries, also when the modification
time is put back (``cp -p``, ``rsync -a``, ``tar``). A ``local-dir:`` export must hold the
architecture ``model`` names (its ``open_clip_config.json`` is compared with it); weights that
cannot be read or do not fit the model are one clear error naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from backbone.config import ST_PREFIX, MissingTextModelError, MissingWeightsError, unknown_model
from backbone.identity import EXPORT_CONFIG, REGISTERED, Weights, arch_differences

LOCAL_DIR_PREFIX = "local-dir:"
HUB_PROBE_TIMEOUT = 3.0  # seconds: one connection attempt before a download
_ANSWERED: set[str] = set()  # hosts that answered the probe in this process
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")

LOCAL_OPEN_CLIP = "use a local checkpoint file (or a local-dir: folder) as the weights"
LOCAL_ST = "use a local sentence-transformers model folder"


@contextlib.contextmanager
def hub_offline(*, offline: bool) -> Iterator[None]:
    """Hugging Face offline mode for the code inside, when ``offline``: open_clip's model and
    tokenizer builders take no ``local_files_only``, so it is set where Hugging Face reads it (the
    environment and ``huggingface_hub.constants``) and restored on exit."""
    if not offline:
        yield
        return
    before = os.environ.get("HF_HUB_OFFLINE")
    constants: Any = sys.modules.get("huggingface_hub.constants")
    flag = getattr(constants, "HF_HUB_OFFLINE", None)
    os.environ["HF_HUB_OFFLINE"] = "1"
    if constants is not None:  # already imported: its flag was read at import time
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before
        if constants is not None:
            constants.HF_HUB_OFFLINE = flag


def missing(what: str, reason: str, local: str = LOCAL_OPEN_CLIP) -> MissingWeightsError:
    """The weights of ``what`` are not available (``local``: how to give them from disk)."""
    error = MissingWeightsError if local == LOCAL_OPEN_CLIP else MissingTextModelError
    return error(
        f"{what}: {reason}. Two ways out: run once with network access, not offline, so "
        f"the weights are downloaded into the cache, or {local}."
    )


def unreachable(
    what: str, url: str, where: str, local: str = LOCAL_OPEN_CLIP
) -> MissingWeightsError:
    error = MissingWeightsError if local == LOCAL_OPEN_CLIP else MissingTextModelError
    return error(
        f"{what}: not in {where} and {url} cannot be reached (no connection within "
        f"{HUB_PROBE_TIMEOUT:g} s). Without network: use a weights cache that holds them (offline, "
        f"the network is never tried), or {local}."
    )


def _fetchable(
    tag_cfg: dict[str, Any], what: str, cache_dir: str | None, *, offline: bool
) -> str | None:
    """The cached file of a tag's weights, or None when they are to be downloaded; weights that
    cannot be (``offline``, or their host does not answer :func:`reachable`) raise. A host that
    answered once is not asked again in this process."""
    path = _cached_tag_file(tag_cfg, cache_dir)
    if path is not None:
        return path
    where = cache_dir or "the default caches (~/.cache/huggingface, ~/.cache/clip)"
    if offline:
        raise missing(what, f"not found in {where} and offline mode is on")
    host = hub_endpoint() if tag_cfg.get("hf_hub") else tag_cfg.get("url", "")
    if host and host not in _ANSWERED:
        if not reachable(host):
            raise unreachable(what, host, where)
        _ANSWERED.add(host)
    return None


def _tag_table() -> Callable[[str, str], dict[str, Any]] | None:
    """open_clip's ``get_pretrained_cfg`` without importing open_clip (which imports PyTorch): its
    ``pretrained`` module loaded on its own, safetensors' torch part kept out; None where that
    fails (the full import then answers)."""
    if "open_clip" in sys.modules:
        return sys.modules["open_clip"].get_pretrained_cfg
    import importlib.util
    import types

    found = importlib.util.find_spec("open_clip")
    if found is None or not found.submodule_search_locations:
        return None
    alias = "_notclip_open_clip_tags"
    package = types.ModuleType(alias)
    package.__path__ = list(found.submodule_search_locations)
    before = set(sys.modules)
    sys.modules[alias] = package
    blocked = "safetensors.torch" not in sys.modules
    if blocked:
        sys.modules["safetensors.torch"] = None  # type: ignore[assignment]  # an ImportError
    try:
        return importlib.import_module(f"{alias}.pretrained").get_pretrained_cfg
    except Exception:
        return None
    finally:
        for name in set(sys.modules) - before:
            if name == alias or name.startswith(alias + ".") or name == "safetensors.torch":
                del sys.modules[name]


def preflight(model: str, pretrained: str, cache_dir: str | None, *, offline: bool) -> None:
    """The model name (:func:`check_model_name`) and the checks of :func:`resolve_weights` for a
    tag's weights that are not cached, before the heavy imports: a misspelt model, or weights
    that cannot be had (offline, or their host does not answer), are said at once."""
    check_model_name(model)
    spec = pretrained.strip()
    table = _tag_table()  # "none", a file, local-dir: and hf: are no tag
    tag_cfg = table(model, spec) if table is not None else None
    if tag_cfg:
        _fetchable(tag_cfg, _what(model, spec), cache_dir, offline=offline)


def check_model_name(model: str) -> None:
    """An :class:`UnknownModelError` for a ``--model`` name open_clip does not know. A name among
    open_clip's own config files (read without importing it) or the configs registered in this
    run passes at once; paths, folders and ``st:`` are :func:`backbone.modelspec.resolve_model`'s;
    any other name ("vit-b/32" too, unless such a folder exists) is asked of open_clip itself
    (which imports PyTorch) before it is refused."""
    import importlib.util

    spec = model.strip()
    if spec.startswith(ST_PREFIX) or spec.lower().endswith(".json") or spec in REGISTERED:
        return
    if Path(spec).expanduser().is_dir():
        return
    found = importlib.util.find_spec("open_clip")
    for folder in (found.submodule_search_locations or []) if found else []:
        if (Path(folder) / "model_configs" / f"{spec}.json").is_file():
            return
    import open_clip

    if open_clip.get_model_config(spec) is None:
        raise unknown_model(spec)


def _what(model_name: str, spec: str) -> str:
    return f"weights for {model_name} (pretrained={spec!r})"


def reachable(url: str, timeout: float = HUB_PROBE_TIMEOUT) -> bool:
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


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def looks_like_path(value: str) -> bool:
    return "/" in value or os.sep in value or value.lower().endswith(_CHECKPOINT_SUFFIXES)


def is_torchscript(path: str | None) -> bool:
    """Whether ``path`` is a TorchScript archive (OpenAI's own CLIP checkpoints, ``RN101.pt``)."""
    if path is None or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


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


def _local_dir(spec: str, model_name: str) -> Weights:
    """An open_clip export folder whose architecture must be the one ``model_name`` names."""
    import open_clip
    from open_clip.factory import _find_checkpoint_in_dir  # the file create_model will load

    folder = Path(spec[len(LOCAL_DIR_PREFIX) :]).expanduser()
    config = folder / EXPORT_CONFIG
    if not config.is_file():
        raise missing(f"weights {spec!r}", f"{config} does not exist")
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
        raise unknown_model(model_name)
    differ = arch_differences(model_cfg, weights_cfg)
    if differ:
        fits = [
            name
            for name in open_clip.list_models()
            if name not in REGISTERED
            and not arch_differences(open_clip.get_model_config(name), weights_cfg)
        ]
        held = f"a {' / '.join(fits[:3])} model" if fits else "another architecture"
        raise ValueError(
            f"model {model_name!r} does not match the weights in {spec}: its "
            f"open_clip_config.json describes {held} ({differ[0]}); "
            + (f"use the model {fits[0]}" if fits else "use the model it was exported from")
        )
    checkpoint = _find_checkpoint_in_dir(folder)
    if checkpoint is None:
        raise missing(f"weights {spec!r}", f"no *.safetensors, *.bin or *.pth file in {folder}")
    return Weights("local-dir", str(folder), {}, (str(config), checkpoint))


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


def unusable_weights(
    err: BaseException, weights: Weights, model_name: str, *, torchscript: bool
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


def resolve_weights(
    pretrained: str, model_name: str, cache_dir: str | None, *, offline: bool
) -> Weights:
    """``pretrained`` for the open_clip model ``model_name`` → what to load (see the module
    docstring); downloads a tag's weights only when not ``offline``."""
    import open_clip

    spec = pretrained.strip()
    if spec.lower() == "none":
        return Weights("none", None, {})
    if spec.startswith(LOCAL_DIR_PREFIX):
        return _local_dir(spec, model_name)
    from backbone.hf import HF_PREFIX, hf_weights, is_hf_folder

    if spec.startswith(HF_PREFIX):  # a Hugging Face transformers CLIP folder
        return hf_weights(Path(spec[len(HF_PREFIX) :]).expanduser(), spec, model_name)
    tag_cfg = open_clip.get_pretrained_cfg(model_name, spec)
    what = _what(model_name, spec)
    if tag_cfg:
        path = _fetchable(tag_cfg, what, cache_dir, offline=offline)
        if path is None:
            try:
                path = open_clip.download_pretrained(tag_cfg, cache_dir=cache_dir)
            except Exception as err:  # any download failure means the same thing to the user
                raise missing(what, f"download failed ({type(err).__name__}: {err})") from err
            if not path:
                raise missing(what, "open_clip has no download location for this tag")
        return Weights("tag", path, tag_cfg, (path,))
    file = Path(spec).expanduser()
    if is_hf_folder(file):  # the same, given as a plain path
        return hf_weights(file, spec, model_name)
    if file.is_file():
        return Weights("file", str(file), {}, (str(file),))
    if looks_like_path(spec):
        raise missing(what, f"checkpoint file {str(file)!r} does not exist")
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    raise ValueError(
        f"unknown pretrained value {spec!r} for model {model_name!r}: valid tags are "
        f"{', '.join(tags) if tags else '(none for this model)'}; or give a checkpoint file, "
        "local-dir:PATH, hf:DIR (a Hugging Face CLIP folder), or none (random weights)"
    )
