"""The four heads: parameter counts, the CoOp prompt path, aggregation, frozen backbone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from backbone import BackboneConfig, load_backbone
from corpora.classes import load_classes
from mlr.heads import METHODS, PromptLearner, aggregate, build_head, param_table
from mlr.train import FitConfig, make_optimizer

W512 = "notclip-tiny-RN-w512"  # tests/mlr_model_configs: tiny ResNet, 512-wide 1-layer text tower


@pytest.fixture(scope="module")
def w512_backbone():
    """A tiny model whose text width is 512 like RN101's, so the exact paper counts apply."""
    import open_clip

    open_clip.add_model_config(Path(__file__).parent / "mlr_model_configs")
    return load_backbone(BackboneConfig(model=W512, pretrained="none", device="cpu"))


@pytest.fixture(scope="module")
def vit(tiny_models):
    return load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", device="cpu"))


def test_param_counts_match_the_paper_for_coco(w512_backbone):
    assert w512_backbone.text_width == 512 and w512_backbone.embed_dim == 512
    rows = {
        r["method"]: r["n_params"] for r in param_table(load_classes("coco").names, w512_backbone)
    }
    assert rows == {
        "baseline": 82_080,
        "dualcoop": 1_310_720,
        "positivecoop": 737_280,
        "negativecoop": 737_280,
        "positivecoop --no-residual": 696_320,
    }


def test_param_counts_follow_the_formulas_with_text_width_64(vit):
    names = load_classes("voc").names  # C = 20; tiny text width W = 64, embed D = 512
    c, w, d = 20, vit.text_width, vit.embed_dim
    assert build_head("dualcoop", vit, names).n_params() == 2 * c * 16 * w
    assert build_head("positivecoop", vit, names).n_params() == c * 16 * w + 2 * c * d
    assert build_head("dualcoop", vit, names, class_specific=False).n_params() == 2 * 16 * w


@pytest.mark.parametrize("method", METHODS)
def test_only_head_parameters_train_and_checkpoint_holds_only_them(vit, method):
    head = build_head(method, vit, ["cat", "dog", "car"])
    feats = torch.randn(2, 17, vit.embed_dim)
    logits = head(feats)
    assert logits.shape == (2, 2, 3)
    logits.sum().backward()
    assert all(p.grad is not None for p in head.parameters())
    assert not any(p.requires_grad for p in vit.model.parameters())
    assert all(p.grad is None for p in vit.model.parameters())
    assert set(head.state_dict()) == {n for n, _ in head.named_parameters()}
    grouped = sum(p.numel() for g in head.param_groups() for p in g["params"])
    assert grouped == head.n_params()


def test_prompt_learner_with_word_context_equals_the_text_encoder(vit):
    """Splicing the embeddings of the words "X … X" back in reproduces encode_text exactly."""
    names = ["cat", "traffic light"]
    pl = PromptLearner(vit, names, n_ctx=4)
    x_emb = vit.token_embedding(vit.tokenize(["X X X X"]))[0, 1:5]
    with torch.no_grad():
        pl.ctx.copy_(x_emb.expand(2, -1, -1))
        got = pl()
    ref = vit.encode_text([f"X X X X {n}." for n in names], normalize=False)
    torch.testing.assert_close(got, torch.as_tensor(ref, dtype=got.dtype), atol=1e-5, rtol=1e-4)


def test_prompt_context_is_seeded_small_gaussian(vit):
    a = build_head("dualcoop", vit, ["cat", "dog"], seed=0)
    b = build_head("dualcoop", vit, ["cat", "dog"], seed=0)
    torch.testing.assert_close(a.pos.ctx, b.pos.ctx)
    assert a.pos.ctx.shape == (2, 16, vit.text_width)
    assert 0.015 < a.pos.ctx.std().item() < 0.025


def test_too_many_context_tokens_is_an_error_not_a_truncated_prompt(vit):
    # [SOS] X×72 traffic light . [EOT] is exactly 77 tokens: it fits
    build_head("dualcoop", vit, ["cat", "traffic light"], n_ctx=72)
    with pytest.raises(ValueError, match=r"--n-ctx 73: the prompt for 'traffic light'.*77 tokens"):
        build_head("dualcoop", vit, ["cat", "traffic light"], n_ctx=73)
    with pytest.raises(ValueError, match="--n-ctx must be >= 1"):
        build_head("positivecoop", vit, ["cat"], n_ctx=0)


