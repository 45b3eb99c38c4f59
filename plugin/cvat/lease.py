"""One run per task on the whole server: a lease kept as a comment of the
task's record issue (``record.py``), seen by every client whatever machine,
state folder or address it uses.

Taking it: post a lease comment, then list the issue's comments; of the live
leases the one with the lowest id holds the task (comment ids are the
server's sequence, so two runs starting together agree on the winner), and a
loser deletes its own comment and is refused with the holder's name. A lease
is live while the server's clock (the ``created_date`` of the comment just
posted) is less than ``TTL`` after its ``updated_date``; the holder renews it
(an edit of its comment) while it works and deletes it when it ends. A run
that died leaves a lease that expires after ``TTL``; on the same host a lease
whose process is gone is taken over at once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from datetime import datetime, timedelta

from .errors import CvatConnectionError, CvatError, CvatLockedError

log = logging.getLogger(__name__)

LEASE = "tam-label lease"
TTL = timedelta(minutes=10)
RENEW_EVERY = 60.0  # seconds between renewals (well inside TTL)


def _date(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _holder(comment: dict) -> dict:
    try:
        return json.loads(str(comment["message"]).split("\n", 1)[1])
    except (IndexError, ValueError, KeyError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class TaskLease:
    """``with TaskLease(conn, record, task_id, command):`` raises
    :class:`CvatLockedError` naming the holder if another run has the task."""

    def __init__(self, conn, record, task_id: int, command: str, server_url: str = ""):
        self.conn, self.record, self.task_id, self.command, self.server_url = conn, record, task_id, command, server_url
        self.comment: int | None = None
        self._message = ""
        self._renewed = 0.0

    def acquire(self) -> "TaskLease":
        issue = self.record.ensure()
        me = {"host": socket.gethostname(), "pid": os.getpid(), "command": f"tam-label cvat {self.command} --task {self.task_id}",
              "server": self.server_url}
        self._message = LEASE + "\n" + json.dumps(me)
        mine = self.conn.create_comment(issue, self._message)
        self.comment, now = int(mine["id"]), _date(mine["created_date"])
        self._renewed = time.monotonic()
        for c in sorted(self.conn.comments(issue), key=lambda c: int(c["id"])):
            if int(c["id"]) == self.comment:
                return self  # no live lease before ours
            if not str(c.get("message", "")).startswith(LEASE):
                continue
            holder = _holder(c)
            expired = now - _date(c["updated_date"]) >= TTL
            dead = holder.get("host") == me["host"] and isinstance(holder.get("pid"), int) and not _alive(holder["pid"])
            if expired or dead:
                log.info("taking over the lease of task %s left by %s (%s)", self.task_id, _who(holder),
                         "its process has ended" if dead else "it expired")
                self._drop(int(c["id"]))
                continue
            self.release()
            until = (_date(c["updated_date"]) + TTL).strftime("%H:%M:%S UTC")
            raise CvatLockedError(
                f"task {self.task_id} is being changed by another tam-label run: {_who(holder)} since "
                f"{_date(c['created_date']).strftime('%Y-%m-%d %H:%M:%S UTC')}; wait for it to finish and run again "
                f"(if that run is gone, its lease expires at {until})"
            )
        return self

    def renew(self, force: bool = False) -> None:
        if self.comment is None or (not force and time.monotonic() - self._renewed < RENEW_EVERY):
            return
        try:
            self.conn.update_comment(self.comment, self._message)
        except CvatConnectionError:
            raise
        except CvatError:  # our lease comment is gone: it expired and another run may hold the task now
            self.comment = None
            raise CvatLockedError(
                f"lost the lease on task {self.task_id} (not renewed for {int(TTL.total_seconds() // 60)} minutes, or removed): "
                "another run may be changing the task; stopped before writing more; run the same command again"
            ) from None
        self._renewed = time.monotonic()

    def _drop(self, comment: int) -> None:
        try:
            self.conn.delete_comment(comment)
        except Exception as exc:  # noqa: BLE001 - a stale lease that cannot be removed expires anyway
            log.info("could not remove the stale lease comment %s: %s", comment, exc)

    def release(self) -> None:
        if self.comment is not None:
            self._drop(self.comment)
            self.comment = None

    def __enter__(self) -> "TaskLease":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _who(holder: dict) -> str:
    if not holder:
        return "an unnamed run"
    via = f" via {holder['server']}" if holder.get("server") else ""
    return f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('command')}){via}"
