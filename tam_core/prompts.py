"""The one prompt contract: points, boxes, masks, frames and object ids.

Every entry point (session, operators, SAM, CLI, FiftyOne, CVAT) checks
prompts here, so one rule holds everywhere:

* Pixel coordinates are continuous: pixel (row i, column j) covers
  [j, j+1) x [i, i+1), and a W x H frame spans the CLOSED rectangle
  [0, W] x [0, H]. A point at x == W (or y == H) is valid and lies on the last
  pixel column (row): :func:`pixel_index` is the one way to look a pixel up.
* Normalised coordinates (FiftyOne) are in [0, 1] closed; :func:`to_pixels`
  maps them to pixels (1.0 -> W or H, on the last pixel).
* A box (x0, y0, x1, y1) needs 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H.
* Object ids are integers >= 1, at most ``max_object_id`` where the output
  limits them (:data:`PNG_MAX_OBJECT_ID` = 255 for indexed PNGs). An explicit id
  is never changed; automatic ids start above the largest explicit id
  (:class:`AutomaticIds` one at a time, :func:`assign_object_ids` all at once).
"""

from __future__ import annotations

from typing import Hashable, Iterable, Sequence

import numpy as np

from tam_core.errors import PromptError, frame_label
from tam_core.types import Prompt

PNG_MAX_OBJECT_ID = 255  # the largest object id an indexed (palette) PNG can hold


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _floats(value: object, what: str, where: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise PromptError(f"{_prefix(where)}{what} must be numbers, got {value!r:.80}") from None


def check_object_id(object_id: object, max_object_id: int | None = None, where: str = "") -> int:
    """An explicit object id as int; PromptError unless an integer in 1..max_object_id."""
    ok = isinstance(object_id, (int, np.integer)) and not isinstance(object_id, (bool, np.bool_))
    if ok and object_id >= 1 and (max_object_id is None or object_id <= max_object_id):
        return int(object_id)
    if max_object_id is None:
        rule = "object ids must be integers >= 1"
    elif max_object_id == PNG_MAX_OBJECT_ID:
        rule = f"object ids must be integers 1..{max_object_id} (the most an indexed PNG holds)"
    else:
        rule = f"object ids must be integers 1..{max_object_id}"
    raise PromptError(f"{_prefix(where)}{rule}, got {int(object_id) if ok else repr(object_id)}")


def check_points(points: object, point_labels: object, size: Sequence[int],
                 where: str = "") -> tuple[np.ndarray | None, np.ndarray | None]:
    """Points float64 [N,2] pixel (x, y) inside the closed frame and labels int64 [N]
    (1 positive, 0 negative; all 1 when None). An empty array means no points: (None, None)."""
    if points is None or np.size(points) == 0:
        if point_labels is not None and np.size(point_labels):
            raise PromptError(f"{_prefix(where)}point labels given without points")
        return None, None
    pts = _floats(points, "points", where)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise PromptError(f"{_prefix(where)}points must be [N,2] pixel (x, y), got shape {tuple(pts.shape)}")
    h, w = int(size[0]), int(size[1])
    bad = ~np.isfinite(pts).all(1) | (pts[:, 0] < 0) | (pts[:, 0] > w) | (pts[:, 1] < 0) | (pts[:, 1] > h)
    if bad.any():
        x, y = pts[np.argmax(bad)]
        raise PromptError(f"{_prefix(where)}point ({x:g}, {y:g}) is outside the {w}x{h} frame "
                          f"(x in [0, {w}], y in [0, {h}])")
    if point_labels is None:
        return pts, np.ones(len(pts), np.int64)
    labels = np.asarray(point_labels).reshape(-1)
    if len(labels) != len(pts):
        raise PromptError(f"{_prefix(where)}{len(pts)} points but {len(labels)} point labels")
    if not np.isin(labels, (0, 1)).all():
        raise PromptError(f"{_prefix(where)}point labels must be 1 (positive) or 0 (negative), got {labels.tolist()}")
    return pts, labels.astype(np.int64)


def check_box(box: object, size: Sequence[int], where: str = "") -> np.ndarray | None:
    """A box float64 [4] (x0, y0, x1, y1) with 0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H."""
    if box is None:
        return None
    b = _floats(box, "a box", where).reshape(-1)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise PromptError(f"{_prefix(where)}a box is 4 numbers x0, y0, x1, y1, got {np.asarray(box).tolist()}")
    h, w = int(size[0]), int(size[1])
    x0, y0, x1, y1 = b
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise PromptError(f"{_prefix(where)}box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) must satisfy "
                          f"0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h}")
    return b


def check_mask_input(mask_input: object, low_res_size: int) -> np.ndarray | None:
    """A segmenter's mask prompt (its own low-res logits, ``mask_to_logits``) as
    float32 [1,L,L] (a [L,L] array is accepted); None stays None."""
    if mask_input is None:
        return None
    mi = np.asarray(mask_input, dtype=np.float32)
    if mi.ndim == 2:
        mi = mi[None]
    n = int(low_res_size)
    if mi.shape != (1, n, n):
        raise PromptError(f"mask_input has shape {tuple(np.shape(mask_input))}, expected (1, {n}, {n}) "
                          "low-res logits (use mask_to_logits)")
    return mi


def check_segmenter_prompt(points: object, point_labels: object, box: object, mask_input: object,
                           size: Sequence[int], low_res_size: int):
    """What every segmenter's ``predict`` checks: points and labels, a box (both
    against the image of ``size`` (H, W)) and its own mask prompt, at least one
    given. Returns (points, labels, box, mask_input, ambiguous): ambiguous is a
    single point alone, the one prompt segment_anything answers with several
    candidates."""
    pts, lbl = check_points(points, point_labels, size)
    bx = check_box(box, size)
    mi = check_mask_input(mask_input, low_res_size)
    if pts is None and bx is None and mi is None:
        raise PromptError("empty prompt: give points, a box or a mask")
    ambiguous = pts is not None and len(pts) == 1 and bx is None and mi is None
    return pts, lbl, bx, mi, ambiguous


def check_mask(mask: object, size: Sequence[int], where: str = "") -> np.ndarray | None:
    """A mask prompt as bool [H,W] of the frame's size, with at least one pixel set."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.ndim != 2 or tuple(m.shape) != (int(size[0]), int(size[1])):
        raise PromptError(f"{_prefix(where)}mask has shape {tuple(m.shape)}, expected {tuple(int(s) for s in size)} "
                          "(H, W) of the frame")
    m = m.astype(bool)
    if not m.any():
        raise PromptError(f"{_prefix(where)}the mask prompt is empty; give the object's pixels (or points or a box)")
    return m


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def validate_prompt(prompt: Prompt, num_frames: int, size: Sequence[int], max_object_id: int | None = None) -> Prompt:
    """Check one prompt against a video of ``num_frames`` frames of ``size`` (H, W).

    Returns the prompt with canonical types: frame and object_id int, points
    float64 [N,2], point_labels int64 [N] (all 1 when not given), box float64
    [4], mask bool [H,W]; absent parts stay None. Raises PromptError (one line,
    naming the object and frame) on the first violation of the module's rules.
    """
    shown = frame_label(prompt.frame) if _is_int(prompt.frame) else prompt.frame  # the user's numbering
    where = f"prompt for object {prompt.object_id} on frame {shown}"
    frame = prompt.frame
    if isinstance(frame, (bool, np.bool_)) or not isinstance(frame, (int, np.integer)) or not 0 <= frame < num_frames:
        raise PromptError(f"{where}: frame {shown} does not exist "
                          f"(the video has frames {frame_label(0)}..{frame_label(num_frames - 1)})")
    object_id = check_object_id(prompt.object_id, max_object_id, where)
    points, labels = check_points(prompt.points, prompt.point_labels, size, where)
    box = check_box(prompt.box, size, where)
    mask = check_mask(prompt.mask, size, where)
    if points is None and box is None and mask is None:
        raise PromptError(f"{where} has no points, box or mask")
    return Prompt(int(frame), object_id, prompt.label, points, labels, box, mask)


def to_pixels(xy_normalised: object, size: Sequence[int]) -> np.ndarray:
    """Normalised (x, y) in [0, 1] -> pixel (x, y): float [...,2] -> float64 [...,2].

    x * W and y * H, so 1.0 maps to the right/bottom edge (valid, on the last
    pixel). Values outside [0, 1] (or not finite) raise PromptError.
    """
    xy = np.asarray(xy_normalised, dtype=np.float64)
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise PromptError(f"normalised points must be [...,2] (x, y), got shape {tuple(xy.shape)}")
    bad = ~np.isfinite(xy).all(-1) | (xy < 0).any(-1) | (xy > 1).any(-1)
    if bad.any():
        x, y = xy.reshape(-1, 2)[np.argmax(bad.reshape(-1))]
        raise PromptError(f"normalised point ({x:g}, {y:g}) is outside [0, 1] x [0, 1]")
    return xy * np.array([int(size[1]), int(size[0])], dtype=np.float64)


def pixel_index(points: object, size: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The pixels under points float [N,2] (x, y) of a closed [0, W] x [0, H]
    frame: (rows int64 [N], cols int64 [N]) for ``array[rows, cols]``; x == W
    maps to the last column, y == H to the last row."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h, w = int(size[0]), int(size[1])
    cols = np.clip(np.floor(pts[:, 0]), 0, w - 1).astype(np.int64)
    rows = np.clip(np.floor(pts[:, 1]), 0, h - 1).astype(np.int64)
    return rows, cols


class AutomaticIds:
    """Ids for objects that have none, next to objects with explicit ids.

    explicit: every explicit id of the input (validated, never changed; read
    all of them first, e.g. on every frame). Calling the allocator with an
    object's key (e.g. its class label; equal keys are one object) returns its
    id: the first key gets the largest explicit id + 1, each new key the next,
    so no automatic id can collide with an explicit one. ``ids``: key -> id.
    """

    def __init__(self, explicit: Iterable[int] = (), max_object_id: int | None = None) -> None:
        self.max_object_id = max_object_id
        self._next = max((check_object_id(i, max_object_id) for i in explicit), default=0) + 1
        self.ids: dict[Hashable, int] = {}

    def __call__(self, key: Hashable) -> int:
        if key not in self.ids:
            if self.max_object_id is not None and self._next > self.max_object_id:
                raise PromptError(f"too many objects: an automatic id for {key!r} would be {self._next}, "
                                  f"above the largest allowed id {self.max_object_id}")
            self.ids[key] = self._next
            self._next += 1
        return self.ids[key]


def assign_object_ids(explicit: Iterable[int], automatic: Iterable[Hashable],
                      max_object_id: int | None = None) -> dict[Hashable, int]:
    """All at once with :class:`AutomaticIds`: key -> id for the keys of
    ``automatic`` (in order of first appearance), above every ``explicit`` id."""
    allocate = AutomaticIds(explicit, max_object_id)
    for key in automatic:
        allocate(key)
    return allocate.ids


__all__ = ["PNG_MAX_OBJECT_ID", "AutomaticIds", "assign_object_ids", "check_box", "check_mask", "check_mask_input",
           "check_object_id", "check_points", "check_segmenter_prompt",
           "pixel_index", "to_pixels", "validate_prompt"]
