"""Rank tracked frames for a reviewer: which frames to check first, and why."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Collection, Iterable

from tam_core.errors import frame_label

from .track import ObjectRecord


@dataclass(frozen=True)
class ReviewOptions:
    """Thresholds that flag a (frame, object).

    low_quality: quality below this is flagged; area_ratio: area differs from a
    neighbouring tracked frame by more than this factor; shape_iou: the box
    shape (centred box IoU) versus a neighbour falls below this.
    """

    low_quality: float = 0.5
    area_ratio: float = 1.5
    shape_iou: float = 0.6
    refined_weight: float = 0.25


@dataclass(frozen=True)
class ReviewItem:
    """A frame to check. score: higher first (roughly in [0, 1+]);
    object_ids: the flagged objects; reasons: one human line per finding."""

    frame: int
    score: float
    object_ids: tuple[int, ...]
    reasons: tuple[str, ...]


def review_queue(records: Iterable[ObjectRecord], limit: int | None = 20, options: ReviewOptions = ReviewOptions(),
                 person_set: Collection[tuple[int, int]] = ()) -> list[ReviewItem]:
    """Frames to review first, most suspicious first (ties: earlier frame).

    records: one ObjectRecord per present (frame, object) — ``TrackReport.records``
    or the same summaries read back from a labeling tool. Neighbours are the
    object's previous and next *present* frames. Unflagged frames are omitted.
    person_set: (frame, object_id) masks a person set (keyframes: prompted or
    corrected there); they are neighbours of other frames but never flagged
    themselves, so a frame only a person's masks would flag is not listed.
    """
    skip = {(int(f), int(o)) for f, o in person_set}
    by_obj: dict[int, list[ObjectRecord]] = defaultdict(list)
    for r in records:
        by_obj[r.object_id].append(r)
    findings: dict[int, list[tuple[float, int, str]]] = defaultdict(list)
    for oid, recs in by_obj.items():
        recs.sort(key=lambda r: r.frame)
        for i, r in enumerate(recs):
            if (r.frame, oid) in skip:
                continue
            for sev, why in _flags(r, recs[i - 1] if i > 0 else None, recs[i + 1] if i + 1 < len(recs) else None, options):
                findings[r.frame].append((sev, oid, f"object {oid}: {why}"))
    items = []
    for frame, found in findings.items():
        found.sort(key=lambda t: -t[0])
        # The worst finding ranks the frame; further findings add a little.
        score = found[0][0] + 0.1 * sum(f[0] for f in found[1:])
        items.append(
            ReviewItem(
                frame=frame,
                score=round(score, 4),
                object_ids=tuple(sorted({f[1] for f in found})),
                reasons=tuple(f[2] for f in found),
            )
        )
    items.sort(key=lambda it: (-it.score, it.frame))
    return items if limit is None else items[: max(int(limit), 0)]


def _flags(r: ObjectRecord, prev: ObjectRecord | None, nxt: ObjectRecord | None, opt: ReviewOptions):
    if r.quality < opt.low_quality:
        yield 1.0 - r.quality, f"low quality {r.quality:.2f}"
    worst_ratio, worst_n = 1.0, None
    worst_iou, worst_s = 1.0, None
    for n in (prev, nxt):
        if n is None:
            continue
        ratio = max(r.area, n.area) / max(min(r.area, n.area), 1)
        if ratio > worst_ratio:
            worst_ratio, worst_n = ratio, n
        iou = _centred_box_iou(r.box, n.box)
        if iou < worst_iou:
            worst_iou, worst_s = iou, n
    if worst_n is not None and worst_ratio > opt.area_ratio:
        # log scale: x2 -> 0.5, x4 -> 1.0. A one-frame spike (both neighbours
        # differ the same way) is likelier a tracking error than a step change.
        sev = min(math.log2(worst_ratio) / 2, 1.5)
        spike = prev is not None and nxt is not None and _same_jump(r.area, prev.area, nxt.area, opt.area_ratio)
        if spike:
            sev += 0.25
        what = "area spike" if spike else "area changed"
        yield sev, f"{what} x{worst_ratio:.1f} vs frame {frame_label(worst_n.frame)}"
    if worst_s is not None and worst_iou < opt.shape_iou:
        spike = prev is not None and nxt is not None and max(
            _centred_box_iou(r.box, prev.box), _centred_box_iou(r.box, nxt.box)
        ) < opt.shape_iou
        what = "shape spike" if spike else "shape changed"
        yield 1.0 - worst_iou + (0.25 if spike else 0.0), f"{what} (box shape IoU {worst_iou:.2f} vs frame {frame_label(worst_s.frame)})"
    if r.refined:
        yield opt.refined_weight, "refined by SAM"


def _same_jump(area: int, a: int, b: int, ratio: float) -> bool:
    up = area > ratio * max(a, 1) and area > ratio * max(b, 1)
    down = ratio * area < a and ratio * area < b
    return up or down


def _centred_box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """IoU of the two boxes' sizes (both centred): shape change, not motion."""
    wa, ha = a[2] - a[0], a[3] - a[1]
    wb, hb = b[2] - b[0], b[3] - b[1]
    inter = min(wa, wb) * min(ha, hb)
    union = wa * ha + wb * hb - inter
    return inter / union if union > 0 else 1.0
