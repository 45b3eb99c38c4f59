"""FiftyOne labels <-> tam-label types.

Prompts follow FiftyOne's own SAM 2 conventions: a frame field holding
``Keypoints`` (normalised [x, y] points; a ``sam2_labels``/``sam_labels`` list
of 1/0 per point, all positive when absent), ``Detections`` (boxes; a
detection with a ``mask`` is a mask prompt) or a ``Segmentation`` (each
non-zero value of its mask is an object id). ``index`` is the object id,
``label`` the class. FiftyOne frame numbers start at 1, tam-label's at 0.

Output detections carry our bookkeeping attributes (``TAM_ATTRS``) so a re-run
replaces only what tam-label wrote and can tell when a user edited a mask.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import cv2
import numpy as np

from tam_core.errors import PromptError
from tam_core.prompts import to_pixels
from tam_core.types import Prompt

REFINED_ATTR = "refined"  # True when SAM refinement produced the mask
DIGEST_ATTR = "tam_digest"  # digest of the mask as written (edits change it)
PROMPT_ATTR = "tam_prompt"  # on a keyframe: digest of the prompt it came from
SOURCE_ATTR = "tam_source"  # on a keyframe: the prompt field(s) it came from, comma-separated
PHRASE_ATTR = "tam_phrase"  # on a pre-annotated object's masks: the concept phrase that found it
TAM_ATTRS = (REFINED_ATTR, DIGEST_ATTR, PROMPT_ATTR, SOURCE_ATTR, PHRASE_ATTR)
EDIT_PREFIX = "mask:"  # PROMPT_ATTR of keyframes that came from a user's mask edit
CONCEPT_PREFIX = "concept:"  # PROMPT_ATTR of a pre-annotated object's first frame (its keyframe mask)
MASK_PREFIXES = (EDIT_PREFIX, CONCEPT_PREFIX)  # keyframes whose prompt is the stored mask itself


def prompts_from_label(label: Any, frame_number: int, size: tuple[int, int], auto_ids: Mapping[str, int] | None = None) -> list[Prompt]:
    """Turn one frame's prompt label into Prompts (pixel coordinates, 0-based frame).

    label: fo.Keypoints, fo.Detections or fo.Segmentation; size: (H, W).
    auto_ids: class name -> object id for prompts without ``index`` (same
    class without index = same object; ``tam_core.prompts.assign_object_ids``);
    None: ``index`` is required. Normalised points go through
    ``tam_core.prompts.to_pixels`` (1.0 is the frame's right/bottom edge).
    """
    import fiftyone as fo

    h, w = size
    frame = int(frame_number) - 1
    out: list[Prompt] = []
    if isinstance(label, fo.Keypoints):
        for kp in label.keypoints:
            pts = np.asarray(kp.points or [], dtype=np.float64).reshape(-1, 2)
            labels = kp.get_field("sam2_labels") if kp.has_field("sam2_labels") else None
            if labels is None and kp.has_field("sam_labels"):
                labels = kp.get_field("sam_labels")
            labels = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels, np.int64).reshape(-1)
            if len(labels) != len(pts):
                raise PromptError(
                    f"keypoints on frame {frame_number}: {len(pts)} points but {len(labels)} sam2_labels; give one 1/0 per point"
                )
            keep = np.isfinite(pts).all(axis=1)  # FiftyOne stores missing points as NaN
            pts, labels = pts[keep], labels[keep]
            if len(pts):
                oid = _object_id(kp, frame_number, auto_ids)
                try:
                    pixels = to_pixels(pts, size)
                except PromptError as exc:
                    raise PromptError(f"keypoints of object {oid} on frame {frame_number}: {exc}") from None
                out.append(Prompt(frame, oid, kp.label, pixels, labels))
    elif isinstance(label, fo.Detections):
        for det in label.detections:
            box = box_to_pixels(det.bounding_box, size)
            mask = None
            if det.mask is not None:
                mask = paste_mask(np.asarray(det.mask), box, size)
            out.append(Prompt(frame, _object_id(det, frame_number, auto_ids), det.label, None, None, np.asarray(box, np.float32), mask))
    elif isinstance(label, fo.Segmentation):
        seg = label.get_mask()
        if seg is None:
            raise PromptError(f"segmentation prompt on frame {frame_number} has no mask (or mask_path)")
        seg = np.asarray(seg)
        if seg.ndim == 3:
            seg = seg[..., 0]
        if seg.shape != (h, w):
            seg = cv2.resize(seg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        for oid in np.unique(seg):
            if oid > 0:
                out.append(Prompt(frame, int(oid), None, mask=seg == oid))
    elif label is not None:
        raise PromptError(
            f"prompt field on frame {frame_number} holds {type(label).__name__}; use Keypoints, Detections or Segmentation"
        )
    return out


def explicit_ids(label: Any) -> list[int]:
    """The explicit object ids in one prompt label (``index`` values, or the
    values of a Segmentation prompt's mask)."""
    import fiftyone as fo

    if isinstance(label, fo.Keypoints):
        return [int(k.index) for k in label.keypoints if k.index is not None]
    if isinstance(label, fo.Detections):
        return [int(d.index) for d in label.detections if d.index is not None]
    if isinstance(label, fo.Segmentation):
        seg = label.get_mask()
        return [int(v) for v in np.unique(seg) if v > 0] if seg is not None else []
    return []


def automatic_keys(label: Any) -> list[str]:
    """The class names of one prompt label's objects without ``index`` (one
    automatic object per class name)."""
    import fiftyone as fo

    items = label.keypoints if isinstance(label, fo.Keypoints) else label.detections if isinstance(label, fo.Detections) else []
    return [x.label for x in items if x.index is None and x.label]


def _object_id(label: Any, frame_number: int, auto_ids: Mapping[str, int] | None) -> int:
    if label.index is not None:
        return int(label.index)
    if auto_ids is None or label.label not in auto_ids:
        raise PromptError(
            f"a prompt on frame {frame_number} has no `index` (nor a class label): set `index` to the object id (1, 2, ...)"
        )
    return auto_ids[label.label]


def box_to_pixels(bounding_box: Iterable[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """FiftyOne [x, y, w, h] (relative) -> pixel (x0, y0, x1, y1), x1/y1 exclusive."""
    h, w = size
    x, y, bw, bh = [float(v) for v in bounding_box]
    x0, y0 = int(round(x * w)), int(round(y * h))
    x1, y1 = int(round((x + bw) * w)), int(round((y + bh) * h))
    return max(x0, 0), max(y0, 0), min(max(x1, x0 + 1), w), min(max(y1, y0 + 1), h)


def paste_mask(crop: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """A detection's mask (cropped to its box) -> bool [H,W] full-frame mask."""
    x0, y0, x1, y1 = box
    crop = np.asarray(crop)
    if crop.ndim == 3:
        crop = crop[..., 0]
    crop = crop.astype(bool)
    if crop.shape != (y1 - y0, x1 - x0):
        crop = cv2.resize(crop.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST).astype(bool)
    full = np.zeros(size, bool)
    full[y0:y1, x0:x1] = crop
    return full


@dataclass(frozen=True)
class KeyframeTag:
    """What a keyframe's output detection records: the digest of the prompt
    it was tracked from (an edit changes it) and the prompt field(s) it came
    from (a correction reads them again, whatever fields it is given)."""

    digest: str
    sources: tuple[str, ...] = ()


def mask_to_detection(mask: np.ndarray, object_id: int, label: str | None, quality: float, refined: bool,
                      keyframe: KeyframeTag | None = None, attributes: Mapping[str, Any] | None = None):
    """bool [H,W] -> fo.Detection with the mask cropped to its tight box, or
    None when the mask is empty (absent objects get no detection).
    attributes: more fields set on the detection (e.g. ``PHRASE_ATTR``)."""
    import fiftyone as fo

    ys = np.flatnonzero(mask.any(axis=1))
    if len(ys) == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    x0, x1, y0, y1 = int(xs[0]), int(xs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1
    h, w = mask.shape
    crop = np.ascontiguousarray(mask[y0:y1, x0:x1])
    det = fo.Detection(
        label=label or f"object {object_id}",
        bounding_box=[x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h],
        mask=crop,
        index=int(object_id),
        confidence=float(quality),
    )
    det[REFINED_ATTR] = bool(refined)
    for name, value in (attributes or {}).items():
        det[name] = value
    det[DIGEST_ATTR] = detection_digest(det)
    if keyframe is not None:
        det[PROMPT_ATTR] = keyframe.digest
        if keyframe.sources:
            det[SOURCE_ATTR] = ",".join(keyframe.sources)
    return det


def detection_digest(det: Any) -> str:
    """Digest of a detection's geometry (box + mask): changes when a user edits it."""
    h = hashlib.blake2b(digest_size=8)
    h.update(np.round(np.asarray(det.bounding_box, np.float64), 6).tobytes())
    if det.mask is not None:
        m = np.asarray(det.mask).astype(bool)
        h.update(str(m.shape).encode())
        h.update(np.packbits(m).tobytes())
    return h.hexdigest()


def prompt_digest(p: Prompt) -> str:
    """Digest of a prompt's content (points, labels, box, mask, class)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(p.label).encode())
    for arr in (p.points, p.point_labels, p.box):
        h.update(b"|" if arr is None else np.round(np.asarray(arr, np.float64), 3).tobytes())
    h.update(b"|" if p.mask is None else np.packbits(np.asarray(p.mask, bool)).tobytes())
    return h.hexdigest()


def is_ours(det: Any) -> bool:
    """Was this detection written by tam-label (and not added by a user)?"""
    return det.has_field(DIGEST_ATTR) and det.get_field(DIGEST_ATTR) is not None


def is_edited(det: Any) -> bool:
    """A tam-label detection whose box or mask a user changed since we wrote it."""
    return is_ours(det) and det.get_field(DIGEST_ATTR) != detection_digest(det)
