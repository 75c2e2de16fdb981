"""Dense visual features (:func:`dense_features`), ``[B, 1 + h*w, D]``, index 0 global:

- ResNet (``ModifiedResNet``), docs/METHODS.md §2.1.3: layer-4 map ``X`` (``C×h×w``), its spatial
  mean prepended as token 0, plus the attention pool's positional embedding (the pretrained grid
  resized bicubically to ``h×w``, the mean slot kept; cached per size), then per token
  ``f_r = c_proj(v_proj(x_r + P_r))`` — the attention pool's value and output projections with no
  query–key mixing.
- ViT (``VisionTransformer``), the equivalent value path of the last block: run the
  patch embedding (positional embedding resized bicubically to the input grid), ``ln_pre`` and
  every block but the last; then per token ``f_r = proj(ln_post(ls_1(out_proj(W_v ln_1(x_r) +
  b_v))))`` — the last block's value and output projections, with its query–key mixing, residual
  and MLP dropped. Token 0 is the class token through that same path. This is the literal
  analogue of the ResNet attention pool (which has no residual or MLP); MaskCLIP's own ViT variant
  differs: it keeps the last block's residual and MLP on the value path.

Also the eval image transform (:func:`image_transform`: the whole image squashed to a square, or
the model's own open_clip eval transform, shortest side + centre crop), the image as the model sees
it (:func:`view_image`) and the features' shape from a model's config alone (:func:`dense_shape`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

PosCache = dict[tuple[int, int], torch.Tensor]


def image_transform(
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    preprocess: str = "squash",
    interpolation: str = "bicubic",
    resize_mode: str = "shortest",
) -> Callable[[Any], torch.Tensor]:
    """Eval transform for PIL images: RGB, then the geometry of ``preprocess``, ToTensor,
    Normalize(mean, std).

    - ``squash``: bicubic Resize((S, S)), the whole image, no crop (the anchors' dense features);
    - ``crop``: the model's own open_clip eval transform (``preprocess_val``:
      ``open_clip.image_transform(S, is_train=False, …)`` with the model's ``interpolation`` and
      ``resize_mode``): for CLIP models the shortest side resized to S, then a centre S×S crop."""
    from torchvision import transforms as T

    if preprocess == "crop":
        import open_clip

        model_eval = open_clip.image_transform(
            size,
            is_train=False,
            mean=mean,
            std=std,
            resize_mode=resize_mode,
            interpolation=interpolation,
        )
        return T.Compose([T.Lambda(_to_rgb), model_eval])
    if preprocess != "squash":
        raise ValueError(f"preprocess must be crop or squash, not {preprocess!r}")
    return T.Compose(
        [
            T.Lambda(_to_rgb),
            T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


def describe_transform(
    size: int, preprocess: str, interpolation: str = "bicubic", resize_mode: str = "shortest"
) -> str:
    """What :func:`image_transform` does to an image's geometry, in words (for ``run.json``)."""
    if preprocess == "squash":
        return f"square bicubic {size}x{size}, no crop"
    if resize_mode == "shortest":
        return f"shortest-side {interpolation} {size} + centre crop {size}"
    if resize_mode == "longest":
        return f"longest-side {interpolation} {size} + centre pad {size}x{size}"
    return f"square {interpolation} {size}x{size}, no crop (the model's own eval transform)"


def view_image(image: Any, transform: Callable[[Any], torch.Tensor]) -> Any:
    """The PIL image the model sees through ``transform`` (an :func:`image_transform` built with
    mean 0 and std 1): resized and cropped as the model's input, before normalisation."""
    from PIL import Image

    pixels = (transform(image) * 255).round().clamp(0, 255).to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).numpy())


def _to_rgb(image: Any) -> Any:
    from corpora.images import to_rgb

    return to_rgb(image)


