"""The tracking session: objects, keyframes, propagation and corrections.

The only place that knows the four Track-Anything steps together: prompts are
turned into keyframe masks by the segmenter (step 1), trackers propagate them
(step 2), an optional refiner repairs degraded frames (step 3), and a later
prompt on a tracked frame re-tracks only the frames it now owns (step 4).

State lives here, never in the model objects (SAM 2 video-predictor style):
objects with their keyframes (masks and the clicks that made them), and which
keyframes still need tracking. Trackers are built fresh for each run of frames
by ``tracker_factory`` and dropped afterwards, so the session holds
O(objects x keyframes) masks and never per-frame results: memory does not grow
with the video length.

Propagation rule (see ``tam_core.sessions.spans``): every frame of an object is tracked
from its nearest keyframe in the allowed direction(s) — ``forward``: the latest
keyframe at or before it; ``backward``: the earliest at or after it; ``both``:
the nearest, ties to the earlier (forward) one. Under ``forward`` the frames
before an object's first keyframe are *not yielded* for that object (it is
absent there; under ``backward`` likewise after the last keyframe), except
that after a change of direction the frames an object no longer covers are
yielded once with an empty mask so consumers clear what they stored.

``propagate`` runs a forward pass then a backward pass; a frame may be yielded
by both, for different objects (consumers merge by object, see
``FrameResult``). Results come out lazily, frame by frame, as the frames are
decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from tam_core.errors import PromptError
from tam_core.options import RunOptions
from tam_core.prompts import validate_prompt
from tam_core.segmenters.cache import EmbeddingCache
from tam_core.refinement.quality import ObjectHistory, score_frame, update_histories
from tam_core.sessions.spans import Span, TrackerRun, check_direction, coverage, keyframe_spans, plan_runs
from tam_core.types import FrameResult, FrameSource, ObjectProbs, Prompt, Segmenter, Tracker, as_bool_mask


@dataclass(frozen=True)
class ObjectInfo:
    """An object of the session: id >= 1, optional class label, sorted keyframe frames."""

    id: int
    label: str | None
    keyframes: tuple[int, ...]


@dataclass
class _Keyframe:
    """One object's keyframe: the mask and the prompts that produced it.

    mask: bool [H,W]; points: float [N,2]; point_labels: int [N]; box: float [4];
    logits: the last segmenter answer's low-res logits (next mask_input).
    """

    mask: np.ndarray
    quality: float
    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    box: np.ndarray | None = None
    logits: np.ndarray | None = None


@dataclass
class _Object:
    label: str | None
    keyframes: dict[int, _Keyframe] = field(default_factory=dict)


class TrackingSession:
    """Interactive video object segmentation over one video.

    frames: the video (lazy ``FrameSource``); tracker_factory: builds a fresh
    ``Tracker`` for each run of frames, called with ``options.xmem_config``;
    segmenter: turns clicks/boxes into masks (needed only for point/box
    prompts); refiner: ``tam_core.refinement.Refiner`` (anything with
    ``refine_frame(frame_index, image, probs: ObjectProbs, histories, options,
    scored, embeddings)`` returning ``masks`` and ``refined``), optional.

    Every tracked mask is scored (``tam_core.refinement.quality``, calibrated by
    ``options.refine_options``) whether or not the run refines; the session
    keeps the objects' histories, and the refiner only decides what to do with
    a low score. The models are shared and
    stateless; the session keeps its own frames' embeddings (``embedding_cache``
    frames, LRU; or a caller's cache keyed by this video's frame index, e.g.
    ``EmbeddingCache.scoped(video path)``), shared by its clicks and its refiner, so no frame is encoded
    twice for a prompt and a repair, and re-prompting a frame (a refined one
    included) does not re-encode it.
    """

    def __init__(
        self,
        frames: FrameSource,
        tracker_factory: Callable[..., Tracker],
        segmenter: Segmenter | None = None,
        refiner: Any = None,
        options: RunOptions = RunOptions(),
        embedding_cache: Any = 4,
    ):
        self.frames = frames
        self.tracker_factory = tracker_factory
        self.segmenter = segmenter
        self.refiner = refiner
        self.options = options
        self.num_frames = int(frames.num_frames)
        self.size = (int(frames.size[0]), int(frames.size[1]))
        self._objects: dict[int, _Object] = {}
        # keyed by this video's frame index; a caller's cache (e.g. EmbeddingCache.scoped) is shared as given
        self._embeddings = embedding_cache if hasattr(embedding_cache, "embed") else EmbeddingCache(embedding_cache)
        # Keyframes whose spans must be (re)tracked by the next propagate().
        self._dirty: set[tuple[int, int]] = set()
        # Direction of the last completed propagation (None: nothing tracked yet).
        self._tracked_direction: str | None = None

    # ------------------------------------------------------------------ objects
    @property
    def objects(self) -> dict[int, ObjectInfo]:
        """object id -> ObjectInfo, by increasing id."""
        return {
            oid: ObjectInfo(oid, o.label, tuple(sorted(o.keyframes)))
            for oid, o in sorted(self._objects.items())
        }

    def keyframe_mask(self, object_id: int, frame: int) -> np.ndarray:
        """bool [H,W] mask of an object's keyframe (a copy)."""
        kf = self._object(object_id).keyframes.get(frame)
        if kf is None:
            raise PromptError(f"object {object_id} has no keyframe on frame {frame}")
        return kf.mask.copy()

    @property
    def dirty_keyframes(self) -> frozenset[tuple[int, int]]:
        """(object_id, frame) keyframes the next ``propagate`` will (re)track."""
        return frozenset(self._dirty)

    def remove_object(self, object_id: int) -> None:
        """Forget an object and its keyframes (nothing is yielded for it any more)."""
        self._object(object_id)
        del self._objects[object_id]
        self._dirty = {d for d in self._dirty if d[0] != object_id}

    def _object(self, object_id: int) -> _Object:
        obj = self._objects.get(object_id)
        if obj is None:
            known = ", ".join(map(str, sorted(self._objects))) or "none"
            raise PromptError(f"unknown object id {object_id} (known objects: {known})")
        return obj

    # ------------------------------------------------------------------ prompts
    def add_prompt(self, prompt: Prompt, stored_mask: np.ndarray | None = None,
                   stored_quality: float = 1.0) -> np.ndarray:
        """Add or refine one object's keyframe; returns its mask bool [H,W].

        stored_mask (bool [H,W]) / stored_quality: what this same prompt
        produced in an earlier run (a labeling tool stored it): kept as the
        keyframe's mask without asking the segmenter, so a correction encodes
        only the keyframes that changed.

        Clicks and a box go to the segmenter; prompts on the same frame and
        object accumulate (all clicks so far, the latest box, the previous
        answer's low-res logits as ``mask_input``), like interactive SAM. A mask
        prompt alone is taken as the keyframe mask; with clicks it seeds the
        segmenter. The keyframe's span is marked for (re)tracking unless the
        mask did not change.
        """
        prompt = validate_prompt(prompt, self.num_frames, self.size)
        points, labels, box, mask = prompt.points, prompt.point_labels, prompt.box, prompt.mask
        obj = self._objects.get(prompt.object_id)
        old = obj.keyframes.get(prompt.frame) if obj else None
        if stored_mask is not None:
            kf = _Keyframe(as_bool_mask(stored_mask, self.size, "stored keyframe mask").copy(),
                           min(max(float(stored_quality), 0.0), 1.0), points, labels, box)
        elif points is None and box is None:
            kf = _Keyframe(mask=mask.copy(), quality=1.0)
        else:
            kf = self._segment(prompt.frame, points, labels, box, mask, old)
        if obj is None:
            obj = self._objects[prompt.object_id] = _Object(prompt.label)
        elif prompt.label is not None:
            obj.label = prompt.label
        obj.keyframes[prompt.frame] = kf
        if old is None or not np.array_equal(old.mask, kf.mask):
            self._dirty.add((prompt.object_id, prompt.frame))
        return kf.mask.copy()

    def _segment(self, frame, points, labels, box, mask, old: _Keyframe | None) -> _Keyframe:
        if self.segmenter is None:
            raise PromptError("clicks and boxes need a segmenter (SAM); give a mask prompt or load SAM")
        mask_input = None
        if old is not None and old.points is not None and points is not None:
            points = np.concatenate([old.points, points])
            labels = np.concatenate([old.point_labels, labels])
        elif old is not None and points is None:
            points, labels = old.points, old.point_labels
        if old is not None and box is None:
            box = old.box
        if mask is not None:
            mask_input = self.segmenter.mask_to_logits(mask)  # the segmenter's own low-res layout
        elif old is not None:
            mask_input = old.logits
        embedding = self._embeddings.embed(self.segmenter, frame, self.frames[frame])
        single_click = points is not None and len(points) == 1 and box is None and mask_input is None
        out = self.segmenter.predict(
            embedding,
            points=points,
            point_labels=labels,
            box=box,
            mask_input=mask_input,
            multimask=self.options.multimask and single_click,
        )
        m = as_bool_mask(out.mask, self.size, "segmenter mask").copy()
        # SAM's IoU head is a regression, not bounded: clip it to a quality score
        return _Keyframe(m, min(max(float(out.iou), 0.0), 1.0), points, labels, box, out.low_res_logits)

    # ------------------------------------------------------------- bookkeeping
    def mark_tracked(self, except_keyframes: Iterable[tuple[int, int]] = ()) -> None:
        """Declare everything tracked (under ``options.direction``) except the spans of the
        given (object_id, frame) keyframes: a session rebuilt over stored results."""
        dirty = set()
        for oid, frame in except_keyframes:
            if frame not in self._object(oid).keyframes:
                raise PromptError(f"object {oid} has no keyframe on frame {frame}")
            dirty.add((oid, frame))
        self._dirty = dirty
        self._tracked_direction = self.options.direction

    # -------------------------------------------------------------- propagation
    def propagate(self, direction: str | None = None) -> Iterator[FrameResult]:
        """Track what is not tracked yet (or invalidated by new keyframes).

        A generator of ``FrameResult``: the forward pass's results in
        increasing frame order, then the backward pass's in decreasing order.
        The work is marked done only when the generator is exhausted; an
        interrupted propagation is redone in full by the next call.
        """
        direction = check_direction(direction or self.options.direction)
        return self._propagate(direction)

    def plan(self, direction: str | None = None) -> list[TrackerRun]:
        """The tracker runs the next ``propagate(direction)`` performs, in order."""
        direction = check_direction(direction or self.options.direction)
        return plan_runs([s for oid, k in sorted(self._work(direction))
                          for s in keyframe_spans(oid, self._objects[oid].keyframes, k, self.num_frames, direction)])

    def track_run(self, run: TrackerRun) -> Iterator[FrameResult]:
        """One run of ``plan()`` alone, as ``propagate`` yields it (for resuming)."""
        return self._run(run.lo, run.hi, run.reverse, list(run.spans))

    def _work(self, direction: str) -> set[tuple[int, int]]:
        everything = self._tracked_direction not in (None, direction)
        return {(oid, k) for oid, o in self._objects.items() for k in o.keyframes} if everything else set(self._dirty)

    def _propagate(self, direction: str) -> Iterator[FrameResult]:
        changed_direction, work = self._tracked_direction not in (None, direction), self._work(direction)
        for run in self.plan(direction):
            yield from self.track_run(run)
        if changed_direction:
            yield from self._clear_uncovered(self._tracked_direction, direction)
        self._dirty.difference_update(work)
        self._tracked_direction = direction

    def _clear_uncovered(self, old: str, new: str) -> Iterator[FrameResult]:
        """Yield empty masks on frames an object covered under ``old`` but not under ``new``."""
        for oid, o in sorted(self._objects.items()):
            before, after = coverage(list(o.keyframes), self.num_frames, old), coverage(list(o.keyframes), self.num_frames, new)
            if before is None or after is None:
                continue
            for t in range(before[0], before[1] + 1):
                if not after[0] <= t <= after[1]:
                    yield FrameResult(t, (oid,), {oid: np.zeros(self.size, bool)}, {oid: 0.0})

    def _run(self, lo: int, hi: int, reverse: bool, spans: list[Span]) -> Iterator[FrameResult]:
        """Track frames lo..hi (inclusive) with one fresh tracker, in one direction."""
        tracker = self.tracker_factory(self.options.xmem_config)
        histories: dict[int, ObjectHistory] = {}
        current: dict[int, Span] = {}  # the span each object in the tracker is tracked in
        last = lo if reverse else hi
        for t, image in self.frames.iter_frames(lo, hi + 1, reverse=reverse):
            active = {s.object_id: s for s in spans if s.lo <= t <= s.hi}
            # Objects whose span ended leave the tracker, also when the same
            # object goes on in the next keyframe's span: each frame is tracked
            # only from its own nearest keyframe, never from an older one's memory.
            gone = [o for o in tracker.object_ids if active.get(o) != current.get(o)]
            if gone and len(gone) == len(tracker.object_ids):
                tracker = self.tracker_factory(self.options.xmem_config)  # nothing left to keep: start clean (no stale memory keys)
                histories.clear()
            for oid in gone if tracker.object_ids else ():
                tracker.remove_object(oid)
                histories.pop(oid, None)
            current = dict(active)
            inject = {oid: self._objects[oid].keyframes[t].mask for oid, s in active.items() if s.keyframe == t}
            for oid in inject:  # the keyframe starts the object's history
                histories[oid] = ObjectHistory()
            update_histories(histories, t, inject, self.options.refine_options)
            probs = tracker.step(image, inject or None, end=(t == last))  # ObjectProbs: id -> [H,W]
            masks: dict[int, np.ndarray] = {}
            quality: dict[int, float] = {}
            tracked = [oid for oid in sorted(active) if oid not in inject]
            for oid in sorted(inject):
                if active[oid].yields(t):
                    masks[oid] = inject[oid].copy()
                    quality[oid] = self._objects[oid].keyframes[t].quality
            refined: frozenset[int] = frozenset()
            if tracked:
                refined = self._score(tracker, t, image, probs, tracked, histories, masks, quality, inject)
            ids = tuple(sorted(masks))
            if ids:
                yield FrameResult(t, ids, masks, quality, refined)

    def _score(self, tracker, t, image, probs: ObjectProbs, tracked, histories, masks, quality,
               inject) -> frozenset[int]:
        """Step 3: score every tracked object (the one quality, refined or
        not), let the refiner repair weak ones when the run refines (repairs go
        back into the tracker's memory via amend), and record the final masks
        in the histories. ``inject``: keyframe masks given on this frame."""
        opts = self.options.refine_options
        scored = score_frame(t, probs, histories, opts, tracked)
        masks.update(scored.masks)
        quality.update(scored.quality)
        refined: frozenset[int] = frozenset()
        if self.refiner is not None and self.options.refine:
            # Objects given on this frame count as background for the refiner,
            # so neither its argmax nor SAM can hand their pixels to a tracked object.
            given = np.zeros(self.size, bool)
            for m in inject.values():
                given |= m
            out = self.refiner.refine_frame(t, image, probs.restrict(tracked), histories, opts, scored,
                                            embeddings=self._embeddings)  # clicks and refinement share encodes
            refined = frozenset(int(o) for o in out.refined) & frozenset(tracked)
            for oid in refined:
                masks[oid] = np.asarray(out.masks[oid], bool) & ~given
            if refined:
                tracker.amend({oid: masks[oid] for oid in sorted(refined)})
        update_histories(histories, t, {oid: masks[oid] for oid in tracked}, opts)
        return refined
