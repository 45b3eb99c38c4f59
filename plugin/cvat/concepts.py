"""``tam-label cvat track --concepts``: pre-annotate a task from its label
names with SAM 3 concept prompts (no clicks).

Each found object is one CVAT object: the label whose phrase found it and a
group of its own (``ledger.concept_groups``: above every group in the task,
kept by re-runs). Masks go through the same :class:`~.sink.CvatMaskSink` as a
tracking run, so the same ownership rules hold: a person's masks, deletions
and accepted jobs are left alone, changes made while the run is in flight win,
and our earlier masks are replaced only where the new ones differ. A re-run
with the same inputs stops before loading the model; a re-run with other
labels removes the found objects it no longer finds (a person's edits stay).
Each found object's first frame is recorded as its keyframe, so ``cvat fix``
after a person's correction re-tracks only the corrected span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from operators.preannotate import FoundTrack
from operators.preannotate import preannotate as run_preannotation
from operators.progress import RunProgress
from tam_core.concepts.load import ConceptOptions, get_concepts
from tam_core.concepts.prompt import ConceptPrompt, parse_classes
from tam_core.errors import ConfigError
from tam_core.types import FrameResult, Prompt

from .ledger import ObjectKey
from .prepare import fingerprint, prepare
from .prepare import report as make_report
from .report import CvatRunReport
from .run import CvatOptions, _cleanup, _keyframe_record, _session, _touched, finishing
from .sink import CvatMaskSink
from .task import CvatFrames, TaskInfo

@dataclass(frozen=True)
class ConceptRequest:
    """What to look for: labels: task label name -> phrase (None: every label
    of the task, its name as the phrase); threshold: the lowest score kept."""

    labels: Mapping[str, str] | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        ConceptPrompt(("-",), threshold=self.threshold)  # a bad threshold: one line, before connecting


def concept_prompt(task: TaskInfo, request: ConceptRequest) -> ConceptPrompt:
    """The prompt for ``task``: ConfigError (one line, before any model) for a label the task does not have."""
    names = [label.name for _, label in sorted(task.labels.items())]
    mapping = dict(request.labels) if request.labels is not None else {n: n for n in names}
    unknown = [name for name in mapping if name not in names]
    if unknown:
        raise ConfigError(f"--concepts names {unknown}, not labels of task {task.id} (its labels: {names}); "
                          "use label names, or label=phrase")
    if not mapping:
        raise ConfigError(f"task {task.id} has no labels to look for; add labels to the task or give --concepts")
    return ConceptPrompt.from_labels(mapping, request.threshold)


def _describe(concepts: Any) -> str:
    """What identifies the concept model in the run's fingerprint."""
    if isinstance(concepts, ConceptOptions):
        from operators.run_record import concept_model_fingerprint

        return "concepts:" + repr(sorted(concept_model_fingerprint(concepts).items()))
    return "concepts:" + type(concepts).__name__


def preannotate_task(conn, task_id: int, concepts: ConceptOptions | Any, request: ConceptRequest = ConceptRequest(),
                     options: CvatOptions = CvatOptions()) -> CvatRunReport:
    """Pre-annotate the task (``options``: the frame window, job, dry run,
    progress, as for ``track_task``). ``concepts``: what to load
    (:class:`ConceptOptions`, loaded once per process only when there is work)
    or a loaded factory (``prompt -> tracker``; a test double)."""
    with _session(conn, task_id, "track", options) as run:
        ctx = prepare(conn, run.task, run.record, options)
        prompt = concept_prompt(run.task, request)
        report = make_report(ctx, "track --concepts", options)
        report.concepts = {label: phrase for label, phrase in prompt.labels}
        if options.dry_run:
            return report
        report.stale_deleted = _cleanup(ctx)
        what = f"{_describe(concepts)}|{prompt!r}"
        if ctx.ledger.fingerprint == fingerprint(ctx, options, what):
            report.message = "nothing changed since the last run (labels, a person's changes, options): nothing to do"
            ctx.save_if_changed()
            return report
        task, ledger = ctx.task, ctx.ledger
        label_ids = {label.name: lid for lid, label in task.labels.items()}
        keys: dict[int, ObjectKey] = {}
        groups = ledger.concept_groups
        old_groups = set(groups.values())
        fresh = [max(ctx.shapes.max_group, *groups.values(), 0) + 1]
        keyframes: set = set()
        sink = CvatMaskSink(ctx.conn, task, ledger, ctx.shapes, keys, ctx.first, ctx.prompts.truth,
                            job_id=options.job_id, frozen=ctx.frozen, prompted=frozenset(ctx.prompts.sources),
                            lease=run.lease)

        def named(track: FoundTrack, keyframe: Prompt) -> None:
            tid = track.object_id - 1
            if tid not in groups:  # a new object: a group no shape in the task has
                groups[tid], fresh[0] = fresh[0], fresh[0] + 1
            keys[track.object_id] = (label_ids[track.label], groups[tid])
            keyframes.add((keys[track.object_id], ctx.first + keyframe.frame))
            report.objects[track.object_id] = f"'{track.label}' (group {groups[tid]}, phrase '{track.phrase}')"

        progress = RunProgress(f"task {task.id}", enabled=options.progress)
        report.objects = {}
        with finishing(sink, progress):
            factory = get_concepts(concepts) if isinstance(concepts, ConceptOptions) else concepts
            frames = CvatFrames(ctx.conn, task, ctx.first, ctx.stop)
            result = run_preannotation(frames, factory(prompt), sink, options.run.batch_size, progress,
                                       id_base=1, on_found=named)
            _remove_stale(ctx, sink, keys, old_groups, result.objects)
            report.found = {keys[o]: t for o, t in result.objects.items()}
            ledger.concept_keyframes = {w for w in ledger.concept_keyframes
                                        if not ctx.first <= w[1] < ctx.stop} | keyframes
            ledger.keyframes = _keyframe_record(ctx)
            ledger.fingerprint = None if sink.counts.touched else fingerprint(ctx, options, what)
        report.counts = sink.counts
        _touched(report, ctx)
        return report


def _remove_stale(ctx, sink: CvatMaskSink, keys: dict[int, ObjectKey], old_groups: set[int],
                  found: Mapping[int, FoundTrack]) -> None:
    """Our masks of an earlier pre-annotation's objects on window frames this
    run did not write them to (an object no longer found, or not yet found
    there) are written absent: the sink removes ours and leaves a person's."""
    first_frame = {keys[o]: ctx.first + t.first_frame for o, t in found.items()}
    stale: dict[int, list[ObjectKey]] = {}
    for (key, frame) in ctx.shapes.ours:
        if key[1] in old_groups and ctx.first <= frame < ctx.stop and frame < first_frame.get(key, ctx.stop):
            stale.setdefault(frame, []).append(key)
    if not stale:
        return
    ids = {key: oid for oid, key in keys.items()}
    for key in sorted({k for ks in stale.values() for k in ks}):
        if key not in ids:
            ids[key] = max(keys, default=0) + 1
            keys[ids[key]] = key
    empty = np.zeros((ctx.task.height, ctx.task.width), bool)
    sink.write([FrameResult(f - ctx.first, tuple(ids[k] for k in ks), {ids[k]: empty for k in ks},
                            {ids[k]: 0.0 for k in ks}) for f, ks in sorted(stale.items())])


__all__ = ["ConceptRequest", "concept_prompt", "parse_classes", "preannotate_task"]
