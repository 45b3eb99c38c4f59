"""SAM 3's mask post-processing without Hub kernels (tam_core.concepts.postprocess):
connected-component areas as Meta's CPU fallback computes them (skimage's
8-connected labels), greedy mask NMS by its definition, and the loaded model
really using them (transformers otherwise skips NMS and keeps duplicates)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tam_core.concepts.postprocess import CvUtils

pytest.importorskip("transformers")


def test_component_areas_equal_skimages_8_connected_labels():
    measure = pytest.importorskip("skimage.measure")
    rng = np.random.default_rng(0)
    masks = (rng.random((5, 1, 37, 50)) > 0.55).astype(np.uint8)
    masks[0] = 0
    masks[1, 0, ::2, ::2] = 1  # diagonal neighbours: one component under 8-connectivity
    labels, counts = CvUtils.cc_2d(torch.from_numpy(masks), get_counts=True)
    assert labels.shape == counts.shape == masks.shape and counts.dtype == torch.int32
    for b in range(len(masks)):
        lab, n = measure.label(masks[b, 0], return_num=True)  # Meta's fallback (default: full connectivity)
        want = np.zeros_like(lab)
        for i in range(1, n + 1):
            want[lab == i] = (lab == i).sum()
        assert np.array_equal(counts[b, 0].numpy(), want), b
        assert np.array_equal(labels[b, 0].numpy() > 0, masks[b, 0] > 0)


def test_nms_keeps_exactly_the_greedy_set():
    rng = np.random.default_rng(1)
    for trial in range(20):
        n = int(rng.integers(1, 12))
        boxes = rng.integers(0, 30, (n, 2))
        masks = np.zeros((n, 40, 40), bool)
        for i, (y, x) in enumerate(boxes):
            masks[i, y:y + 10, x:x + 10] = True
        inter = (masks[:, None] & masks[None]).sum((2, 3))
        iou = inter / (masks[:, None] | masks[None]).sum((2, 3))
        scores = rng.permutation(n) / n  # distinct
        kept = CvUtils.generic_nms(torch.tensor(iou), torch.tensor(scores), 0.5).tolist()
        # the greedy definition: kept in decreasing score, none overlapping a kept one above the threshold,
        # every dropped one overlapping a kept one with a higher score
        assert kept == sorted(kept, key=lambda i: -scores[i])
        assert all(iou[a, b] <= 0.5 for a in kept for b in kept if a != b)
        for d in set(range(n)) - set(kept):
            assert any(iou[d, k] > 0.5 and scores[k] > scores[d] for k in kept), (trial, d)


def test_a_loaded_concept_model_suppresses_duplicate_detections(tmp_path):
    from transformers.models.sam3_video import modeling_sam3_video as module

    from tam_core.concepts.family import SAM3
    from tam_core.concepts.tiny import save_tiny

    SAM3.load("test_tiny", save_tiny(tmp_path / "tiny"), "cpu")
    assert isinstance(module.cv_utils_kernel, CvUtils)
    masks = torch.zeros(3, 16, 16)
    masks[0, :8] = masks[1, :8] = 1.0  # two detections of one object
    masks[2, 8:] = 1.0
    keep = module.nms_masks(torch.tensor([0.9, 0.8, 0.7]), masks, prob_threshold=0.5, iou_threshold=0.5)
    assert keep.tolist() == [True, False, True]
