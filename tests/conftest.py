"""Shared fixtures. Tests never download: CLIP tests use tiny random-init open_clip models whose
configs live in ``tests/model_configs`` (512-d embeddings, so parameter counts match RN101's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

MODEL_CONFIGS = Path(__file__).parent / "model_configs"
TINY_RN = "notclip-tiny-RN"  # ModifiedResNet, 64 px input (2×2 grid), 512-d embeddings
TINY_VIT = "notclip-tiny-ViT"  # ViT, 32 px input, patch 8 (4×4 grid), 512-d embeddings


@pytest.fixture(scope="session")
def tiny_models() -> tuple[str, str]:
    """Register the tiny open_clip configs and return their names ``(resnet, vit)``."""
    import open_clip

    open_clip.add_model_config(MODEL_CONFIGS)
    return TINY_RN, TINY_VIT


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a module's training tests (their budget is one core; two threads on a
    busy machine wait on each other at every operation): ``pytestmark =
    pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hub_offline(monkeypatch):
    """HF_HUB_OFFLINE=1 for this test only: nothing in it may reach the Hugging Face hub."""
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", hub.HF_HUB_OFFLINE)  # restored after the test


@pytest.fixture
def no_downloads(monkeypatch) -> list:
    """For a test that names real weights (``RN101``/``openai``, a hub model): every way open_clip
    downloads — the names its factory imported, the pretrained module's own, ``hf_hub_download``
    and ``urlopen`` — records the attempt and raises, and so does any socket connection beyond
    this machine (whatever library makes it). Returns the attempts."""
    import socket
    import urllib.request

    import open_clip
    import open_clip.factory
    import open_clip.pretrained

    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"a download was attempted: {args!r}")

    connect = socket.socket.connect

    def local_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost"):
            refuse(address)
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    for module, name in [
        (open_clip, "download_pretrained"),
        (open_clip.factory, "download_pretrained"),
        (open_clip.factory, "download_pretrained_from_hf"),
        (open_clip.pretrained, "download_pretrained"),
        (open_clip.pretrained, "download_pretrained_from_url"),
        (open_clip.pretrained, "download_pretrained_from_hf"),
        (open_clip.pretrained, "hf_hub_download"),
        (urllib.request, "urlopen"),
    ]:
        monkeypatch.setattr(module, name, refuse)
    return attempts


@pytest.fixture(autouse=True, scope="session")
def hash_registry(tmp_path_factory) -> Iterator[Path]:
    """Files' hashes (weights, images) are registered under the session's temporary directory,
    never in ~: for the whole session, so also while module-scoped fixtures build their runs.
    (Ray workers set it in their setup hook, ``test_ray._worker_setup``.)"""
    registry = tmp_path_factory.getbasetemp() / "sha256"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("corpora.identity.REGISTRY", registry)
        yield registry
