"""A Hugging Face CLIP folder's tokenizer files against open_clip's CLIP tokenizer.

notclip tokenizes every prompt with open_clip's CLIP BPE tokenizer. A folder's own tokenizer
(``vocab.json`` + ``merges.txt``, or ``tokenizer.json``), when it has one, must hold the same
vocabulary (the special tokens under OpenAI's names) and the same merges in the same order; then
both give one id sequence for the same text, up to the text cleaning: open_clip's repairs broken
Unicode (ftfy) and unescapes HTML entities (``&amp;`` → ``&``), transformers' only normalises
Unicode (NFC), collapses whitespace and lowercases. Padding differs too (transformers pads with
the end-of-text token, open_clip with 0) and changes no feature: the text tower reads up to the
first end-of-text token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpora.runio import read_object


def clip_bpe() -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """open_clip's CLIP BPE vocabulary (special tokens under OpenAI's names) and merges."""
    from open_clip.tokenizer import SimpleTokenizer

    bpe = SimpleTokenizer()
    names = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {names.get(token, token): i for token, i in bpe.encoder.items()}
    merges = [pair for pair, _ in sorted(bpe.bpe_ranks.items(), key=lambda kv: kv[1])]
    return vocab, merges


def _tokenizer_files(folder: Path) -> tuple[Path, Any, Path, list[Any]] | None:
    """``(vocab file, vocab, merges file, merges)`` of the folder's tokenizer, or None when it
    has none."""
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    if vocab_file.is_file() and merges_file.is_file():
        lines = merges_file.read_text("utf-8").splitlines()
        merges = [line for line in lines if line.strip() and not line.startswith("#version")]
        return vocab_file, read_object(vocab_file), merges_file, merges
    file = folder / "tokenizer.json"
    if file.is_file():
        model = read_object(file).get("model") or {}
        return file, model.get("vocab"), file, model.get("merges") or []
    return None


def check_tokenizer(folder: Path) -> None:
    """The folder's tokenizer files, when it has any, must hold CLIP's BPE vocabulary and merges
    (the ids open_clip's tokenizer gives); otherwise one clear error."""
    found = _tokenizer_files(folder)
    if found is None:
        return
    file, vocab, merges_file, merges = found
    clip_vocab, clip_merges = clip_bpe()
    vocab = vocab if isinstance(vocab, dict) else {}
    differ = [t for t, i in clip_vocab.items() if vocab.get(t) != i]
    differ += sorted(vocab.keys() - clip_vocab.keys())
    if not differ:
        pairs = [tuple(m.split()) if isinstance(m, str) else tuple(m) for m in merges]
        compared = enumerate(zip(pairs, clip_merges, strict=False), start=1)
        differ = [f"merge {n}" for n, (a, b) in compared if a != b]
        if not differ and len(pairs) != len(clip_merges):
            differ = [f"{len(pairs)} merges, not {len(clip_merges)}"]
        file = merges_file
    if differ:
        raise ValueError(
            f"{file}: the folder's tokenizer is not CLIP's BPE ({len(differ)} difference(s), "
            f"e.g. {differ[0]!r}); notclip tokenizes every prompt with open_clip's CLIP "
            "tokenizer, so these weights would be given other token ids"
        )
