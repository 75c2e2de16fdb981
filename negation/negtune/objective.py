"""The training objective: CLIP's contrastive loss over the batch plus a hard-negative term.

With L2-normalised image features ``x_i``, text features ``t``, and the model's learned
temperature ``s = exp(logit_scale)``:

- **contrastive** (CLIP's symmetric InfoNCE): image ``i`` against every true caption of the batch
  (its own the target) and each caption against every image, averaged over both directions. A
  caption that is not known to be false of another image in the batch (``truth``: "a photo of a
  circle" for two images with a circle) is not counted as that image's negative — it is left out
  of the softmax rather than pushed away;
- **hard negatives** (NegBench's MCQ loss; CoN-CLIP adds negated captions to the contrastive
  softmax instead): cross-entropy of image ``i`` over its true caption and its three false
  variants of the same type (negating a present class or affirming an absent one), the true one
  the target.

``loss = clip_weight · contrastive + hard_negative_weight · hard_negatives``; images without a
caption (or without false variants) are left out of the term they cannot enter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(
    image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor, truth: torch.Tensor
) -> torch.Tensor:
    """CLIP's symmetric loss over ``B`` pairs; ``truth[i, j]``: caption ``j`` may be true of image
    ``i`` (those off the diagonal are left out of both softmaxes)."""
    logits = scale * image @ text.T
    b = logits.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=logits.device)
    skip = truth & ~eye
    target = torch.arange(b, device=logits.device)
    per_image = F.cross_entropy(logits.masked_fill(skip, float("-inf")), target)
    per_text = F.cross_entropy(logits.T.masked_fill(skip.T, float("-inf")), target)
    return (per_image + per_text) / 2


def hard_negative_loss(
    image: torch.Tensor, options: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of each image over its options ``[B, K, D]``, the true one at index 0."""
    logits = scale * torch.einsum("bd,bkd->bk", image, options)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def objective(
    image: torch.Tensor,
    text: torch.Tensor,
    true: torch.Tensor,
    options: torch.Tensor,
    truth: torch.Tensor,
    scale: torch.Tensor,
    *,
    clip_weight: float,
    hard_negative_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted loss and its parts, from normalised ``image`` ``[B, D]`` and ``text``
    ``[T, D]`` features, the text row of each image's true caption (``true`` ``[B]``, −1: none),
    of its options (``options`` ``[B, 4]``, −1 rows: none) and the ``truth`` matrix."""
    zero = image.new_zeros(())
    has = true >= 0
    parts = {"contrastive": zero, "hard_negative": zero}
    if clip_weight and int(has.sum()) > 1:
        keep = has.nonzero().squeeze(1)
        parts["contrastive"] = contrastive_loss(
            image[keep], text[true[keep]], scale, truth[keep][:, keep]
        )
    with_options = (options >= 0).all(dim=1)
    if hard_negative_weight and bool(with_options.any()):
        keep = with_options.nonzero().squeeze(1)
        parts["hard_negative"] = hard_negative_loss(image[keep], text[options[keep]], scale)
    loss = clip_weight * parts["contrastive"] + hard_negative_weight * parts["hard_negative"]
    return loss, {k: float(v.detach()) for k, v in parts.items()}
