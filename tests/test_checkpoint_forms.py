"""Every form negation-tuned CLIPs are released in loads through ``--pretrained``: open_clip
training checkpoints, OpenAI ``clip`` state dicts, TorchScript archives (test_backbone.py) and
Hugging Face ``transformers`` CLIP folders (converted to open_clip; checked against transformers'
own features on tiny random models). Bad input is one ``error:`` line, nothing written."""

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
from PIL import Image
from typer.testing import CliRunner

from mlr.backbone import BackboneConfig, load_backbone
from negation.cli_promptsim import app as promptsim

TEXTS = ["a photo of a dog.", "Not a photo of a traffic light", "there is no hair drier here"]
TINY_TOWER = {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2}
MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
runner = CliRunner()


# ---- open_clip training checkpoints and OpenAI clip state dicts ------------------------------
@pytest.mark.parametrize("ddp", [True, False], ids=["module-prefix", "single-gpu"])
def test_open_clip_training_checkpoint_loads(tiny_models, tmp_path, ddp):
    """NegCLIP's negclip.pth, NegBench's and ConCLIP's fine-tunes: open_clip's training loop saves
    {"epoch", "name", "state_dict" (``module.`` under DDP), "optimizer"}."""
    source = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none", seed=4))
    state = source.model.state_dict()
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))])
    checkpoint = {
        "epoch": 5,
        "name": "negclip-run",
        "state_dict": {("module." if ddp else "") + k: v for k, v in state.items()},
        "optimizer": optimizer.state_dict(),
    }
    path = tmp_path / "negclip.pth"
    torch.save(checkpoint, path)
    bb = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=str(path)))
    info = bb.info()
    assert info["weights"] == "file" and not bb.random_weights and "warning" not in info
    assert info["weights_files"][0]["path"] == str(path.resolve())
    assert torch.allclose(bb.encode_text(TEXTS), source.encode_text(TEXTS), atol=1e-6)


def _quickgelu_config(tmp_path: Path, name: str) -> Path:
    """The tiny open_clip config ``name`` with QuickGELU (as ``ViT-B-32-quickgelu``)."""
    cfg = json.loads((Path(__file__).parent / "model_configs" / f"{name}.json").read_text())
    file = tmp_path / f"{name}-quickgelu.json"
    file.write_text(json.dumps({**cfg, "quick_gelu": True}))
    return file


@pytest.mark.parametrize("form", ["state-dict", "conclip-checkpoint"])
def test_openai_clip_state_dict_loads_with_the_quickgelu_model(tiny_models, tmp_path, form):
    """NegationCLIP: ``torch.save(model.state_dict())`` of the OpenAI ``clip`` package's model;
    CoN-CLIP: the same inside ``{"model", "optimizer", "args": argparse.Namespace}``. Their names
    are open_clip's; on a GPU ``clip.load`` gives fp16 weights; OpenAI CLIPs use QuickGELU, so
    the model is the ``-quickgelu`` one."""
    import argparse

    import open_clip

    model = str(_quickgelu_config(tmp_path, tiny_models[1]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        source = open_clip.create_model(tiny_models[1], force_quick_gelu=True).eval()
    state = {k: v.half() if v.is_floating_point() else v for k, v in source.state_dict().items()}
    path = tmp_path / "clip.pt"
    if form == "state-dict":
        torch.save(state, path)
    else:
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))])
        run = argparse.Namespace(lr=1e-6, experiment_name="conclip_b32", negative_images="on")
        torch.save({"model": state, "optimizer": optimizer.state_dict(), "args": run}, path)
    source.load_state_dict(state)  # the fp16-rounded weights, back in fp32
    bb = load_backbone(BackboneConfig(model=model, pretrained=str(path)))
    assert bb.quick_gelu and bb.info()["weights"] == "file"
    assert bb.info()["weights_files"][0]["path"] == str(path.resolve())
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = F.normalize(source.encode_text(bb.tokenize(TEXTS)), dim=-1)
        assert torch.allclose(bb.model.encode_image(images), source.encode_image(images), atol=1e-5)
    assert torch.allclose(bb.encode_text(TEXTS), ref, atol=1e-5)


# ---- Hugging Face transformers CLIP folders ------------------------------------------------
def _bpe_files(folder: Path) -> None:
    """``vocab.json`` + ``merges.txt`` of CLIP's BPE, as openai/clip-* repos hold them, written
    from the vocabulary open_clip ships (no download)."""
    from open_clip.tokenizer import SimpleTokenizer

    bpe = SimpleTokenizer()
    names = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {names.get(t, t): i for t, i in bpe.encoder.items()}
    merges = [" ".join(p) for p, _ in sorted(bpe.bpe_ranks.items(), key=lambda kv: kv[1])]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")


def _hf_clip(
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
        _bpe_files(folder)
    elif tokenizer == "json":
        _bpe_files(folder / "bpe")
        transformers.CLIPTokenizer.from_pretrained(folder / "bpe").save_pretrained(folder)
    return model


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
    hf = _hf_clip(folder, act=act, bin_file=bin_file)
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
    hf = _hf_clip(folder)
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
    from mlr.backbone import hf

    config = {"model_type": "clip", "text_config": {}, "vision_config": {}}
    for key, value in change.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=expected) as err:
        hf.open_clip_config(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'config.json'}")


def test_hf_folder_plain_path_is_recognised(tiny_models, tmp_path):
    folder = tmp_path / "hf-export"
    _hf_clip(folder)
    plain = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=str(folder)))
    prefixed = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}"))
    assert plain.info()["weights"] == "hf" and plain.weights_id == prefixed.weights_id


