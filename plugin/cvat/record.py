"""Where the record of our masks lives on the server: a comment of one issue.

CVAT 2.23 has no free-form field on a task, and shape attributes need label
attribute specs (changing the task's labels). An issue is stored with the
task (its job), every client that can open the task can read it, and its
comments take long text. So the record is one issue per task, created
``resolved`` (hidden in the annotation view unless resolved issues are shown)
in the task's first job at a fixed position, whose comments hold:

- the record (``RECORD`` line + zlib/base64 JSON of ``ledger.Ledger``); the
  newest such comment wins (a user who may not edit another's comment
  writes a new one);
- the run leases (``lease.py``).

Two first runs may create two record issues at once: every client uses the
one with the lowest id, and the other creator deletes its own.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from dataclasses import dataclass

from .errors import CvatAuthError, CvatError
from .ledger import Ledger

log = logging.getLogger(__name__)

RECORD = "tam-label record"
HEADER = (RECORD + " of task {task}: which masks tam-label wrote and which of them a person deleted. "
          "Do not edit or delete this issue (README: 'CVAT: what is ours').")
POSITION = [1.0, 1.0, 2.0, 2.0]  # a fixed spot: candidate issues are found without reading every comment


def encode(ledger: Ledger) -> str:
    blob = base64.b64encode(zlib.compress(json.dumps(ledger.to_json(), separators=(",", ":")).encode(), 9)).decode()
    return HEADER.format(task=ledger.task_id) + "\n" + blob


def decode(message: str, task_id: int) -> Ledger:
    try:
        blob = message.split("\n", 1)[1].strip()
        return Ledger.from_json(json.loads(zlib.decompress(base64.b64decode(blob))), task_id)
    except (IndexError, ValueError, zlib.error, TypeError, KeyError, AttributeError):
        raise CvatError(
            f"the tam-label record of task {task_id} on the server is damaged (someone edited its comment): delete the "
            "issue whose first comment starts with 'tam-label record', remove the source=\"auto\" masks, and run track again"
        ) from None


@dataclass
class ServerRecord:
    """The record issue of ``task`` (``issue`` None: there is none yet)."""

    conn: object
    task: object  # task.TaskInfo
    issue: int | None = None
    comment: int | None = None

    def _candidates(self) -> list[int]:
        try:
            issues = self.conn.issues(self.task.id)
        except CvatAuthError:
            raise CvatAuthError(
                f"cannot read the issues of task {self.task.id}, where tam-label keeps the record of its masks: run as a "
                "user who can open the whole task (its owner, assignee or an organisation maintainer)"
            ) from None
        return sorted(int(i["id"]) for i in issues if [float(p) for p in i.get("position") or ()] == POSITION)

    def _records(self, issue: int) -> list[dict]:
        return [c for c in self.conn.comments(issue) if str(c.get("message", "")).startswith(RECORD)]

    def load(self) -> Ledger:
        """The record on the server (an empty one if there is none)."""
        for issue in self._candidates():
            found = self._records(issue)
            if found:
                newest = max(found, key=lambda c: int(c["id"]))
                self.issue, self.comment = issue, int(newest["id"])
                ledger = decode(str(newest["message"]), self.task.id)
                ledger.store = self
                return ledger
        return Ledger(self.task.id, store=self)

    def ensure(self) -> int:
        """The record issue's id, creating it (empty record) if needed."""
        if self.issue is not None:
            return self.issue
        self.load()
        if self.issue is not None:
            return self.issue
        first = min(self.task.jobs, key=lambda j: (j.start, j.id))
        made = self.conn.create_issue(first.id, first.start, POSITION, encode(Ledger(self.task.id)))
        mine = int(made["id"])
        self.load()  # another client may have created one at the same time: the lowest id wins
        if self.issue != mine:
            log.info("another run created the record of task %s at the same time; using its issue %s", self.task.id, self.issue)
            self.conn.delete_issue(mine)
        return int(self.issue)

    def save(self, ledger: Ledger) -> None:
        self.ensure()
        text = encode(ledger)
        if self.comment is not None:
            try:
                self.conn.update_comment(self.comment, text)
                return
            except CvatAuthError:  # another user's comment: write ours, the newest wins
                pass
        self.comment = int(self.conn.create_comment(self.issue, text)["id"])
