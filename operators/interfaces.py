"""The two small interfaces a labeling tool implements: read frames (the
``tam_core.types.FrameSource`` protocol) and write masks (:class:`LabelSink`).

:class:`MemorySink` is the reference sink: it keeps results in a dict and is
what tests and the command line use.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from tam_core.types import FrameResult, FrameSource  # noqa: F401  (re-exported)


@runtime_checkable
class LabelSink(Protocol):
    """Where tracked masks go (FiftyOne frames, CVAT shapes, PNG folders...).

    ``write`` replaces, on each listed frame, the masks of exactly the objects in
    that result's ``object_ids`` (an all-False mask means "absent there": remove
    that object's label) and leaves every other label alone. Writing the same
    results twice gives the same labels (idempotent). A sink must make each
    ``write`` call frame-atomic: after an interruption a frame holds either its
    old labels or the complete new ones.
    """

    def write(self, results: Sequence[FrameResult]) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """In-memory :class:`LabelSink`: ``masks[frame][object_id] -> bool [H,W]``.

    Also records quality and refinement per (frame, object) and how many
    ``write`` calls it received (to check batching).
    """

    def __init__(self) -> None:
        self.masks: dict[int, dict[int, np.ndarray]] = {}
        self.quality: dict[tuple[int, int], float] = {}
        self.refined: set[tuple[int, int]] = set()
        self.batches: list[int] = []
        self.closed = False

    def write(self, results: Sequence[FrameResult]) -> None:
        self.batches.append(len(results))
        for res in results:
            frame_masks = self.masks.setdefault(res.frame, {})
            for oid in res.object_ids:
                key = (res.frame, oid)
                mask = np.asarray(res.masks[oid], dtype=bool)
                if not mask.any():
                    frame_masks.pop(oid, None)
                    self.quality.pop(key, None)
                    self.refined.discard(key)
                    continue
                frame_masks[oid] = mask.copy()
                self.quality[key] = float(res.quality.get(oid, 1.0))
                if oid in res.refined:
                    self.refined.add(key)
                else:
                    self.refined.discard(key)
            if not frame_masks:
                del self.masks[res.frame]

    def close(self) -> None:
        self.closed = True
