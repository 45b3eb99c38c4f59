"""One run per task at a time on this machine: an advisory lock file in the
state directory (keyed by server identity + task). Runs on other machines or
through other addresses are excluded by the server-side lease (``lease.py``);
this lock refuses a second local run before it touches the server.

``fcntl.flock`` on the file does the excluding; the kernel drops it when the
holding process ends, however it ends, so a lock left by a dead process is
simply taken over (its stale holder line is overwritten). The file holds who
has the lock (host, pid, start time, command) for the error message of the
run that is refused.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import CvatLockedError
from .ledger import default_state_dir
from .server import ServerIdentity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockHolder:
    host: str
    pid: int
    since: str  # ISO 8601, UTC
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since} ({self.command})"


def lock_path(state_dir: Path | None, server: ServerIdentity, task_id: int) -> Path:
    return Path(state_dir or default_state_dir()) / f"{server.key}-task{int(task_id)}.lock"


class TaskLock:
    """``with TaskLock(state_dir, server, task_id, "track"):`` — raises
    :class:`CvatLockedError` naming the holder if another run has the task."""

    def __init__(self, state_dir: Path | None, server: ServerIdentity, task_id: int, command: str):
        self.path = lock_path(state_dir, server, task_id)
        self.server, self.task_id, self.command = server, task_id, command
        self._fd: int | None = None

    def acquire(self) -> "TaskLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            who = holder.describe() if holder else "a run that has not written its name yet"
            raise CvatLockedError(
                f"task {self.task_id} on {self.server.url} is being changed by another tam-label run: {who}; "
                "wait for it to finish (or stop that process) and run again"
            ) from None
        stale = _read_holder(fd)
        if stale is not None:
            log.info("taking over the lock of task %s left by %s (that process has ended)", self.task_id, stale.describe())
        me = LockHolder(socket.gethostname(), os.getpid(), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        f"tam-label cvat {self.command} --task {self.task_id}")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me.__dict__).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        import fcntl

        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # no holder line: the next run sees a clean lock
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "TaskLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> LockHolder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return LockHolder(str(data["host"]), int(data["pid"]), str(data["since"]), str(data["command"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
