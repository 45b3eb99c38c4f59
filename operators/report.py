"""What a propagation did: per (frame, object) records and per-object
statistics (:class:`TrackReport`), built by :class:`ReportBuilder` from the
results as the loop (``operators.loop``) writes them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tam_core.types import FrameResult


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
    """What a tracking job did (returned by ``track``, ``correct`` and the
    resumable job), counting only what this call wrote.

    frames_written: distinct frames the sink received results for; records: one
    :class:`ObjectRecord` per present (frame, object) in the order written — the
    input of ``operators.review.review_queue``. runs_planned / runs_kept /
    runs_tracked: tracker runs of the plan / kept from an earlier, interrupted
    job / tracked now; frames_tracked: frames stepped by a tracker now.
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
    runs_planned: int = 0
    runs_kept: int = 0
    runs_tracked: int = 0
    frames_tracked: int = 0


class ReportBuilder:
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

    def report(self, total: int, nbatches: int, labels: dict[int, str | None], seconds: float,
               **runs: int) -> TrackReport:
        """The report; ``runs``: the run counts of :class:`TrackReport` (runs_planned ...)."""
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
            **runs,
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
