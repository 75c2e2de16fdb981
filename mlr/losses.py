"""Losses on the two-way logits ``[B, 2, C]`` (index 0 negative, 1 positive).

The probability of class c is ``p = softmax([l₋, l₊])[1] = σ(l₊ − l₋)``. Entries labelled −1
(unknown) are removed entirely — they are never treated as negatives.

- ``asl`` (default, docs/METHODS.md §2.1.6): asymmetric loss with γ+ = 1, γ− = 2, probability margin
  m = 0.05 (``q = min(1, 1 − p + m)``), ε = 1e-6; the focusing weights ``(1−p)^γ+`` and
  ``(1−q)^γ−`` are detached; **sum** over known entries.
- ``bce``: binary cross-entropy on p, summed over known entries (ASL with γ = 0 and no margin).
- ``partial-bce``: BCE normalised per image by its number of known labels (Durand et al. 2019's
  partial-BCE with ``g(p_y) = 1/p_y``), summed over images.

The trainer multiplies the result by ``--loss-w``.
"""

from __future__ import annotations

import torch

from mlr.config import LOSSES


def positive_probability(logits: torch.Tensor) -> torch.Tensor:
    """``σ(l₊ − l₋)`` from ``[B, 2, C]`` logits."""
    return torch.sigmoid(logit_difference(logits))


def logit_difference(logits: torch.Tensor) -> torch.Tensor:
    """``l₊ − l₋`` from ``[B, 2, C]`` logits: the score every metric ranks on. It is monotone in
    ``σ(l₊ − l₋)`` but never saturates (fp32 σ is exactly 1.0 once ``l₊ − l₋ ≥ 16.6``, easy with
    CLIP's logit scale of 100, and tied scores lower AP); ``≥ 0`` is ``σ ≥ 0.5``."""
    return logits[:, 1] - logits[:, 0]


def asymmetric_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_pos: float = 1.0,
    gamma_neg: float = 2.0,
    margin: float = 0.05,
    eps: float = 1e-6,
) -> torch.Tensor:
    """ASL summed over known entries (``targets`` ∈ {1, 0, −1})."""
    p = positive_probability(logits.float())
    known = targets >= 0
    p = p[known]
    y = targets[known].to(p.dtype)
    q = (1.0 - p + margin).clamp(max=1.0) if margin > 0 else 1.0 - p
    w_pos = torch.pow(1.0 - p, gamma_pos).detach()
    w_neg = torch.pow(1.0 - q, gamma_neg).detach()
    loss = y * w_pos * torch.log(p.clamp(min=eps)) + (1.0 - y) * w_neg * torch.log(q.clamp(min=eps))
    return -loss.sum()


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """BCE on ``σ(l₊ − l₋)`` summed over known entries."""
    return asymmetric_loss(logits, targets, gamma_pos=0.0, gamma_neg=0.0, margin=0.0, eps=eps)


def partial_bce_loss(
    logits: torch.Tensor, targets: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """BCE averaged over each image's known labels, summed over images (no-label images add 0)."""
    p = positive_probability(logits.float())
    known = (targets >= 0).to(p.dtype)
    y = targets.clamp(min=0).to(p.dtype)
    per = -(y * torch.log(p.clamp(min=eps)) + (1 - y) * torch.log((1 - p).clamp(min=eps)))
    n_known = known.sum(dim=1)
    per_image = (per * known).sum(dim=1) / n_known.clamp(min=1)
    return per_image.sum()


def get_loss(name: str):
    """The loss function called ``name`` (one of :data:`LOSSES`)."""
    table = {"asl": asymmetric_loss, "bce": bce_loss, "partial-bce": partial_bce_loss}
    if name not in table:
        raise ValueError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}")
    return table[name]
