"""Merge tool-agnostic prompts (:class:`tam_core.types.Prompt`) and find conflicts.

Adapters (FiftyOne fields, CVAT shapes, panel clicks, CLI flags) turn their
own formats into ``Prompt`` objects. Each prompt is checked by the one
validator, :func:`tam_core.prompts.validate_prompt` (frames, ids, points and
boxes inside the closed frame, masks); here they are merged into one prompt
per (object, frame) keyframe with one class label per object, and clear
:class:`~tam_core.errors.PromptError` messages on conflicts.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

from tam_core.errors import PromptError, frame_label
from tam_core.prompts import validate_prompt
from tam_core.types import Prompt


def _check_positive(p: Prompt) -> None:
    # Negative clicks alone do not say where the object is.
    if p.box is None and p.mask is None and not (p.point_labels == 1).any():
        raise PromptError(
            f"object {p.object_id} on frame {frame_label(p.frame)}: only negative points; add at least one positive point or a box"
        )


def merge_prompts(prompts: Iterable[Prompt], num_frames: int, size: Sequence[int],
                  max_object_id: int | None = None) -> list[Prompt]:
    """Validate prompts (``validate_prompt``) and merge those of one object on one frame into one.

    Points of the same keyframe are concatenated (e.g. a box from one field and
    clicks from another). Two different boxes or masks for one keyframe, or two
    class labels for one object, are conflicts; a merged keyframe needs a
    positive point, a box or a mask. ``max_object_id``: e.g. 255 where the
    output is an indexed PNG. Returns prompts sorted by (object_id, frame).
    """
    by_key: dict[tuple[int, int], list[Prompt]] = defaultdict(list)
    for p in prompts:
        q = validate_prompt(p, num_frames, size, max_object_id)
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
    where = f"object {oid} on frame {frame_label(frame)}"
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
                f"object {p.object_id} is labelled {old!r} on one frame and {p.label!r} on frame {frame_label(p.frame)}; "
                "give each object id one class (or use a new id)"
            )
        labels[p.object_id] = old or p.label
    return labels
