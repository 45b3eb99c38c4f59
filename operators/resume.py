"""Resumable tracking: one job over a sink that keeps a durable record.

A :class:`DurableSink` is a ``LabelSink`` that can say what it has durably
written: it owns the job's :class:`~operators.run_record.RunRecord` (the
DAVIS PNG folder: ``progress.json`` beside the PNGs; FiftyOne: a field of the
video's sample). :func:`resumable_track` runs the one propagation loop
(``operators.loop.propagate``) over it: an interrupted job (Ctrl-C, a crash,
``kill -9``) run again keeps the tracker runs its record holds as done and
tracks the rest, giving exactly the results of an uninterrupted job. A sink
that cannot say what it wrote (CVAT today) uses ``operators.track.track``;
implementing these four methods on it is all it takes to make it resumable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from tam_core.errors import PromptError, TamError
from tam_core.models import Models
from tam_core.options import RunOptions
from tam_core.sessions.spans import TrackerRun
from tam_core.types import FrameSource, Prompt

from .correct import check_changed
from .interfaces import LabelSink
from .loop import Progress, propagate
from .prompts import merge_prompts
from .report import ReportBuilder, TrackReport
from .run_record import Fingerprint, RunRecord, digest
from .track import add_keyframes, build_session, plan_for

_log = logging.getLogger(__name__)


@runtime_checkable
class DurableSink(LabelSink, Protocol):
    """A ``LabelSink`` whose every ``write`` is durable when it returns, and
    which keeps the job's record with the results.

    - ``load_record()``: the record of the job that last wrote here, or None;
    - ``save_record(record)``: store it durably (replacing the last one);
    - ``still_written(run)``: whether the results of a run recorded as done
      are all still there (a sink that cannot tell returns True);
    - ``discard()``: starting over — remove an earlier job's results where
      they would otherwise survive (called after the new record is saved).
    """

    def load_record(self) -> RunRecord | None: ...

    def save_record(self, record: RunRecord) -> None: ...

    def still_written(self, run: TrackerRun) -> bool: ...

    def discard(self) -> None: ...


@dataclass(frozen=True)
class JobReport:
    """What :func:`resumable_track` did.

    track: what this call tracked (``runs_kept``: runs an earlier job had
    finished); record: the job's record as saved; resumed: the earlier
    record was of the same job and continued (or found complete);
    started_over: why an earlier record was not resumed (``("restart",)``,
    ``("finished",)`` or the fingerprint parts that differ), empty when it was
    or when there was none (a sink's unreadable record counts as none);
    loaded: models were needed; runs: the tracker runs of the job, in order.
    """

    track: TrackReport
    record: RunRecord
    resumed: bool
    started_over: tuple[str, ...]
    loaded: bool
    runs: tuple[TrackerRun, ...]


def _why_not_resume(previous: RunRecord | None, fingerprint: Fingerprint, restart: bool,
                    redo_finished: bool) -> tuple[str, ...] | None:
    """None: resume ``previous``; else why not (empty: there was no record)."""
    if previous is None:
        return ()
    if restart:
        return ("restart",)
    changed = fingerprint.changes(previous.fingerprint)
    if changed:
        return tuple(changed)
    if redo_finished and previous.finished:
        return ("finished",)
    return None


def resumable_track(
    frames: FrameSource,
    prompts: Sequence[Prompt],
    sink: DurableSink,
    load: Callable[[], Models],
    options: RunOptions,
    fingerprint: Fingerprint,
    *,
    restart: bool = False,
    redo_finished: bool = False,
    finish: bool = True,
    progress: Progress | None = None,
    max_object_id: int | None = None,
    on_start_over: Callable[[tuple[str, ...]], None] | None = None,
    changed: Iterable[tuple[int, int]] | None = None,
    stored: Mapping[tuple[int, int], tuple[np.ndarray, float]] | None = None,
    embeddings: Any = None,
) -> JobReport:
    """Track ``prompts`` through ``frames`` into ``sink``, resuming the job its
    record holds when that job has the same ``fingerprint``.

    Order of work, so that nothing is lost and nothing slow runs for nothing:
    prompts merged and checked (``max_object_id``: e.g. 255 for indexed
    PNGs); the record read; when every planned run is recorded done and
    still written, nothing is tracked and ``load`` is never called; else the
    models are loaded and the keyframes segmented (a failure there leaves the
    sink untouched); a new job's record is saved before ``sink.discard()``;
    each run is marked done (record saved) once all its results are written;
    with ``finish`` the record is marked finished at the end (else the caller
    does it, e.g. after writing a summary). ``redo_finished``: a finished job
    is tracked again in full rather than found complete (FiftyOne's "Track"
    always re-tracks; the CLI's re-run says nothing is left).
    ``on_start_over(why)``: told, before anything is removed, why an earlier
    record is not resumed (see :attr:`JobReport.started_over`; not called
    when there was none).

    ``changed``: a correction — only the spans of these ``(object_id,
    frame)`` keyframes are re-tracked (``operators.correct``). The keyframes
    of an unfinished earlier correction stay changed until one finishes
    (:func:`pending_keyframes`: its keyframes may already hold their new
    masks while their spans do not); after an unfinished track, a
    correction is refused (which spans are stale is unknown): track first.
    ``stored``: masks of unchanged keyframes from an earlier run, reused
    instead of segmenting them again (``operators.track.add_keyframes``).
    ``embeddings``: the caller's embedding cache keyed by this video's frame
    index (e.g. the App's preview cache, ``EmbeddingCache.scoped(path)``), so
    frames already encoded for previews are not encoded again.
    """
    merged = merge_prompts(prompts, frames.num_frames, frames.size, max_object_id=max_object_id)
    previous = sink.load_record()
    if changed is not None:
        if previous is not None and not previous.finished and previous.changed is None:
            raise PromptError("the last track into this output did not finish (interrupted or failed): "
                              "run Track again (it resumes), then correct")
        changed = check_changed(merged, set(changed) | (pending_keyframes(previous)
                                                        & {(p.object_id, p.frame) for p in merged}))
        fingerprint = Fingerprint({**fingerprint.parts, "changed": digest(changed)})
    runs = plan_for(merged, frames.num_frames, options.direction, changed)
    why = _why_not_resume(previous, fingerprint, restart, redo_finished)
    kept = [r.key for r in runs if why is None and r.key in previous.done and sink.still_written(r)]
    if why is None and len(kept) == len(runs):
        record = RunRecord(fingerprint, kept, previous.finished, changed)
        report = ReportBuilder().report(frames.num_frames, 0, {}, 0.0, runs_planned=len(runs), runs_kept=len(runs))
        if finish and not record.finished:
            record.finished = True
            sink.save_record(record)
        return JobReport(report, record, True, (), False, tuple(runs))
    session = build_session(frames, load(), options, embeddings)
    # segments clicks/boxes: a failure here leaves the sink untouched
    add_keyframes(session, merged, stored, changed or ())
    if changed is not None:
        session.mark_tracked(except_keyframes=changed)
    if [r.key for r in session.plan(options.direction)] != [r.key for r in runs]:  # pragma: no cover - a bug
        raise TamError("internal error: the session plans other tracker runs than the prompts give")
    record = RunRecord(fingerprint, kept, changed=changed)
    sink.save_record(record)  # durable before anything earlier is removed
    if why is not None:
        if why and on_start_over is not None:
            on_start_over(why)
        elif why:
            _log.info("starting over: the earlier job's record does not hold (%s)", ", ".join(why))
        sink.discard()

    def done(run: TrackerRun) -> None:
        record.done.append(run.key)
        sink.save_record(record)

    report = propagate(session, sink, options, skip=set(kept), on_run_done=done, progress=progress)
    if finish:
        record.finished = True
        sink.save_record(record)
    return JobReport(report, record, why is None, why or (), True, tuple(runs))


def pending_keyframes(record: RunRecord | None) -> set[tuple[int, int]]:
    """The keyframes an unfinished correction recorded in ``record`` had still to re-track (empty otherwise)."""
    if record is None or record.finished or record.changed is None:
        return set()
    return {(int(o), int(f)) for o, f in record.changed}


__all__ = ["DurableSink", "JobReport", "pending_keyframes", "resumable_track"]
