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
