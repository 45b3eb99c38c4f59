"""Bounded memory for ``transformers`` streaming video sessions (SAM 2.1, and
SAM 3's tracker, which keeps the same per-object layout).

A ``Sam2VideoInferenceSession`` keeps every processed frame and every
non-conditioning output forever, so a long video grows without limit. A step
on frame ``t`` reads only: its own frame, the conditioning (prompted) frames,
and non-conditioning outputs of the ``window`` frames before it (SAM 2: the
``num_maskmem - 1`` memory frames and ``max_object_pointers_in_encoder - 1``
object pointers). :func:`prune_session` drops the rest, so a pruned stream
computes exactly what the unpruned one does (``tests/trackers``). Frame
indices must then be given explicitly: the session numbers a frame without
one ``len(processed_frames)``, which collides once frames are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tam_core.errors import PromptError


def check_frame(image: Any, started: tuple[int, int] | None) -> tuple[np.ndarray, tuple[int, int]]:
    """A streamed frame: uint8 [H,W,3] (a writable copy when the reader handed a
    read-only view, which torch cannot wrap) and its (H, W), which must be the
    pass's first frame's ``started`` size. PromptError otherwise."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise PromptError(f"frame must be uint8 [H,W,3], got {image.dtype} {tuple(image.shape)}")
    size = (int(image.shape[0]), int(image.shape[1]))
    if started is not None and size != started:
        raise PromptError(f"frame is {size[1]}x{size[0]}, the pass started at {started[1]}x{started[0]}")
    return (image if image.flags.writeable else image.copy()), size


def memory_window(config: Any) -> int:
    """How many earlier frames a step reads non-conditioning outputs from."""
    return max(int(config.num_maskmem) - 1, int(config.max_object_pointers_in_encoder) - 1, 1)


def prune_session(session: Any, frame_idx: int, window: int) -> None:
    """Forget what no later step of a pass that feeds frames in increasing
    index order can read: processed frames before ``frame_idx`` and
    non-conditioning outputs (and tracked-frame marks) more than ``window``
    frames before it. Conditioning outputs (prompted frames) are kept."""
    if session.processed_frames:
        for k in [k for k in session.processed_frames if k < frame_idx]:
            del session.processed_frames[k]
    oldest = frame_idx - window
    for outputs in session.output_dict_per_obj.values():
        stale = outputs["non_cond_frame_outputs"]
        for k in [k for k in stale if k < oldest]:
            del stale[k]
    for tracked in session.frames_tracked_per_obj.values():
        for k in [k for k in tracked if k < oldest]:
            del tracked[k]


def kept_frames(session: Any) -> tuple[int, int]:
    """(processed frames held, non-conditioning outputs held over all objects): what pruning bounds."""
    frames = len(session.processed_frames or {})
    outputs = sum(len(o["non_cond_frame_outputs"]) for o in session.output_dict_per_obj.values())
    return frames, outputs


__all__ = ["check_frame", "kept_frames", "memory_window", "prune_session"]
