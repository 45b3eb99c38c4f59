"""Python API on FiftyOne video samples: track, correct, review.

Each function works on any sample collection (dataset or view) of videos,
reads prompts from one or several frame fields (FiftyOne's SAM 2 conventions,
see ``convert`` and ``prompt_reader``), streams frames from the video file and
writes a frame-level ``Detections`` field in batches. Track and correct are
resumable: their record (``<label_field>_job`` on the sample,
``operators.resume``) lets an interrupted run (a killed delegated worker,
Ctrl-C) keep the tracker runs it finished when run again with the same
inputs, and keeps an interrupted correction's keyframes changed until a
correction finishes. Pass ``models=`` to use
already loaded models (or test doubles); otherwise ``model_options`` says what
to load and ``tam_core.models.get_models`` (the one cached loader) loads it
once per process. How a run behaves is ``options`` (a
``tam_core.options.RunOptions``), used exactly as given.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from operators.prompts import merge_prompts, object_labels
from operators.resume import pending_keyframes, resumable_track
from operators.run_record import job_fingerprint, model_fingerprint
from operators.track import TrackReport
from tam_core.errors import PromptError, frame_label, frames_counted_from
from tam_core.models import MACHINE_DEFAULT, ModelOptions, Models, get_models
from tam_core.options import RunOptions
from tam_core.types import Prompt

from .convert import (
    EDIT_PREFIX, MASK_PREFIXES, PHRASE_ATTR, PROMPT_ATTR, SOURCE_ATTR, KeyframeTag, box_to_pixels, is_edited, is_ours, paste_mask,
    prompt_digest,
)
from .embeddings import app_embeddings
from .prompt_reader import check_prompt_fields, check_video, field_name, frames_with, parse_fields, read_prompts, read_sourced
from .review import read_records, review
from .sink import FrameDetectionsSink, check_output_field, ensure_job_field

DEFAULT_PROMPT_FIELD = "tam_prompts"
DEFAULT_LABEL_FIELD = "tam_tracks"

SampleProgress = Callable[[str, int, int], None]  # (sample id, frames done, total)


@dataclass(frozen=True)
class SampleReport:
    sample_id: str
    filepath: str
    report: TrackReport | None  # None: nothing to do on this sample
    note: str = ""


@dataclass
class _Stored:
    """What earlier runs left in the output field: per (object_id, frame)
    keyframe the prompt digest and source fields, mask prompts (a user's
    edits, a pre-annotation's keyframes) with their tag's prefix, and the
    keyframes edited since they were written."""

    digests: dict[tuple[int, int], str] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    mask_prompts: dict[tuple[int, int], Prompt] = field(default_factory=dict)
    prefixes: dict[tuple[int, int], str] = field(default_factory=dict)  # mask prompt -> its tag's prefix
    edited: set[tuple[int, int]] = field(default_factory=set)
    phrases: dict[int, str] = field(default_factory=dict)  # pre-annotated object -> the phrase that found it
    masks: dict[tuple[int, int], tuple[Any, float]] = field(default_factory=dict)  # keyframe -> (mask, quality)


@dataclass(frozen=True)
class Plan:
    """One sample's run: every keyframe prompt (user edits winning on their
    keyframe), what to store on each keyframe, and the keyframes new or
    changed since the last run."""

    prompts: list[Prompt]
    keyframes: dict[tuple[int, int], KeyframeTag]
    changed: set[tuple[int, int]]
    removed: set[tuple[int, int]]  # keyframes of the last run whose prompt is gone
    stored: dict[tuple[int, int], tuple[Any, float]] = field(default_factory=dict)  # unchanged keyframes' masks
    phrases: dict[int, str] = field(default_factory=dict)  # pre-annotated objects keep their phrase


def _stored(sample: Any, label_field: str, size: tuple[int, int]) -> _Stored:
    out = _Stored()
    for fn, dets in frames_with(sample, label_field):
        for d in dets.detections:
            if not is_ours(d) or d.index is None:
                continue
            key = (int(d.index), fn - 1)
            if d.has_field(PHRASE_ATTR) and d.get_field(PHRASE_ATTR):
                out.phrases[key[0]] = str(d.get_field(PHRASE_ATTR))
            tag = d.get_field(PROMPT_ATTR) if d.has_field(PROMPT_ATTR) else None
            if tag:
                out.digests[key] = tag
                if d.mask is not None and not is_edited(d):  # the keyframe mask we produced
                    out.masks[key] = (paste_mask(d.mask, box_to_pixels(d.bounding_box, size), size),
                                      float(d.confidence if d.confidence is not None else 1.0))
            if d.has_field(SOURCE_ATTR) and d.get_field(SOURCE_ATTR):
                out.sources.update(parse_fields(d.get_field(SOURCE_ATTR)))
            prefix = next((p for p in MASK_PREFIXES if (tag or "").startswith(p)), None)
            if (is_edited(d) or prefix) and d.mask is not None:
                mask = paste_mask(d.mask, box_to_pixels(d.bounding_box, size), size)
                if mask.any():
                    out.mask_prompts[key] = Prompt(fn - 1, int(d.index), d.label, mask=mask)
                    out.prefixes[key] = EDIT_PREFIX if is_edited(d) else prefix
                    if is_edited(d):
                        out.edited.add(key)
    return out


def plan(sample: Any, fields: Sequence[str], label_field: str, size: tuple[int, int], num_frames: int) -> Plan | None:
    """The prompts of ``fields`` plus those of every field an existing keyframe
    of ``label_field`` came from (so no keyframe is lost whatever fields a
    correction is given), merged per keyframe; None when there are none."""
    stored = _stored(sample, label_field, size)
    dataset = sample._dataset
    extra = sorted(f for f in stored.sources - set(fields) if f != label_field and dataset.has_frame_field(f))
    sourced = read_sourced(sample, tuple(fields) + tuple(extra), size, num_frames)
    if not sourced and not stored.mask_prompts:
        return None
    merged = merge_prompts([s.prompt for s in sourced], num_frames, size) if sourced else []
    came_from: dict[tuple[int, int], set[str]] = defaultdict(set)
    for s in sourced:
        came_from[(s.prompt.object_id, s.prompt.frame)].add(s.field)
    prompts = {(p.object_id, p.frame): p for p in merged}
    tags = {k: KeyframeTag(prompt_digest(p), tuple(sorted(came_from[k]))) for k, p in prompts.items()}
    labels = object_labels(merged)
    for key, p in stored.mask_prompts.items():
        p = Prompt(p.frame, p.object_id, labels.get(p.object_id) or p.label, mask=p.mask)
        prompts[key] = p
        tags[key] = KeyframeTag(stored.prefixes[key] + prompt_digest(p))
    changed = {k for k, t in tags.items() if stored.digests.get(k) != t.digest} | stored.edited
    kept = {k: m for k, m in stored.masks.items() if k in tags and k not in changed}
    return Plan(list(prompts.values()), tags, changed, set(stored.digests) - set(tags), kept, stored.phrases)


def run_sample(sample: Any, fields: Sequence[str], label_field: str, models: Models | None,
               model_options: ModelOptions, options: RunOptions, progress: SampleProgress | None = None,
               only_changes: bool = False) -> SampleReport:
    """Track (or, with ``only_changes``, correct) one video sample into
    ``frames.<label_field>``. Models are loaded (cached) only when there is work."""
    from tam_core.video import open_video

    with frames_counted_from(1), open_video(sample.filepath) as video:  # messages in FiftyOne's frame numbers
        p = plan(sample, fields, label_field, video.size, video.num_frames)
        if p is None:
            return SampleReport(sample.id, sample.filepath, None, f"no prompts in {', '.join('frames.' + f for f in fields)}")
        if only_changes and p.removed:
            oid, frame = min(p.removed)
            raise PromptError(f"the keyframe of object {oid} on frame {frame_label(frame)} was removed since the last run; "
                              "run Track (not Correct) to re-track without it")
        ensure_job_field(sample._dataset, label_field)
        sink = FrameDetectionsSink(sample, label_field, object_labels(p.prompts), p.keyframes,
                                   {oid: {PHRASE_ATTR: phrase} for oid, phrase in p.phrases.items()})
        # An interrupted correction's keyframes may already hold their new digests: its record keeps them changed.
        if only_changes and not p.changed and not pending_keyframes(sink.load_record()) & set(p.keyframes):
            return SampleReport(sample.id, sample.filepath, None, "nothing changed since the last run")
        cb = (lambda d, t: progress(sample.id, d, t)) if progress else None

        def load() -> Models:
            return models if models is not None else get_models(model_options)

        # Resumes an unfinished job of the same inputs; a finished one is done again.
        fingerprint = job_fingerprint(video, p.prompts, options, model_fingerprint(model_options))
        rep = resumable_track(video, p.prompts, sink, load, options, fingerprint, redo_finished=True, progress=cb,
                              changed=sorted(p.changed) if only_changes else None,
                              stored=p.stored if only_changes else None,
                              embeddings=app_embeddings().scoped(sample.filepath)).track  # the panel's previews
        sink.close()
        return SampleReport(sample.id, sample.filepath, rep)


def _run(samples: Any, prompt_field: str | Sequence[str], label_field: str, models: Models | None,
         model_options: ModelOptions, options: RunOptions, progress: SampleProgress | None,
         only_changes: bool) -> list[SampleReport]:
    """The body of :func:`track` (everything) and :func:`correct` (only what changed)."""
    # a correction may have no prompt field: the keyframes are then a person's edits of the output masks
    # and a pre-annotation's keyframes
    fields = check_prompt_fields(samples, prompt_field) if parse_fields(prompt_field) or not only_changes else ()
    if not fields:
        check_video(samples)
    check_output_field(samples._dataset, label_field, fields)
    lf = field_name(label_field)
    reports = []
    for s in samples.select_fields():  # ids and file paths only; full samples loaded one by one
        reports.append(run_sample(s._dataset[s.id], fields, lf, models, model_options, options, progress, only_changes))
    return reports


def track(
    samples: Any,
    prompt_field: str | Sequence[str] = DEFAULT_PROMPT_FIELD,
    label_field: str = DEFAULT_LABEL_FIELD,
    models: Models | None = None,
    model_options: ModelOptions = MACHINE_DEFAULT,
    options: RunOptions = RunOptions(),
    progress: SampleProgress | None = None,
) -> list[SampleReport]:
    """Track every prompted object of every video in ``samples`` from all its
    prompts and (re)write ``frames.<label_field>``.

    ``prompt_field``: one frame field or several (``"clicks,boxes"`` or a
    list), e.g. clicks in a Keypoints field and boxes in a Detections field.
    The fields earlier keyframes came from are read too. Samples without
    prompts are skipped (their report is None). Re-running gives the same
    labels; detections you added to the output field stay."""
    return _run(samples, prompt_field, label_field, models, model_options, options, progress, only_changes=False)


def correct(
    samples: Any,
    prompt_field: str | Sequence[str] | None = DEFAULT_PROMPT_FIELD,
    label_field: str = DEFAULT_LABEL_FIELD,
    models: Models | None = None,
    model_options: ModelOptions = MACHINE_DEFAULT,
    options: RunOptions = RunOptions(),
    progress: SampleProgress | None = None,
) -> list[SampleReport]:
    """Re-track only what changed since the last run: prompts added or edited
    in the prompt fields (those given and those every existing keyframe came
    from) and output masks a user edited in ``label_field`` (an edited mask
    becomes a keyframe). ``prompt_field=None``: no prompt field, only edited
    masks and the keyframes already in ``label_field`` (e.g. after
    :func:`~plugin.fiftyone.preannotate.preannotate`). Only the affected objects' labels on the affected
    spans are replaced; every other keyframe is kept. Samples with no change
    are skipped."""
    return _run(samples, prompt_field, label_field, models, model_options, options, progress, only_changes=True)


__all__ = [
    "DEFAULT_LABEL_FIELD", "DEFAULT_PROMPT_FIELD", "Plan", "SampleReport", "check_prompt_fields", "correct",
    "field_name", "parse_fields", "plan", "read_prompts", "read_records", "review", "run_sample", "track",
]
