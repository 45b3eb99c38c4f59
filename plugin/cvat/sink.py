"""A LabelSink that writes tracked masks to a CVAT task as mask shapes.

Each ``write`` (one batch) becomes one job-level PATCH action=create per job
the new masks go to (each mask is stored in exactly one job: a task-level
create would be stored again in every overlapping job) and one task-level
PATCH action=delete with exactly our earlier masks they replace, copies
included. The hashes of a batch are recorded as pending
before the upload, so shapes created by a request whose reply was lost are
recognised as ours by the next run; a re-run therefore completes an
interrupted one without duplicates and never touches a person's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tam_core.types import FrameResult

from .ledger import Ledger, shape_hash
from .masks import encode_mask
from .shapes import ObjectKey, TaskShapes
from .task import TaskInfo


@dataclass
class SinkCounts:
    created: int = 0
    deleted: int = 0
    unchanged: int = 0  # identical mask already there: nothing sent
    kept_manual: int = 0  # a person's mask/polygon is the truth on that frame
    empty: int = 0  # object absent on that frame: no mask uploaded
    requests: int = 0


class CvatMaskSink:
    """``LabelSink`` over task frames [first, ...): result frame ``i`` is task frame ``first + i``.

    keys: object id -> (label id, group) written on each shape; truth: (object,
    task frame) pairs where a person's shape is the answer (nothing uploaded,
    our earlier mask there removed).
    """

    def __init__(self, conn, task: TaskInfo, ledger: Ledger, shapes: TaskShapes, keys: dict[int, ObjectKey],
                 first: int, truth: frozenset = frozenset(), job_id: int | None = None):
        self.conn, self.task, self.ledger, self.shapes = conn, task, ledger, shapes
        self.keys, self.first, self.truth, self.job_id = keys, first, truth, job_id
        self.counts = SinkCounts()
        self.frames_written: set[int] = set()

    def write(self, results: Sequence[FrameResult]) -> None:
        latest: dict[tuple[int, int], np.ndarray] = {}
        for res in results:  # a frame may come twice in one batch (forward + backward pass): the last wins
            for oid in res.object_ids:
                latest[(res.frame, oid)] = res.masks[oid]
        create: list[tuple[tuple[ObjectKey, int], dict, str]] = []
        delete: list[dict] = []
        for (rel, oid), mask in sorted(latest.items()):
            frame = self.first + int(rel)
            key = self.keys[oid]
            if frame in self.task.deleted_frames:
                continue
            old = self.shapes.ours.get((key, frame), [])
            points = None
            if (key, frame) in self.truth:
                self.counts.kept_manual += 1
            else:
                points = encode_mask(np.asarray(mask, dtype=bool))
                if points is None:
                    self.counts.empty += 1
            if points is not None:
                shape = {"type": "mask", "frame": frame, "label_id": key[0], "group": key[1], "source": "auto",
                         "points": points, "occluded": False, "z_order": 0, "rotation": 0.0, "attributes": []}
                h = shape_hash(shape)
                same = next((s for s in old if self.ledger.shapes.get(int(s["id"])) == h), None)
                if same is not None:  # already there: keep it, drop any copies of it
                    self.counts.unchanged += 1
                    delete.extend(s for s in old if s is not same)
                    continue
                create.append(((key, frame), shape, h))
            delete.extend(old)
            self.frames_written.add(frame)
        fresh = self._upload(create)
        self._delete(delete)
        for where, made in fresh.items():
            self.shapes.ours[where] = made

    def _upload(self, create: list) -> dict[tuple[ObjectKey, int], list[dict]]:
        """Create the masks, each in one job; returns (object, frame) -> the created shapes."""
        if not create:
            return {}
        self.ledger.pending = self.ledger.pending + [h for _, _, h in create]
        self.ledger.save()
        per_job: dict[int, list[dict]] = {}
        for _, s, _ in create:
            per_job.setdefault(self.task.job_for(s["frame"], self.job_id), []).append(s)
        made: list[dict] = []
        for job_id, shapes in sorted(per_job.items()):
            made.extend(self.conn.create_shapes(job_id, shapes))
            self.counts.requests += 1
        by_hash = {shape_hash(s): s for s in made}
        fresh: dict[tuple[ObjectKey, int], list[dict]] = {}
        for where, _, h in create:
            got = by_hash.get(h)
            if got is None or "id" not in got:
                continue  # not echoed back: stays pending and is adopted by content on the next run
            self.ledger.shapes[int(got["id"])] = h
            self.ledger.pending.remove(h)
            fresh.setdefault(where, []).append(got)
        self.ledger.save()
        self.counts.created += len(create)
        return fresh

    def _delete(self, delete: list[dict]) -> None:
        if not delete:
            return
        self.conn.delete_shapes(self.task.id, delete)
        self.counts.requests += 1
        self.counts.deleted += len(delete)
        gone = {int(s["id"]) for s in delete}
        for s in delete:
            self.ledger.shapes.pop(int(s["id"]), None)
            where = ((int(s["label_id"]), int(s.get("group") or 0)), int(s["frame"]))
            left = [o for o in self.shapes.ours.get(where, []) if int(o["id"]) not in gone]
            if left:
                self.shapes.ours[where] = left
            else:
                self.shapes.ours.pop(where, None)
        self.ledger.save()

    def close(self) -> None:
        self.ledger.save()
