"""Quality score and SAM refinement against synthetic ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tam_core.errors import ConfigError, PromptError
from tam_core.refinement import ObjectHistory, RefineOptions, Refiner, consistency, ramp, score_object
from tam_core.refinement.quality import update_histories
from tam_core.types import SegmenterOutput

from .doubles import DISC, SQUARE, DegradedTracker, OracleSegmenter, probs_from_masks, scene

IDS = [DISC, SQUARE]
DAMAGED = {5: (DISC, None), 8: (SQUARE, None)}


def _iou(a, b):
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)


def run(tracker, segmenter, frames, options=RefineOptions()):
    """Refine every frame as the session does: the histories record the final masks."""
    refiner = Refiner(segmenter)
    histories: dict[int, ObjectHistory] = {}
    results = []
    for t in range(len(frames)):
        results.append(refiner.refine_frame(t, frames[t], tracker.probs(t), histories, options))
        update_histories(histories, t, results[-1].masks, options)
    return results, histories


@pytest.fixture(scope="module")
def video():
    return scene(12)


@pytest.mark.parametrize("kind", ["erode", "hole", "spill", "lowconf"])
def test_refinement_repairs_exactly_the_damaged_frames(video, kind):
    frames, gt = video
    tracker = DegradedTracker(gt, {t: (oid, kind) for t, (oid, _) in DAMAGED.items()})
    seg = OracleSegmenter(gt, frames)
    results, _ = run(tracker, seg, frames)

    assert seg.embed_calls == [5, 8]  # SAM only on the frames that need it, once each
    assert len(seg.predict_calls) == 2
    for t, res in enumerate(results):
        if t in DAMAGED:
            oid = DAMAGED[t][0]
            assert res.refined == {oid}
            assert res.terms[oid].score < 0.5
            tracker_mask = tracker.probs(t).hard_masks()[oid]
            assert _iou(res.masks[oid], gt[t] == oid) >= 0.99
            if kind != "lowconf":  # lowconf keeps the right mask, only the confidence is low
                assert _iou(tracker_mask, gt[t] == oid) < 0.8
        else:
            assert res.refined == frozenset()
            assert min(res.quality.values()) >= 0.9
        assert not (res.masks[DISC] & res.masks[SQUARE]).any()


def test_objects_are_found_by_id_whatever_their_row(video):
    """The tracker's rows in another order (square first): the disc is still
    the one judged damaged, prompted and repaired, and the square untouched."""
    frames, gt = video
    tracker = DegradedTracker(gt, {5: (DISC, "erode")}, ids=(SQUARE, DISC))
    seg = OracleSegmenter(gt, frames)
    results, _ = run(tracker, seg, frames[:7])
    assert results[5].refined == {DISC} and seg.embed_calls == [5]
    assert _iou(results[5].masks[DISC], gt[5] == DISC) >= 0.99
    np.testing.assert_array_equal(results[5].masks[SQUARE], tracker.probs(5).hard_masks()[SQUARE])
    assert _iou(results[5].masks[SQUARE], gt[5] == SQUARE) >= 0.95
    points, labels, _ = seg.predict_calls[0]
    assert set(gt[5][points[labels == 1, 1].astype(int), points[labels == 1, 0].astype(int)]) == {DISC}


def test_good_tracking_never_calls_the_segmenter(video):
    frames, gt = video
    seg = OracleSegmenter(gt, frames)
    results, _ = run(DegradedTracker(gt), seg, frames)
    assert seg.embed_calls == [] and seg.predict_calls == []
    for t, res in enumerate(results):
        assert res.refined == frozenset()
        assert all(q >= 0.9 for q in res.quality.values())
        for oid in IDS:
            assert _iou(res.masks[oid], gt[t] == oid) > 0.98


def test_prompts_come_from_the_trackers_evidence(video):
    frames, gt = video
    for kind in ("erode", "spill"):
        seg = OracleSegmenter(gt, frames)
        run(DegradedTracker(gt, {5: (DISC, kind)}), seg, frames[:6])
        (points, labels, mask_input), = seg.predict_calls
        lab = gt[5][points[:, 1].astype(int), points[:, 0].astype(int)]
        assert (labels == 1).sum() >= 1 and (labels == 0).sum() >= 1
        assert (lab[labels == 1] == DISC).all(), kind  # probes on the object (not on the spill)
        assert (lab[labels == 0] != DISC).all(), kind  # negatives off it, even when the mask is eroded
        assert mask_input is not None  # the tracker's mask as SAM's mask prompt


def test_square_next_to_disc_gets_the_disc_as_a_negative_point():
    frames, gt = scene(3)
    # move the square so it touches the disc's neighbourhood on frame 1
    gt = gt.copy()
    gt[gt == SQUARE] = 0
    gt[:, 30:56, 50:76] = np.where(gt[:, 30:56, 50:76] == 0, SQUARE, gt[:, 30:56, 50:76])
    seg = OracleSegmenter(gt, frames)
    run(DegradedTracker(gt, {2: (SQUARE, "lowconf")}), seg, frames)
    (points, labels, _), = seg.predict_calls
    lab = gt[2][points[:, 1].astype(int), points[:, 0].astype(int)]
    assert DISC in lab[labels == 0]


def test_segmenter_answer_on_another_object_is_rejected(video):
    frames, gt = video
    tracker = DegradedTracker(gt, {5: (DISC, "erode")})
    seg = OracleSegmenter(gt, frames, answer=SQUARE)  # SAM "jumps" to the square
    results, _ = run(tracker, seg, frames[:7])
    assert seg.embed_calls[0] == 5
    res = results[5]
    assert res.refined == frozenset()
    np.testing.assert_array_equal(res.masks[DISC], tracker.probs(5).hard_masks()[DISC])  # tracker's mask kept
    np.testing.assert_array_equal(res.masks[SQUARE], tracker.probs(5).hard_masks()[SQUARE])
    assert res.quality[DISC] < 0.5  # still flagged for review


class _FixedSegmenter:
    """Answers every prompt with a fixed mask and predicted IoU."""

    def __init__(self, mask, iou):
        self.mask, self.iou, self.calls = mask, iou, 0

    def embed(self, image):
        return None

    def mask_to_logits(self, mask):
        return np.zeros((1, 32, 32), np.float32)

    def predict(self, embedding, points=None, point_labels=None, box=None, mask_input=None, multimask=True):
        self.calls += 1
        return SegmenterOutput(self.mask, self.iou, np.zeros((1, 32, 32), np.float32))


def test_low_predicted_iou_is_rejected(video):
    frames, gt = video
    seg = _FixedSegmenter(gt[5] == DISC, iou=0.5)
    results, _ = run(DegradedTracker(gt, {5: (DISC, "erode")}), seg, frames[:6])
    assert seg.calls == 1 and results[5].refined == frozenset()
    results, _ = run(DegradedTracker(gt, {5: (DISC, "erode")}), _FixedSegmenter(gt[5] == DISC, 0.9), frames[:6])
    assert results[5].refined == {DISC}


def test_refined_mask_never_takes_another_objects_pixels(video):
    frames, gt = video
    greedy = (gt[5] == DISC) | (gt[5] == SQUARE)  # SAM merges the disc with the square
    greedy[40:50, 30:60] = True
    seg = _FixedSegmenter(greedy, iou=0.95)
    opts = RefineOptions(agreement_low=0.1, min_predicted_iou=0.0)
    tracker = DegradedTracker(gt, {5: (DISC, "lowconf")})
    results, _ = run(tracker, seg, frames[:6], opts)
    res = results[5]
    tracker_square = tracker.probs(5).hard_masks()[SQUARE]
    assert res.refined == {DISC}
    np.testing.assert_array_equal(res.masks[SQUARE], tracker_square)  # the neighbour is untouched
    np.testing.assert_array_equal(res.masks[DISC], greedy & ~tracker_square)


def test_without_a_segmenter_nothing_is_refined_and_the_score_is_the_same(video):
    frames, gt = video
    tracker = DegradedTracker(gt, {5: (DISC, "erode")})
    results, _ = run(tracker, None, frames)
    assert all(r.refined == frozenset() for r in results)
    assert results[5].quality[DISC] < 0.5  # still scored
    np.testing.assert_array_equal(results[5].masks[DISC], tracker.probs(5).hard_masks()[DISC])
    refined, _ = run(tracker, OracleSegmenter(gt, frames), frames)
    assert refined[5].refined == {DISC}
    # the repair does not change what was measured on the tracked mask
    assert refined[5].quality == results[5].quality


def test_histories_follow_the_final_masks(video):
    frames, gt = video
    results, hist = run(DegradedTracker(gt, {11: (DISC, "erode")}), OracleSegmenter(gt, frames), frames)
    h = hist[DISC]
    assert h.last_frame == 11 and h.frames == 12
    np.testing.assert_array_equal(h.prev_mask, results[11].masks[DISC])  # the refined mask, not the eroded one
    assert h.rolling_area == pytest.approx(np.count_nonzero(gt[0] == DISC), rel=0.02)
    cx, cy = h.centroid
    assert cx == pytest.approx(30 + 2 * 11, abs=0.5) and cy == pytest.approx(45, abs=0.5)


# -- the score itself ------------------------------------------------------------------------

def _disc(cx, cy, r, shape=(96, 128)):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2


def _history(mask, frame=0):
    h = ObjectHistory()
    h.update(frame, mask, 0.3)
    return h


def test_ramp():
    assert ramp(0.5, 0.0, 1.0) == 0.5
    assert ramp(2.0, 0.0, 1.0) == 1.0 and ramp(-1, 0.0, 1.0) == 0.0
    assert ramp(2.0, 3.0, 1.0) == 0.5  # reversed bounds fall instead of rise


def test_consistency_terms_exact():
    o = RefineOptions()
    ref = _disc(40, 40, 16)
    h = _history(ref)
    assert consistency(_disc(46, 40, 16), h, 1, o) == 1.0  # moved 6 px (< one radius): fine
    assert consistency(_disc(40 + 16 * 4, 40, 16), h, 1, o) == 0.0  # jumped four radii
    # area halved: shape IoU (~0.5) and area both at their "bad" bound
    assert consistency(_disc(40, 40, 16 / math.sqrt(2)), h, 1, o) == pytest.approx(0.0, abs=0.05)
    assert consistency(np.zeros_like(ref), h, 1, o) == 0.0  # lost
    assert consistency(ref, h, 4, o) == 1.0  # gap > history_max_gap: no comparison
    assert consistency(ref, None, 1, o) == 1.0
    empty = ObjectHistory()
    empty.update(0, np.zeros_like(ref), 0.3)
    assert consistency(np.zeros_like(ref), empty, 1, o) == 1.0  # stays absent


def test_score_terms_confidence_and_sharpness():
    o = RefineOptions()
    m = _disc(40, 40, 16)
    crisp = probs_from_masks({1: m}, [1])
    t = score_object(crisp[1], crisp.argmax(0) == 1, None, 0, o)
    assert t.confidence == 1.0 and t.sharpness == 1.0 and t.score == 1.0
    unsure = probs_from_masks({1: m}, [1], confidence={1: 0.6})  # mean prob ~0.6 inside
    t = score_object(unsure[1], unsure.argmax(0) == 1, None, 0, o)
    assert t.confidence < 0.3 and t.sharpness < 0.3
    blurry = probs_from_masks({1: m}, [1], blur=6.0)  # a wide uncertain band
    t = score_object(blurry[1], blurry.argmax(0) == 1, None, 0, o)
    assert t.sharpness < 0.5 and t.score < 0.5


def test_input_validation():
    with pytest.raises(PromptError, match="probs must be ObjectProbs"):
        Refiner(None).refine_frame(0, np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4, 4), np.float32), {})
    with pytest.raises(ConfigError):
        RefineOptions(agreement_low=0.9, agreement_high=0.5)
    with pytest.raises(ConfigError):
        RefineOptions(quality_threshold=1.5)


def test_tiny_random_sam_runs_end_to_end(video):
    """No quality claim (random weights): the real SamSegmenter plugs in and runs."""
    import torch

    from tam_core.segmenters.sam import SamConfig, SamSegmenter, build_sam

    torch.manual_seed(0)
    seg = SamSegmenter(build_sam(SamConfig.tiny()), device="cpu")
    frames, gt = video
    tracker = DegradedTracker(gt, {5: (DISC, "erode")})
    refiner = Refiner(seg)
    refiner_options = RefineOptions(min_predicted_iou=-1.0, agreement_low=0.0, agreement_high=1.0)
    histories: dict[int, ObjectHistory] = {}
    for t in range(6):
        res = refiner.refine_frame(t, frames[t], tracker.probs(t), histories, refiner_options)
        update_histories(histories, t, res.masks, refiner_options)
        for oid in IDS:
            assert res.masks[oid].shape == gt[t].shape and res.masks[oid].dtype == bool
            assert 0.0 <= res.quality[oid] <= 1.0
    assert seg.encoder_calls == 1
    assert not (res.masks[DISC] & res.masks[SQUARE]).any()
