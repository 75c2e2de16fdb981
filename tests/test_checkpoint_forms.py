"""Every form negation-tuned CLIPs are released in loads through ``--pretrained``: open_clip
training checkpoints, OpenAI ``clip`` state dicts (bare or in CoN-CLIP's wrapper), TorchScript
archives (test_backbone.py) and Hugging Face folders (test_backbone_hf.py), through the commands
too; bad weights are one ``error:`` line, nothing written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hf_data import hf_clip
from typer.testing import CliRunner

from backbone import BackboneConfig, load_backbone
from negation.promptsim.cli import app as promptsim

TEXTS = ["a photo of a dog.", "Not a photo of a traffic light", "there is no hair drier here"]
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
        hf_clip(folder)
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
    hf_clip(folder, tokenizer="json")
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


def _doc_models_file(tmp_path: Path) -> Path:
    """The ``--models-file`` example of docs/NEGATION_MODELS.md, written to ``tmp_path``."""
    doc = (Path(__file__).parents[1] / "docs" / "NEGATION_MODELS.md").read_text("utf-8")
    block = re.search(r"```text\n(.*?)```", doc, re.S)
    assert block, "docs/NEGATION_MODELS.md has no models-file block"
    (tmp_path / "negation-models.txt").write_text(block.group(1))
    return tmp_path / "negation-models.txt"


def test_the_documented_models_file_names_every_form(tmp_path):
    from negation.negbench.models import parse_models_file

    models = parse_models_file(_doc_models_file(tmp_path))
    assert len(models) == 7 and ("ViT-B-32", "openai") in models
    weights = [w for _, w in models]
    assert any(w.startswith("hf:") for w in weights) and any(w.endswith(".pth") for w in weights)
    assert all(m.endswith("-quickgelu") for m, w in models if "CoN" in w or "NegCLIP/" in w)


def test_negbench_models_file_runs_every_form(tiny_models, tmp_path):
    """One ``promptsim negbench --models-file`` over an open_clip training checkpoint, CoN-CLIP's
    wrapper and a Hugging Face folder: one complete result folder each, naming its weights."""
    import argparse

    from mlr_data import write_voc

    voc = write_voc(tmp_path / "voc", n_trainval=2, n_test=8)
    vit = load_backbone(BackboneConfig(model=tiny_models[1], pretrained="none")).model
    torch.save({"epoch": 1, "state_dict": vit.state_dict()}, tmp_path / "negclip.pth")
    run = argparse.Namespace(lr=1e-6)
    torch.save({"model": vit.state_dict(), "args": run}, tmp_path / "conclip.pt")
    hf_clip(tmp_path / "NegationCLIP")
    lines = [
        f"{tiny_models[1]},{tmp_path / 'negclip.pth'}",
        f"{tiny_models[1]},{tmp_path / 'conclip.pt'}",
    ]
    lines.append(f"{tiny_models[1]},hf:{tmp_path / 'NegationCLIP'}")
    (tmp_path / "models.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "nb"
    args = ["negbench", "--dataset", "voc", "--root", str(voc), "--tasks", "mcq", "-q"]
    args += ["--bootstrap", "20", "--device", "cpu", "--no-text-cache"]
    result = runner.invoke(
        promptsim, [*args, "--models-file", str(tmp_path / "models.txt"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    status = json.loads((out / "models.json").read_text())
    assert [s["status"] for s in status] == ["complete"] * 3
    kinds = [json.loads((out / s["dir"] / "run.json").read_text())["model"] for s in status]
    assert [k["weights"] for k in kinds] == ["file", "file", "hf"]
    assert (
        not any(k["random_weights"] for k in kinds) and len({k["weights_id"] for k in kinds}) == 3
    )
