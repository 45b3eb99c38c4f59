"""Read a task and its record before a run: what is ours, what a person did,
the prompts, and the fingerprint that lets a no-op re-run stop early."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tam_core.types import Prompt

from .errors import CvatError
from .ledger import Ledger, legacy_records
from .masks import decode_mask
from .record import ServerRecord
from .report import CvatRunReport
from .shapes import PromptSet, TaskShapes, build_prompts, classify, describe
from .task import TaskInfo, frame_window

log = logging.getLogger(__name__)


@dataclass
class Context:
    conn: Any
    task: TaskInfo
    first: int
    stop: int
    ledger: Ledger
    shapes: TaskShapes
    prompts: PromptSet
    frozen: frozenset[int]  # accepted/completed jobs left alone
    loaded: dict  # the record as read (saved again only if it changed)
    stored: dict[tuple[int, int], tuple[np.ndarray, float]] = field(default_factory=dict)  # kept keyframe masks

    def save_if_changed(self) -> None:
        if self.ledger.to_json() != self.loaded:
            self.ledger.save()


def prepare(conn, task: TaskInfo, record: ServerRecord, options) -> Context:
    job = conn.job(options.job_id) if options.job_id is not None else None
    first, stop = frame_window(task, options.frames, job)
    annotations = conn.annotations(task.id)
    ledger = record.load()
    loaded = ledger.to_json()
    empty = not ledger.masks and ledger.keyframes is None  # no run has completed with the server record yet
    legacy = legacy_records(options.state_dir, task.id) if empty else {}
    shapes = classify(annotations, ledger, legacy)
    if shapes.ignored:
        log.info("ignoring shapes that are not prompts: %s", shapes.ignored)
    if shapes.unclaimed and not options.unclaimed_as_person:
        raise CvatError(
            f"task {task.id} has {shapes.unclaimed} source=\"auto\" masks that no tam-label record on this server claims "
            "(another tool's, or an older tam-label's whose local record is gone): delete them in CVAT, or run again with "
            "--treat-unclaimed-as-person to keep them as a person's masks (keyframes)"
        )
    prompts, stored = with_concept_keyframes(build_prompts(shapes.person, task, first, stop), ledger, shapes, task,
                                             first, stop)
    frozen = frozenset() if options.include_completed else frozenset(j.id for j in task.jobs if j.finished)
    return Context(conn, task, first, stop, ledger, shapes, prompts, frozen, loaded, stored)


def with_concept_keyframes(ps: PromptSet, ledger: Ledger, shapes: TaskShapes, task: TaskInfo, first: int,
                           stop: int) -> tuple[PromptSet, dict[tuple[int, int], tuple[np.ndarray, float]]]:
    """Found objects (a concept pre-annotation's) that a person prompted keep
    their first frame as a keyframe: our mask there joins the person's prompts
    (and ``stored``: not segmented again), so ``track``/``fix`` re-track such an
    object only between its keyframes. A first-frame mask a person edited is
    their prompt already; one they deleted is no keyframe."""
    ids = {key: oid for oid, key in ps.keys.items()}
    prompts, stored = list(ps.prompts), {}
    for key, frame in sorted(ledger.concept_keyframes, key=lambda w: (w[1], w[0])):
        ours = shapes.ours.get((key, frame))
        if key not in ids or not first <= frame < stop or (key, frame) in ps.sources or not ours:
            continue
        mask = decode_mask(ours[0].get("points", []), task.height, task.width)
        prompts.append(Prompt(frame - first, ids[key], task.labels[key[0]].name, mask=mask))
        stored[(ids[key], frame - first)] = (mask, 1.0)
    return replace(ps, prompts=prompts), stored


def _pairs(ctx: Context, pairs) -> list[str]:
    return [f"{describe(ctx.task, key)}@{frame}" for key, frame in sorted(pairs, key=lambda p: (p[1], p[0]))]


def report(ctx: Context, command: str, options) -> CvatRunReport:
    keys = ctx.prompts.keys
    inside = lambda frame: ctx.first <= frame < ctx.stop  # noqa: E731
    replaceable = sum(len(v) for (key, frame), v in ctx.shapes.ours.items() if inside(frame))
    d = ctx.shapes.decisions
    decisions = {"edited": _pairs(ctx, d.edited), "deleted": _pairs(ctx, d.deleted),
                 "relabelled": [f"{describe(ctx.task, k)}@{f} -> {describe(ctx.task, new)}" for (k, f), new in d.relabelled]}
    overlaps = []
    for a, b, held, other in ctx.task.overlaps():
        if a < ctx.stop and b >= ctx.first:
            job = ctx.task.job_for(a, options.job_id, ctx.frozen)
            if job is not None:
                shown = other if job == held else held
                overlaps.append(f"overlap frames {a}..{b}: masks stored once, in job {job} (job {shown} shows none there)")
            else:
                overlaps.append(f"overlap frames {a}..{b}: left as they are in accepted/completed job {held}")
    return CvatRunReport(
        task_id=ctx.task.id, command=command, frames=(ctx.first, ctx.stop),
        objects={oid: describe(ctx.task, k) for oid, k in keys.items()},
        keyframes=[(p.object_id, p.frame + ctx.first) for p in ctx.prompts.prompts],
        replaceable=replaceable, person_shapes=len(ctx.shapes.person), adopted=ctx.shapes.adopted,
        copies=ctx.shapes.copies, dry_run=options.dry_run, decisions=decisions,
        declined=_pairs(ctx, [w for w in ctx.ledger.deleted if inside(w[1])]),
        overlaps=overlaps, finished_jobs=sorted(j.id for j in ctx.task.jobs if j.finished),
        include_completed=options.include_completed, ignored=dict(ctx.shapes.ignored),
        on_deleted_frames=ctx.prompts.on_deleted,
        stale_deleted=sum(len(v) for (_, f), v in ctx.shapes.ours.items() if f in ctx.task.deleted_frames),
    )


def fingerprint(ctx: Context, options, models: Any) -> str:
    """Of everything a run's result depends on: the frame range, the task's
    deleted frames and finished jobs, the person's prompts, their deletions,
    our masks (content), the tracking and model options (``models``: the
    ModelOptions, a loaded set, or a string that names what a run used)."""
    from tam_core.models import ModelOptions

    data = {
        "window": [ctx.first, ctx.stop], "job": options.job_id, "deleted_frames": sorted(ctx.task.deleted_frames),
        "frozen": sorted(ctx.frozen), "prompts": sorted([list(map(str, w)), sorted(src.items())] for w, src in ctx.prompts.sources.items()),
        "decisions": sorted(map(str, ctx.ledger.deleted)),
        "ours": sorted([str(w), sorted(e.digest for e in es)] for w, es in ctx.ledger.masks.items()),
        "run": [options.run.direction, options.run.refine, options.run.multimask],
        "models": (repr(models.resolved()) if isinstance(models, ModelOptions) else models if isinstance(models, str)
                   else type(models).__name__),
    }
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
