"""A faster, equivalent forward of SAM's mask decoder, for many clicks on one image.

``segment_anything``'s ``MaskDecoder`` recomputes everything on every click,
though part of it depends on the image alone, and upsamples with two
``ConvTranspose2d`` that PyTorch's CPU kernels run slowly. Here:

- the image side of a click (image tokens + the no-mask dense embedding, the
  positional encoding, and the first block's projections of the image: the
  keys and values of its token->image attention and the queries of its
  image->token attention) is computed once per image (:class:`ImageSide`,
  kept on the embedding) and reused by every click without a mask prompt;
- a stride-2, 2x2 ``ConvTranspose2d`` is a matrix product per pixel, so both
  upsampling steps run as matrix products on channel-last tokens (no
  transposes or copies in between), the mask pixels put in raster order only
  at the end; ``LayerNorm2d`` is the same normalisation over channels.

Same parameters and modules (checkpoints unchanged), same function up to float
rounding (``tests/segmenters/test_fast_decoder.py`` compares the logits and
masks with ``MaskDecoder`` itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ImageSide:
    """The prompt-independent part of one decode. keys / key_pe: float [1,HW,C]
    image tokens (+ dense prompt embedding) and their positional encoding;
    t2i_k, t2i_v, i2t_q: the first block's projections of them, heads
    separated [1,heads,HW,c]; grid: (h, w) of the image embedding."""

    keys: torch.Tensor
    key_pe: torch.Tensor
    t2i_k: torch.Tensor
    t2i_v: torch.Tensor
    i2t_q: torch.Tensor
    grid: tuple[int, int]


def image_side(sam, features: torch.Tensor, dense: torch.Tensor) -> ImageSide:
    """features: float [1,C,h,w] (``SamEmbedding.features``); dense: the prompt
    encoder's dense embedding [1,C,h,w] (the no-mask embedding for clicks and boxes)."""
    first = sam.mask_decoder.transformer.layers[0]
    _, c, h, w = features.shape
    keys = (features + dense).flatten(2).permute(0, 2, 1)
    key_pe = sam.prompt_encoder.get_dense_pe().flatten(2).permute(0, 2, 1)
    k = keys + key_pe
    t2i, i2t = first.cross_attn_token_to_image, first.cross_attn_image_to_token
    return ImageSide(keys, key_pe, t2i._separate_heads(t2i.k_proj(k), t2i.num_heads),
                     t2i._separate_heads(t2i.v_proj(keys), t2i.num_heads),
                     i2t._separate_heads(i2t.q_proj(k), i2t.num_heads), (h, w))


def _attend(attn, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``segment_anything``'s Attention after its input projections (heads separated)."""
    scores = torch.softmax(q @ k.permute(0, 1, 3, 2) / math.sqrt(q.shape[-1]), dim=-1)
    return attn.out_proj(attn._recombine_heads(scores @ v))


def _first_block(block, queries: torch.Tensor, query_pe: torch.Tensor, side: ImageSide):
    """``TwoWayAttentionBlock.forward`` with the image's projections precomputed."""
    if block.skip_first_layer_pe:
        queries = block.self_attn(q=queries, k=queries, v=queries)
    else:
        q = queries + query_pe
        queries = queries + block.self_attn(q=q, k=q, v=queries)
    queries = block.norm1(queries)
    t2i = block.cross_attn_token_to_image
    q = t2i._separate_heads(t2i.q_proj(queries + query_pe), t2i.num_heads)
    queries = block.norm2(queries + _attend(t2i, q, side.t2i_k, side.t2i_v))
    queries = block.norm3(queries + block.mlp(queries))
    i2t = block.cross_attn_image_to_token
    k = i2t._separate_heads(i2t.k_proj(queries + query_pe), i2t.num_heads)
    v = i2t._separate_heads(i2t.v_proj(queries), i2t.num_heads)
    keys = block.norm4(side.keys + _attend(i2t, side.i2t_q, k, v))
    return queries, keys


def _upsample(conv, x: torch.Tensor) -> torch.Tensor:
    """A 2x2, stride-2 ConvTranspose2d on channel-last x [..., C_in] -> [..., 4, C_out]
    (the 4 output pixels of each input pixel, row-major, then channels)."""
    c_in, c_out = conv.weight.shape[:2]
    weight = conv.weight.permute(0, 2, 3, 1).reshape(c_in, 4 * c_out)
    return (x @ weight).unflatten(-1, (4, c_out)) + conv.bias


def decode(sam, side: ImageSide, sparse: torch.Tensor, multimask: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``MaskDecoder.forward`` for one image, returning only the mask SAM's
    predicted IoU prefers: sparse prompt embeddings [1,N,C] -> (its low-res
    logits [1,1,4h,4w], the predicted IoUs of the candidates [1,K], the
    chosen candidate's index). ``multimask``: the three candidates (else the
    single-mask output), as ``MaskDecoder.forward`` chooses them."""
    dec = sam.mask_decoder
    tr = dec.transformer
    tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)[None]
    tokens = torch.cat((tokens, sparse), dim=1)
    queries, keys = _first_block(tr.layers[0], tokens, tokens, side)
    for block in tr.layers[1:]:
        queries, keys = block(queries=queries, keys=keys, query_pe=tokens, key_pe=side.key_pe)
    attn = tr.final_attn_token_to_image(q=queries + tokens, k=keys + side.key_pe, v=keys)
    queries = tr.norm_final_attn(queries + attn)
    first = 1 if multimask else 0
    ious = dec.iou_prediction_head(queries[:, 0, :])[:, first: None if multimask else 1]
    best = first + int(torch.argmax(ious[0]))  # the IoU head needs no mask: upscale only the chosen one

    up1, norm, act1, up2, act2 = dec.output_upscaling
    x = _upsample(up1, keys)  # [1, HW, 4, C/4]
    x = act1(F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps))
    x = act2(_upsample(up2, x))  # [1, HW, 4, 4, C/8]
    hyper = dec.output_hypernetworks_mlps[best](queries[:, 1 + best, :])  # [1, C/8]
    mask = x.flatten(1, 3) @ hyper[:, :, None]  # [1, HW*16, 1]
    h, w = side.grid
    # (i, j, di1, dj1, di2, dj2) -> row 4i + 2di1 + di2, column 4j + 2dj1 + dj2
    mask = mask.view(1, h, w, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4, 6).reshape(1, 1, 4 * h, 4 * w)
    return mask, ious, best - first


__all__ = ["ImageSide", "decode", "image_side"]
