"""Hugging Face ``transformers`` CLIP folders (``hf:DIR``), converted to open_clip: checked
against transformers' own features and tokenizer on tiny random models, and every way a folder
can be refused."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hf_data import MEAN, STD, hf_clip
from PIL import Image

from backbone import BackboneConfig, load_backbone

TEXTS = ["a photo of a dog.", "Not a photo of a traffic light", "there is no hair drier here"]


def _images(bb) -> torch.Tensor:
    rng = np.random.default_rng(0)
    shapes = [(40, 40), (32, 50), (64, 48)]
    pics = [Image.fromarray(rng.integers(0, 255, (*s, 3), dtype=np.uint8)) for s in shapes]
    return torch.stack([bb.image_transform()(p) for p in pics])


def _agreement(bb, model, tokens: torch.Tensor) -> tuple[float, float]:
    """Largest difference between notclip's normalised text / image embeddings and transformers'
    ``get_text_features`` / ``get_image_features`` on the same prompts and images."""
    images = _images(bb)
    with torch.no_grad():
        text = F.normalize(model.get_text_features(input_ids=tokens).pooler_output, dim=-1)
        image = F.normalize(model.get_image_features(pixel_values=images).pooler_output, dim=-1)
        ours = F.normalize(bb.model.encode_image(images), dim=-1)
    return (bb.encode_text(TEXTS) - text).abs().max().item(), (ours - image).abs().max().item()


@pytest.mark.parametrize("act", ["quick_gelu", "gelu"])
@pytest.mark.parametrize("bin_file", [False, True], ids=["safetensors", "pytorch_model.bin"])
@pytest.mark.parametrize("as_model", ["open_clip-name", "the-folder"])
def test_hf_folder_gives_transformers_embeddings(tiny_models, tmp_path, act, bin_file, as_model):
    folder = tmp_path / "NegationCLIP"
    hf = hf_clip(folder, act=act, bin_file=bin_file)
    model = tiny_models[1] if as_model == "open_clip-name" else str(folder)
    bb = load_backbone(BackboneConfig(model=model, pretrained=f"hf:{folder}"))
    text, image = _agreement(bb, hf, bb.tokenize(TEXTS))
    assert text < 1e-5 and image < 1e-5, (text, image)
    info = bb.info()
    assert bb.quick_gelu is (act == "quick_gelu") and info["quick_gelu"] is bb.quick_gelu
    assert info["weights"] == "hf" and info["checkpoint"] == str(folder)
    assert not bb.random_weights and "warning" not in info and bb.weights_id.startswith("sha256:")
    weight_file = "pytorch_model.bin" if bin_file else "model.safetensors"
    names = [Path(f["path"]).name for f in info["weights_files"]]
    assert names == ["config.json", "preprocessor_config.json", weight_file]
    assert info["preprocessing"]["mean"] == MEAN and info["preprocessing"]["std"] == STD
    if as_model == "the-folder":  # registered like a model config file, by content
        assert re.fullmatch(r"NegationCLIP-[0-9a-f]{8}", info["name"])
        assert info["config_file"] == str((folder / "config.json").resolve())
        assert info["config_sha256"].startswith("sha256:")
    else:
        assert info["name"] == tiny_models[1] and info["config_file"] is None


def test_hf_sharded_folder_loads_every_shard(tiny_models, tmp_path):
    folder = tmp_path / "sharded"
    hf = hf_clip(folder)
    (folder / "model.safetensors").unlink()
    hf.save_pretrained(folder, max_shard_size="1MB")
    shards = sorted(p.name for p in folder.glob("model-*.safetensors"))
    assert len(shards) > 1 and (folder / "model.safetensors.index.json").is_file()
    bb = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}"))
    assert [Path(f["path"]).name for f in bb.info()["weights_files"]][2:] == shards
    text, image = _agreement(bb, hf, bb.tokenize(TEXTS))
    assert text < 1e-5 and image < 1e-5, (text, image)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"text_config": {"hidden_act": "gelu_new"}}, r"text hidden_act is 'gelu_new', not quick"),
        ({"text_config": {"hidden_act": "gelu"}}, r"'gelu' \(text\) / 'quick_gelu' \(vision\)"),
        ({"text_config": {"vocab_size": 50000}}, r"vocabulary of 50000 tokens .* not CLIP's BPE"),
        ({"vision_config": {"layer_norm_eps": "1e-5"}}, r"vision layer_norm_eps is '1e-5'"),
        ({"vision_config": {"num_attention_heads": 5}}, r"vision hidden_size 768 is not a multi"),
        ({"projection_dim": None}, r"model projection_dim is None, not a positive integer"),
        ({"model_type": "clip_vision_model"}, r"describes a 'clip_vision_model' model, not CLIP"),
    ],
)
def test_hf_config_that_cannot_be_built_faithfully_is_refused(tmp_path, change, expected):
    from backbone import hf

    config = {"model_type": "clip", "text_config": {}, "vision_config": {}}
    for key, value in change.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=expected) as err:
        hf.open_clip_config(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'config.json'}")


def test_hf_folder_plain_path_is_recognised(tiny_models, tmp_path):
    folder = tmp_path / "hf-export"
    hf_clip(folder)
    plain = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=str(folder)))
    prefixed = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}"))
    assert plain.info()["weights"] == "hf" and plain.weights_id == prefixed.weights_id


def test_hidden_act_decides_quickgelu_and_the_wrong_one_would_show(tiny_models, tmp_path):
    """The same tensors read with the other activation are far from transformers' features: the
    1e-5 agreement above is not met by accident."""
    folder = tmp_path / "qg"
    hf = hf_clip(folder, act="quick_gelu")
    config = json.loads((folder / "config.json").read_text())
    for tower in ("text_config", "vision_config"):
        config[tower]["hidden_act"] = "gelu"
    (folder / "config.json").write_text(json.dumps(config))
    bb = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}"))
    assert not bb.quick_gelu
    text, image = _agreement(bb, hf, bb.tokenize(TEXTS))
    assert text > 1e-4 and image > 1e-4  # ten times the tolerance, at least
    tiny = Path(__file__).parent / "model_configs" / f"{tiny_models[1]}.json"
    quickgelu = tmp_path / "tiny-quickgelu.json"  # as ViT-B-32-quickgelu
    quickgelu.write_text(json.dumps({**json.loads(tiny.read_text()), "quick_gelu": True}))
    with pytest.raises(ValueError, match=r"quick_gelu is false \(GELU\), not true"):
        load_backbone(BackboneConfig(model=str(quickgelu), pretrained=f"hf:{folder}"))


def test_hf_layer_norm_eps_is_kept_with_the_folder_as_model(tiny_models, tmp_path):
    folder = tmp_path / "eps"
    hf = hf_clip(folder, eps=1e-2)  # large enough to change the features
    with pytest.raises(ValueError) as err:  # an open_clip name builds eps 1e-5: refused
        load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}"))
    message = str(err.value)
    assert "describes an architecture open_clip has no name for" in message
    assert "(vision_cfg.norm_kwargs is {'eps': 0.01}, not None)" in message
    assert message.endswith(f"use the folder {folder} itself as the model")
    bb = load_backbone(BackboneConfig(model=str(folder), pretrained=f"hf:{folder}"))
    text, image = _agreement(bb, hf, bb.tokenize(TEXTS))
    assert text < 1e-5 and image < 1e-5, (text, image)


def test_hf_config_keys_left_out_take_transformers_defaults(tmp_path):
    transformers = pytest.importorskip("transformers")
    from backbone import hf

    text, vision = transformers.CLIPTextConfig(), transformers.CLIPVisionConfig()
    assert {k: getattr(text, k) for k in hf.TEXT_DEFAULTS} == hf.TEXT_DEFAULTS
    assert {k: getattr(vision, k) for k in hf.VISION_DEFAULTS} == hf.VISION_DEFAULTS
    assert transformers.CLIPConfig().projection_dim == hf.PROJECTION_DEFAULT
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip"}))
    cfg, _ = hf.open_clip_config(tmp_path)
    import open_clip

    vit_b_32 = hf._canonical(open_clip.get_model_config("ViT-B-32-quickgelu"))
    assert hf._canonical(cfg) == vit_b_32  # openai/clip-vit-base-patch32's layout


def _prompt_sets() -> list[str]:
    """Every template and every class name notclip ships, each at least once in a prompt: all
    templates (each set × each negation style, NegBench's families) with three class names, and
    every class name (coco, voc, nuswide) in three templates."""
    from corpora.classes import load_classes
    from negation.negbench.families import FAMILIES
    from negation.promptsim import templates as T

    classes = sorted({n for s in ("coco", "voc", "nuswide") for n in load_classes(s).names})
    text = resources.files("negation").joinpath("data/templates/sets.toml").read_text("utf-8")
    slots = set()
    for name in tomllib.loads(text):
        tset = T.load_template_set(name)
        for style in T.STYLES:
            s = T.setting(tset, style)
            slots |= {*s.positive, *s.negative, *(s.paraphrase or ())}
    families = set()
    for f in FAMILIES.values():
        families |= {*f.affirmation.values(), *f.negation.values(), *f.negated.values()}
        families |= {f.hybrid, f.yes, f.no, f.plain}
    few = ["traffic light", "hair drier", "person"]
    prompts = [t.replace("{}", c) for t in sorted(slots) for c in few]
    prompts += [t.replace("{}", c) for t in sorted(slots)[:3] for c in classes]
    prompts += [
        t.format(a, b)
        for t in sorted(families)
        for a, b in zip(few, few[1:] + few[:1], strict=True)
    ]
    prompts += [t.format(c, "person") for t in sorted(families)[:3] for c in classes]
    return prompts


@pytest.mark.parametrize("files", ["bpe", "json"], ids=["vocab+merges", "tokenizer.json"])
def test_hf_tokenizer_gives_open_clips_ids_on_notclips_prompts(tiny_models, tmp_path, files):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "tok"
    hf = hf_clip(folder, tokenizer=files)
    bb = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}"))
    hf_tokenizer = transformers.CLIPTokenizer.from_pretrained(folder)
    prompts = _prompt_sets()
    assert len(prompts) > 1000
    ours = bb.tokenize(prompts)
    theirs = hf_tokenizer(prompts, truncation=True, max_length=77)["input_ids"]
    for prompt, a, b in zip(prompts, ours, theirs, strict=True):
        assert a[: len(b)].tolist() == b and not a[len(b) :].any(), prompt  # then zero padding
    # padding differs (transformers pads with the end token, open_clip with 0) and changes nothing
    padded = hf_tokenizer(TEXTS, padding="max_length", max_length=77, return_tensors="pt")
    text, _ = _agreement(bb, hf, padded["input_ids"])
    assert text < 1e-5
    # the documented difference: only open_clip unescapes HTML entities and repairs mojibake
    assert bb.tokenize(["a &amp; b"])[0, :5].tolist() == bb.tokenize(["a & b"])[0, :5].tolist()
    assert hf_tokenizer(["a &amp; b"])["input_ids"] != hf_tokenizer(["a & b"])["input_ids"]


@pytest.mark.parametrize("swapped", ["vocab", "merges"])
def test_hf_tokenizer_with_another_vocabulary_is_refused(tiny_models, tmp_path, swapped):
    folder = tmp_path / "othertok"
    hf_clip(folder, tokenizer="bpe")
    if swapped == "vocab":
        vocab = json.loads((folder / "vocab.json").read_text())
        vocab["dog</w>"], vocab["cat</w>"] = vocab["cat</w>"], vocab["dog</w>"]
        (folder / "vocab.json").write_text(json.dumps(vocab))
        expected = "2 difference(s), e.g. 'dog</w>'"
    else:
        lines = (folder / "merges.txt").read_text().splitlines()
        lines[10], lines[20] = lines[20], lines[10]  # line 0 is the #version header
        (folder / "merges.txt").write_text("\n".join(lines) + "\n")
        expected = "2 difference(s), e.g. 'merge 10'"
    with pytest.raises(ValueError) as err:
        load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}"))
    message = str(err.value)
    assert message.startswith(f"{folder}/{swapped}.")
    assert ": the folder's tokenizer is not CLIP's BPE" in message
    assert expected in message and "\n" not in message


def test_hf_folder_identity_and_text_cache_follow_its_files(tiny_models, tmp_path):
    folder, cache = tmp_path / "m", tmp_path / "cache"
    spec = BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}")
    hf_clip(folder, seed=1)
    first = load_backbone(spec)
    before = first.encode_text(TEXTS, cache=cache)
    hf_clip(folder, seed=2)  # new weights in place
    second = load_backbone(spec)
    assert second.weights_id != first.weights_id
    assert not torch.allclose(second.encode_text(TEXTS, cache=cache), before, atol=1e-3)
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**processor, "image_std": MEAN}))
    third = load_backbone(spec)  # same tensors, other image normalisation
    assert third.weights_id != second.weights_id and third.std == tuple(MEAN)


def test_hf_folder_of_another_architecture_names_the_model_that_fits(tiny_models, tmp_path):
    folder = tmp_path / "vit"
    hf_clip(folder)
    with pytest.raises(ValueError) as err:
        load_backbone(BackboneConfig(model=tiny_models[0], pretrained=f"hf:{folder}"))
    message = str(err.value)
    assert f"model 'notclip-tiny-RN' does not match the weights in hf:{folder}" in message
    assert "describes a notclip-tiny-ViT model (a ViT, not a ResNet)" in message
    assert "\n" not in message
    assert message.endswith(
        f"use the model notclip-tiny-ViT, or the folder {folder} itself as the model"
    )
