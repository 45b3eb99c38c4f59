"""Pre-annotate a video without clicks: SAM 3 concept prompts find, segment
and track every instance of the prompt's phrases; every found object's masks
go through the ``LabelSink`` like any tracking run, and each object's first
frame becomes its keyframe (a mask prompt), so the existing correction flow
(``operators.correct``) re-tracks only the span a person's correction affects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tam_core.types import FrameResult, FrameSource, Prompt

from .interfaces import LabelSink


@dataclass(frozen=True)
class FoundTrack:
    """One object a concept prompt found: its id, label, phrase, best score and first frame."""

    object_id: int
    label: str
    phrase: str
    score: float
    first_frame: int


@dataclass
class Preannotation:
    """What a pre-annotation wrote: the objects found, their keyframe prompts
    (a mask on each object's first frame, for ``correct``), frames written."""

    objects: dict[int, FoundTrack] = field(default_factory=dict)
    prompts: list[Prompt] = field(default_factory=list)
    frames_written: int = 0

    @property
    def stored(self) -> dict[tuple[int, int], tuple[np.ndarray, float]]:
        """``correct``'s ``stored``: (object id, keyframe) -> (mask, quality), so
        unchanged keyframes are not segmented again."""
        return {(p.object_id, p.frame): (p.mask, self.objects[p.object_id].score) for p in self.prompts}


def preannotate(frames: FrameSource, tracker: Any, sink: LabelSink, batch_size: int = 32,
                progress: Callable[[int, int], None] | None = None, id_base: int = 0,
                on_found: Callable[[FoundTrack, Prompt], None] | None = None) -> Preannotation:
    """Run ``tracker`` (a :class:`~tam_core.concepts.tracker.ConceptTracker`:
    ``step(image) -> [FoundObject]``) over every frame in order; write each
    found object's masks (quality: its score) in batches of ``batch_size``
    frames. An object that leaves is written absent (an all-False mask) on the
    frames it is missing from, so a sink holding an older run is cleaned.
    ``progress(done, total)`` after each batch. ``id_base``: the written
    object id is ``id_base`` + the tracker's (so found objects never take the
    ids of objects a person prompted); ``on_found(track, keyframe)``: once per object,
    when first found and before any write holding it (a binding names the
    object, e.g. maps it to a CVAT label and group)."""
    total = frames.num_frames
    size = tuple(frames.size)
    result = Preannotation()
    pending: list[FrameResult] = []
    seen: set[int] = set()

    def flush() -> None:
        if pending:
            sink.write(list(pending))
            result.frames_written += len(pending)
            pending.clear()
            if progress is not None:
                progress(result.frames_written, total)

    for index, image in frames.iter_frames():
        found = tracker.step(image)
        masks: dict[int, np.ndarray] = {}
        quality: dict[int, float] = {}
        for obj in found:
            if not obj.mask.any():
                continue
            oid = id_base + int(obj.object_id)
            masks[oid], quality[oid] = np.asarray(obj.mask, bool), float(obj.score)
            known = result.objects.get(oid)
            if known is None:
                result.objects[oid] = FoundTrack(oid, obj.label, obj.phrase, float(obj.score), index)
                result.prompts.append(Prompt(frame=index, object_id=oid, label=obj.label, mask=masks[oid].copy()))
                if on_found is not None:
                    on_found(result.objects[oid], result.prompts[-1])
            elif obj.score > known.score:
                result.objects[oid] = FoundTrack(oid, known.label, known.phrase, float(obj.score), known.first_frame)
        for oid in seen - set(masks):
            masks[oid], quality[oid] = np.zeros(size, bool), 0.0
        seen |= set(masks)
        ids = tuple(sorted(masks))
        if ids:
            pending.append(FrameResult(index, ids, masks, quality))
        if len(pending) >= batch_size:
            flush()
    flush()
    return result


__all__ = ["FoundTrack", "Preannotation", "preannotate"]
