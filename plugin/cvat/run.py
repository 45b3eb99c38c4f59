"""``track_task`` and ``fix_task``: the CVAT commands as a Python API.

Both hold the task (local lock + server lease), read the task's shapes and
the record on the server, split the shapes into the tool's own masks and a
person's work and decisions (``shapes.py``, ``ledger.py``), and run the
tool-agnostic ``operators.track.track`` / ``operators.correct.correct`` with a
:class:`~plugin.cvat.sink.CvatMaskSink`.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from operators.progress import RunProgress
from tam_core.errors import PromptError
from tam_core.models import ModelOptions, Models, get_models
from tam_core.options import RunOptions

from .errors import CvatConnectionError
from .lease import TaskLease
from .lock import TaskLock
from .prepare import Context, fingerprint, prepare
from .prepare import report as make_report
from .record import ServerRecord
from .report import CvatRunReport
from .sink import CvatMaskSink
from .task import CvatFrames, TaskInfo, load_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CvatOptions:
    """job_id: work on one job's frames; frames: "A:B" task frames (B exclusive);
    dry_run: plan only (no models, no writes); state_dir: where the record of
    uploads lives (default ``$TAM_LABEL_CACHE/cvat``); run: how to track
    (direction, refine, ``batch_size`` = masks per upload request group);
    progress: report progress on stderr (``operators.progress``: a bar on a
    terminal, a line every 30 s with frames done, s/frame and ETA in a log);
    include_completed: also change jobs in acceptance or completed (left
    alone by default); unclaimed_as_person: keep source="auto" masks that no
    record claims as a person's (default: refuse, they may be ours from a
    record that is gone)."""

    job_id: int | None = None
    frames: str | None = None
    dry_run: bool = False
    state_dir: Path | None = None
    run: RunOptions = RunOptions()
    progress: bool = False
    include_completed: bool = False
    unclaimed_as_person: bool = False


@dataclass
class _Run:
    """A run's connection state: the task, its record and lease."""

    task: TaskInfo
    record: ServerRecord
    lease: TaskLease | None


@contextmanager
def _session(conn, task_id: int, command: str, options: CvatOptions) -> Iterator[_Run]:
    """Hold the task for the run (not for dry runs, which change nothing): the
    local lock (same state directory: refused at once, naming the pid) and the
    server-side lease (any machine, state directory or address)."""
    task = load_task(conn, task_id)
    record = ServerRecord(conn, task)
    if options.dry_run:
        yield _Run(task, record, None)
        return
    with TaskLock(options.state_dir, conn.identity, task_id, command):
        with TaskLease(conn, record, task_id, command, conn.server) as lease:
            yield _Run(task, record, lease)


def _models(models: Models | ModelOptions) -> Models:
    """``models``, or for ModelOptions the one cached set from
    ``tam_core.models.get_models`` (called only here, so a dry run or a task
    without prompts never loads weights)."""
    return get_models(models) if isinstance(models, ModelOptions) else models


def _keyframe_record(ctx: Context) -> dict[int, str]:
    out: dict[int, str] = {}
    for src in ctx.prompts.sources.values():
        out.update(src)
    return out


def _cleanup(ctx: Context) -> int:
    """Before tracking: remove our masks on the task's deleted frames (an
    earlier run's) and extra copies of our masks (an older version's
    task-level upload stored one per overlapping job). Returns how many
    masks on deleted frames were removed."""
    stale, copies = [], []
    for where, shapes in list(ctx.shapes.ours.items()):
        if where[1] in ctx.task.deleted_frames:
            stale.extend(shapes)
            ctx.shapes.ours.pop(where)
            ctx.ledger.masks.pop(where, None)
        elif len(shapes) > 1:
            ids = {e.id for e in ctx.ledger.masks.get(where, ())}
            keep = next((s for s in shapes if int(s["id"]) in ids), shapes[0])
            copies.extend(s for s in shapes if s is not keep)
            ctx.shapes.ours[where] = [keep]
    if stale or copies:
        ctx.conn.delete_shapes(ctx.task.id, stale + copies)
        ctx.ledger.save()
    return len(stale)


