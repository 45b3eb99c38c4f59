"""Track-Anything step 3, part one: how healthy is a tracked mask?

Quality score (per object, per frame, in [0,1]) - the minimum of three terms,
each 1 for a healthy mask and falling linearly to 0 between an "ok" and a "bad"
bound (``ramp`` below; all bounds are :class:`RefineOptions` fields):

* **confidence**: mean object probability inside the hard mask M (argmax of the
  tracker's probabilities), ramped from ``confidence_bad`` (0) to
  ``confidence_ok`` (1).
* **sharpness**: ``w = |U| / perimeter(M)``, the width in pixels of the
  tracker's uncertain band, where U are pixels with 0.2 < p < 0.8 near the
  object (within its bounding box grown by ``context_margin``) and perimeter(M) is
  the number of mask pixels with a 4-neighbour outside M. ``w <= band_ok`` -> 1,
  ``w >= band_bad`` -> 0.
* **consistency** with the object's recent history (skipped, i.e. 1, on the
  first frame or after a gap of more than ``history_max_gap`` frames): the
  minimum of
  - area: ``r = |ln(area / rolling_area)|`` ramped from ln(area_ok) to ln(area_bad);
  - shape: IoU of M with the previous mask after aligning their centroids,
    ramped from ``shape_iou_bad`` to ``shape_iou_ok``;
  - jump: centroid displacement in units of the object's equivalent radius
    sqrt(rolling_area / pi), ramped from ``jump_ok`` to ``jump_bad``.
  An object that was present on the previous frame and is empty now scores 0
  (lost); an object that stays empty scores 1 (nothing to fix).

This is THE quality of a tracked mask: the session scores every tracked
frame with :func:`score_frame` whether or not the run refines, keeps the
objects' histories (:func:`update_histories`), and reports the score as
``FrameResult.quality`` (the review queue and FiftyOne's ``confidence`` read
it). Refinement only decides what to do with a low score: a mask SAM repaired
keeps the score of the tracked mask it replaced and is marked ``refined``.

The bounds come from :class:`tam_core.refinement.RefineOptions`; the repair with
SAM is :class:`tam_core.refinement.Refiner`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import cv2
import numpy as np

if TYPE_CHECKING:
    from tam_core.refinement.options import RefineOptions
    from tam_core.types import ObjectProbs

_UNCERTAIN = (0.2, 0.8)  # probabilities in this open interval count as "the tracker is unsure"


@dataclass
class ObjectHistory:
    """What the score remembers about one object: a few scalars and the last mask."""

    rolling_area: float = 0.0  # exponential moving average of the non-empty areas (px)
    centroid: tuple[float, float] | None = None  # (x, y) of the last non-empty mask
    prev_mask: np.ndarray | None = None  # bool [H,W] last frame's final mask, None if empty
    last_frame: int | None = None
    frames: int = 0  # frames with a non-empty mask seen so far

    def usable_for(self, frame_index: int, max_gap: int) -> bool:
        return self.last_frame is not None and 0 < abs(frame_index - self.last_frame) <= max_gap

    def update(self, frame_index: int, mask: np.ndarray, ema: float) -> None:
        area = int(mask.sum())
        self.last_frame = frame_index
        if area == 0:
            self.prev_mask = None  # keep rolling area/centroid for the object's return
            return
        self.rolling_area = float(area) if self.frames == 0 else (1 - ema) * self.rolling_area + ema * area
        self.centroid = centroid(mask)
        self.prev_mask = mask
        self.frames += 1


@dataclass(frozen=True)
class QualityTerms:
    """The three evidence terms of the score, each in [0,1]; ``score`` is their minimum."""

    confidence: float
    sharpness: float
    consistency: float

    @property
    def score(self) -> float:
        return min(self.confidence, self.sharpness, self.consistency)


def ramp(x: float, zero_at: float, one_at: float) -> float:
    """Linear 0..1 between ``zero_at`` and ``one_at`` (either order), clipped."""
    t = (x - zero_at) / (one_at - zero_at)
    return float(min(1.0, max(0.0, t)))


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) exclusive, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def grow_box(box: tuple[int, int, int, int], m: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    y0, x0, y1, x1 = box
    return max(0, y0 - m), max(0, x0 - m), min(shape[0], y1 + m), min(shape[1], x1 + m)


def context_margin(box: tuple[int, int, int, int]) -> int:
    """Neighbourhood of an object: a quarter of its larger side, at least 8 px."""
    return max(8, int(0.25 * max(box[2] - box[0], box[3] - box[1])))


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def perimeter(crop: np.ndarray) -> int:
    inner = cv2.erode(crop.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)),
                      borderType=cv2.BORDER_REPLICATE)
    return int(np.count_nonzero(crop & ~inner.astype(bool)))


def aligned_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two non-empty masks after moving b's centroid onto a's (shape only)."""
    ba, bb = bbox(a), bbox(b)
    ca, cb = a[ba[0] : ba[2], ba[1] : ba[3]], b[bb[0] : bb[2], bb[1] : bb[3]]
    (ax, ay), (bx, by) = centroid(ca), centroid(cb)
    dx, dy = int(round(ax - bx)), int(round(ay - by))  # b's crop offset inside a's crop frame
    h = max(ca.shape[0], cb.shape[0] + dy) - min(0, dy)
    w = max(ca.shape[1], cb.shape[1] + dx) - min(0, dx)
    oy, ox = -min(0, dy), -min(0, dx)
    canvas_a = np.zeros((h, w), bool)
    canvas_b = np.zeros((h, w), bool)
    canvas_a[oy : oy + ca.shape[0], ox : ox + ca.shape[1]] = ca
    canvas_b[oy + dy : oy + dy + cb.shape[0], ox + dx : ox + dx + cb.shape[1]] = cb
    return mask_iou(canvas_a, canvas_b)


