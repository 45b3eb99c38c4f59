"""Deterministic doubles for refinement tests: a synthetic scene with known ground
truth, a tracker that damages chosen frames, and an oracle-like segmenter."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from tam_core.prompts import pixel_index
from tam_core.types import ObjectProbs, SegmenterOutput

H, W = 96, 128
DISC, SQUARE = 1, 2


def scene(num_frames: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """frames uint8 [T,H,W,3] (textured background, a moving disc, a static square)
    and ground-truth labels uint8 [T,H,W] (0 background, 1 disc, 2 square)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 120, size=(H, W, 3), dtype=np.uint8)
    frames = np.empty((num_frames, H, W, 3), np.uint8)
    gt = np.zeros((num_frames, H, W), np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    for t in range(num_frames):
        lab = np.zeros((H, W), np.uint8)
        lab[(yy - 45) ** 2 + (xx - (30 + 2 * t)) ** 2 <= 16**2] = DISC
        lab[60:88, 84:112] = SQUARE
        img = background.copy()
        img[lab == DISC] = (220, 60, 60)
        img[lab == SQUARE] = (60, 200, 80)
        frames[t], gt[t] = img, lab
    return frames, gt


def probs_from_masks(masks: dict[int, np.ndarray], ids: list[int], confidence: dict[int, float] | None = None,
                     blur: float = 1.0) -> np.ndarray:
    """float32 [K+1,H,W] probabilities whose argmax gives ``masks`` (soft 1-2 px edges)."""
    confidence = confidence or {}
    soft = []
    for oid in ids:
        m = cv2.GaussianBlur(masks[oid].astype(np.float32), (0, 0), blur)
        soft.append(np.clip(m * confidence.get(oid, 0.98), 0.005, None))
    s = np.stack(soft)
    bg = np.clip(1.0 - s.sum(0), 0.005, None)
    p = np.concatenate([bg[None], s])
    return (p / p.sum(0, keepdims=True)).astype(np.float32)


def damage(mask: np.ndarray, kind: str) -> np.ndarray:
    """A tracker failure mode applied to a bool [H,W] mask."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))
    if kind == "erode":
        return cv2.erode(mask.astype(np.uint8), k).astype(bool)
    if kind == "hole":
        out = mask.copy()
        cy, cx = np.argwhere(mask).mean(0).astype(int)
        out[cy - 8 : cy + 8, cx - 8 : cx + 8] = False
        return out
    if kind == "spill":
        out = mask.copy()
        ys, xs = np.nonzero(mask)
        out[ys.min() - 14 : ys.min() + 6, xs.min() : xs.max() + 1] = True  # a slab above the object
        return out
    raise ValueError(kind)


@dataclass
class DegradedTracker:
    """Yields the probabilities a tracker would give: the ground truth, except on
    ``damaged`` frames ({frame: (object_id, kind)}) where one object's mask is
    damaged; kind "lowconf" keeps the mask but makes the tracker unsure of it."""

    gt: np.ndarray
    damaged: dict[int, tuple[int, str]] = field(default_factory=dict)
    ids: tuple[int, ...] = (DISC, SQUARE)

    def probs(self, t: int) -> ObjectProbs:
        masks = {oid: self.gt[t] == oid for oid in self.ids}
        conf = {}
        if t in self.damaged:
            oid, kind = self.damaged[t]
            if kind == "lowconf":
                conf[oid] = 0.55
            else:
                masks[oid] = damage(masks[oid], kind)
                for other in self.ids:  # keep the masks disjoint like an argmax
                    if other != oid:
                        masks[other] &= ~masks[oid]
        return ObjectProbs(self.ids, probs_from_masks(masks, list(self.ids), conf))


@dataclass
class OracleSegmenter:
    """Returns the connected ground-truth regions under the positive points, minus
    regions hit by negative points; predicted IoU is high only when every positive
    point lands on one non-background label that no negative point contradicts.
    ``answer`` overrides the label it segments (e.g. to simulate SAM jumping to
    another object). Its "embedding" of an image is the index of the frame of
    ``frames`` with those pixels; ``embed_calls`` lists them in call order."""

    gt: np.ndarray  # uint8 [T,H,W]
    frames: np.ndarray  # uint8 [T,H,W,3], the video gt labels
    answer: int | None = None
    embed_calls: list = field(default_factory=list)
    predict_calls: list = field(default_factory=list)

    def embed(self, image):
        frame = next(t for t in range(len(self.frames)) if np.array_equal(self.frames[t], image))
        self.embed_calls.append(frame)
        return frame

    def predict(self, embedding, points=None, point_labels=None, box=None, mask_input=None, multimask=True):
        self.predict_calls.append((np.asarray(points).copy(), np.asarray(point_labels).copy(), mask_input))
        lab = self.gt[embedding]
        pos = [tuple(p) for p, label in zip(points, point_labels) if label == 1]
        neg = [tuple(p) for p, label in zip(points, point_labels) if label == 0]
        pos_labels = set(lab[pixel_index(pos, lab.shape)].tolist())
        neg_labels = set(lab[pixel_index(neg, lab.shape)].tolist())
        if self.answer is not None:
            pos_labels = {self.answer}
        out = np.zeros(lab.shape, bool)
        for v in pos_labels - neg_labels:
            n, comp = cv2.connectedComponents((lab == v).astype(np.uint8))
            for y, x in zip(*pixel_index(pos, lab.shape)) if self.answer is None else [np.argwhere(lab == v)[0]]:
                c = comp[y, x]
                if c:
                    out |= comp == c
        good = len(pos_labels) == 1 and 0 not in pos_labels and not (pos_labels & neg_labels)
        low = np.zeros((1, 32, 32), np.float32)
        return SegmenterOutput(mask=out, iou=0.95 if good else 0.3, low_res_logits=low)

    def mask_to_logits(self, mask):
        return np.zeros((1, 32, 32), np.float32)
