"""The faster mask decoder (tam_core.segmenters.sam.decoder) computes what
segment_anything's MaskDecoder computes, up to float rounding: the same
logits and IoU predictions for clicks, boxes and mask prompts, the same masks
out of ``predict`` except where a logit is within rounding of the threshold,
on random-weight SAM and EfficientViT-SAM; the image side is computed once
per embedding and reused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tam_core.segmenters.sam.decoder import decode, image_side

RNG = np.random.default_rng(0)


def segmenters():
    from tam_core.segmenters.sam.segmenter import SamConfig, SamSegmenter, build_sam

    torch.manual_seed(0)
    out = [("sam tiny", SamSegmenter(build_sam(SamConfig.tiny()), device="cpu"))]
    try:
        from tam_core.segmenters.efficientvit.segmenter import EfficientVitSamSegmenter, build_efficientvit_sam

        out.append(("efficientvit_sam l0", EfficientVitSamSegmenter(build_efficientvit_sam("l0"), device="cpu")))
    except ImportError:  # the fast extra is optional
        pass
    return out


def prompts(h, w, low_res):
    pts = RNG.uniform([0, 0], [w, h], (3, 2))
    box = np.array([w * 0.2, h * 0.3, w * 0.7, h * 0.8])
    mask = RNG.normal(0, 4, (1, low_res, low_res)).astype(np.float32)
    yield dict(points=pts[:1], point_labels=np.array([1]))  # ambiguous: multimask
    yield dict(points=pts, point_labels=np.array([1, 0, 1]))
    yield dict(box=box)
    yield dict(points=pts[:2], point_labels=np.array([1, 1]), box=box)
    yield dict(points=pts[:1], point_labels=np.array([1]), mask_input=mask)


def reference(seg, emb, p, multimask):
    """segment_anything's own decoder (every candidate) and post-processing on the same prompt."""
    model, size = seg.model, emb.original_size
    points = boxes = masks = None
    if p.get("points") is not None:
        coords = torch.as_tensor(seg._transform.apply_coords(p["points"], size), dtype=torch.float)[None]
        points = (coords, torch.as_tensor(p["point_labels"], dtype=torch.int)[None])
    if p.get("box") is not None:
        boxes = torch.as_tensor(seg._transform.apply_boxes(p["box"], size), dtype=torch.float)[None]
    if p.get("mask_input") is not None:
        masks = torch.as_tensor(p["mask_input"])[None]
    sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=masks)
    low, iou = model.mask_decoder(image_embeddings=emb.features, image_pe=model.prompt_encoder.get_dense_pe(),
                                  sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                  multimask_output=multimask)
    best = int(torch.argmax(iou[0]))
    up = model.postprocess_masks(low[:, best: best + 1], emb.input_size, emb.original_size)[0, 0]
    return sparse, dense, low, iou, up


@pytest.mark.parametrize("name, seg", segmenters())
def test_the_fast_decoder_equals_segment_anythings(name, seg):
    image = RNG.integers(0, 255, (48, 80, 3), dtype=np.uint8)
    with torch.inference_mode():
        emb = seg.embed(image)
        for p in prompts(48, 80, seg.low_res_size):
            multimask = "mask_input" not in p and "box" not in p and len(p.get("points", ())) == 1
            sparse, dense, low, iou, up = reference(seg, emb, p, multimask)
            fast_low, fast_iou, best = decode(seg.model, image_side(seg.model, emb.features, dense), sparse, multimask)
            assert best == int(torch.argmax(iou[0])) and torch.allclose(fast_iou, iou, atol=1e-5), (name, p.keys())
            assert torch.allclose(fast_low, low[:, best: best + 1], atol=1e-4, rtol=1e-4), (name, p.keys())
            out = seg.predict(emb, **p)
            differs = out.mask != (up > seg.model.mask_threshold).numpy()
            assert not differs.any() or np.abs(up.numpy()[differs]).max() < 1e-3, (name, p.keys(), differs.sum())
            assert out.iou == pytest.approx(float(iou[0].max()), abs=1e-5)


def test_the_image_side_is_computed_once_per_embedding():
    _, seg = segmenters()[0]
    emb = seg.embed(RNG.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    first = seg.predict(emb, points=np.array([[20.0, 20.0]]), point_labels=np.array([1]))
    side = emb._side[0]
    again = seg.predict(emb, points=np.array([[20.0, 20.0]]), point_labels=np.array([1]))
    other = seg.predict(emb, box=np.array([5.0, 5.0, 30.0, 30.0]))
    assert emb._side == [side] and np.array_equal(first.mask, again.mask) and first.iou == again.iou
    assert other.mask.shape == (40, 40)
