"""Text encoding: de-duplication and the on-disk cache (:class:`TextEncoder`, shared by both
backends), and the CLIP text tower's EOT-truncated encoder and token-embedding path.

:func:`encode_tokens` truncates each batch to its longest EOT position. This is exact: the text
transformer is causal, so tokens after EOT never reach the EOT feature. Prompts are sorted by
length before batching, so most batches are short.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from backbone.config import BackboneConfig, Progress
from backbone.devices import default_batch_size
from backbone.textcache import TextCache


class TextEncoder:
    """Shared ``encode_text`` with de-duplication and the on-disk cache."""

    config: BackboneConfig
    device: torch.device
    embed_dim: int

    def cache_namespace(self) -> str:
        raise NotImplementedError

    def _encode_uncached(
        self, texts: list[str], batch_size: int, *, truncate: bool, progress: Progress | None
    ) -> np.ndarray:
        raise NotImplementedError

    def encode_text(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        *,
        normalize: bool = True,
        cache: TextCache | str | Path | None = None,
        truncate: bool = True,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """Embed ``texts`` → float32 CPU tensor ``[N, D]`` (no gradients).

        ``cache``: a :class:`~.textcache.TextCache` or a cache root directory; cached texts are
        not re-encoded and new ones are added. ``truncate=False`` runs the full context length
        (the naive baseline, for benchmarks). ``progress(n)`` is called after each encoded batch.
        """
        texts = [str(t) for t in texts]
        if cache is not None and not isinstance(cache, TextCache):
            cache = TextCache(cache, self.cache_namespace())
        bs = batch_size or default_batch_size(self.device)
        if bs <= 0:
            raise ValueError(f"batch_size must be positive, not {bs}")
        out: np.ndarray | None = None
        missing = list(range(len(texts)))
        if cache is not None:
            out, missing = cache.get(texts)
        if missing:
            unique = list(dict.fromkeys(texts[i] for i in missing))
            emb = self._encode_uncached(unique, bs, truncate=truncate, progress=progress)
            if cache is not None:
                cache.put(unique, emb)
            row = {t: i for i, t in enumerate(unique)}
            if out is None:
                out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
            for i in missing:
                out[i] = emb[row[texts[i]]]
        if out is None:  # no texts at all
            return torch.zeros((0, self.embed_dim), dtype=torch.float32)
        result = torch.from_numpy(out)
        return F.normalize(result, dim=-1) if normalize else result


def eot_index(tokens: torch.Tensor) -> torch.Tensor:
    """Position of the EOT token in each row: the argmax of the ids (CLIP BPE)."""
    return tokens.argmax(dim=-1)


# Hand-written, not open_clip's encode_text: truncating at the EOT is exact and much faster.
def encode_token_embeddings(
    model: torch.nn.Module, embeddings: torch.Tensor, eot_index: torch.Tensor
) -> torch.Tensor:
    """Text features ``[N, D]`` of the open_clip CLIP ``model`` from word embeddings (CoOp path;
    NOT normalised).

    Adds the positional embedding, truncates to ``max(eot_index) + 1`` tokens (exact under the
    causal mask), runs the transformer with the causal ``attn_mask``, ``ln_final``, pools at
    ``eot_index`` and applies ``text_projection``. Gradients flow into ``embeddings``; the
    weights are frozen. Runs without ``no_grad`` — wrap it yourself when you need none.
    """
    m: Any = model
    cast = m.transformer.get_cast_dtype()
    eot_index = eot_index.to(embeddings.device)
    length = int(eot_index.max()) + 1
    x = embeddings[:, :length].to(cast) + m.positional_embedding[:length].to(cast)
    mask = m.attn_mask[:length, :length] if m.attn_mask is not None else None
    x = m.transformer(x, attn_mask=mask)
    x = m.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), eot_index]
    if isinstance(m.text_projection, torch.nn.Linear):
        return m.text_projection(x)
    return x @ m.text_projection


def encode_tokens(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    dims: int,
    device: torch.device,
    batch_size: int,
    *,
    truncate: bool,
    progress: Progress | None,
) -> np.ndarray:
    """Unnormalised float32 features ``[N, dims]`` of CLIP-BPE ``tokens``, in batches of
    prompts of similar length (EOT-truncated unless ``truncate=False``: open_clip's own
    ``encode_text`` over the full context, the naive baseline)."""
    m: Any = model
    eot = eot_index(tokens)
    order = torch.argsort(eot, stable=True)  # similar lengths together: short batches
    out = torch.empty((len(tokens), dims), dtype=torch.float32)
    with torch.no_grad():
        for start in range(0, len(tokens), batch_size):
            idx = order[start : start + batch_size]
            tok = tokens[idx].to(device)
            if truncate:
                feats = encode_token_embeddings(m, m.token_embedding(tok), eot[idx])
            else:
                feats = m.encode_text(tok)
            out[idx] = feats.float().cpu()
            if progress is not None:
                progress(len(idx))
    return out.numpy()
