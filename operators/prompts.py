"""Validate and merge tool-agnostic prompts (:class:`tam_core.types.Prompt`).

Adapters (FiftyOne fields, CVAT shapes, panel clicks, CLI flags) turn their
own formats into ``Prompt`` objects; everything here is shared: one prompt per
(object, frame) keyframe, points and boxes inside the frame, one class label per
object, and clear :class:`~tam_core.errors.PromptError` messages otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

from tam_core.errors import PromptError
from tam_core.types import Prompt


def normalize_prompt(prompt: Prompt, num_frames: int, size: Sequence[int], check_positive: bool = True) -> Prompt:
    """Check one prompt against a video of ``num_frames`` frames of ``size`` (H, W).

    Returns a prompt with canonical dtypes: points float32 [N,2], point_labels
    int64 [N] (all 1 when not given), box float32 [4], mask bool [H,W].
    """
    h, w = int(size[0]), int(size[1])
    where = f"object {prompt.object_id} on frame {prompt.frame}"
    if not isinstance(prompt.object_id, (int, np.integer)) or prompt.object_id < 1:
        raise PromptError(f"object id {prompt.object_id!r} is invalid: ids are integers >= 1 (FiftyOne: set `index`)")
    if not 0 <= prompt.frame < num_frames:
        raise PromptError(f"prompt for object {prompt.object_id} is on frame {prompt.frame}, but the video has frames 0..{num_frames - 1}")
    points = labels = box = mask = None
    if prompt.points is not None and np.size(prompt.points):
        points = np.asarray(prompt.points, dtype=np.float32).reshape(-1, 2)
        if not np.isfinite(points).all():
            raise PromptError(f"{where}: a point is not a finite number")
        if (points[:, 0] < 0).any() or (points[:, 0] > w).any() or (points[:, 1] < 0).any() or (points[:, 1] > h).any():
            raise PromptError(f"{where}: a point lies outside the {w}x{h} frame (points are pixel x, y)")
        if prompt.point_labels is None:
            labels = np.ones(len(points), dtype=np.int64)
        else:
            labels = np.asarray(prompt.point_labels).astype(np.int64).reshape(-1)
            if len(labels) != len(points):
                raise PromptError(f"{where}: {len(points)} points but {len(labels)} point labels")
            if not np.isin(labels, (0, 1)).all():
                raise PromptError(f"{where}: point labels must be 1 (positive) or 0 (negative)")
    if prompt.box is not None:
        box = np.asarray(prompt.box, dtype=np.float32).reshape(-1)
        if box.shape != (4,) or not np.isfinite(box).all():
            raise PromptError(f"{where}: a box is 4 numbers x0, y0, x1, y1, got {np.asarray(prompt.box).tolist()}")
        box = np.array([max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)], dtype=np.float32)
        if box[2] <= box[0] or box[3] <= box[1]:
            raise PromptError(f"{where}: the box is empty or outside the {w}x{h} frame")
    if prompt.mask is not None:
        mask = np.asarray(prompt.mask)
        if mask.shape != (h, w):
            raise PromptError(f"{where}: mask has shape {mask.shape}, expected {(h, w)} (H, W) of the frame")
        mask = mask.astype(bool)
        if not mask.any():
            raise PromptError(f"{where}: the mask prompt is empty")
    if points is None and box is None and mask is None:
        raise PromptError(f"{where}: the prompt has no points, box or mask")
    out = Prompt(prompt.frame, int(prompt.object_id), prompt.label, points, labels, box, mask)
    if check_positive:
        _check_positive(out)
    return out


def _check_positive(p: Prompt) -> None:
    # Negative clicks alone do not say where the object is.
    if p.box is None and p.mask is None and not (p.point_labels == 1).any():
        raise PromptError(
            f"object {p.object_id} on frame {p.frame}: only negative points; add at least one positive point or a box"
        )


def merge_prompts(prompts: Iterable[Prompt], num_frames: int, size: Sequence[int]) -> list[Prompt]:
    """Validate prompts and merge those of one object on one frame into one.

    Points of the same keyframe are concatenated (e.g. a box from one field and
    clicks from another). Two different boxes or masks for one keyframe, or two
    class labels for one object, are conflicts. Returns prompts sorted by
    (object_id, frame).
    """
    by_key: dict[tuple[int, int], list[Prompt]] = defaultdict(list)
    for p in prompts:
        q = normalize_prompt(p, num_frames, size, check_positive=False)
        by_key[(q.object_id, q.frame)].append(q)
    if not by_key:
        raise PromptError("no prompts: add points, a box or a mask for at least one object on one frame")
    merged = [_merge_one(key, group) for key, group in sorted(by_key.items())]
    for m in merged:
        _check_positive(m)
    object_labels(merged)  # raises on label conflicts
    return merged


def _merge_one(key: tuple[int, int], group: list[Prompt]) -> Prompt:
    if len(group) == 1:
        return group[0]
    oid, frame = key
    where = f"object {oid} on frame {frame}"
    pts = [p.points for p in group if p.points is not None]
    lbl = [p.point_labels for p in group if p.points is not None]
    boxes = _distinct([p.box for p in group if p.box is not None])
    masks = _distinct([p.mask for p in group if p.mask is not None])
    labels = {p.label for p in group if p.label}
    if len(boxes) > 1:
        raise PromptError(f"{where} has {len(boxes)} different boxes; keep one box per object per frame")
    if len(masks) > 1:
        raise PromptError(f"{where} has {len(masks)} different mask prompts; keep one mask per object per frame")
    if len(labels) > 1:
        raise PromptError(f"{where} has conflicting labels {sorted(labels)}; give each object one class")
    return Prompt(
        frame,
        oid,
        labels.pop() if labels else None,
        np.concatenate(pts) if pts else None,
        np.concatenate(lbl) if lbl else None,
        boxes[0] if boxes else None,
        masks[0] if masks else None,
    )


def _distinct(arrays: list[np.ndarray]) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for a in arrays:
        if not any(a.shape == b.shape and np.array_equal(a, b) for b in out):
            out.append(a)
    return out


def group_by_object(prompts: Iterable[Prompt]) -> dict[int, list[Prompt]]:
    """object id -> its prompts sorted by frame (its keyframes)."""
    groups: dict[int, list[Prompt]] = defaultdict(list)
    for p in prompts:
        groups[p.object_id].append(p)
    return {oid: sorted(ps, key=lambda p: p.frame) for oid, ps in sorted(groups.items())}


def object_labels(prompts: Iterable[Prompt]) -> dict[int, str | None]:
    """object id -> class label; raises PromptError if one object has two labels."""
    labels: dict[int, str | None] = {}
    for p in prompts:
        old = labels.get(p.object_id)
        if p.label and old and p.label != old:
            raise PromptError(
                f"object {p.object_id} is labelled {old!r} on one frame and {p.label!r} on frame {p.frame}; "
                "give each object id one class (or use a new id)"
            )
        labels[p.object_id] = old or p.label
    return labels
