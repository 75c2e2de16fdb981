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


@pytest.fixture
def hub_offline(monkeypatch):
    """HF_HUB_OFFLINE=1 for this test only: nothing in it may reach the Hugging Face hub."""
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", hub.HF_HUB_OFFLINE)  # restored after the test


@pytest.fixture(autouse=True, scope="session")
def hash_registry(tmp_path_factory) -> Iterator[Path]:
    """Files' hashes (weights, images) are registered under the session's temporary directory,
    never in ~: for the whole session, so also while module-scoped fixtures build their runs.
    (Ray workers set it in their setup hook, ``test_ray._worker_setup``.)"""
    registry = tmp_path_factory.getbasetemp() / "sha256"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("corpora.identity.REGISTRY", registry)
        yield registry