def consistency(mask: np.ndarray, history: ObjectHistory | None, frame_index: int, opts: RefineOptions) -> float:
    """The history term of the score for ``mask`` (bool [H,W]); 1 without usable history."""
    if history is None or not history.usable_for(frame_index, opts.history_max_gap):
        return 1.0
    area = int(np.count_nonzero(mask))
    if history.prev_mask is None:
        return 1.0  # absent before: nothing to compare with
    if area == 0:
        return 0.0  # present on the previous frame, lost now
    ref = max(history.rolling_area, 1.0)
    area_term = 1.0 - ramp(abs(math.log(area / ref)), math.log(opts.area_ok), math.log(opts.area_bad))
    shape_term = ramp(aligned_iou(mask, history.prev_mask), opts.shape_iou_bad, opts.shape_iou_ok)
    cx, cy = centroid(mask)
    px, py = history.centroid
    jump = math.hypot(cx - px, cy - py) / math.sqrt(ref / math.pi)
    jump_term = 1.0 - ramp(jump, opts.jump_ok, opts.jump_bad)
    return min(area_term, shape_term, jump_term)


def score_object(prob: np.ndarray, mask: np.ndarray, history: ObjectHistory | None, frame_index: int,
                 opts: RefineOptions) -> QualityTerms:
    """Quality terms of one object's tracked mask.

    prob: float32 [H,W] the object's probability; mask: bool [H,W] its hard mask.
    """
    box = bbox(mask)
    if box is None:
        return QualityTerms(1.0, 1.0, consistency(mask, history, frame_index, opts))
    y0, x0, y1, x1 = box
    conf = float(prob[y0:y1, x0:x1][mask[y0:y1, x0:x1]].mean())
    gy0, gx0, gy1, gx1 = grow_box(box, context_margin(box), mask.shape)
    p = prob[gy0:gy1, gx0:gx1]
    unsure = np.count_nonzero((p > _UNCERTAIN[0]) & (p < _UNCERTAIN[1]))
    width = unsure / max(perimeter(mask[gy0:gy1, gx0:gx1]), 1)
    return QualityTerms(
        confidence=ramp(conf, opts.confidence_bad, opts.confidence_ok),
        sharpness=1.0 - ramp(width, opts.band_ok, opts.band_bad),
        consistency=consistency(mask, history, frame_index, opts),
    )


@dataclass(frozen=True)
class FrameQuality:
    """The tracked masks of one frame and their scores.

    masks: object id -> bool [H,W], the tracker's hard masks (argmax of its
    probabilities); terms: object id -> :class:`QualityTerms`."""

    masks: dict[int, np.ndarray]
    terms: dict[int, QualityTerms]

    @property
    def quality(self) -> dict[int, float]:
        """object id -> score in [0,1]."""
        return {oid: t.score for oid, t in self.terms.items()}


def score_frame(frame_index: int, probs: ObjectProbs, histories: dict[int, ObjectHistory],
                opts: RefineOptions, object_ids: Iterable[int] | None = None) -> FrameQuality:
    """Score the objects ``object_ids`` (default: all) of ``probs`` (the
    tracker's ``ObjectProbs``) on one frame against their histories (read only;
    see :func:`update_histories`). Masks are the argmax over all of ``probs``."""
    labels = probs.label_map()
    ids = probs.object_ids if object_ids is None else object_ids
    masks = {int(oid): labels == oid for oid in ids}
    terms = {oid: score_object(probs[oid], masks[oid], histories.get(oid), frame_index, opts) for oid in masks}
    return FrameQuality(masks, terms)


def update_histories(histories: dict[int, ObjectHistory], frame_index: int, masks: dict[int, np.ndarray],
                     opts: RefineOptions) -> None:
    """Record each object's final mask of ``frame_index`` (bool [H,W]) in its
    history (missing ids are added): what the next frame's consistency term compares with."""
    for oid, mask in masks.items():
        histories.setdefault(oid, ObjectHistory()).update(frame_index, mask, opts.history_ema)


__all__ = ["FrameQuality", "ObjectHistory", "QualityTerms", "bbox", "consistency", "context_margin", "grow_box",
           "mask_iou", "ramp", "score_frame", "score_object", "update_histories"]
