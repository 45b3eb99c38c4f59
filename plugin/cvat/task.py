"""What we need to know about a CVAT task, and its frames as a FrameSource.

Frame numbers are the task's own (0..size-1): task frame ``i`` is source
frame ``start_frame + i * step``, and annotations use task frame numbers, so
we never need the source numbering except to report it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from tam_core.errors import ConfigError

from .errors import CvatError

NEGATIVE_ATTRIBUTE = "negative"  # checkbox attribute marking negative points (README: prompt convention)


@dataclass(frozen=True)
class LabelInfo:
    id: int
    name: str
    attributes: dict[int, str] = field(default_factory=dict)  # spec id -> attribute name

    @property
    def negative_spec(self) -> int | None:
        return next((sid for sid, name in self.attributes.items() if name.lower() == NEGATIVE_ATTRIBUTE), None)


@dataclass(frozen=True)
class JobInfo:
    """An annotation job: task frames [start, stop] (inclusive, as CVAT);
    stage/state as CVAT reports them (a reviewer's accept: acceptance/completed)."""

    id: int
    start: int
    stop: int
    stage: str = "annotation"
    state: str = "new"

    def holds(self, frame: int) -> bool:
        return self.start <= frame <= self.stop

    @property
    def finished(self) -> bool:
        """Accepted or completed: left alone unless ``--include-completed``."""
        return self.stage == "acceptance" or self.state == "completed"


@dataclass(frozen=True)
class TaskInfo:
    """A task's frame layout and labels. ``size``: number of task frames;
    ``height``/``width``: frame size in pixels; ``step``: source-frame step."""

    id: int
    name: str
    mode: str
    size: int
    start_frame: int
    stop_frame: int
    step: int
    height: int
    width: int
    labels: dict[int, LabelInfo]
    deleted_frames: frozenset[int] = frozenset()
    jobs: tuple[JobInfo, ...] = ()

    def source_frame(self, frame: int) -> int:
        return self.start_frame + frame * self.step

    def holders(self, frame: int) -> list[int]:
        """The jobs holding ``frame``, earliest first."""
        return [jid for _, jid in sorted((j.start, j.id) for j in self.jobs if j.holds(frame))]

    def job_for(self, frame: int, prefer: int | None = None, frozen: frozenset[int] = frozenset()) -> int | None:
        """The one job a new shape on ``frame`` is stored in: ``prefer`` (the
        ``--job``) when it holds the frame and is open, else the earliest job
        holding it; None when that job is ``frozen`` (accepted/completed: a
        reviewer accepted its frames, overlap frames included, as they are).
        Jobs of video tasks overlap, and a task-level upload would be stored in
        every job holding the frame (a duplicate per overlap)."""
        ids = self.holders(frame)
        if not ids:
            raise CvatError(f"no annotation job of task {self.id} holds frame {frame}; re-read the task (was it re-split?)")
        if prefer in ids and prefer not in frozen:
            return prefer
        return None if ids[0] in frozen else ids[0]

    def overlaps(self) -> list[tuple[int, int, int, int]]:
        """(first, last, job holding our masks there, other job) for each run of
        frames held by two jobs (video tasks overlap by 5 frames by default)."""
        out = []
        jobs = sorted(self.jobs, key=lambda j: (j.start, j.id))
        for a, b in zip(jobs, jobs[1:]):
            if b.start <= a.stop:
                out.append((b.start, min(a.stop, b.stop), a.id, b.id))
        return out


def parse_step(frame_filter: str | None) -> int:
    """CVAT's ``frame_filter`` ("" or "step=N") -> N."""
    m = re.search(r"step\s*=\s*(\d+)", frame_filter or "")
    return int(m.group(1)) if m else 1


def load_task(conn, task_id: int) -> TaskInfo:
    task = conn.task(task_id)
    meta = conn.data_meta(task_id)
    frames = meta.get("frames") or []
    if not frames:
        raise CvatError(f"task {task_id} has no frames (is its data still being uploaded?)")
    sizes = {(int(f["height"]), int(f["width"])) for f in frames}
    if len(sizes) > 1:
        raise CvatError(f"task {task_id} has images of {len(sizes)} different sizes; tracking needs one frame size (make one task per size)")
    (h, w), = sizes
    labels = {}
    for lab in conn.labels(task_id):
        attrs = {int(a["id"]): str(a["name"]) for a in lab.get("attributes", [])}
        labels[int(lab["id"])] = LabelInfo(int(lab["id"]), str(lab["name"]), attrs)
    size = int(meta.get("size") or task.get("size") or 0)
    jobs = tuple(
        JobInfo(int(j["id"]), int(j["start_frame"]), int(j["stop_frame"]), str(j.get("stage") or "annotation"),
                str(j.get("state") or "new"))
        for j in conn.jobs(task_id) if j.get("type", "annotation") == "annotation"  # never a ground-truth job
    )
    return TaskInfo(
        id=int(task_id), name=str(task.get("name", "")), mode=str(task.get("mode", "")), size=size,
        start_frame=int(meta.get("start_frame", 0)), stop_frame=int(meta.get("stop_frame", size - 1)),
        step=parse_step(meta.get("frame_filter")), height=h, width=w, labels=labels,
        deleted_frames=frozenset(int(f) for f in meta.get("deleted_frames") or ()), jobs=jobs,
    )


def frame_window(task: TaskInfo, frames: str | None = None, job: dict | None = None) -> tuple[int, int]:
    """The task frames [first, stop) to work on: ``frames`` "A:B" (task frame
    numbers, B exclusive, either side may be empty) within the job's range."""
    first, stop = 0, task.size
    if job is not None:
        if int(job.get("task_id", task.id)) != task.id:
            raise ConfigError(f"job {job.get('id')} belongs to task {job.get('task_id')}, not task {task.id}")
        first, stop = int(job["start_frame"]), int(job["stop_frame"]) + 1
    if frames:
        m = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", frames)
        if not m:
            raise ConfigError(f"--frames {frames!r} is invalid: use A:B (task frame numbers, B exclusive), e.g. 0:100")
        a = int(m.group(1)) if m.group(1) else first
        b = int(m.group(2)) if m.group(2) else stop
        first, stop = max(first, a), min(stop, b)
    if stop <= first:
        raise ConfigError(f"the frame range {first}:{stop} of task {task.id} is empty (the task has frames 0..{task.size - 1})")
    return first, stop


class CvatFrames:
    """A ``FrameSource`` over task frames [first, stop): index ``i`` is task
    frame ``first + i``. Frames are downloaded one by one at original quality
    and only the last ``cache`` are kept (memory stays bounded)."""

    def __init__(self, conn, task: TaskInfo, first: int, stop: int, cache: int = 8):
        self.conn, self.task, self.first, self.stop = conn, task, first, stop
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache
        self.downloads = 0

    @property
    def num_frames(self) -> int:
        return self.stop - self.first

    @property
    def size(self) -> tuple[int, int]:
        return self.task.height, self.task.width

    @property
    def fps(self) -> float:
        return 0.0  # CVAT does not report it and tracking does not need it

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} out of range 0..{self.num_frames - 1}")
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        image = self.conn.frame(self.task.id, self.first + index)
        if image.shape[:2] != self.size:
            raise CvatError(f"frame {self.first + index} of task {self.task.id} is {image.shape[1]}x{image.shape[0]}, expected {self.size[1]}x{self.size[0]}")
        self.downloads += 1
        self._cache[index] = image
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return image

    def iter_frames(self, start: int = 0, stop: int | None = None, reverse: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        order = range(stop - 1, start - 1, -1) if reverse else range(start, stop)
        for i in order:
            yield i, self[i]
