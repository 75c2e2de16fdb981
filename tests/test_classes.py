import pytest

from corpora.classes import load_classes


def test_builtin_sets_have_the_published_sizes_and_order():
    coco = load_classes("coco")
    assert len(coco) == 80
    assert coco.names[0] == "person" and coco.names[-1] == "toothbrush"
    assert len(load_classes("voc")) == 20
    assert len(load_classes("NUSWIDE")) == 81


def test_voc_keys_keep_dataset_ids_and_names_are_prompt_words():
    voc = load_classes("voc")
    i = voc.keys.index("diningtable")
    assert voc.names[i] == "dining table"
    assert voc.names[voc.keys.index("dog")] == "dog"


def test_inline_list_and_file(tmp_path):
    assert load_classes("cat, dog").names == ("cat", "dog")
    assert load_classes("hot dog,").names == ("hot dog",)
    assert load_classes("coco,").names == ("coco",)  # one class named like a set, said explicitly
    assert load_classes("person").names == ("person",)  # one class needs no trailing comma
    assert load_classes(" hot dog ").names == ("hot dog",)
    f = tmp_path / "mine.txt"
    f.write_text("# my classes\nzebra\n\nhot dog | hotdog\n")
    cs = load_classes(str(f))
    assert cs.keys == ("zebra", "hot dog") and cs.names == ("zebra", "hotdog")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cocoo", "unknown class set 'cocoo': did you mean 'coco'"),
        ("Voc2", "did you mean 'voc'"),
        ("mine.txt", "no class file 'mine.txt'"),
        ("lists/mine", "no class file"),
        ("a,a", "duplicate"),
        ("coco,dog", "'coco,dog' mixes the class set 'coco' with class names; give the set alone"),
        (
            "dog, VOC",
            r"mixes the class set 'VOC' with class names; give the set alone \(--classes voc\)",
        ),
    ],
)
def test_bad_class_specs_are_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        load_classes(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Cat,dog,cat", "classes 'Cat' and 'cat' differ only in case"),
        ("a | Dog,b | dog", r"prompt names\): classes 'Dog' and 'dog' differ only in case"),
        ("a | dog,b | dog", r"prompt names\): duplicate class 'dog'"),
    ],
)
def test_classes_that_differ_only_in_case_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        load_classes(spec)


def test_binary_class_file_is_one_line_naming_it(tmp_path):
    for i, data in enumerate([b"\x89PNG\r\n\x1a\n\x00\x00", b"cat\x00dog\n", b"\xff\xfe\xfa"]):
        f = tmp_path / f"classes{i}.bin"
        f.write_bytes(data)
        with pytest.raises(ValueError, match=rf"^{f}: not a text class file \(binary"):
            load_classes(str(f))


def test_an_inline_list_too_long_for_a_file_name_is_a_list_in_every_command(tiny_models, tmp_path):
    """45 COCO names (354 characters) cannot name a file (the limit is 255 bytes a name): they
    are a list for negscan, promptsim and mlrtrain alike, not an OSError."""
    import json

    from typer.testing import CliRunner

    from mlr.cli import app as mlrtrain
    from negation.negscan.cli import app as negscan
    from negation.promptsim.cli import app as promptsim

    names = load_classes("coco").names[:45]
    spec = ",".join(names)
    assert len(spec) == 354
    assert load_classes(spec).names == names
    runner = CliRunner()
    captions = tmp_path / "captions.txt"
    captions.write_text("no dog here\nnot a cat\n", "utf-8")
    scan = runner.invoke(negscan, ["text", str(captions), "--classes", spec, "--format", "json"])
    assert scan.exit_code == 0, scan.output
    assert json.loads(scan.stdout)["n_with_class_negation"] == 2
    params = runner.invoke(
        mlrtrain, ["params", "--classes", spec, "--model", tiny_models[0], "--format", "json"]
    )
    assert params.exit_code == 0, params.output
    assert json.loads(params.stdout)["n_classes"] == 45
    model = ["--model", tiny_models[0], "--pretrained", "none", "--device", "cpu"]
    table = runner.invoke(
        promptsim,
        [
            "table",
            *model,
            "--classes",
            spec,
            "--templates",
            "single",
            "--no-text-cache",
            "--format",
            "json",
        ],
    )
    assert table.exit_code == 0, table.output
    assert json.loads(table.stdout)["n_classes"] == 45
