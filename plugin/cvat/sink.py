"""A LabelSink that writes tracked masks to a CVAT task as mask shapes.

Each ``write`` (one batch) first re-reads the jobs holding the batch's
frames (``guard.py``) and leaves alone every (object, frame) a person touched
since the run began. Then, per pair: a person's mask/polygon there is the
answer (nothing uploaded); a pair a person deleted is never re-created; a
frame whose jobs are all accepted/completed is left alone (unless
``include_completed``); our mask there is kept when the new one is the same
object within ``STABLE_IOU``; else the new mask is created with one job-level
PATCH per job (each mask stored once: a task-level create would be stored
again in every overlapping job) and our earlier masks there, copies included,
are deleted by id. The new masks' digests are written to the server record
as pending before the upload, so a lost reply is recognised by content on
the next run and never duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tam_core.types import FrameResult

from .guard import BatchGuard
from .ledger import Entry, Ledger, ObjectKey, Where, shape_hash
from .masks import decode_mask, encode_mask
from .shapes import TaskShapes
from .task import TaskInfo

STABLE_IOU = 0.98  # a new mask this close to ours (IoU) keeps ours: re-runs do not churn ids for 1-2 px


@dataclass
class SinkCounts:
    created: int = 0
    deleted: int = 0
    unchanged: int = 0  # ours kept: identical, or IoU >= STABLE_IOU with the new mask
    kept_manual: int = 0  # a person's mask/polygon is the truth on that frame
    empty: int = 0  # object absent on that frame: no mask uploaded
    declined: int = 0  # a person deleted our mask there: not re-created
    finished: int = 0  # every job holding the frame is accepted/completed: left alone
    requests: int = 0
    touched: list[tuple[Where, str]] = field(default_factory=list)  # a person changed it during the run: left alone


class CvatMaskSink:
    """``LabelSink`` over task frames [first, ...): result frame ``i`` is task frame ``first + i``.

    keys: object id -> (label id, group) written on each shape; truth: (object,
    task frame) pairs where a person's shape is the answer (nothing uploaded,
    our earlier mask there removed); prompted: pairs with a person's prompt
    (a deletion there no longer holds); frozen: ids of accepted/completed jobs
    (nothing of theirs is replaced, nothing new stored in them); lease: renewed
    on every batch.
    """

    def __init__(self, conn, task: TaskInfo, ledger: Ledger, shapes: TaskShapes, keys: dict[int, ObjectKey],
                 first: int, truth: frozenset = frozenset(), job_id: int | None = None,
                 frozen: frozenset[int] = frozenset(), prompted: frozenset = frozenset(), lease=None):
        self.conn, self.task, self.ledger, self.shapes = conn, task, ledger, shapes
        self.keys, self.first, self.truth, self.job_id = keys, first, truth, job_id
        self.frozen, self.prompted, self.lease = frozen, prompted, lease
        self.guard = BatchGuard(conn, task, ledger, shapes)
        self.counts = SinkCounts()
        self.frames_written: set[int] = set()

    def write(self, results: Sequence[FrameResult]) -> None:
        latest: dict[Where, np.ndarray] = {}
        for res in results:  # a frame may come twice in one batch (forward + backward pass): the last wins
            for oid in res.object_ids:
                frame = self.first + int(res.frame)
                if frame not in self.task.deleted_frames:
                    latest[(self.keys[oid], frame)] = res.masks[oid]
        if not latest:
            return
        if self.lease is not None:
            self.lease.renew()
        fresh = self.guard.read({f for _, f in latest})
        touched = len(self.counts.touched)
        create: list[tuple[Where, dict, str]] = []
        delete: list[dict] = []
        for where, mask in sorted(latest.items(), key=lambda x: (x[0][1], x[0][0])):
            touch = self.guard.check(where, fresh)
            if touch is not None:
                self.counts.touched.append((where, touch.kind))
                if touch.answered:  # one object, one mask: the person's answers
                    delete.extend(o for o in touch.ours_left if fresh.job.get(int(o["id"])) not in self.frozen)
                continue
            old = self.guard.ours(where, fresh)
            if any(fresh.job.get(int(s["id"])) in self.frozen for s in old) or (
                    not old and self.task.job_for(where[1], self.job_id, self.frozen) is None):
                self.counts.finished += 1  # accepted/completed as it is
                continue
            if where in self.truth:
                self.counts.kept_manual += 1
                delete.extend(old)
                continue
            if where in self.ledger.deleted and where not in self.prompted:
                self.counts.declined += 1
                continue
            points = encode_mask(np.asarray(mask, dtype=bool))
            if points is None:
                self.counts.empty += 1
                delete.extend(old)
                continue
            keep = self._similar(old, np.asarray(mask, dtype=bool), where)
            if keep is not None:
                self.counts.unchanged += 1
                delete.extend(s for s in old if s is not keep)  # copies of it
                continue
            (label, group), frame = where
            shape = {"type": "mask", "frame": frame, "label_id": label, "group": group, "source": "auto",
                     "points": points, "occluded": False, "z_order": 0, "rotation": 0.0, "attributes": []}
            create.append((where, shape, shape_hash(shape)))
            delete.extend(old)
            self.frames_written.add(frame)
        self._upload(create)
        self._delete(delete)
        if create or delete or len(self.counts.touched) > touched:
            self.ledger.save()

    def _similar(self, old: list[dict], mask: np.ndarray, where: Where) -> dict | None:
        """Our mask on ``where`` to keep: the recorded one (else the first copy) if
        its IoU with the new mask is at least STABLE_IOU."""
        if not old:
            return None
        entry_ids = {e.id for e in self.ledger.masks.get(where, ())}
        keep = next((s for s in old if int(s["id"]) in entry_ids), old[0])
        prev = decode_mask(keep.get("points", []), self.task.height, self.task.width)
        union = np.logical_or(prev, mask).sum()
        iou = np.logical_and(prev, mask).sum() / union if union else 1.0
        return keep if iou >= STABLE_IOU else None

    def _upload(self, create: list[tuple[Where, dict, str]]) -> None:
        """Create the masks, each in one job; record them (pending first)."""
        if not create:
            return
        per_job: dict[int, list[tuple[Where, dict, str]]] = {}
        for item in create:
            job = self.task.job_for(item[1]["frame"], self.job_id, self.frozen)
            per_job.setdefault(job, []).append(item)
            self.ledger.add(item[0], Entry(None, item[2], job))
        self.ledger.save()  # pending: a lost reply is recognised by content on the next run
        for job_id, items in sorted(per_job.items()):
            made = self.conn.create_shapes(job_id, [s for _, s, _ in items])
            self.counts.requests += 1
            by_hash = {shape_hash(s): s for s in made}
            for where, _, h in items:
                got = by_hash.get(h)
                entry = self.ledger.ours(where, h)
                if got is not None and "id" in got and entry is not None:
                    entry.id = int(got["id"])
                    self.shapes.ours[where] = [got]
            self.counts.created += len(items)

    def _delete(self, delete: list[dict]) -> None:
        if not delete:
            return
        self.conn.delete_shapes(self.task.id, delete)
        self.counts.requests += 1
        self.counts.deleted += len(delete)
        gone = {int(s["id"]) for s in delete}
        for s in delete:
            where = ((int(s["label_id"]), int(s.get("group") or 0)), int(s["frame"]))
            entries = self.ledger.masks.get(where, [])
            self.ledger.masks[where] = [e for e in entries if e.id not in gone]
            if not self.ledger.masks[where]:
                self.ledger.masks.pop(where)
            left = [o for o in self.shapes.ours.get(where, []) if int(o["id"]) not in gone]
            self.shapes.ours[where] = left

    def close(self) -> None:
        self.ledger.save()
