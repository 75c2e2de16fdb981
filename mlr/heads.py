"""The four heads on frozen dense CLIP features (docs/METHODS.md §2.1–2.5).

Every head maps dense region features ``[B, R, D]`` (region 0 = the global mean token, unnormalised)
to two-way logits ``[B, 2, C]`` (index 0 negative, 1 positive); ``p = σ(l₊ − l₋)``.

- ``baseline`` (§2.4): one ``Linear(D, 2C)`` on every region, each output channel pooled with its
  own softmax over regions, × 5. Params ``2C·D + 2C`` (82,080 for COCO at D = 512). No text encoder.
- ``dualcoop`` (§2.1): learned positive and negative prompts ``[SOS] X×16 <class>. [EOS]``
  through the frozen text encoder; cosine maps ×20, regions weighted by ``softmax_r`` of the
  positive map, × 5. Params ``2·C·16·W`` (class-specific; W = text width; 1,310,720 for COCO
  at W = 512).
- ``positivecoop`` (§2.2): learned positive prompt; the negative classifier is a learned embedding
  ``r₋ ∈ R^{C×D}``; with ``residual=True`` (the anchors' code) a learned ``C×D`` residual is
  added to the positive text feature. Params ``C·16·W + 2·C·D`` (737,280) or ``C·16·W + C·D``
  (696,320).
- ``negativecoop`` (§2.3): the mirror — learned negative prompt (+ residual), learned positive
  embedding; the region attention comes from the learned positive embedding.

For the three CoOp heads the attention always comes from the positive classifier (index 1), which
is the prompt for DualCoOp/PositiveCoOp and the learned embedding for NegativeCoOp, as in the
anchors.
Only head parameters are trainable; the backbone is referenced, never registered as a submodule.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from corpora.schema import C
from mlr.config import METHODS

COS_SCALE = 20.0  # softmax temperature 1/20 on cosine, and the per-region logit scale
POOL_SCALE = 5.0  # the factor on the pooled logit (5 × 20 = 100 effective)


class TextEncoder(Protocol):
    """What the prompt learner needs from :class:`backbone.model.Backbone`."""

    embed_dim: int
    text_width: int

    def tokenize(self, texts: list[str]) -> torch.Tensor: ...
    def eot_index(self, tokens: torch.Tensor) -> torch.Tensor: ...
    def token_embedding(self, tokens: torch.Tensor) -> torch.Tensor: ...
    def encode_token_embeddings(self, emb: torch.Tensor, eot: torch.Tensor) -> torch.Tensor: ...


class PromptLearner(nn.Module):
    """CoOp context vectors spliced into the frozen token embeddings of ``"X … X <name>."``.

    ``ctx`` is ``[C, L, W]`` (class-specific) or ``[L, W]`` (generic), N(0, 0.02²). The SOS
    embedding and the class-name/period/EOS/padding embeddings are frozen buffers."""

    prefix: torch.Tensor
    suffix: torch.Tensor
    eot: torch.Tensor

    def __init__(
        self,
        encoder: TextEncoder,
        class_names: tuple[str, ...] | list[str],
        n_ctx: int = 16,
        *,
        class_specific: bool = True,
        init_std: float = 0.02,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_ctx < 1:
            raise ValueError(f"--n-ctx must be >= 1, got {n_ctx}")
        self.n_ctx = n_ctx
        self._encoder: list[TextEncoder] = [
            encoder
        ]  # a list so nn.Module does not register or save it
        placeholder = " ".join(["X"] * n_ctx)
        tokens = encoder.tokenize([f"{placeholder} {name}." for name in class_names])
        eot = encoder.eot_index(tokens)
        period = encoder.tokenize(["."])[0, 1]
        cut = tokens[torch.arange(len(tokens)), eot - 1] != period  # the tokenizer cut it short
        if cut.any():
            raise ValueError(
                f"--n-ctx {n_ctx}: the prompt for {class_names[int(cut.nonzero()[0])]!r} does "
                f"not fit the text encoder's {tokens.shape[1]} tokens; use fewer context tokens"
            )
        with torch.no_grad():
            emb = encoder.token_embedding(tokens).float().cpu()
        shape = (
            (len(class_names), n_ctx, emb.shape[-1]) if class_specific else (n_ctx, emb.shape[-1])
        )
        self.ctx = nn.Parameter(torch.randn(shape, generator=generator) * init_std)
        self.register_buffer("prefix", emb[:, :1].clone(), persistent=False)
        self.register_buffer("suffix", emb[:, 1 + n_ctx :].clone(), persistent=False)
        self.register_buffer("eot", eot.cpu().long(), persistent=False)

    def forward(self) -> torch.Tensor:
        """Text features ``[C, D]`` (not normalised); gradients flow into ``ctx`` only."""
        ctx = self.ctx if self.ctx.dim() == 3 else self.ctx.expand(self.prefix.shape[0], -1, -1)
        emb = torch.cat([self.prefix, ctx.to(self.prefix.dtype), self.suffix], dim=1)
        return self._encoder[0].encode_token_embeddings(emb, self.eot)


def aggregate(features: torch.Tensor, classifiers: torch.Tensor) -> torch.Tensor:
    """§2.1.4: ``features [B, R, D]``, ``classifiers [2C, D]`` stacked [negatives; positives] →
    logits ``[B, 2, C]``, regions weighted by ``softmax_r(20·cos)`` of the positive half."""
    f = F.normalize(features.float(), dim=-1)
    t = F.normalize(classifiers.float(), dim=-1)
    s = COS_SCALE * f @ t.t()  # [B, R, 2C]
    n = t.shape[0] // 2
    w = torch.softmax(s[..., n:], dim=1)  # [B, R, C], from the positive classifiers
    logits = POOL_SCALE * (w.unsqueeze(2) * s.view(*s.shape[:2], 2, n)).sum(dim=1)
    return logits  # [B, 2, C]


class Head(nn.Module):
    """Common interface: ``classifiers()`` once per step, ``logits(features, classifiers)``."""

    method: str = ""

    def classifiers(self) -> torch.Tensor | None:
        return None

    def logits(self, features: torch.Tensor, classifiers: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits(features, self.classifiers())

    def param_groups(self) -> list[dict]:
        """Optimizer groups with the per-method LR multipliers of docs/METHODS.md §1.4."""
        raise NotImplementedError

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class BaselineHead(Head):
    method = "baseline"

    def __init__(self, n_classes: int, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.linear = nn.Linear(dim, 2 * n_classes)
        if generator is not None:  # nn.Linear's default init, drawn from our generator
            bound = 1.0 / dim**0.5
            with torch.no_grad():
                self.linear.weight.uniform_(-bound, bound, generator=generator)
                self.linear.bias.uniform_(-bound, bound, generator=generator)

    def logits(self, features: torch.Tensor, classifiers: torch.Tensor | None) -> torch.Tensor:
        z = self.linear(features.to(self.linear.weight.dtype))  # [B, R, 2C]
        a = torch.softmax(z, dim=1)
        out = POOL_SCALE * (a * z).sum(dim=1)  # [B, 2C]
        return out.view(-1, 2, self.n_classes)

    def param_groups(self) -> list[dict]:
        return [{"name": "linear", "params": list(self.linear.parameters()), "lr_mult": 0.01}]


class DualCoOpHead(Head):
    method = "dualcoop"

    def __init__(self, encoder, class_names, n_ctx=16, *, class_specific=True, generator=None):
        super().__init__()
        self.neg = PromptLearner(
            encoder, class_names, n_ctx, class_specific=class_specific, generator=generator
        )
        self.pos = PromptLearner(
            encoder, class_names, n_ctx, class_specific=class_specific, generator=generator
        )

    def classifiers(self) -> torch.Tensor:
        return torch.cat([self.neg(), self.pos()], dim=0)

    def logits(self, features, classifiers):
        return aggregate(features, classifiers)

    def param_groups(self) -> list[dict]:
        return [{"name": "prompts", "params": [self.neg.ctx, self.pos.ctx], "lr_mult": 1.0}]


class _HalfPromptHead(Head):
    """One prompt-learned side + one learned feature-space embedding (+ optional residual)."""

    prompt_side = "pos"

    def __init__(
        self, encoder, class_names, n_ctx=16, *, class_specific=True, residual=True, generator=None
    ):
        super().__init__()
        n, d = len(class_names), encoder.embed_dim
        self.prompt = PromptLearner(
            encoder, class_names, n_ctx, class_specific=class_specific, generator=generator
        )
        self.embedding = nn.Parameter(torch.randn(n, d, generator=generator))
        self.residual = nn.Parameter(torch.randn(n, d, generator=generator)) if residual else None

    def classifiers(self) -> torch.Tensor:
        text = self.prompt()
        if self.residual is not None:
            text = text + self.residual.to(text.dtype)
        emb = self.embedding.to(text.dtype)
        pair = [emb, text] if self.prompt_side == "pos" else [text, emb]
        return torch.cat(pair, dim=0)  # [negatives; positives]

    def logits(self, features, classifiers):
        return aggregate(features, classifiers)

    def param_groups(self) -> list[dict]:
        emb = [self.embedding] + ([self.residual] if self.residual is not None else [])
        return [
            {"name": "prompts", "params": [self.prompt.ctx], "lr_mult": 0.01},
            {"name": "embeddings", "params": emb, "lr_mult": 1.0},
        ]


class PositiveCoOpHead(_HalfPromptHead):
    method = "positivecoop"
    prompt_side = "pos"


class NegativeCoOpHead(_HalfPromptHead):
    method = "negativecoop"
    prompt_side = "neg"


def build_head(
    method: str,
    encoder: TextEncoder,
    class_names: tuple[str, ...] | list[str],
    *,
    n_ctx: int = 16,
    class_specific: bool = True,
    residual: bool = True,
    seed: int = 0,
) -> Head:
    """Build ``method``'s head with seeded initialisation (on CPU; move it with ``.to``)."""
    gen = torch.Generator().manual_seed(seed)
    if method == "baseline":
        return BaselineHead(len(class_names), encoder.embed_dim, generator=gen)
    if method == "dualcoop":
        return DualCoOpHead(
            encoder, class_names, n_ctx, class_specific=class_specific, generator=gen
        )
    if method == "positivecoop":
        return PositiveCoOpHead(
            encoder,
            class_names,
            n_ctx,
            class_specific=class_specific,
            residual=residual,
            generator=gen,
        )
    if method == "negativecoop":
        return NegativeCoOpHead(
            encoder,
            class_names,
            n_ctx,
            class_specific=class_specific,
            residual=residual,
            generator=gen,
        )
    raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")


def param_table(
    class_names, backbone, *, n_ctx: int = 16, class_specific: bool = True
) -> list[dict]:
    """Trainable parameters per method (the paper's #Params column), plus PositiveCoOp without the
    residual."""
    rows = []
    for method, residual in [(m, True) for m in METHODS] + [("positivecoop", False)]:
        head = build_head(
            method,
            backbone,
            class_names,
            n_ctx=n_ctx,
            class_specific=class_specific,
            residual=residual,
        )
        name = method if residual or method != "positivecoop" else "positivecoop --no-residual"
        rows.append({C.method: name, C.n_params: head.n_params()})
    return rows