def test_aggregate_matches_the_formula():
    torch.manual_seed(0)
    f, t = torch.randn(3, 5, 8), torch.randn(4, 8)  # C = 2: rows [neg0, neg1, pos0, pos1]
    got = aggregate(f, t)
    cos = F.normalize(f, dim=-1) @ F.normalize(t, dim=-1).t()
    for c in range(2):
        w = torch.softmax(20 * cos[:, :, 2 + c], dim=1)
        torch.testing.assert_close(got[:, 1, c], 100 * (w * cos[:, :, 2 + c]).sum(1))
        torch.testing.assert_close(got[:, 0, c], 100 * (w * cos[:, :, c]).sum(1))


def test_negativecoop_attention_comes_from_the_learned_positive_embedding(vit):
    head = build_head("negativecoop", vit, ["cat", "dog"])
    cls = head.classifiers()
    n = 2
    torch.testing.assert_close(cls[n:], head.embedding)  # positives = learned embedding
    pos = build_head("positivecoop", vit, ["cat", "dog"])
    torch.testing.assert_close(pos.classifiers()[:n], pos.embedding)  # negatives = embedding


def test_positivecoop_positive_is_prompt_plus_residual_with_standard_normal_inits(vit):
    names = load_classes("voc").names
    head = build_head("positivecoop", vit, names)
    with torch.no_grad():
        cls, text = head.classifiers(), head.prompt()
    torch.testing.assert_close(cls[20:], text + head.residual)  # positives: prompt + residual
    for p in (head.embedding, head.residual):  # N(0, 1) per element, not normalised
        assert p.shape == (20, vit.embed_dim) and 0.95 < p.std().item() < 1.05
        assert abs(p.mean().item()) < 0.05
    plain = build_head("positivecoop", vit, names, residual=False)
    with torch.no_grad():
        torch.testing.assert_close(plain.classifiers()[20:], plain.prompt())


def test_dualcoop_stacks_negative_prompts_first(vit):
    head = build_head("dualcoop", vit, ["cat", "dog"])
    with torch.no_grad():
        torch.testing.assert_close(head.classifiers(), torch.cat([head.neg(), head.pos()]))


@pytest.mark.parametrize(
    ("method", "groups", "weight_decay", "warmup_lr"),
    [
        ("baseline", {"linear": 0.01}, 0.0, 5e-3),
        ("dualcoop", {"prompts": 1.0}, 5e-4, 1e-5),
        ("positivecoop", {"prompts": 0.01, "embeddings": 1.0}, 0.0, 5e-3),
        ("negativecoop", {"prompts": 0.01, "embeddings": 1.0}, 0.0, 5e-3),
    ],
)
def test_optimizer_groups_lr_multipliers_and_weight_decay(
    vit, method, groups, weight_decay, warmup_lr
):
    cfg = FitConfig(method=method, lr=0.002)
    head = build_head(method, vit, ["cat", "dog"])
    opt = make_optimizer(head, cfg)
    assert {g["name"]: g["lr"] / 0.002 for g in opt.param_groups} == pytest.approx(groups)
    assert all(g["weight_decay"] == weight_decay for g in opt.param_groups)
    assert all(g["momentum"] == 0.9 and not g["nesterov"] for g in opt.param_groups)
    assert cfg.resolved_warmup_lr() == warmup_lr
    n_opt = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n_opt == head.n_params()


def test_baseline_is_per_channel_softmax_pooling(vit):
    head = build_head("baseline", vit, ["a", "b"])
    f = torch.randn(2, 6, vit.embed_dim)
    z = head.linear(f)
    expect = 5 * (torch.softmax(z, dim=1) * z).sum(1)
    torch.testing.assert_close(head(f), expect.view(2, 2, 2))


def test_unknown_method(vit):
    with pytest.raises(ValueError, match="unknown method"):
        build_head("tripleco", vit, ["a"])