def dense_shape(model: str, image_size: int | None = None) -> tuple[int, int, int]:
    """``(size, regions, dims)`` of :meth:`Backbone.dense_features` for the open_clip ``model`` at
    ``image_size`` (None: the model's native size), from its config alone: no weights are built
    or fetched (for a cache estimate before any download)."""
    import open_clip

    from backbone.config import unknown_model
    from backbone.modelspec import resolve_model

    name = resolve_model(model).name
    cfg = open_clip.get_model_config(name)
    if cfg is None:
        raise unknown_model(model)
    if "timm_model_name" in cfg.get("vision_cfg", {}):
        raise ValueError(f"dense features need an open_clip ResNet or ViT model, not {model!r}")
    vision = cfg["vision_cfg"]
    native = vision.get("image_size", 224)
    size = int(image_size or (native[0] if isinstance(native, list | tuple) else native))
    if isinstance(vision.get("layers"), list | tuple):  # ModifiedResNet
        side = -(-size // 2) // 2 // 2 // 2 // 2  # stride-2 conv, 2×2 pool, three stride-2 stages
    else:
        patch = vision.get("patch_size", 16)
        side = size // (patch[0] if isinstance(patch, list | tuple) else patch)
    return size, 1 + side * side, int(cfg["embed_dim"])


def _resized_pos(pos: torch.Tensor, h: int, w: int, cache: PosCache) -> torch.Tensor:
    """``pos`` ([1 + g*g, C], slot 0 global) with its grid resized bicubically to ``h×w``
    (kept in ``cache``, by size)."""
    key = (h, w)
    if key not in cache:
        grid = round(math.sqrt(pos.shape[0] - 1))
        if (h, w) == (grid, grid):
            cache[key] = pos
        else:
            spatial = pos[1:].reshape(grid, grid, -1).permute(2, 0, 1).unsqueeze(0).float()
            spatial = F.interpolate(spatial, size=(h, w), mode="bicubic", align_corners=False)
            spatial = spatial.squeeze(0).permute(1, 2, 0).reshape(h * w, -1).to(pos.dtype)
            cache[key] = torch.cat([pos[:1], spatial], dim=0)
    return cache[key]


# Hand-written: open_clip returns no per-region features; this is its exact value path.
def dense_features(visual: Any, x: torch.Tensor, pos_cache: PosCache, model: str) -> torch.Tensor:
    """Dense features ``[B, 1 + h*w, D]`` (float32, unnormalised, no grad) of the open_clip image
    tower ``visual``; index 0 = global. ``x``: normalised ``[B, 3, H, W]`` on the tower's device
    and dtype; ``model`` names the model in the error for an unsupported tower."""
    from open_clip.modified_resnet import ModifiedResNet
    from open_clip.transformer import VisionTransformer

    with torch.no_grad():
        if isinstance(visual, ModifiedResNet):
            return _dense_resnet(visual, x, pos_cache).float()
        if isinstance(visual, VisionTransformer) and visual.attn_pool is None:
            return _dense_vit(visual, x, pos_cache).float()
    raise ValueError(
        f"dense features are implemented for open_clip ModifiedResNet and VisionTransformer "
        f"towers, not {type(visual).__name__} ({model})"
    )


def _dense_resnet(visual: Any, x: torch.Tensor, pos_cache: PosCache) -> torch.Tensor:
    x = visual.stem(x)
    x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))
    _, _, h, w = x.shape
    tokens = x.flatten(2).transpose(1, 2)  # [B, hw, C]
    tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
    pool = visual.attnpool
    tokens = tokens + _resized_pos(pool.positional_embedding, h, w, pos_cache).to(tokens.dtype)
    return pool.c_proj(pool.v_proj(tokens))


def _dense_vit(visual: Any, x: torch.Tensor, pos_cache: PosCache) -> torch.Tensor:
    x = visual.conv1(x)  # [B, W, gh, gw]
    _, width, gh, gw = x.shape
    x = x.flatten(2).transpose(1, 2)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, width)
    x = torch.cat([cls, x], dim=1)
    x = x + _resized_pos(visual.positional_embedding, gh, gw, pos_cache).to(x.dtype)
    x = visual.ln_pre(visual.patch_dropout(x))
    blocks = visual.transformer.resblocks
    batch_first = getattr(visual.transformer, "batch_first", True)
    if not batch_first:
        x = x.transpose(0, 1)
    for block in blocks[:-1]:
        x = block(x)
    if not batch_first:
        x = x.transpose(0, 1)
    last = blocks[-1]
    y = last.ln_1(x)
    w_v = last.attn.in_proj_weight[2 * width :]
    b_v = last.attn.in_proj_bias[2 * width :] if last.attn.in_proj_bias is not None else None
    y = last.ls_1(last.attn.out_proj(F.linear(y, w_v, b_v)))
    y = visual.ln_post(y)
    return y @ visual.proj if visual.proj is not None else y
