"""Deterministic test doubles for the model protocols in ``tam_core.types``.

On ``tests.synthetic`` videos (flat-colored objects on a gray background) they
reproduce the ground truth exactly, so tests can assert exact geometry:

- ``ColorSegmenter`` (a ``Segmenter``): the connected region of the clicked color.
- ``ColorTracker`` (a ``Tracker``): each object is the set of pixels of the color
  it had under its given mask. ``ColorTrackerFactory`` builds trackers for a
  session and keeps one shared call log across all of them.
- ``ArrayFrames`` (a ``FrameSource``) over an array that counts decoded frames.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

import cv2
import numpy as np

from tam_core.prompts import pixel_index
from tam_core.types import ObjectProbs, SegmenterOutput

LOW_RES = 256  # SAM's low-res mask side
COLOR_TOL = 40  # max per-channel difference that still counts as "the same color"
MIN_SATURATION = 60  # max-min channel spread of an object color (the gray background has ~0)


def _same_color(image: np.ndarray, color: np.ndarray, tol: int = COLOR_TOL) -> np.ndarray:
    """bool [H,W]: pixels within ``tol`` of ``color`` on every channel."""
    diff = np.abs(image.astype(np.int16) - np.asarray(color, np.int16).reshape(1, 1, 3))
    return diff.max(axis=2) <= tol


def _component_at(binary: np.ndarray, y: int, x: int) -> np.ndarray:
    """bool [H,W]: the 4-connected component of ``binary`` containing (y, x)."""
    if not binary[y, x]:
        return np.zeros_like(binary)
    _, labels = cv2.connectedComponents(binary.astype(np.uint8), connectivity=4)
    return labels == labels[y, x]


def _mode_color(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The most frequent color of ``image`` under ``mask`` (None if empty)."""
    pixels = image[mask]
    if len(pixels) == 0:
        return None
    colors, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    return colors[int(np.argmax(counts))]


