"""Exceptions with actionable messages.

Every error a user can cause derives from :class:`TamError`; the command line
prints ``str(err)`` on one line and exits non-zero instead of a traceback.

Frames are 0-based everywhere inside tam-label; a message names a frame with
:func:`frame_label`, which counts from 0 unless the caller runs inside
``frames_counted_from(1)`` (FiftyOne counts frames from 1, so its entry points
do), so every message uses the numbering of the tool the user sees.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator

_FIRST_FRAME: contextvars.ContextVar[int] = contextvars.ContextVar("tam_label_first_frame", default=0)


def frame_label(frame: int) -> int:
    """The number a message gives the 0-based frame ``frame``."""
    return int(frame) + _FIRST_FRAME.get()


@contextmanager
def frames_counted_from(first: int) -> Iterator[None]:
    """Within this block (this thread / task), messages number frames from ``first``."""
    token = _FIRST_FRAME.set(int(first))
    try:
        yield
    finally:
        _FIRST_FRAME.reset(token)


class TamError(Exception):
    """Base class for user-facing errors (bad input, missing weights, ...)."""


class CheckpointError(TamError):
    """A checkpoint is missing, truncated, corrupt or has the wrong layout."""


class WeightsUnavailableError(CheckpointError):
    """Official weights are not cached and cannot be downloaded (offline)."""


class VideoError(TamError):
    """A video cannot be opened or decoded, or has no frames."""


class PromptError(TamError):
    """A prompt is invalid: outside the frame, on a missing frame, empty, ..."""


class DeviceError(TamError):
    """The requested device is not available (e.g. CUDA without CUDA)."""


class ConfigError(TamError):
    """An option or configuration value is invalid."""


def brief(text: object, limit: int = 160) -> str:
    """The first line of ``text`` in at most ``limit`` characters (+ " ..."), cut
    between words or list items, never inside one: for error details quoted
    from other libraries (a cut key name reads like a different key)."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[: limit + 1]
    for sep in (", ", "; ", " "):
        i = cut.rfind(sep)
        if i > 0:
            return cut[:i].rstrip(" ,;:") + " ..."
    return line[:limit] + " ..."
