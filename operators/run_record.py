"""Resumable tracking: a durable record of what a job is for and what it finished.

Tool-agnostic (the DAVIS PNG folder of ``tam-label track`` is one user). The
rules that keep results safe:

- A job is identified by a :class:`Fingerprint`: named parts (video content,
  prompts, options, model checkpoints), each a digest. A record with another
  fingerprint belongs to another job: the caller starts over and says which
  part changed (:meth:`Fingerprint.changes`).
- The record is written (atomically, fsync'ed) *before* the caller removes
  any earlier results, and says ``finished: false`` until the job is done, so
  an interrupted or failed job is always recognised as incomplete.
- The unit of resuming is a :class:`tam_core.sessions.spans.TrackerRun` (one fresh
  tracker holding its objects jointly): a run is marked done only after all
  its results were written; an unfinished run is tracked again in full, so
  a resumed job gives exactly the results of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from tam_core.types import FrameResult

from .interfaces import LabelSink

RECORD_VERSION = 2


@dataclass(frozen=True)
class Fingerprint:
    """What determines a job's results: part name -> digest (str)."""

    parts: Mapping[str, str]

    def changes(self, older: "Fingerprint") -> list[str]:
        """Names of the parts that differ from ``older`` (sorted; added or removed parts count)."""
        names = set(self.parts) | set(older.parts)
        return sorted(n for n in names if self.parts.get(n) != older.parts.get(n))


def write_json_durably(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (temporary file, fsync, rename, fsync of the folder)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(data, indent=1, sort_keys=True))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@dataclass
class RunRecord:
    """The durable record of one job, stored as JSON at ``path``.

    done: keys of the tracker runs whose results are all written; finished:
    the whole job completed (results complete and summarised).
    """

    path: Path
    fingerprint: Fingerprint
    done: list[str] = field(default_factory=list)
    finished: bool = False

    @classmethod
    def load(cls, path: Path) -> "RunRecord | None":
        """The record at ``path``, or None when there is none or it is unreadable
        (a record of an older format counts as none)."""
        try:
            data = json.loads(Path(path).read_text())
            if data.get("version") != RECORD_VERSION:
                return None
            return cls(Path(path), Fingerprint(dict(data["fingerprint"])), list(data["done"]), bool(data["finished"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def save(self) -> None:
        write_json_durably(self.path, {
            "version": RECORD_VERSION,
            "fingerprint": dict(self.fingerprint.parts),
            "done": self.done,
            "finished": self.finished,
        })

    def mark_done(self, key: str) -> None:
        if key not in self.done:
            self.done.append(key)
        self.save()

    def finish(self) -> None:
        self.finished = True
        self.save()


@dataclass(frozen=True)
class RunsReport:
    """What :func:`track_runs` did: runs planned / kept from an earlier job /
    tracked now, frames tracked now (stepped by a tracker), seconds spent."""

    runs_planned: int
    runs_kept: int
    runs_tracked: int
    frames_tracked: int
    seconds: float


def track_runs(
    session: Any,
    direction: str,
    sink: LabelSink,
    record: RunRecord,
    batch_size: int = 16,
    still_valid: Callable[[Any], bool] = lambda run: True,
    progress: Callable[[int, int], None] | None = None,
) -> RunsReport:
    """Track every run of ``session.plan(direction)`` that ``record`` does not
    hold as done (or whose stored results ``still_valid(run)`` rejects),
    writing results to ``sink`` in batches and marking each run done in
    ``record`` once all its results are written.

    progress(done, total) counts frames stepped by trackers in this call.
    """
    start = time.perf_counter()
    runs = session.plan(direction)
    kept = [r for r in runs if r.key in record.done and still_valid(r)]
    record.done = [r.key for r in kept]  # forget runs of other plans and runs found damaged
    record.save()
    todo = [r for r in runs if r not in kept]
    total = sum(r.num_frames for r in todo)
    finished_frames = 0
    if progress is not None:
        progress(0, total)
    for run in todo:
        batch: list[FrameResult] = []
        stepped = 0
        for res in session.track_run(run):
            batch.append(res)
            stepped = abs(res.frame - (run.hi if run.reverse else run.lo)) + 1
            if len(batch) >= batch_size:
                sink.write(batch)
                batch = []
                if progress is not None:
                    progress(finished_frames + stepped, total)
        if batch:
            sink.write(batch)
        finished_frames += run.num_frames
        record.mark_done(run.key)
        if progress is not None:
            progress(finished_frames, total)
    return RunsReport(len(runs), len(kept), len(todo), total, time.perf_counter() - start)


__all__ = ["Fingerprint", "RunRecord", "RunsReport", "track_runs", "write_json_durably"]
