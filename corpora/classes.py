"""Class-name sets: the built-in COCO-80, VOC-20 and NUS-WIDE-81 lists, a file, or an inline list.

A class set is data (``corpora/data/classes/*.txt``), read with :mod:`importlib.resources`.
File format: one class a line, ``#`` starts a comment; ``key | prompt name`` gives a dataset key
(e.g. VOC's ``diningtable``) its human name (``dining table``).
"""

from __future__ import annotations

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
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"{source}: duplicate classes {dupes}")
    return tuple(keys), tuple(names)


def load_classes(spec: str) -> ClassSet:
    """Resolve ``coco`` / ``voc`` / ``nuswide``, a path to a class file, or ``"cat,dog,..."``."""
    spec = spec.strip()
    if spec.lower() in BUILTIN:
        name = spec.lower()
        text = resources.files("corpora").joinpath(f"data/classes/{name}.txt").read_text("utf-8")
        keys, names = _parse(text, f"built-in class set {name!r}")
        return ClassSet(name, keys, names)
    path = Path(spec).expanduser()
    if path.is_file():
        keys, names = _parse(path.read_text("utf-8"), str(path))
        return ClassSet(path.stem, keys, names)
    if "," in spec:
        keys, names = _parse("\n".join(spec.split(",")), "--classes list")
        return ClassSet("custom", keys, names)
    raise ValueError(
        f"unknown class set {spec!r}: use one of {', '.join(BUILTIN)}, a class file "
        "(one name a line), or a comma-separated list such as 'cat,dog' (one class: 'cat,')"
    )
