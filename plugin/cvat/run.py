"""``track_task`` and ``fix_task``: the CVAT commands as a Python API.

Both read the task's frames and shapes, split the shapes into the tool's own
masks and a person's work (see ``shapes.py`` and ``ledger.py``), and run the
tool-agnostic ``operators.track.track`` / ``operators.correct.correct`` with a
:class:`~plugin.cvat.sink.CvatMaskSink`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from operators.progress import RunProgress
from tam_core.errors import PromptError
from tam_core.models import ModelOptions, Models, get_models
from tam_core.options import RunOptions

from .ledger import Ledger, find_ledger
from .lock import TaskLock
from .shapes import PromptSet, TaskShapes, build_prompts, classify, describe
from .sink import CvatMaskSink, SinkCounts
from .task import CvatFrames, TaskInfo, frame_window, load_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CvatOptions:
    """job_id: work on one job's frames; frames: "A:B" task frames (B exclusive);
    dry_run: plan only (no models, no writes); state_dir: where the record of
    uploads lives (default ``$TAM_LABEL_CACHE/cvat``); run: how to track
    (direction, refine, ``batch_size`` = masks per upload request group);
    progress: report progress on stderr (``operators.progress``: a bar on a
    terminal, a line every 30 s with frames done, s/frame and ETA in a log)."""

    job_id: int | None = None
    frames: str | None = None
    dry_run: bool = False
    state_dir: Path | None = None
    run: RunOptions = RunOptions()
    progress: bool = False


@dataclass
class CvatRunReport:
    """What a run did (or, with dry_run, would do).

    objects: object id -> description (label and group); keyframes: (object id,
    task frame) prompts used; changed: the new/edited keyframes (fix);
    frames: the task frames [first, stop) worked on; replaceable: our earlier
    masks in that range; copies: extra copies of our masks (a task-level upload
    is stored once per job holding the frame); counts: what the sink sent.
    """

    task_id: int
    command: str
    frames: tuple[int, int]
    objects: dict[int, str]
    keyframes: list[tuple[int, int]]
    changed: list[tuple[int, int]] = field(default_factory=list)
    replaceable: int = 0
    person_shapes: int = 0
    adopted: int = 0
    copies: int = 0
    dry_run: bool = False
    counts: SinkCounts = field(default_factory=SinkCounts)
    track: Any = None  # operators.track.TrackReport
    message: str = ""

    def summary(self) -> str:
        head = "would" if self.dry_run else "did"
        lines = [
            f"task {self.task_id}: {self.command} on task frames {self.frames[0]}..{self.frames[1] - 1}"
            + (" (dry run: nothing was changed)" if self.dry_run else ""),
            "  objects: " + (", ".join(f"{oid}={d}" for oid, d in self.objects.items()) or "none"),
            f"  keyframes (object, frame): {self.keyframes}",
        ]
        if self.command == "fix":
            lines.append(f"  corrected keyframes to re-track from: {self.changed}")
        lines.append(f"  person's shapes kept untouched: {self.person_shapes}; earlier auto masks in range: {self.replaceable}")
        if self.copies:
            lines.append(f"  extra copies of our masks in overlapping jobs (removed): {self.copies}")
        if not self.dry_run:
            c = self.counts
            lines.append(
                f"  {head}: upload {c.created} masks, replace {c.deleted} earlier ones, keep {c.unchanged} unchanged, "
                f"skip {c.kept_manual} frames with a person's mask, {c.empty} empty"
            )
        if self.message:
            lines.append(f"  {self.message}")
        return "\n".join(lines)


@dataclass
class _Context:
    conn: Any
    task: TaskInfo
    first: int
    stop: int
    ledger: Ledger
    shapes: TaskShapes
    prompts: PromptSet


def _prepare(conn, task_id: int, options: CvatOptions) -> _Context:
    task = load_task(conn, task_id)
    job = conn.job(options.job_id) if options.job_id is not None else None
    first, stop = frame_window(task, options.frames, job)
    annotations = conn.annotations(task_id)
    ledger = find_ledger(options.state_dir, conn.identity, task_id, annotations.get("shapes", []))
    shapes = classify(annotations, ledger)
    if shapes.ignored:
        log.info("ignoring shapes that are not prompts: %s", shapes.ignored)
    foreign = sum(1 for s in shapes.person if s.get("source") == "auto" and s.get("type") == "mask")
    if foreign:
        log.warning(
            "task %s has %d source=\"auto\" masks that the record in %s does not claim: they are treated as a "
            "person's masks (if another machine made them, copy its record file here)", task_id, foreign, ledger.path.parent,
        )
    prompts = build_prompts(shapes.person, task, first, stop)
    return _Context(conn, task, first, stop, ledger, shapes, prompts)


def _report(ctx: _Context, command: str, options: CvatOptions) -> CvatRunReport:
    keys = ctx.prompts.keys
    replaceable = sum(len(v) for (key, frame), v in ctx.shapes.ours.items() if ctx.first <= frame < ctx.stop)
    return CvatRunReport(
        task_id=ctx.task.id, command=command, frames=(ctx.first, ctx.stop),
        objects={oid: describe(ctx.task, k) for oid, k in keys.items()},
        keyframes=[(p.object_id, p.frame + ctx.first) for p in ctx.prompts.prompts],
        replaceable=replaceable, person_shapes=len(ctx.shapes.person), adopted=ctx.shapes.adopted,
        copies=ctx.shapes.copies,
        dry_run=options.dry_run,
    )


def _models(models: Models | ModelOptions) -> Models:
    """``models``, or for ModelOptions the one cached set from
    ``tam_core.models.get_models`` (called only here, so a dry run or a task
    without prompts never loads weights)."""
    return get_models(models) if isinstance(models, ModelOptions) else models


def _keyframe_record(ctx: _Context) -> dict[int, str]:
    out: dict[int, str] = {}
    for src in ctx.prompts.sources.values():
        out.update(src)
    return out


def _locked(command: str):
    """Run the decorated command under the task's :class:`TaskLock` (not for
    dry runs, which change nothing), so two runs on one task cannot interleave."""
    def wrap(fn):
        @functools.wraps(fn)
        def locked(conn, task_id: int, models, options: CvatOptions = CvatOptions()) -> CvatRunReport:
            if options.dry_run:
                return fn(conn, task_id, models, options)
            with TaskLock(options.state_dir, conn.identity, task_id, command):
                return fn(conn, task_id, models, options)
        return locked
    return wrap


@_locked("track")
def track_task(conn, task_id: int, models: Models | ModelOptions, options: CvatOptions = CvatOptions()) -> CvatRunReport:
    """Track every prompted object of a task and upload one ``source="auto"``
    mask shape per object per frame (replacing only the tool's own earlier masks).

    conn: a ``CvatConnection`` (``plugin.cvat.connect``); models: loaded
    ``tam_core.models.Models`` (or a double), or the ``ModelOptions`` to get
    them with ``tam_core.models.get_models`` once there is work to do.
    """
    ctx = _prepare(conn, task_id, options)
    report = _report(ctx, "track", options)
    if not ctx.prompts.prompts:
        raise PromptError(
            f"task {task_id} has no prompts on task frames {ctx.first}..{ctx.stop - 1}: draw points, a rectangle, "
            "a polygon or a mask on the object in one frame (README: 'Pre-annotate a CVAT task')"
        )
    if options.dry_run:
        return report
    report.track, report.counts = _run(ctx, models, options, changed=None)
    return report


@_locked("fix")
def fix_task(conn, task_id: int, models: Models | ModelOptions, options: CvatOptions = CvatOptions()) -> CvatRunReport:
    """Find the frames a person corrected since the last run (edited or new
    masks/polygons, new points or boxes), make them keyframes and re-track only
    the spans they affect, replacing the tool's masks there."""
    ctx = _prepare(conn, task_id, options)
    report = _report(ctx, "fix", options)
    if ctx.ledger.keyframes is None:
        raise PromptError(
            f"no earlier run on task {task_id} is recorded in {ctx.ledger.path.parent}: run `tam-label cvat track` first"
        )
    known = ctx.ledger.keyframes
    changed = []
    for (key, frame), src in sorted(ctx.prompts.sources.items()):
        if any(known.get(sid) != h for sid, h in src.items()):
            changed.append((ctx.prompts.object_id(key), frame))
    report.changed = changed
    if not changed:
        report.message = "no corrected frames found since the last run: nothing to re-track"
        return report
    if options.dry_run:
        return report
    report.track, report.counts = _run(ctx, models, options, changed=[(o, f - ctx.first) for o, f in changed])
    return report


def _run(ctx: _Context, models: Models | ModelOptions, options: CvatOptions, changed):
    frames = CvatFrames(ctx.conn, ctx.task, ctx.first, ctx.stop)
    sink = CvatMaskSink(ctx.conn, ctx.task, ctx.ledger, ctx.shapes, ctx.prompts.keys, ctx.first, ctx.prompts.truth,
                        job_id=options.job_id)
    progress = RunProgress(f"task {ctx.task.id}", enabled=options.progress)
    try:
        loaded = _models(models)
        if changed is None:
            from operators.track import track

            result = track(frames, ctx.prompts.prompts, sink, loaded, options.run, progress)
        else:
            from operators.correct import correct

            result = correct(frames, ctx.prompts.prompts, changed, sink, loaded, options.run, progress)
        ctx.ledger.keyframes = _keyframe_record(ctx)  # only a completed run moves the baseline
    finally:
        sink.close()
        progress.close()
    return result, sink.counts

