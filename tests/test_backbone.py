"""The frozen backbone: exact fast paths, dense features, weights handling — tiny random models."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from backbone import BackboneConfig, MissingTextModelError, MissingWeightsError, load_backbone
from backbone.textcache import TextCache

TEXTS = [
    "photo of a dog",
    "Not a photo of a traffic light",
    "a",
    "there is no hair drier in the scene, only a very long sentence about things",
]


@pytest.fixture(scope="module", params=["rn", "vit"])
def backbone(request, tiny_models):
    name = tiny_models[0] if request.param == "rn" else tiny_models[1]
    return load_backbone(BackboneConfig(model=name, pretrained="none", device="cpu"))


def test_frozen_eval_and_random_weights_flagged(backbone):
    assert not backbone.model.training
    assert all(not p.requires_grad for p in backbone.model.parameters())
    info = backbone.info()
    assert backbone.random_weights and info["random_weights"] is True
    assert "RANDOM WEIGHTS" in info["warning"]
    assert info["quick_gelu"] is False and backbone.quick_gelu is False
    assert backbone.embed_dim == 512 and backbone.context_length == 77


def test_truncated_encoding_equals_open_clip(backbone):
    tokens = backbone.tokenize(TEXTS)
    assert tokens.shape == (len(TEXTS), backbone.context_length)
    assert torch.equal(backbone.eot_index(tokens), tokens.argmax(-1))
    with torch.no_grad():
        ref = backbone.model.encode_text(tokens, normalize=True)
    ours = backbone.encode_text(TEXTS, batch_size=3)  # batches of unequal length
    assert ours.shape == (len(TEXTS), 512)
    assert torch.allclose(ours, ref, atol=1e-5)
    full = backbone.encode_text(TEXTS, truncate=False, normalize=False)
    with torch.no_grad():
        assert torch.allclose(full, backbone.model.encode_text(tokens), atol=1e-5)


def test_token_embedding_path_matches_and_only_embeddings_get_grad(backbone):
    tokens = backbone.tokenize(TEXTS)
    emb = backbone.token_embedding(tokens).detach().clone().requires_grad_(True)
    assert emb.shape == (len(TEXTS), 77, backbone.text_width)
    out = backbone.encode_token_embeddings(emb, backbone.eot_index(tokens))
    ref = backbone.encode_text(TEXTS, normalize=False)
    assert torch.allclose(out.detach(), ref, atol=1e-5)
    out.pow(2).sum().backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert all(p.grad is None for p in backbone.model.parameters())


def test_dense_feature_shapes_for_two_sizes(backbone):
    size = backbone.image_size
    patch = 32 if backbone.info()["visual"] == "ModifiedResNet" else 8
    for side in (size, 2 * size):
        feats = backbone.dense_features(torch.randn(2, 3, side, side))
        grid = side // patch
        assert feats.shape == (2, 1 + grid * grid, 512)
        assert feats.dtype == torch.float32 and not feats.requires_grad


def test_resnet_mean_token_is_attnpool_value_path(tiny_models):
    bb = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none", device="cpu"))
    visual = bb.model.visual
    images = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(images)))))
        mean = x.mean(dim=(2, 3))  # [B, C]
        pool = visual.attnpool
        by_hand = F.linear(mean + pool.positional_embedding[0], pool.v_proj.weight)
        by_hand = F.linear(by_hand + pool.v_proj.bias, pool.c_proj.weight, pool.c_proj.bias)
        first = F.linear(x[:, :, 0, 0] + pool.positional_embedding[1], pool.v_proj.weight)
        first = pool.c_proj(first + pool.v_proj.bias)
    feats = bb.dense_features(images)
    assert torch.allclose(feats[:, 0], by_hand, atol=1e-5)
    assert torch.allclose(feats[:, 1], first, atol=1e-5)  # native size: embedding not resized


def test_random_weights_are_seeded(tiny_models):
    a = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", device="cpu"))
    b = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", device="cpu"))
    c = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", seed=1))
    assert torch.equal(a.encode_text(TEXTS), b.encode_text(TEXTS))
    assert not torch.allclose(a.encode_text(TEXTS), c.encode_text(TEXTS))


def test_text_cache_returns_same_embeddings_without_encoding(backbone, tmp_path, monkeypatch):
    first = backbone.encode_text(TEXTS, cache=tmp_path)
    cache = TextCache(tmp_path, backbone.cache_namespace())
    assert len(cache) == len(TEXTS)

    def boom(*args, **kwargs):
        raise AssertionError("cached texts were re-encoded")

    monkeypatch.setattr(backbone, "_encode_uncached", boom)
    again = backbone.encode_text(list(reversed(TEXTS)), cache=tmp_path)
    assert torch.equal(again, first.flip(0))


def test_image_transform_is_square_resize(backbone):
    from PIL import Image

    image = Image.new("RGB", (50, 20), (255, 0, 0))
    out = backbone.image_transform(40)(image)
    assert out.shape == (3, 40, 40)
    expected = (1.0 - backbone.mean[0]) / backbone.std[0]
    assert torch.allclose(out[0], torch.full((40, 40), expected), atol=1e-4)


def test_missing_checkpoint_file_is_clear(tiny_models, tmp_path):
    missing = tmp_path / "nope.pt"
    cfg = BackboneConfig(model=tiny_models[0], pretrained=str(missing), device="cpu")
    with pytest.raises(MissingWeightsError, match=r"does not exist.*local checkpoint file"):
        load_backbone(cfg)


def test_offline_tag_not_in_cache_is_clear_and_never_downloads(tmp_path, no_downloads, hub_offline):
    cfg = BackboneConfig(model="RN101", pretrained="openai", cache_dir=str(tmp_path), offline=True)
    with pytest.raises(MissingWeightsError) as err:
        load_backbone(cfg)
    message = str(err.value)
    assert "RN101" in message and "openai" in message and "offline" in message
    assert "network" in message and "local checkpoint file" in message and "--" not in message
    assert not no_downloads


def test_unknown_tag_lists_valid_ones(no_downloads, hub_offline):
    with pytest.raises(ValueError, match=r"valid tags are .*openai"):
        load_backbone(BackboneConfig(model="RN101", pretrained="not-a-tag", offline=True))


@pytest.mark.parametrize(
    ("model", "guess"),
    [("RN-101", "'RN101'"), ("vit-b/32", "'ViT-B-32'"), ("notclip-tiny-R", "'notclip-tiny-RN'")],
)
def test_a_misspelt_model_gets_a_did_you_mean_before_any_weights(
    tiny_models, model, guess, no_downloads
):
    """Built-in and registered configs (the tiny test models) are suggested; the model is checked
    before the weights, so the tag is not blamed for a misspelt name."""
    with pytest.raises(ValueError, match=f"unknown open_clip model .*: did you mean {guess}"):
        load_backbone(BackboneConfig(model=model, pretrained="openai", offline=True))
    with pytest.raises(ValueError) as info:
        load_backbone(BackboneConfig(model="zzzz", pretrained="none"))
    assert "did you mean" not in str(info.value) and "open_clip.list_models()" in str(info.value)


def test_offline_is_passed_to_the_loaders_not_left_in_the_environment(tiny_models, monkeypatch):
    import huggingface_hub.constants as hub

    from backbone.weights import hub_offline

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    cfg = BackboneConfig(model=tiny_models[0], pretrained="none", device="cpu", offline=True)
    assert load_backbone(cfg).info()["config"]["offline"] is True
    assert "HF_HUB_OFFLINE" not in os.environ and hub.HF_HUB_OFFLINE is False
    with hub_offline(offline=True):  # open_clip's builders: offline for their call only
        assert os.environ["HF_HUB_OFFLINE"] == "1" and hub.HF_HUB_OFFLINE is True
    assert "HF_HUB_OFFLINE" not in os.environ and hub.HF_HUB_OFFLINE is False


def test_bad_options_rejected():
    with pytest.raises(ValueError, match="precision"):
        BackboneConfig(precision="fp8")
    with pytest.raises(ValueError, match="device"):
        BackboneConfig(device="tpu")


def test_checkpoint_file_loads_those_weights(tiny_models, tmp_path):
    source = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", seed=3))
    path = tmp_path / "tiny.pt"
    torch.save(source.model.state_dict(), path)
    loaded = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=str(path)))
    assert not loaded.random_weights and loaded.info()["weights"] == "file"
    assert "warning" not in loaded.info()
    assert torch.allclose(loaded.encode_text(TEXTS), source.encode_text(TEXTS), atol=1e-6)


def test_quick_gelu_follows_the_tag(tiny_models, tmp_path, monkeypatch, hub_offline):
    import open_clip
    from open_clip.transformer import QuickGELU

    source = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none"))
    path = tmp_path / "tiny-qg.pt"
    torch.save(source.model.state_dict(), path)
    tag = {"file": str(path), "quick_gelu": True, "mean": (0.5, 0.5, 0.5), "std": (0.25,) * 3}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, tiny_models[0], {"fake_tag": tag})
    bb = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="fake_tag", offline=True))
    assert bb.quick_gelu and bb.info()["quick_gelu"] is True
    assert any(isinstance(m, QuickGELU) for m in bb.model.modules())
    assert bb.mean == (0.5, 0.5, 0.5) and bb.info()["preprocessing"]["std"] == [0.25] * 3


def test_local_dir_weights(tiny_models, tmp_path):
    import json as _json

    source = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none", seed=5))
    folder = tmp_path / "export"
    folder.mkdir()
    configs = Path(__file__).parent / "model_configs"
    model_cfg = _json.loads((configs / f"{tiny_models[0]}.json").read_text())
    (folder / "open_clip_config.json").write_text(_json.dumps({"model_cfg": model_cfg}))
    torch.save(source.model.state_dict(), folder / "open_clip_pytorch_model.bin")
    bb = load_backbone(BackboneConfig(model=tiny_models[0], pretrained=f"local-dir:{folder}"))
    assert bb.info()["weights"] == "local-dir" and not bb.random_weights
    assert torch.allclose(bb.encode_text(TEXTS), source.encode_text(TEXTS), atol=1e-6)
    with pytest.raises(MissingWeightsError, match=r"open_clip_config\.json"):
        load_backbone(BackboneConfig(pretrained=f"local-dir:{tmp_path / 'nothing'}"))


def test_half_precision_runs_close_to_fp32(tiny_models):
    ref = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    bf16 = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", precision="bf16"))
    assert bf16.dtype == torch.bfloat16 and bf16.info()["precision"] == "bf16"
    assert torch.allclose(bf16.encode_text(TEXTS), ref.encode_text(TEXTS), atol=2e-2)
    images = torch.randn(1, 3, 32, 32)
    assert bf16.dense_features(images).dtype == torch.float32


def _bad_checkpoint(kind: str, path: Path, tiny_models) -> None:
    rn = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none")).model
    if kind == "other-model":
        vit = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
        torch.save(vit.model.state_dict(), path)
    elif kind == "other-shapes":
        state = rn.state_dict()
        state["visual.attnpool.k_proj.weight"] = torch.zeros(3, 3)
        torch.save(state, path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        torch.save(rn.state_dict(), path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "objects":
        torch.save({"model": rn}, path)  # a pickled module, not a state_dict
    elif kind == "safetensors-partial":
        from safetensors.torch import save_file

        save_file({k: v for k, v in rn.state_dict().items() if "visual" not in k}, path)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("other-model", r"do not fit notclip-tiny-RN: \d+ missing key\(s\), e\.g\. visual\.bn1"),
        ("other-shapes", r"1 of another shape, e\.g\. visual\.attnpool\.k_proj\.weight \[3, 3\]"),
        ("empty", r"checkpoint .*ckpt\.pt is empty$"),
        ("truncated", r"cannot read checkpoint .*ckpt\.pt \(truncated"),
        ("garbage", r"cannot read checkpoint .*ckpt\.pt"),
        ("objects", r"holds Python objects \(open_clip\.model\.CLIP\), which are never loaded"),
        ("safetensors-partial", r"ckpt\.safetensors do not fit .*missing key\(s\), e\.g\. visual"),
    ],
)
def test_unusable_checkpoint_is_one_clear_line(tiny_models, tmp_path, kind, expected):
    path = tmp_path / ("ckpt.safetensors" if kind.startswith("safetensors") else "ckpt.pt")
    _bad_checkpoint(kind, path, tiny_models)
    with pytest.raises(ValueError) as err:
        load_backbone(BackboneConfig(model=tiny_models[0], pretrained=str(path)))
    message = str(err.value)
    assert re.search(expected, message), message
    assert "\n" not in message and len(message.replace(str(path), "")) < 300
    assert "weights_only" not in message  # never the advice to unpickle arbitrary code


def test_vit_dense_is_the_last_block_value_path(tiny_models):
    bb = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", device="cpu"))
    visual = bb.model.visual
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        x = visual.conv1(images).flatten(2).transpose(1, 2)
        x = torch.cat([visual.class_embedding.expand(2, 1, -1), x], dim=1)
        x = visual.ln_pre(x + visual.positional_embedding)
        first, last = visual.transformer.resblocks
        y = last.ln_1(first(x))
        n = y.shape[1]
        self_only = torch.full((n, n), float("-inf")).fill_diagonal_(0.0)  # attend to itself
        attended = last.attn(y, y, y, attn_mask=self_only, need_weights=False)[0]
        expected = visual.ln_post(attended) @ visual.proj
    assert torch.allclose(bb.dense_features(images), expected, atol=1e-5)


def test_resnet_positional_embedding_is_resized_bicubically(tiny_models):
    bb = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none", device="cpu"))
    visual, pool = bb.model.visual, bb.model.visual.attnpool
    images = torch.randn(2, 3, 128, 128)  # 4×4 grid; the pretrained embedding is 2×2
    with torch.no_grad():
        x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(images)))))
        tokens = x.flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
        grid = pool.positional_embedding[1:].reshape(1, 2, 2, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(4, 4), mode="bicubic", align_corners=False)
        pos = torch.cat([pool.positional_embedding[:1], grid[0].flatten(1).T])  # mean slot kept
        expected = pool.c_proj(pool.v_proj(tokens + pos))
    assert torch.allclose(bb.dense_features(images), expected, atol=1e-5)


@pytest.mark.parametrize("which", [0, 1], ids=["rn", "vit"])
def test_openai_torchscript_checkpoint_loads_with_quick_gelu(tiny_models, tmp_path, which):
    import open_clip

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        source = open_clip.create_model(tiny_models[which], force_quick_gelu=True).eval()
    tokens = open_clip.get_tokenizer(tiny_models[which])(TEXTS)
    path = tmp_path / "model.pt"  # the format of OpenAI's own downloads (~/.cache/clip/RN101.pt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings
        traced = torch.jit.trace_module(source, {"encode_text": tokens}, check_trace=False)
    traced.save(str(path))
    bb = load_backbone(BackboneConfig(model=tiny_models[which], pretrained=str(path)))
    assert bb.quick_gelu and bb.info()["quick_gelu"] is True and bb.info()["weights"] == "file"
    images = torch.randn(2, 3, bb.native_image_size, bb.native_image_size)
    with torch.no_grad():
        ref = F.normalize(source.encode_text(tokens), dim=-1)
        assert torch.allclose(bb.model.encode_image(images), source.encode_image(images), atol=1e-5)
    assert torch.allclose(bb.encode_text(TEXTS), ref, atol=1e-5)


def test_missing_sentence_transformers_folder_points_to_st_folder(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        load_backbone(BackboneConfig(model=f"st:{tmp_path / 'nope'}", device="cpu"))
    message = str(err.value)
    assert "does not exist" in message and "sentence-transformers model folder" in message
    assert "checkpoint file" not in message  # no checkpoint file helps a text-only model
    assert isinstance(err.value, MissingTextModelError) and "--" not in message


def _export(folder: Path, name: str, state: dict, as_safetensors: bool = False) -> Path:
    """An open_clip export folder (``local-dir:``) of the tiny config ``name``."""
    import json as _json

    folder.mkdir(exist_ok=True)
    model_cfg = _json.loads((Path(__file__).parent / "model_configs" / f"{name}.json").read_text())
    (folder / "open_clip_config.json").write_text(_json.dumps({"model_cfg": model_cfg}))
    if as_safetensors:  # written in place (same inode, the folder itself unchanged)
        from safetensors.torch import save

        tensors = {k: v.contiguous() for k, v in state.items()}
        (folder / "open_clip_model.safetensors").write_bytes(save(tensors))
    else:
        torch.save(state, folder / "open_clip_pytorch_model.bin")
    return folder


def test_local_dir_of_another_architecture_is_refused(tiny_models, tmp_path):
    vit = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    folder = _export(tmp_path / "vit", tiny_models[1], vit.model.state_dict())
    with pytest.raises(ValueError) as err:
        load_backbone(BackboneConfig(model=tiny_models[0], pretrained=f"local-dir:{folder}"))
    message = str(err.value)
    assert f"model 'notclip-tiny-RN' does not match the weights in local-dir:{folder}" in message
    assert "describes a notclip-tiny-ViT model" in message
    assert message.endswith("use the model notclip-tiny-ViT") and "\n" not in message
    bb = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"local-dir:{folder}"))
    assert bb.info()["name"] == tiny_models[1]


@pytest.mark.parametrize("kind", ["file", "local-dir", "file, mtime put back"])
def test_text_cache_is_rebuilt_when_weights_change_in_place(tiny_models, tmp_path, kind):
    """Overwriting the weights (same path, same size) must never serve the old embeddings, also
    when the old modification time is put back (``cp -p``, ``rsync -a``, ``tar``)."""
    old, new = (
        load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none", seed=s))
        for s in (1, 2)
    )
    if kind.startswith("file"):
        spec = str(tmp_path / "tiny.pt")
        save = lambda bb: torch.save(bb.model.state_dict(), spec)  # noqa: E731
    else:
        spec = f"local-dir:{tmp_path / 'export'}"
        save = lambda bb: _export(tmp_path / "export", tiny_models[0], bb.model.state_dict(), True)  # noqa: E731
    cache = tmp_path / "cache"
    save(old)
    first = load_backbone(BackboneConfig(model=tiny_models[0], pretrained=spec))
    assert torch.allclose(first.encode_text(TEXTS, cache=cache), old.encode_text(TEXTS), atol=1e-6)
    before = os.stat(spec) if kind == "file, mtime put back" else None
    save(new)  # in place
    if before is not None:
        os.utime(spec, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert os.stat(spec).st_size == before.st_size
    second = load_backbone(BackboneConfig(model=tiny_models[0], pretrained=spec))
    again = second.encode_text(TEXTS, cache=cache)
    assert torch.allclose(again, new.encode_text(TEXTS), atol=1e-6)
    assert not torch.allclose(again, old.encode_text(TEXTS), atol=1e-3)
    assert second.weights_id != first.weights_id
    assert second.cache_namespace() != first.cache_namespace()


def test_weights_identity_hashes_each_file_once(tiny_models, tmp_path, monkeypatch):
    import hashlib

    import backbone.identity as backbone_mod
    import corpora.identity as identity

    source = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none"))
    path = tmp_path / "tiny.pt"
    torch.save(source.model.state_dict(), path)
    hashed = []
    real = identity.sha256_file
    monkeypatch.setattr(identity, "sha256_file", lambda p: hashed.append(p) or real(p))
    info = load_backbone(BackboneConfig(model=tiny_models[0], pretrained=str(path))).info()
    (record,) = info["weights_files"]
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["size"] == path.stat().st_size and record["mtime_ns"] == path.stat().st_mtime_ns
    assert info["weights_id"].startswith("sha256:") and len(hashed) == 1
    assert backbone_mod.file_identity(path) == record and len(hashed) == 1  # from the registry
    os.utime(path, ns=(record["mtime_ns"] + 10**9, record["mtime_ns"] + 10**9))  # touched
    assert backbone_mod.file_identity(path)["sha256"] == record["sha256"] and len(hashed) == 2
    again = load_backbone(BackboneConfig(model=tiny_models[0], pretrained=str(path)))
    assert again.weights_id == info["weights_id"]  # same content, same caches


def test_random_weights_are_identified_by_config_and_seed(tiny_models):
    ids = {
        (name, seed): load_backbone(BackboneConfig(model=name, pretrained="none", seed=seed))
        for name in tiny_models
        for seed in (0, 1)
    }
    assert len({bb.weights_id for bb in ids.values()}) == 4
    assert all(bb.weights_id.startswith("random:") for bb in ids.values())
    assert all(bb.info()["weights_files"] == [] for bb in ids.values())
    same = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none", seed=1))
    assert same.weights_id == ids[(tiny_models[0], 1)].weights_id


def test_unreadable_text_cache_part_is_named_and_rebuilt(tiny_models, tmp_path):
    bb = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none"))
    expected = bb.encode_text(TEXTS)
    bb.encode_text(TEXTS, cache=tmp_path)
    (part,) = tmp_path.rglob("part-*.npz")
    part.write_bytes(part.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match=rf"text cache file {re.escape(str(part))} is unreadable"):
        got = bb.encode_text(TEXTS, cache=tmp_path)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not part.exists() and len(list(tmp_path.rglob("part-*.npz"))) == 1  # stored anew
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.allclose(bb.encode_text(TEXTS, cache=tmp_path), expected, atol=1e-6)
