"""Track objects from prompts through a video and stream the masks to a sink."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from tam_core.models import Models
from tam_core.options import DIRECTIONS, RunOptions  # noqa: F401  (DIRECTIONS re-exported)
from tam_core.sessions.session import TrackingSession
from tam_core.sessions.spans import TrackerRun, keyframe_spans, plan_runs
from tam_core.types import FrameSource, Prompt

from .interfaces import LabelSink
from .loop import Progress, propagate
from .prompts import group_by_object, merge_prompts
from .report import ObjectRecord, ObjectStats, TrackReport  # noqa: F401  (re-exported)


def build_session(frames: FrameSource, models: Models, options: RunOptions = RunOptions(),
                  embeddings: Any = None) -> TrackingSession:
    """A ``TrackingSession`` over ``frames`` with ``models``' segmenter, tracker
    factory and refiner, running as ``options`` says (its direction is the
    session's default; ``refine=False`` never calls the refiner)."""
    # embeddings: the caller's cache keyed by this video's frame index (e.g. the App's previews), shared
    return TrackingSession(frames, models.tracker_factory, models.segmenter, refiner=models.refiner, options=options,
                           **({} if embeddings is None else {"embedding_cache": embeddings}))


def add_prompts(session: TrackingSession, frames: FrameSource, prompts: Iterable[Prompt]) -> list[Prompt]:
    """Validate/merge ``prompts`` and add them to ``session``; returns the merged list."""
    merged = merge_prompts(prompts, frames.num_frames, frames.size)
    add_keyframes(session, merged)
    return merged


def add_keyframes(session: TrackingSession, merged: Iterable[Prompt],
                  stored: Mapping[tuple[int, int], tuple[np.ndarray, float]] | None = None,
                  changed: Iterable[tuple[int, int]] = ()) -> None:
    """Add merged prompts to ``session``. ``stored``: ``(object_id, frame)`` ->
    (bool [H,W] mask, quality) an earlier run produced; a keyframe found there
    and not in ``changed`` keeps that mask instead of being segmented again
    (a correction encodes only the keyframes that changed)."""
    stored, changed = stored or {}, set(changed)
    for p in merged:
        key = (p.object_id, p.frame)
        if key in stored and key not in changed:
            mask, quality = stored[key]
            session.add_prompt(p, stored_mask=mask, stored_quality=quality)
        else:
            session.add_prompt(p)


def plan_for(prompts: Sequence[Prompt], num_frames: int, direction: str,
             changed: Iterable[tuple[int, int]] | None = None) -> list[TrackerRun]:
    """The tracker runs a session given ``prompts`` (merged) plans — fresh, or
    with ``changed`` given, marked tracked but for those ``(object_id,
    frame)`` keyframes (a correction) — known without models (SAM is needed
    only to turn clicks into keyframe masks): what a resumable job compares
    with its record before loading anything."""
    keyframes = {oid: sorted({p.frame for p in ps}) for oid, ps in group_by_object(prompts).items()}
    work = (sorted((oid, k) for oid, ks in keyframes.items() for k in ks) if changed is None
            else sorted({(int(o), int(f)) for o, f in changed}))
    return plan_runs([s for oid, k in work for s in keyframe_spans(oid, keyframes[oid], k, num_frames, direction)])


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
    every batch with distinct frames written / frames to write. The sink is
    not closed (the caller owns it). Not resumable: ``operators.resume`` is.
    """
    session = build_session(frames, models, options)
    add_prompts(session, frames, prompts)
    return propagate(session, sink, options, progress=progress)


__all__ = ["DIRECTIONS", "ObjectRecord", "ObjectStats", "TrackReport", "add_keyframes", "add_prompts", "build_session", "plan_for",
           "track"]
