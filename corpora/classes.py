"""Class-name sets: the built-in COCO-80, VOC-20 and NUS-WIDE-81 lists, a file, or an inline list.

A class set is data (``corpora/data/classes/*.txt``), read with :mod:`importlib.resources`.
File format: one class a line, ``#`` starts a comment; ``key | prompt name`` gives a dataset key
(e.g. VOC's ``diningtable``) its human name (``dining table``).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BUILTIN = ("coco", "voc", "nuswide")


@dataclass(frozen=True)
class ClassSet:
    """An ordered list of classes. ``keys`` are the dataset identifiers, ``names`` the words used in
    prompts and reports (same order, same length)."""

    name: str
    keys: tuple[str, ...]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.keys)


def _parse(text: str, source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    keys: list[str] = []
    names: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, name = (part.strip() for part in line.partition("|"))
        if not key:
            raise ValueError(f"{source}, line {lineno}: empty class key in {raw!r}")
        keys.append(key)
        names.append(name or key)
    if not keys:
        raise ValueError(f"{source}: no classes found")
    check_distinct(keys, source)
    check_distinct(names, f"{source} (prompt names)" if names != keys else source)
    return tuple(keys), tuple(names)


def check_distinct(names: Sequence[str], source: str) -> None:
    """Refuse a class listed twice, also when only the case differs (``Cat`` and ``cat``): CLIP's
    tokenizer lower-cases, so both prompts are the same text and one class would count twice."""
    seen: dict[str, str] = {}
    for name in names:
        folded = name.casefold()
        if folded in seen:
            other = seen[folded]
            what = (
                f"duplicate class {name!r}"
                if other == name
                else f"classes {other!r} and {name!r} differ only in case"
            )
            raise ValueError(f"{source}: {what}; keep one")
        seen[folded] = name


def _read_text(path: Path) -> str:
    """A class file's text; a binary file (NUL bytes, not UTF-8) is one clear error naming it."""
    data = path.read_bytes()
    if b"\0" not in data:
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-8")
    raise ValueError(
        f"{path}: not a text class file (binary content); give one class name a line, UTF-8"
    )


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name that cannot be one (too long for the filesystem, a
    NUL byte) is not."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def load_classes(spec: str) -> ClassSet:
    """Resolve ``coco`` / ``voc`` / ``nuswide``, a path to a class file, ``"cat,dog,..."`` or one
    class name (``person``). A value that cannot be a file name (too long) is a list. A single name
    that looks like a file (a suffix or a folder) and is not one, or that is a near miss of a
    built-in set (``cocoo``), is refused, not taken as a class; so is a list naming a built-in
    set beside other names (``coco,dog``)."""
    spec = spec.strip()
    if spec.lower() in BUILTIN:
        name = spec.lower()
        text = resources.files("corpora").joinpath(f"data/classes/{name}.txt").read_text("utf-8")
        keys, names = _parse(text, f"built-in class set {name!r}")
        return ClassSet(name, keys, names)
    path = Path(spec).expanduser()
    if _is_file(path):
        keys, names = _parse(_read_text(path), str(path))
        return ClassSet(path.stem, keys, names)
    if "," not in spec:
        if path.suffix or len(path.parts) > 1:
            raise ValueError(f"no class file {spec!r}")
        near = difflib.get_close_matches(spec.lower(), BUILTIN, n=1, cutoff=0.75)
        if near:
            raise ValueError(
                f"unknown class set {spec!r}: did you mean {near[0]!r}? (one class named "
                f"{spec!r}: '{spec},')"
            )
    # a comma-separated list, or one class name ("person"); a set's name in a list of several is
    # refused: "coco,dog" is neither COCO plus a class nor a class named "coco"
    items = [part.strip() for part in spec.split(",") if part.strip()]
    sets = [item for item in items if item.lower() in BUILTIN]
    if sets and len(items) > 1:
        raise ValueError(
            f"{spec!r} mixes the class set {sets[0]!r} with class names; give the set alone "
            f"(--classes {sets[0].lower()}) or class names only (more classes: a class file)"
        )
    keys, names = _parse("\n".join(spec.split(",")), "--classes list")
    return ClassSet("custom", keys, names)