def mask_to_low_res(mask: np.ndarray) -> np.ndarray:
    """bool [H,W] -> float32 [1,256,256] logits in SAM's layout (longest side
    scaled to 256, padded bottom/right), about +10 inside, -10 outside."""
    h, w = mask.shape
    scale = LOW_RES / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(mask.astype(np.float32), (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.full((1, LOW_RES, LOW_RES), -10.0, np.float32)
    out[0, :nh, :nw] = (small - 0.5) * 20.0
    return out


def low_res_to_mask(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Inverse of ``mask_to_low_res``: float [1,256,256] -> bool [H,W]."""
    h, w = size
    scale = LOW_RES / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    crop = np.ascontiguousarray(np.asarray(logits, np.float32).reshape(LOW_RES, LOW_RES)[:nh, :nw])
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR) > 0


@dataclass(frozen=True, eq=False)
class ColorEmbedding:
    """ColorSegmenter's "embedding": the image itself (uint8 [H,W,3])."""

    image: np.ndarray

    @property
    def original_size(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


class ColorSegmenter:
    """Segments the connected region of uniform color under the click(s).

    - positive points: union of the color components under them (restricted to
      the box if one is given); negative points remove the component under them;
    - box alone: every pixel inside the box of the most frequent object color
      (a saturated color) in the box;
    - mask_input alone: the object-colored components the mask covers by more
      than half.
    Like every ``Segmenter`` it keeps no current image: ``embed(image)`` returns
    the image as its "embedding" and ``predict(embedding, ...)`` prompts it.
    Counters ``embed_calls`` (encoder runs) / ``predict_calls`` and the list
    ``calls`` (dicts of the arguments) let tests assert how the segmenter was
    used (counters are guarded by a lock: test threads share one double).
    """

    def __init__(self, iou: float = 0.95, tol: int = COLOR_TOL):
        self.iou = iou
        self.tol = tol
        self._lock = threading.Lock()
        self.embed_calls = 0
        self.predict_calls = 0
        self.calls: list[dict] = []

    @staticmethod
    def _check(image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 [H,W,3], got {image.dtype} {image.shape}")
        return image

    def embed(self, image: np.ndarray) -> ColorEmbedding:
        with self._lock:
            self.embed_calls += 1
        return ColorEmbedding(self._check(image).copy())

    def mask_to_logits(self, mask: np.ndarray) -> np.ndarray:
        return mask_to_low_res(mask)

    def predict(self, embedding: ColorEmbedding, points=None, point_labels=None, box=None, mask_input=None,
                multimask=True) -> SegmenterOutput:
        if not isinstance(embedding, ColorEmbedding):
            raise TypeError(f"embedding must come from ColorSegmenter.embed, got {type(embedding).__name__}")
        with self._lock:
            self.predict_calls += 1
            self.calls.append(
                dict(points=None if points is None else np.asarray(points).copy(),
                     point_labels=None if point_labels is None else np.asarray(point_labels).copy(),
                     box=None if box is None else np.asarray(box).copy(),
                     mask_input=mask_input is not None, multimask=multimask)
            )
        img = embedding.image
        h, w = img.shape[:2]
        region = np.ones((h, w), bool)
        if box is not None:
            x0, y0, x1, y1 = [int(round(v)) for v in np.asarray(box, float).reshape(4)]
            region = np.zeros((h, w), bool)
            region[max(0, y0): min(h, y1 + 1), max(0, x0): min(w, x1 + 1)] = True
        mask = np.zeros((h, w), bool)
        pts = np.zeros((0, 2)) if points is None else np.asarray(points, float).reshape(-1, 2)
        labels = np.ones(len(pts), int) if point_labels is None else np.asarray(point_labels).reshape(-1)
        for yi, xi, lab in zip(*pixel_index(pts, (h, w)), labels):
            comp = _component_at(_same_color(img, img[yi, xi], self.tol) & region, yi, xi)
            mask = mask | comp if lab == 1 else mask & ~comp
        if not (labels == 1).any():
            if box is not None:
                color = _mode_color(img, region & self._saturated(img))
                if color is not None:
                    mask = (_same_color(img, color, self.tol) & region) & ~self._negatives(img, pts, labels)
            elif mask_input is not None:
                mask = self._covered(img, low_res_to_mask(mask_input, (h, w))) & ~self._negatives(img, pts, labels)
        return SegmenterOutput(mask=mask, iou=self.iou if mask.any() else 0.0, low_res_logits=mask_to_low_res(mask))

    def _negatives(self, img, pts, labels) -> np.ndarray:
        out = np.zeros(img.shape[:2], bool)
        for yi, xi, lab in zip(*pixel_index(pts, img.shape[:2]), labels):
            if lab == 0:
                out |= _component_at(_same_color(img, img[yi, xi], self.tol), yi, xi)
        return out

    @staticmethod
    def _saturated(img: np.ndarray) -> np.ndarray:
        return (img.max(axis=2).astype(np.int16) - img.min(axis=2)) >= MIN_SATURATION

    def _covered(self, img: np.ndarray, prior: np.ndarray) -> np.ndarray:
        out = np.zeros(prior.shape, bool)
        sat = self._saturated(img)
        seen = np.zeros(prior.shape, bool)
        for y, x in zip(*np.nonzero(prior & sat)):
            if seen[y, x]:
                continue
            comp = _component_at(_same_color(img, img[y, x], self.tol), y, x)
            seen |= comp
            if (comp & prior).sum() * 2 > comp.sum():
                out |= comp
        return out


@dataclass
class TrackerCall:
    """One call on a ColorTracker: kind is "step", "amend", "remove" or "reset";
    frame is the frame index (if the tracker knows the frames) else None;
    step is the tracker's step counter; ids are the object ids passed as masks."""

    tracker: int
    kind: str
    frame: int | None
    step: int
    ids: tuple[int, ...] = ()
    end: bool = False


class ColorTracker:
    """Tracks each object by the color it had under its given mask.

    ``step`` returns ObjectProbs (object id -> float32 [H,W]): 0.95 on the
    pixels assigned to an object, the rest spread over the others. With
    ``reverse_channels`` its rows come in the reverse of ``object_ids`` (a
    consumer that maps ids to rows by position gets the wrong objects). Objects
    given in ``masks`` return exactly that mask on that frame and (re)learn
    their color from it (a correction). ``frame_index_of`` (e.g.
    ``SyntheticVideo.index_of``) maps an image to its frame index for the call
    log and ``degrade_on``: on those frames every object's mask loses its right
    half (probability 0.6) and stays damaged on later frames until ``amend`` or
    a new mask for that object, like a real tracker drifting.
    """

    def __init__(
        self,
        frame_index_of: Callable[[np.ndarray], int | None] | None = None,
        degrade_on: set[int] | frozenset[int] = frozenset(),
        calls: list[TrackerCall] | None = None,
        tracker_no: int = 0,
        tol: int = COLOR_TOL,
        reverse_channels: bool = False,
    ):
        self.frame_index_of = frame_index_of
        self.degrade_on = set(degrade_on)
        self.calls: list[TrackerCall] = calls if calls is not None else []
        self.tracker_no = tracker_no
        self.tol = tol
        self.reverse_channels = reverse_channels
        self._colors: dict[int, np.ndarray] = {}
        self._damaged: set[int] = set()
        self._steps = 0
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # (image, probs) of the last step
        self.ended = False

    @property
    def object_ids(self) -> list[int]:
        return list(self._colors)

    def _log(self, kind: str, frame: int | None, ids=(), end=False) -> None:
        self.calls.append(TrackerCall(self.tracker_no, kind, frame, self._steps, tuple(ids), end))

    def step(self, image: np.ndarray, masks: Mapping[int, np.ndarray] | None = None, end: bool = False) -> ObjectProbs:
        image = np.asarray(image)
        h, w = image.shape[:2]
        masks = {int(k): np.asarray(v, bool) for k, v in (masks or {}).items()}
        for oid, m in masks.items():
            if oid < 1:
                raise ValueError(f"object ids must be >= 1, got {oid}")
            if m.shape != (h, w):
                raise ValueError(f"mask for object {oid} has shape {m.shape}, expected {(h, w)}")
            color = _mode_color(image, m)
            if color is not None:
                self._colors[oid] = color
            elif oid not in self._colors:
                self._colors[oid] = np.array([-1000, -1000, -1000])  # matches nothing until corrected
            self._damaged.discard(oid)
        frame = self.frame_index_of(image) if self.frame_index_of else None
        self._log("step", frame, sorted(masks), end)
        self._steps += 1
        if frame is not None and frame in self.degrade_on:
            self._damaged |= set(self._colors) - set(masks)
        ids = self.object_ids
        hard = np.zeros((len(ids), h, w), bool)
        conf = np.full(len(ids), 0.95, np.float32)
        taken = np.zeros((h, w), bool)
        for i, oid in enumerate(ids):
            if oid in masks:
                m = masks[oid]
            else:
                m = _same_color(image, self._colors[oid], self.tol) & ~taken
                if oid in self._damaged and m.any():
                    xs = np.nonzero(m.any(axis=0))[0]
                    m[:, (xs[0] + xs[-1]) // 2 + 1:] = False
                    conf[i] = 0.6
            hard[i] = m & ~taken
            taken |= hard[i]
        probs = self._probs(hard, conf)
        self._last = (image, probs)
        self.ended = end
        if self.reverse_channels:
            return ObjectProbs(tuple(reversed(ids)), np.concatenate([probs[:1], probs[:0:-1]]))
        return ObjectProbs(tuple(ids), probs)

    @staticmethod
    def _probs(hard: np.ndarray, conf: np.ndarray) -> np.ndarray:
        k, h, w = hard.shape
        probs = np.empty((k + 1, h, w), np.float32)
        bg = ~hard.any(axis=0)
        rest = 0.05 / max(k, 1)
        probs[0] = np.where(bg, 0.95, rest)
        for i in range(k):
            probs[i + 1] = np.where(hard[i], conf[i], np.where(bg, rest, (1 - conf[i]) / max(k, 1)))
        probs /= probs.sum(axis=0, keepdims=True)
        return probs

    def amend(self, masks: Mapping[int, np.ndarray]) -> None:
        if self._last is None:
            raise RuntimeError("amend() before any step()")
        image, _ = self._last
        for oid, m in masks.items():
            if oid not in self._colors:
                raise KeyError(f"amend() for unknown object {oid}")
            color = _mode_color(image, np.asarray(m, bool))
            if color is not None:
                self._colors[oid] = color
            self._damaged.discard(oid)
        self._log("amend", self.frame_index_of(image) if self.frame_index_of else None, sorted(masks))

    def remove_object(self, object_id: int) -> None:
        self._colors.pop(object_id, None)
        self._damaged.discard(object_id)
        self._log("remove", None, (object_id,))

    def reset(self) -> None:
        self._colors.clear()
        self._damaged.clear()
        self._last = None
        self._log("reset", None)


class ColorTrackerFactory:
    """``tracker_factory`` for a session: builds ColorTrackers sharing one call log.

    ``trackers`` lists every tracker built (in order); ``calls`` is the merged log;
    ``configs`` the per-run tracker config each was built with (the session
    passes ``RunOptions.xmem_config``; the color trackers ignore it).
    """

    def __init__(self, frame_index_of=None, degrade_on=frozenset(), tol: int = COLOR_TOL,
                 reverse_channels: bool = False):
        self.frame_index_of = frame_index_of
        self.degrade_on = set(degrade_on)
        self.tol = tol
        self.reverse_channels = reverse_channels
        self.trackers: list[ColorTracker] = []
        self.calls: list[TrackerCall] = []
        self.configs: list[object] = []

    def __call__(self, config: object = None) -> ColorTracker:
        self.configs.append(config)
        t = ColorTracker(self.frame_index_of, self.degrade_on, self.calls, len(self.trackers), self.tol,
                         self.reverse_channels)
        self.trackers.append(t)
        return t

    def stepped(self, tracker: int | None = None) -> list[int | None]:
        """Frame indices stepped (in order), for one tracker or all."""
        return [c.frame for c in self.calls if c.kind == "step" and (tracker is None or c.tracker == tracker)]

    def amended(self) -> list[tuple[int | None, tuple[int, ...]]]:
        """(frame, object ids) of every amend call, in order."""
        return [(c.frame, c.ids) for c in self.calls if c.kind == "amend"]

    def clear(self) -> None:
        self.calls.clear()


@dataclass
class ArrayFrames:
    """A ``FrameSource`` over frames uint8 [T,H,W,3] that counts decoded frames."""

    frames: np.ndarray
    fps: float = 10.0
    decoded: int = 0
    decoded_indices: list[int] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> np.ndarray:
        if not -self.num_frames <= index < self.num_frames:
            raise IndexError(f"frame {index} out of range 0..{self.num_frames - 1}")
        index %= self.num_frames
        self.decoded += 1
        self.decoded_indices.append(index)
        return self.frames[index].copy()

    def iter_frames(self, start: int = 0, stop: int | None = None, reverse: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        order = range(stop - 1, start - 1, -1) if reverse else range(start, stop)
        for i in order:
            yield i, self[i]


class ColorConcepts:
    """A ``ConceptTracker`` double: a phrase finds the objects drawn in the
    colors ``found[phrase]`` lists (``tracker id -> RGB``): each one's mask is
    its color's pixels in the frame given (``_same_color``), its score
    ``score``; an object whose color is not on a frame is not found there.
    From the ``damage_from``-th step on, each mask loses its right half (a
    poor pre-annotation a person then corrects)."""

    def __init__(self, prompt, found: dict[str, dict[int, tuple[int, int, int]]], score: float = 0.9,
                 damage_from: int | None = None):
        self.prompt, self.found, self.score, self.damage_from = prompt, found, score, damage_from
        self.steps = 0

    def step(self, image: np.ndarray) -> list:
        from tam_core.concepts.tracker import FoundObject

        out = []
        damaged = self.damage_from is not None and self.steps >= self.damage_from
        self.steps += 1
        for phrase in self.prompt.phrases:
            for tid, color in sorted(self.found.get(phrase, {}).items()):
                mask = _same_color(image, np.asarray(color))
                if mask.any() and damaged:
                    xs = np.flatnonzero(mask.any(axis=0))
                    mask[:, (xs[0] + xs[-1]) // 2 + 1:] = False
                if mask.any():
                    out.append(FoundObject(tid, self.prompt.label_of(phrase), phrase, self.score, mask))
        return out


class ColorConceptFactory:
    """``prompt -> ColorConcepts`` (the loaded concept model's double); ``prompts`` lists the prompts seen."""

    def __init__(self, found: dict[str, dict[int, tuple[int, int, int]]], score: float = 0.9,
                 damage_from: int | None = None):
        self.found, self.score, self.damage_from, self.prompts = found, score, damage_from, []

    def __call__(self, prompt) -> ColorConcepts:
        self.prompts.append(prompt)
        return ColorConcepts(prompt, self.found, self.score, self.damage_from)