def track_task(conn, task_id: int, models: Models | ModelOptions, options: CvatOptions = CvatOptions()) -> CvatRunReport:
    """Track every prompted object of a task and upload one ``source="auto"``
    mask shape per object per frame (replacing only the tool's own earlier
    masks that nobody touched; a re-run that finds nothing changed since the
    last completed run stops before loading models).

    conn: a ``CvatConnection`` (``plugin.cvat.connect``); models: loaded
    ``tam_core.models.Models`` (or a double), or the ``ModelOptions`` to get
    them with ``tam_core.models.get_models`` once there is work to do.
    """
    with _session(conn, task_id, "track", options) as run:
        ctx = prepare(conn, run.task, run.record, options)
        report = make_report(ctx, "track", options)
        if not ctx.prompts.prompts:
            raise PromptError(
                f"task {task_id} has no prompts on task frames {ctx.first}..{ctx.stop - 1}: draw points, a rectangle, "
                "a polygon or a mask on the object in one frame (README: 'Pre-annotate a CVAT task')"
            )
        if options.dry_run:
            return report
        report.stale_deleted = _cleanup(ctx)
        if ctx.ledger.fingerprint == fingerprint(ctx, options, models):
            report.message = "nothing changed since the last run (prompts, a person's changes, options): nothing to do"
            ctx.save_if_changed()
            return report
        report.track, report.counts = _run(ctx, models, options, run.lease, changed=None)
        _touched(report, ctx)
        return report


def fix_task(conn, task_id: int, models: Models | ModelOptions, options: CvatOptions = CvatOptions()) -> CvatRunReport:
    """Find the frames a person corrected since the last run (edited or new
    masks/polygons, new points or boxes), make them keyframes and re-track only
    the spans they affect, replacing the tool's masks there (a person's
    deletion is never re-created: see ``sink.py``)."""
    with _session(conn, task_id, "fix", options) as run:
        ctx = prepare(conn, run.task, run.record, options)
        report = make_report(ctx, "fix", options)
        if ctx.ledger.keyframes is None:
            raise PromptError(
                f"no completed run on task {task_id} is recorded on the server: run `tam-label cvat track` first"
            )
        known = ctx.ledger.keyframes
        changed = []
        for (key, frame), src in sorted(ctx.prompts.sources.items()):
            if any(known.get(sid) != h for sid, h in src.items()):
                changed.append((ctx.prompts.object_id(key), frame))
        report.changed = changed
        if options.dry_run:
            return report
        report.stale_deleted = _cleanup(ctx)
        if not changed:
            report.message = "no corrected frames found since the last run: nothing to re-track"
            ctx.save_if_changed()
            return report
        report.track, report.counts = _run(ctx, models, options, run.lease, changed=[(o, f - ctx.first) for o, f in changed])
        _touched(report, ctx)
        return report


def _touched(report: CvatRunReport, ctx: Context) -> None:
    from .shapes import describe

    report.touched = [f"{describe(ctx.task, k)}@{f} ({kind})" for (k, f), kind in report.counts.touched]


@contextmanager
def finishing(sink, progress: RunProgress) -> Iterator[None]:
    """Close the progress and the sink (which saves the run record) after a
    run. When the run failed and saving fails too because the connection is
    lost, the error that stopped the run is the one raised (each batch's
    digests were recorded on the server before its upload, so the re-run
    recognises what was written)."""
    try:
        yield
    except BaseException:
        progress.close()
        try:
            sink.close()
        except CvatConnectionError as exc:
            log.warning("could not save the run record after the run stopped: %s", exc)
        raise
    progress.close()
    sink.close()


def _run(ctx: Context, models: Models | ModelOptions, options: CvatOptions, lease, changed):
    frames = CvatFrames(ctx.conn, ctx.task, ctx.first, ctx.stop)
    prompted = frozenset(ctx.prompts.sources)
    sink = CvatMaskSink(ctx.conn, ctx.task, ctx.ledger, ctx.shapes, ctx.prompts.keys, ctx.first, ctx.prompts.truth,
                        job_id=options.job_id, frozen=ctx.frozen, prompted=prompted, lease=lease)
    progress = RunProgress(f"task {ctx.task.id}", enabled=options.progress)
    with finishing(sink, progress):
        loaded = _models(models)
        if changed is None:
            from operators.track import track

            result = track(frames, ctx.prompts.prompts, sink, loaded, options.run, progress)
        else:
            from operators.correct import correct

            result = correct(frames, ctx.prompts.prompts, changed, sink, loaded, options.run, progress, stored=ctx.stored)
        # only a completed run moves the baseline; a pair a person touched meanwhile keeps it moving
        ctx.ledger.keyframes = _keyframe_record(ctx)
        ctx.ledger.fingerprint = None if sink.counts.touched else fingerprint(ctx, options, models)
    return result, sink.counts
