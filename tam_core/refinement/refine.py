"""Track-Anything step 3: repair the weak tracked masks with SAM.

Quality score: see :mod:`tam_core.refinement.quality` (confidence, sharpness and
consistency with the object's history, each in [0,1]; the score is their
minimum). The session scores every tracked frame and keeps the histories; the
refiner only decides what to do with a low score. It holds the segmenter and
nothing per run: thresholds come with each call (``RunOptions.refine_options``).

Refinement (only for objects scoring below ``quality_threshold``): SAM gets the
frame once (one ``embed``, then a ``predict`` per weak object), positive points at the tracker's own
confident probability peaks inside M (the paper's probes), negative points on
nearby other objects and on confident background around M, and the tracker's
mask as SAM's low-res mask prompt. SAM's mask is accepted only when its
predicted IoU is at least ``min_predicted_iou``, its IoU with the tracker's mask
lies in [agreement_low, agreement_high] (below: SAM jumped elsewhere; above: no
real change) and it is not less consistent with the history than the tracker's
mask. Frames where every object scores well never touch SAM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from tam_core.errors import PromptError
from tam_core.refinement.options import RefineOptions
from tam_core.refinement.quality import (FrameQuality, ObjectHistory, QualityTerms, bbox, consistency, context_margin,
                                         grow_box, mask_iou, score_frame)
from tam_core.types import ObjectProbs, Segmenter


@dataclass(frozen=True)
class FrameRefinement:
    """masks: object id -> bool [H,W] (disjoint, SAM's where refined);
    quality: id -> [0,1], the tracked masks' scores (``score_frame``; a repair
    does not change what was measured); refined: ids whose mask is SAM's;
    terms: id -> the tracked mask's QualityTerms."""

    masks: dict[int, np.ndarray]
    quality: dict[int, float]
    refined: frozenset[int]
    terms: dict[int, QualityTerms] = field(default_factory=dict)


def _nms_peaks(score: np.ndarray, n: int, radius: float) -> list[tuple[int, int]]:
    """Up to n (y, x) maxima of ``score`` (> 0), each at least ``radius`` from the others."""
    s = score.astype(np.float32).copy()
    yy, xx = np.mgrid[0 : s.shape[0], 0 : s.shape[1]]
    out: list[tuple[int, int]] = []
    while len(out) < n:
        idx = int(np.argmax(s))
        y, x = divmod(idx, s.shape[1])
        if s[y, x] <= 0:
            break
        out.append((y, x))
        s[(yy - y) ** 2 + (xx - x) ** 2 < radius**2] = 0
    return out


def _farthest_points(ys: np.ndarray, xs: np.ndarray, start: int, n: int) -> list[tuple[int, int]]:
    """Farthest-point sampling from candidate pixels (spreads points around a ring)."""
    chosen = [start]
    d = (ys - ys[start]) ** 2 + (xs - xs[start]) ** 2
    while len(chosen) < n and d.max() > 0:
        i = int(np.argmax(d))
        chosen.append(i)
        d = np.minimum(d, (ys - ys[i]) ** 2 + (xs - xs[i]) ** 2)
    return [(int(ys[i]), int(xs[i])) for i in chosen]


