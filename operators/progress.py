"""Progress of a long job, readable on a terminal and in a log file.

On a terminal: a tqdm bar. Anywhere else (stderr piped to a file, a CI log, a
batch system): one line every ``every_s`` seconds and one at the end, e.g.
``tracking: 40/120 frames (33%), 2.31 s/frame, ETA 3m05s``. Rates below one
unit per second are shown as seconds per unit, so a slow CPU run never reads
"0.04 frames/s" (or "0.0 frames/s").
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def format_rate(count: float, seconds: float, unit: str = "frame") -> str:
    """``12.5 frames/s`` or ``2.31 s/frame`` (3 significant digits); ``-`` when nothing was measured."""
    if count <= 0 or seconds <= 0:
        return "-"
    per_second = count / seconds
    if per_second >= 1000:  # whole numbers, never "1.77e+04"
        return f"{per_second:.0f} {unit}s/s"
    if per_second >= 1:
        return f"{per_second:.3g} {unit}s/s"
    return f"{seconds / count:.3g} s/{unit}"


def format_duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``2h07m``."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class ProgressReporter:
    """``update(done)`` with the units done so far (0..total); ``close()`` at the end.

    total: units of work of this run (e.g. frames to track, 0 = nothing to do);
    tty: force bar (True) or log lines (False); default: whether ``stream`` is
    a terminal. enabled=False reports nothing. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        total: int,
        desc: str = "tracking",
        unit: str = "frame",
        stream: TextIO | None = None,
        tty: bool | None = None,
        every_s: float = 30.0,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total, self.desc, self.unit = int(total), desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.enabled = enabled and self.total > 0
        self.clock = clock
        self.done = 0
        self._start = clock()
        self._last_line = self._start
        self._printed = -1  # ``done`` of the last line printed
        self._bar = None
        if tty is None:
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if self.enabled and tty:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, unit=unit, desc=desc, file=self.stream)

    def line(self) -> str:
        """The log line for the current state."""
        elapsed = self.clock() - self._start
        pct = 100 * self.done // self.total if self.total else 100
        text = f"{self.desc}: {self.done}/{self.total} {self.unit}s ({pct}%), {format_rate(self.done, elapsed, self.unit)}"
        if 0 < self.done < self.total:
            text += f", ETA {format_duration(elapsed / self.done * (self.total - self.done))}"
        elif self.done >= self.total:
            text += f", took {format_duration(elapsed)}"
        return text

    def update(self, done: int) -> None:
        self.done = min(max(int(done), self.done), self.total)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self.done - self._bar.n)
            return
        now = self.clock()
        if now - self._last_line >= self.every_s:
            self._last_line = now
            self._print()

    def _print(self) -> None:
        self._printed = self.done
        print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        elif self.done > 0 and self._printed != self.done:
            self._print()
        self.enabled = False

    def __enter__(self) -> "ProgressReporter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RunProgress:
    """The operators' ``progress(done, total)`` callback, reporting through a
    :class:`ProgressReporter` made on the first call (when the run has been
    planned and its total is known); ``close()`` (or ``with``) at the end.
    desc / enabled: as for :class:`ProgressReporter`."""

    def __init__(self, desc: str = "tracking", enabled: bool = True):
        self.desc, self.enabled = desc, enabled
        self.reporter: ProgressReporter | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.reporter is None:
            self.reporter = ProgressReporter(total, desc=self.desc, enabled=self.enabled)
        self.reporter.update(done)

    def close(self) -> None:
        if self.reporter is not None:
            self.reporter.close()

    def __enter__(self) -> "RunProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["ProgressReporter", "RunProgress", "format_duration", "format_rate"]
