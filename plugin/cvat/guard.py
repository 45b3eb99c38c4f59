"""The re-check right before each upload batch: what a person did meanwhile.

People work in CVAT while a run is going. Before the sink replaces anything
it re-reads the annotations of the jobs holding the batch's frames (the
per-job storage the UI edits) and compares each (object, frame) with what the
run found at its start: a person's shape that is new or changed there, or
one of our masks that was edited, deleted or relabelled, means a person
touched that pair: the sink leaves it alone (and removes our mask only where
the person's mask/polygon now answers for that object) and reports it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .ledger import Ledger, Where, shape_hash
from .shapes import TaskShapes, is_auto_mask, where_of
from .task import TaskInfo


@dataclass
class Touch:
    """A pair a person touched during the run: kind is edited, drawn, deleted
    or relabelled; ours_left: our masks still there; answered: a person's
    mask/polygon is now on that pair."""

    kind: str
    ours_left: list[dict] = field(default_factory=list)
    answered: bool = False


@dataclass
class Fresh:
    """Shapes on the batch's frames as the server holds them now: per
    (object, frame), and by id; job: shape id -> the job storing it."""

    shapes: dict[Where, list[dict]]
    by_id: dict[int, dict]
    job: dict[int, int]


class BatchGuard:
    def __init__(self, conn, task: TaskInfo, ledger: Ledger, shapes: TaskShapes):
        self.conn, self.task, self.ledger, self.shapes = conn, task, ledger, shapes

    def read(self, frames: set[int]) -> Fresh:
        """Re-read the jobs holding ``frames`` (per job: what the UI saves)."""
        jobs = sorted({j for f in frames for j in self.task.holders(f)})
        fresh: dict[Where, list[dict]] = defaultdict(list)
        by_id: dict[int, dict] = {}
        job: dict[int, int] = {}
        for jid in jobs:
            for s in self.conn.job_annotations(jid).get("shapes", []):
                if int(s["frame"]) in frames and int(s["id"]) not in by_id:
                    fresh[where_of(s)].append(s)
                    by_id[int(s["id"])] = s
                    job[int(s["id"])] = jid
        return Fresh(fresh, by_id, job)

    def ours(self, where: Where, fresh: Fresh) -> list[dict]:
        return [s for s in fresh.shapes.get(where, ()) if is_auto_mask(s) and self.ledger.ours(where, shape_hash(s))]

    def check(self, where: Where, fresh: Fresh) -> Touch | None:
        """None if nobody touched ``where`` since the run began; else what a
        person did (the record is updated: a deletion/relabel is a decision)."""
        ours = self.ours(where, fresh)
        ids = {int(s["id"]) for s in ours}
        others = [s for s in fresh.shapes.get(where, ()) if int(s["id"]) not in ids]
        new = [s for s in others if self.shapes.snapshot.get(int(s["id"])) != shape_hash(s)]
        missing = [int(s["id"]) for s in self.shapes.ours.get(where, ()) if int(s["id"]) not in ids]
        if not missing and not new:
            return None
        kind = "drawn"
        for sid in missing:
            now = fresh.by_id.get(sid)
            kind = "deleted" if now is None else ("relabelled" if where_of(now) != where else "edited")
        if not missing and any(int(s["id"]) in self.shapes.snapshot for s in new):
            kind = "edited"
        for s in self.shapes.ours.get(where, ()):
            if int(s["id"]) in missing:
                self.ledger.forget(where, shape_hash(s))
                if int(s["id"]) in fresh.by_id:
                    self.ledger.released.add(int(s["id"]))  # edited or relabelled: a person's now
        if kind in ("deleted", "relabelled") and not ours:
            self.ledger.deleted.add(where)
        self.shapes.ours[where] = ours
        answered = any(s.get("type") in ("mask", "polygon") for s in others)
        return Touch(kind, ours, answered)
