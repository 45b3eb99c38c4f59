"""Track objects from prompts through a video and stream the masks to a sink."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from tam_core.models import Models
from tam_core.options import DIRECTIONS, RunOptions  # noqa: F401  (DIRECTIONS re-exported)
from tam_core.sessions.session import TrackingSession
from tam_core.types import FrameResult, FrameSource, Prompt

from .interfaces import LabelSink
from .prompts import merge_prompts, object_labels

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ObjectRecord:
    """One object's tracked mask on one frame, summarised (what review needs).

    area: mask pixels; box: int (x0, y0, x1, y1) pixels, x1/y1 exclusive;
    quality: tracker score in [0,1]; refined: the mask came from SAM refinement.
    """

    frame: int
    object_id: int
    quality: float
    area: int
    box: tuple[int, int, int, int]
    refined: bool = False


@dataclass(frozen=True)
class ObjectStats:
    object_id: int
    label: str | None
    frames: int  # frames where the object is present
    mean_quality: float
    min_quality: float
    min_quality_frame: int | None
    refined_frames: tuple[int, ...]


@dataclass(frozen=True)
class TrackReport:
    """What a tracking job did (returned by :func:`track` and ``correct``).

    frames_written: distinct frames the sink received results for; records: one
    :class:`ObjectRecord` per present (frame, object) in the order written — the
    input of ``operators.review.review_queue``.
    """

    num_frames: int
    frames_written: int
    results_written: int
    batches: int
    objects: tuple[ObjectStats, ...]
    refined_frames: tuple[int, ...]
    records: tuple[ObjectRecord, ...] = field(repr=False)
    seconds: float
    frames_per_second: float


def build_session(frames: FrameSource, models: Models, options: RunOptions = RunOptions()) -> TrackingSession:
    """A ``TrackingSession`` over ``frames`` with ``models``' segmenter, tracker
    factory and refiner, running as ``options`` says (its direction is the
    session's default; ``refine=False`` never calls the refiner)."""
    return TrackingSession(frames, models.tracker_factory, models.segmenter, refiner=models.refiner, options=options)


def add_prompts(session: TrackingSession, frames: FrameSource, prompts: Iterable[Prompt]) -> list[Prompt]:
    """Validate/merge ``prompts`` and add them to ``session``; returns the merged list."""
    merged = merge_prompts(prompts, frames.num_frames, frames.size)
    for p in merged:
        session.add_prompt(p)
    return merged


def track(
    frames: FrameSource,
    prompts: Sequence[Prompt],
    sink: LabelSink,
    models: Models,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
) -> TrackReport:
    """Segment the prompted objects on their keyframes and track them through
    ``frames``, writing results to ``sink`` in batches of ``options.batch_size``.

    frames: a FrameSource (decoded lazily); prompts: keyframe prompts of one or
    more objects (pixel coordinates); progress(done, total) is called after
    every batch with distinct frames done / frames in the video. The sink is
    not closed (the caller owns it).
    """
    session = build_session(frames, models, options)
    merged = add_prompts(session, frames, prompts)
    return run_propagation(session, frames, merged, sink, options, progress)


def run_propagation(
    session: TrackingSession,
    frames: FrameSource,
    prompts: Sequence[Prompt],
    sink: LabelSink,
    options: RunOptions,
    progress: Progress | None = None,
) -> TrackReport:
    """Stream ``session.propagate(options.direction)`` into ``sink`` in batches
    of ``options.batch_size`` and summarise it."""
    start = time.perf_counter()
    total = frames.num_frames
    stats = _Stats()
    batch: list[FrameResult] = []
    nbatches = 0

    def flush() -> None:
        nonlocal nbatches
        if batch:
            sink.write(list(batch))
            nbatches += 1
            batch.clear()
            if progress is not None:
                progress(min(len(stats.frames), total), total)

    for res in _results(session, options.direction):
        stats.add(res)
        batch.append(res)
        if len(batch) >= options.batch_size:
            flush()
    flush()
    if progress is not None:
        progress(total, total)
    seconds = time.perf_counter() - start
    return stats.report(total, nbatches, object_labels(prompts), seconds)


def _results(session: TrackingSession, direction: str) -> Iterator[FrameResult]:
    yield from session.propagate(direction)


class _Stats:
    """Accumulates per-(frame, object) records; keeps the latest per key
    (a frame may be yielded by both passes, and the sink keeps the last one)."""

    def __init__(self) -> None:
        self.frames: set[int] = set()
        self.results = 0
        self.records: dict[tuple[int, int], ObjectRecord | None] = {}

    def add(self, res: FrameResult) -> None:
        self.frames.add(res.frame)
        self.results += 1
        for oid in res.object_ids:
            mask = np.asarray(res.masks[oid], dtype=bool)
            self.records.pop((res.frame, oid), None)  # keep write order of the latest
            self.records[(res.frame, oid)] = _record(res, oid, mask)

    def report(self, total: int, nbatches: int, labels: dict[int, str | None], seconds: float) -> TrackReport:
        records = tuple(r for r in self.records.values() if r is not None)
        objects = []
        for oid in sorted(labels):
            own = [r for r in records if r.object_id == oid]
            q = [r.quality for r in own]
            worst = min(own, key=lambda r: r.quality) if own else None
            objects.append(
                ObjectStats(
                    object_id=oid,
                    label=labels[oid],
                    frames=len(own),
                    mean_quality=float(np.mean(q)) if q else 0.0,
                    min_quality=float(min(q)) if q else 0.0,
                    min_quality_frame=worst.frame if worst else None,
                    refined_frames=tuple(sorted(r.frame for r in own if r.refined)),
                )
            )
        refined = tuple(sorted({r.frame for r in records if r.refined}))
        return TrackReport(
            num_frames=total,
            frames_written=len(self.frames),
            results_written=self.results,
            batches=nbatches,
            objects=tuple(objects),
            refined_frames=refined,
            records=records,
            seconds=seconds,
            frames_per_second=len(self.frames) / seconds if seconds > 0 else 0.0,
        )


def _record(res: FrameResult, oid: int, mask: np.ndarray) -> ObjectRecord | None:
    if not mask.any():
        return None
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    return ObjectRecord(
        frame=res.frame,
        object_id=oid,
        quality=float(res.quality.get(oid, 1.0)),
        area=int(mask.sum()),
        box=(int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1),
        refined=oid in res.refined,
    )