class Refiner:
    """Repairs weak tracked masks with a :class:`Segmenter`.

    Holds its segmenter only: every call's state (the frame's embedding, the
    histories, the thresholds) is the caller's, so one refiner serves many
    threads."""

    def __init__(self, segmenter: Segmenter | None) -> None:
        self.segmenter = segmenter

    def refine_frame(self, frame_index: int, image: np.ndarray, probs: ObjectProbs,
                     histories: dict[int, ObjectHistory], options: RefineOptions = RefineOptions(),
                     scored: FrameQuality | None = None, embeddings: Any = None) -> FrameRefinement:
        """Refine, where the score is low, every object on one frame.

        image: uint8 [H,W,3]; probs: the tracker's object id -> float32 [H,W]
        (``ObjectProbs``; the objects to judge, everything else background).
        ``histories`` (object id -> ObjectHistory) is only read: the caller
        records the final masks (``quality.update_histories``). ``scored``: this
        frame's ``score_frame`` result when the caller already has it.
        ``embeddings``: the caller's ``tam_core.segmenters.cache.EmbeddingCache``
        keyed by frame index (the session's: a frame clicked or previewed in
        this run is not encoded again, and a refined frame's embedding serves
        the next click on it); the frame is encoded only when an object on it
        is weak. Returns disjoint bool [H,W] masks for every id; the caller feeds
        ``refined`` masks back to the tracker (``tracker.amend``).
        """
        opts = options
        if not isinstance(probs, ObjectProbs):
            raise PromptError(f"probs must be ObjectProbs (object id -> probability), got {type(probs).__name__}")
        if scored is None:
            scored = score_frame(frame_index, probs, histories, opts)
        ids = list(probs.object_ids)
        masks = {oid: scored.masks[oid] for oid in ids}
        quality = {oid: scored.terms[oid].score for oid in ids}
        refined: set[int] = set()

        weak = [oid for oid in ids if quality[oid] < opts.quality_threshold
                and np.count_nonzero(masks[oid]) >= opts.min_area]
        if weak and self.segmenter is not None:
            labels = probs.label_map()
            # once per frame, whatever the number of weak objects; shared with the caller's clicks
            embedding = (embeddings.embed(self.segmenter, frame_index, image) if embeddings is not None
                         else self.segmenter.embed(image))
            for oid in weak:
                mask = self._refine_object(embedding, frame_index, probs, labels, oid, masks, histories.get(oid), opts)
                if mask is not None:
                    masks[oid] = mask
                    refined.add(oid)
        return FrameRefinement(masks=masks, quality=quality, refined=frozenset(refined),
                               terms={oid: scored.terms[oid] for oid in ids})

    # -- prompts from the tracker's evidence -------------------------------------------------

    def prompts(self, probs: ObjectProbs, labels: np.ndarray, object_id: int, history: ObjectHistory | None = None,
                frame_index: int = 0, options: RefineOptions = RefineOptions()) -> tuple[np.ndarray, np.ndarray]:
        """Point prompts for one object: float [N,2] (x, y) and int [N] labels (1 then 0).

        labels: int [H,W] ``probs.label_map()`` (object id per pixel, 0 background).

        With a usable ``history``, probes are taken where the current and the
        previous mask agree (a spill of the tracker is new, so it gets none) and
        the background ring starts beyond the object's expected size (an eroded
        mask would otherwise put negatives on the object itself).
        """
        opts = options
        mask = labels == object_id
        box = bbox(mask)
        usable = history is not None and history.usable_for(frame_index, opts.history_max_gap)
        req = float(np.sqrt(np.count_nonzero(mask) / np.pi))  # equivalent radius now and as expected
        expected = float(np.sqrt(history.rolling_area / np.pi)) if usable else req
        r_in = max(4.0, 0.5 * max(req, expected)) + max(0.0, expected - req)
        r_out = r_in + max(4.0, 0.25 * max(req, expected))
        y0, x0, y1, x1 = grow_box(box, max(context_margin(box), int(r_out) + 2), mask.shape)
        crop = mask[y0:y1, x0:x1]
        p = probs[object_id][y0:y1, x0:x1]
        core = crop
        if usable and history.prev_mask is not None:
            agreed = crop & history.prev_mask[y0:y1, x0:x1]
            if np.count_nonzero(agreed) >= 0.25 * np.count_nonzero(crop):
                core = agreed
        dist = cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 3)
        radius = max(3.0, 0.5 * float(dist.max()))
        # probes: deep inside the mask and confident; fall back to the best pixel if none is sure
        score = p * dist * (p >= opts.positive_min_prob)
        if not score.any():
            score = p * dist
        pos = _nms_peaks(score, opts.max_positive_points, radius)
        neg: list[tuple[int, int]] = []
        # other objects nearby first: SAM's usual mistake is to merge neighbours
        lab = labels[y0:y1, x0:x1]
        for j in probs.object_ids:
            if len(neg) >= opts.max_negative_points:
                break
            if j == object_id:
                continue
            other = lab == j
            if not other.any():
                continue
            pj = probs[j][y0:y1, x0:x1]
            dj = cv2.distanceTransform(other.astype(np.uint8), cv2.DIST_L2, 3)
            neg += _nms_peaks(pj * dj * (pj >= opts.negative_min_prob), 1, radius)
        # then confident background on a ring around the mask, far enough out that an
        # under-segmenting tracker does not put negatives on the object itself
        if len(neg) < opts.max_negative_points:
            dout = cv2.distanceTransform((~crop).astype(np.uint8), cv2.DIST_L2, 3)
            ring = (dout > r_in) & (dout <= r_out) & (lab == 0) & (probs.background[y0:y1, x0:x1] >= opts.negative_min_prob)
            ys, xs = np.nonzero(ring)
            if ys.size:
                cy, cx = np.argwhere(crop).mean(0)
                start = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
                neg += _farthest_points(ys, xs, start, opts.max_negative_points - len(neg))
        pts = [(x + x0, y + y0) for y, x in pos] + [(x + x0, y + y0) for y, x in neg]
        lbl = [1] * len(pos) + [0] * len(neg)
        return np.asarray(pts, dtype=np.float64).reshape(-1, 2), np.asarray(lbl, dtype=np.int64)

    def _refine_object(self, embedding, frame_index: int, probs: ObjectProbs, labels: np.ndarray, oid: int,
                       masks: dict[int, np.ndarray], history: ObjectHistory | None, opts: RefineOptions):
        """SAM's mask for object ``oid`` when accepted, else None."""
        tracker_mask = masks[oid]
        points, point_labels = self.prompts(probs, labels, oid, history, frame_index, opts)
        mask_input = None
        if opts.use_mask_prompt:
            mask_input = self.segmenter.mask_to_logits(tracker_mask)
        box = None
        if opts.use_box:
            y0, x0, y1, x1 = bbox(tracker_mask)
            mx, my = opts.box_margin * (x1 - x0), opts.box_margin * (y1 - y0)
            h, w = tracker_mask.shape
            box = np.array([max(0.0, x0 - mx), max(0.0, y0 - my), min(w, x1 + mx), min(h, y1 + my)])
        out = self.segmenter.predict(embedding, points=points, point_labels=point_labels, box=box, mask_input=mask_input,
                                     multimask=False)
        if out.iou < opts.min_predicted_iou:
            return None
        claimed = np.zeros_like(tracker_mask)
        for other, m in masks.items():
            if other != oid:
                claimed |= m
        candidate = np.asarray(out.mask, dtype=bool) & ~claimed  # never take a neighbour's pixels
        if np.count_nonzero(candidate) < opts.min_area:
            return None
        agreement = mask_iou(candidate, tracker_mask)
        if not opts.agreement_low <= agreement <= opts.agreement_high:
            return None
        cons_new = consistency(candidate, history, frame_index, opts)
        if cons_new < consistency(tracker_mask, history, frame_index, opts):
            return None
        return candidate


__all__ = ["FrameRefinement", "Refiner"]
