"""CVAT's mask encoding (``type="mask"`` shapes).

``points = [run_0, ..., run_n, left, top, right, bottom]``: run lengths over the
crop of the mask's bounding box, row-major, alternating background/foreground
and starting with background (possibly 0); the box is inclusive on both ends.
``cvat_sdk.masks`` is the reference (tests check this module against it); we
keep our own few lines so reading and writing do not depend on which SDK
release has that helper.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tam_core.errors import PromptError


def encode_mask(mask: np.ndarray) -> list[int] | None:
    """bool [H,W] -> CVAT mask ``points`` over the tight bounding box, or None
    for an empty mask (CVAT cannot store a 0-pixel mask)."""
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    flat = mask[top : bottom + 1, left : right + 1].ravel()
    # Positions where the value changes; a leading background run of 0 when the crop starts with foreground.
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0] + runs
    return [int(r) for r in runs] + [left, top, right, bottom]


def decode_mask(points: Sequence[float], height: int, width: int) -> np.ndarray:
    """CVAT mask ``points`` -> bool [height,width]; PromptError if malformed."""
    vals = [float(v) for v in points]
    if len(vals) < 5 or any(not v.is_integer() or v < 0 for v in vals):
        raise PromptError(f"malformed CVAT mask: expected non-negative integer runs + box, got {len(vals)} numbers")
    *runs, left, top, right, bottom = (int(v) for v in vals)
    if not (0 <= left <= right < width and 0 <= top <= bottom < height):
        raise PromptError(f"CVAT mask box ({left},{top})-({right},{bottom}) lies outside the {width}x{height} frame")
    w, h = right - left + 1, bottom - top + 1
    if sum(runs) != w * h:
        raise PromptError(f"CVAT mask runs cover {sum(runs)} pixels but its {w}x{h} box has {w * h}")
    values = (np.arange(len(runs)) % 2).astype(bool)
    out = np.zeros((height, width), dtype=bool)
    out[top : bottom + 1, left : right + 1] = np.repeat(values, runs).reshape(h, w)
    return out


def polygon_to_mask(points: Sequence[float], height: int, width: int) -> np.ndarray:
    """CVAT polygon ``points`` [x0, y0, x1, y1, ...] (pixels) -> bool [height,width]
    (pixels on or inside the polygon); PromptError for fewer than 3 vertices."""
    import cv2

    pts = np.asarray([float(v) for v in points], dtype=np.float64)
    if pts.size < 6 or pts.size % 2:
        raise PromptError(f"a polygon needs at least 3 (x, y) vertices, got {pts.size} numbers")
    canvas = np.zeros((height, width), np.uint8)
    cv2.fillPoly(canvas, [np.round(pts.reshape(-1, 2)).astype(np.int32)], 1)
    return canvas.astype(bool)
