"""Re-track only the spans that new or edited keyframes affect."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from tam_core.errors import PromptError
from tam_core.models import Models
from tam_core.options import RunOptions
from tam_core.types import FrameSource, Prompt

from .interfaces import LabelSink
from .loop import Progress, propagate
from .prompts import merge_prompts
from .report import TrackReport
from .track import add_keyframes, build_session


def correct(
    frames: FrameSource,
    prompts: Sequence[Prompt],
    changed: Iterable[tuple[int, int]],
    sink: LabelSink,
    models: Models,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
    stored: Mapping[tuple[int, int], tuple[np.ndarray, float]] | None = None,
) -> TrackReport:
    """Apply corrections: ``prompts`` are *all* stored keyframe prompts (old and
    new), ``changed`` the ``(object_id, frame)`` keyframes that are new or edited.

    The session is rebuilt from all prompts, everything is treated as already
    tracked except the spans of the changed keyframes, and only those spans are
    propagated and written (the other objects and frames stay as they are).
    ``options.refine=False`` never calls the refiner. ``stored``: the
    ``(object_id, frame)`` -> (bool [H,W] mask, quality) an earlier run
    produced for unchanged keyframes; those are not segmented again (the
    segmenter runs only on the changed keyframes).
    """
    session = build_session(frames, models, options)
    merged = merge_prompts(prompts, frames.num_frames, frames.size)
    changed = check_changed(merged, changed)
    add_keyframes(session, merged, stored, changed)
    session.mark_tracked(except_keyframes=changed)
    return propagate(session, sink, options, progress=progress)


def check_changed(prompts: Sequence[Prompt], changed: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``changed`` sorted, each a keyframe of ``prompts``; PromptError when empty or not."""
    keys = {(p.object_id, p.frame) for p in prompts}
    changed = sorted({(int(o), int(f)) for o, f in changed})
    if not changed:
        raise PromptError("nothing to correct: no new or edited keyframe was given")
    missing = [c for c in changed if c not in keys]
    if missing:
        o, f = missing[0]
        raise PromptError(f"changed keyframe (object {o}, frame {f}) has no prompt; add a prompt there first")
    return changed
