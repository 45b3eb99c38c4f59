"""The one propagation loop: a session's tracker runs streamed into a sink.

Every driver goes through :func:`propagate`: ``operators.track.track`` and
``operators.correct.correct`` (FiftyOne, CVAT, Python) and the resumable job
(``operators.resume``: the DAVIS PNG folder of ``tam-label track``, FiftyOne
track runs). The unit is a :class:`tam_core.sessions.spans.TrackerRun` of
``TrackingSession.plan()`` (one fresh tracker holding its objects jointly),
tracked alone with ``TrackingSession.track_run``: exactly the results
``propagate`` of the session gives, and the unit a resumed job skips or
redoes in full.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Collection

from tam_core.options import RunOptions
from tam_core.sessions.spans import TrackerRun
from tam_core.types import FrameResult

from .interfaces import LabelSink
from .report import ReportBuilder, TrackReport

Progress = Callable[[int, int], None]  # (frames done, frames to do)


def frames_of(runs: Collection[TrackerRun]) -> set[int]:
    """The distinct frames ``runs`` report results on."""
    return {t for run in runs for s in run.spans for t in range(s.lo, s.hi + 1) if s.yields(t)}


def propagate(
    session: Any,
    sink: LabelSink,
    options: RunOptions = RunOptions(),
    *,
    skip: Collection[str] = (),
    on_run_done: Callable[[TrackerRun], None] | None = None,
    progress: Progress | None = None,
) -> TrackReport:
    """Track the runs of ``session.plan(options.direction)`` whose key is not in
    ``skip`` and write their results to ``sink`` in batches of
    ``options.batch_size`` (a batch never mixes two runs, so a run's last
    write ends it). ``on_run_done(run)`` is called once all of a run's
    results were written. ``progress(done, total)``: distinct frames written
    / frames the runs to track report on, from (0, total) to (total, total).
    The sink is not closed (the caller owns it)."""
    start = time.perf_counter()
    runs = session.plan(options.direction)
    todo = [r for r in runs if r.key not in set(skip)]
    total = len(frames_of(todo))
    built = ReportBuilder()
    nbatches = 0
    if progress is not None:
        progress(0, total)

    def write(batch: list[FrameResult]) -> None:
        nonlocal nbatches
        sink.write(batch)
        nbatches += 1
        if progress is not None:
            progress(min(len(built.frames), total), total)

    for run in todo:
        batch: list[FrameResult] = []
        for res in session.track_run(run):
            built.add(res)
            batch.append(res)
            if len(batch) >= options.batch_size:
                write(batch)
                batch = []
        if batch:
            write(batch)
        if on_run_done is not None:
            on_run_done(run)
    if progress is not None:
        progress(total, total)
    labels = {oid: info.label for oid, info in session.objects.items()}
    return built.report(session.num_frames, nbatches, labels, time.perf_counter() - start,
                        runs_planned=len(runs), runs_kept=len(runs) - len(todo), runs_tracked=len(todo),
                        frames_tracked=sum(r.num_frames for r in todo))


__all__ = ["Progress", "frames_of", "propagate"]
