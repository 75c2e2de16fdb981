"""The frozen backbone: exact fast paths, dense features, weights handling — tiny random models."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mlr.backbone import BackboneConfig, MissingWeightsError, load_backbone
from mlr.textcache import TextCache

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
    with pytest.raises(MissingWeightsError, match=r"does not exist.*--pretrained FILE"):
        load_backbone(cfg)


def test_offline_tag_not_in_cache_is_clear_and_never_downloads(tmp_path, monkeypatch, hub_offline):
    import open_clip

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(open_clip, "download_pretrained", no_download)
    monkeypatch.setattr(open_clip.pretrained, "download_pretrained_from_url", no_download)
    cfg = BackboneConfig(model="RN101", pretrained="openai", cache_dir=str(tmp_path), offline=True)
    with pytest.raises(MissingWeightsError) as err:
        load_backbone(cfg)
    message = str(err.value)
    assert "RN101" in message and "openai" in message and "offline" in message
    assert "network" in message and "--pretrained FILE" in message


def test_unknown_tag_lists_valid_ones(hub_offline):
    with pytest.raises(ValueError, match=r"valid tags are .*openai"):
        load_backbone(BackboneConfig(model="RN101", pretrained="not-a-tag", offline=True))


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


def test_wrong_checkpoint_is_a_clear_error(tiny_models, tmp_path):
    vit = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none"))
    path = tmp_path / "vit.pt"
    torch.save(vit.model.state_dict(), path)
    with pytest.raises(ValueError, match=r"cannot load weights .*vit\.pt into notclip-tiny-RN"):
        load_backbone(BackboneConfig(model=tiny_models[0], pretrained=str(path)))


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


def test_openai_torchscript_checkpoint_loads_with_quick_gelu(tiny_models, tmp_path):
    import open_clip

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        source = open_clip.create_model(tiny_models[0], force_quick_gelu=True).eval()
    tokens = open_clip.get_tokenizer(tiny_models[0])(TEXTS)
    path = tmp_path / "RN.pt"  # the format of OpenAI's own downloads (~/.cache/clip/RN101.pt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings
        traced = torch.jit.trace_module(source, {"encode_text": tokens}, check_trace=False)
    traced.save(str(path))
    bb = load_backbone(BackboneConfig(model=tiny_models[0], pretrained=str(path)))
    assert bb.quick_gelu and bb.info()["quick_gelu"] is True and bb.info()["weights"] == "file"
    with torch.no_grad():
        ref = F.normalize(source.encode_text(tokens), dim=-1)
    assert torch.allclose(bb.encode_text(TEXTS), ref, atol=1e-5)


def test_missing_sentence_transformers_folder_points_to_st_folder(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        load_backbone(BackboneConfig(model=f"st:{tmp_path / 'nope'}", device="cpu"))
    message = str(err.value)
    assert "does not exist" in message and "--model st:FOLDER" in message
    assert "--pretrained FILE" not in message  # no checkpoint file helps a text-only model