def test_hidden_act_decides_quickgelu_and_the_wrong_one_would_show(tiny_models, tmp_path):
    """The same tensors read with the other activation are far from transformers' features: the
    1e-5 agreement above is not met by accident."""
    folder = tmp_path / "qg"
    hf = _hf_clip(folder, act="quick_gelu")
    config = json.loads((folder / "config.json").read_text())
    for tower in ("text_config", "vision_config"):
        config[tower]["hidden_act"] = "gelu"
    (folder / "config.json").write_text(json.dumps(config))
    bb = load_backbone(BackboneConfig(model=tiny_models[1], pretrained=f"hf:{folder}"))
    assert not bb.quick_gelu
    text, image = _agreement(bb, hf, bb.tokenize(TEXTS))
    assert text > 1e-4 and image > 1e-4  # ten times the tolerance, at least


def test_hf_layer_norm_eps_is_kept_with_the_folder_as_model(tiny_models, tmp_path):
    folder = tmp_path / "eps"
    hf = _hf_clip(folder, eps=1e-2)  # large enough to change the features
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
    from mlr.backbone import hf

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
    from negation import templates as T
    from negation.negbench.families import FAMILIES

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
    hf = _hf_clip(folder, tokenizer=files)
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
    _hf_clip(folder, tokenizer="bpe")
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
    _hf_clip(folder, seed=1)
    first = load_backbone(spec)
    before = first.encode_text(TEXTS, cache=cache)
    _hf_clip(folder, seed=2)  # new weights in place
    second = load_backbone(spec)
    assert second.weights_id != first.weights_id
    assert not torch.allclose(second.encode_text(TEXTS, cache=cache), before, atol=1e-3)
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**processor, "image_std": MEAN}))
    third = load_backbone(spec)  # same tensors, other image normalisation
    assert third.weights_id != second.weights_id and third.std == tuple(MEAN)


def test_hf_folder_of_another_architecture_names_the_model_that_fits(tiny_models, tmp_path):
    folder = tmp_path / "vit"
    _hf_clip(folder)
    with pytest.raises(ValueError) as err:
        load_backbone(BackboneConfig(model=tiny_models[0], pretrained=f"hf:{folder}"))
    message = str(err.value)
    assert f"model 'notclip-tiny-RN' does not match the weights in hf:{folder}" in message
    assert "describes a notclip-tiny-ViT model (a ViT, not a ResNet)" in message
    assert "\n" not in message
    assert message.endswith(
        f"use the model notclip-tiny-ViT, or the folder {folder} itself as the model"
    )


# ---- bad input through a command: one error line, nothing written --------------------------
def _not_clip(folder: Path, kind: str) -> None:
    transformers = pytest.importorskip("transformers")
    config = {"siglip": transformers.SiglipConfig, "blip": transformers.BlipConfig}[kind]()
    folder.mkdir()
    config.to_json_file(folder / "config.json")
    (folder / "model.safetensors").write_bytes(b"")


def _bad_input(kind: str, tmp_path: Path, tiny_models) -> tuple[str, str, str]:
    """(model, pretrained, expected message) of one kind of bad weights."""
    folder = tmp_path / kind
    if kind in ("other-architecture", "other-architecture-conclip"):
        import argparse

        rn = load_backbone(BackboneConfig(model=tiny_models[0], pretrained="none")).model
        wrapped = {"epoch": 1, "state_dict": rn.state_dict()}
        if kind.endswith("conclip"):
            wrapped = {"model": rn.state_dict(), "args": argparse.Namespace(lr=1e-6)}
        torch.save(wrapped, tmp_path / "rn.pt")
        return tiny_models[1], str(tmp_path / "rn.pt"), r"rn\.pt do not fit notclip-tiny-ViT: "
    if kind in ("siglip", "blip"):
        _not_clip(folder, kind)
        return tiny_models[1], f"hf:{folder}", rf"describes a '{kind}' model, not CLIP"
    if kind == "no-weights":
        _hf_clip(folder)
        (folder / "model.safetensors").unlink()
        return tiny_models[1], f"hf:{folder}", "holds no weights beside its config.json"
    if kind == "no-folder":
        return tiny_models[1], f"hf:{folder}", "does not exist"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "other-architecture",
        "other-architecture-conclip",
        "siglip",
        "blip",
        "no-weights",
        "no-folder",
    ],
)
def test_bad_weights_are_one_error_line_and_nothing_is_written(tiny_models, tmp_path, kind):
    model, pretrained, expected = _bad_input(kind, tmp_path, tiny_models)
    out, cache = tmp_path / "out", tmp_path / "text-cache"
    args = ["table", "--classes", "cat,dog", "--model", model, "--pretrained", pretrained]
    args += ["--device", "cpu", "--text-cache", str(cache), "--out", str(out), "-q"]
    result = runner.invoke(promptsim, args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert re.search(expected, lines[0]), lines[0]
    assert not out.exists() and not cache.exists()


def test_hf_folder_through_a_command_records_its_weights(tiny_models, tmp_path, caplog):
    folder, out = tmp_path / "NegationCLIP", tmp_path / "out"
    _hf_clip(folder, tokenizer="json")
    args = ["table", "--classes", "cat,dog", "--model", tiny_models[1], "--device", "cpu"]
    args += ["--pretrained", f"hf:{folder}", "--out", str(out), "--no-text-cache"]
    result = runner.invoke(promptsim, args)
    assert result.exit_code == 0, result.output
    assert "RANDOM WEIGHTS" not in result.output
    assert not [r for r in caplog.records if "initialized randomly" in r.getMessage()]
    model = json.loads((out / "run.json").read_text())["model"]
    assert model["weights"] == "hf" and model["pretrained"] == f"hf:{folder}"
    assert model["random_weights"] is False and model["weights_id"].startswith("sha256:")
    assert [Path(f["path"]).name for f in model["weights_files"]][-1] == "model.safetensors"
