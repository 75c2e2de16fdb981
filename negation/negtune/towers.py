"""What ``--train`` trains, and the re-initialisation of random weights.

- ``text`` (default): the whole text tower — token and positional embeddings, every transformer
  block, the final layer norm, the text projection — and the temperature; the image tower is
  frozen (its embeddings are computed once, :mod:`negation.negtune.embeddings`);
- ``text-front:K``: the token and positional embeddings and the first ``K`` text blocks, and the
  temperature; the later blocks, the final layer norm, the projection and the image tower are
  frozen (NegationCLIP's and NegBench's ablations tune the text tower or its front). ``K`` is 1 to
  the number of text blocks;
- ``all``: every parameter of both towers.

``--pretrained none``: open_clip's random init of a ResNet leaves its convolutions at PyTorch's
default (a variance that shrinks layer by layer, so its image features barely depend on the
image); :func:`reinit_random` draws them again variance-preserving (Kaiming normal, fan-in, ReLU),
seeded, so that the model can learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

TRAIN_MODES = ("text", "text-front:K", "all")


@dataclass(frozen=True)
class TrainMode:
    name: str  # text | text-front | all
    front: int | None = None  # text-front's K

    def __str__(self) -> str:
        return f"text-front:{self.front}" if self.name == "text-front" else self.name

    @property
    def image_tower(self) -> bool:
        return self.name == "all"


def parse_train(spec: str) -> TrainMode:
    """``text`` | ``text-front:K`` | ``all``; anything else is a ValueError naming the forms."""
    name, _, k = spec.strip().partition(":")
    if name in ("text", "all") and not k:
        return TrainMode(name)
    if name == "text-front" and k.isdigit() and int(k) >= 1:
        return TrainMode(name, int(k))
    raise ValueError(f"--train {spec!r}: use {' | '.join(TRAIN_MODES)} (K ≥ 1 text blocks)")


def text_blocks(model) -> int:
    return len(model.transformer.resblocks)


def select_trainable(model, mode: TrainMode) -> list[torch.nn.Parameter]:
    """Set ``requires_grad`` on what ``mode`` trains (and only that); returns those parameters.
    ``text-front:K`` with K above the text tower's blocks is a ValueError."""
    model.requires_grad_(False)
    if mode.name == "all":
        model.requires_grad_(True)
    else:
        n = text_blocks(model)
        if mode.front is not None and mode.front > n:
            raise ValueError(
                f"--train {mode}: the model's text tower has {n} block(s); K must be 1 to {n}"
            )
        parts = [model.token_embedding]
        blocks = model.transformer.resblocks
        parts += list(blocks[: mode.front] if mode.front is not None else blocks)
        if mode.front is None:
            parts.append(model.ln_final)
        for part in parts:
            part.requires_grad_(True)
        model.positional_embedding.requires_grad_(True)
        if mode.front is None and model.text_projection is not None:
            model.text_projection.requires_grad_(True)
        model.logit_scale.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def set_train_mode(model, mode: TrainMode) -> None:
    """Training behaviour (batch-norm statistics, dropout) only where weights are trained."""
    model.eval()
    if mode.image_tower:
        model.train()
    else:
        model.transformer.train()


def reinit_random(model, seed: int) -> str:
    """Draw the image tower's convolutions again, Kaiming normal (fan-in, ReLU), seeded; returns
    what was done, in words (for ``run.json``)."""
    convs = [m for m in model.visual.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for conv in convs:
            torch.nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    return (
        f"open_clip's random init (seed {seed}); the image tower's {len(convs)} convolutions drawn "
        "again Kaiming-normal (fan-in, ReLU), seeded"
    )
