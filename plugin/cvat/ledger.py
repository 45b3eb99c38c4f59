"""The record of what tam-label uploaded to a task (a small JSON file).

CVAT keeps no field we could use as a private marker, so we remember, per
task, the ids and content hashes of the mask shapes we created, the hashes of
uploads in flight (``pending``: a crash between the upload and its reply leaves
shapes whose ids we never learnt; they are recognised by content on the next
run), and the person's shapes we used as keyframes (to tell a new correction
from an old prompt). A shape is ours only if it is ``source="auto"`` and its
id and content match this record; anything else is a person's work.

The record is keyed by the server's identity (normalised URL + the name it
reports; ``server.ServerIdentity``) and the task, so ``http://localhost:8080``
and ``http://127.0.0.1:8080/`` share it. A record made under another address
of the same server (a DNS name vs its IP, a proxy) is found by
:func:`find_ledger` only when its ids AND content hashes match masks the server
holds now; it is never trusted blindly.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .server import ServerIdentity

log = logging.getLogger(__name__)
VERSION = 2  # 1: keyed by the URL as typed, "server" a string


def shape_hash(shape: dict) -> str:
    """Content hash of a shape: what a person's edit would change."""
    key = [
        str(shape.get("type")), int(shape.get("frame", -1)), int(shape.get("label_id", -1)), int(shape.get("group") or 0),
        [round(float(p), 2) for p in shape.get("points", [])],
    ]
    return hashlib.sha1(json.dumps(key).encode()).hexdigest()


def default_state_dir() -> Path:
    base = os.environ.get("TAM_LABEL_CACHE")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tam-label"
    return root / "cvat"


def ledger_path(state_dir: Path | None, server: ServerIdentity, task_id: int) -> Path:
    return Path(state_dir or default_state_dir()) / f"{server.key}-task{int(task_id)}.json"


def find_ledger(state_dir: Path | None, server: ServerIdentity, task_id: int, shapes: Iterable[dict]) -> "Ledger":
    """The record of ``task_id`` on ``server``. Without one at the server's key,
    the record of the same task under another address whose (id, hash) pairs
    match the most ``source="auto"`` masks on the server now is adopted (and
    saved under this key by the next save); else an empty record."""
    path = ledger_path(state_dir, server, task_id)
    if path.exists():
        return Ledger.load(path, server, task_id)
    live = {int(s["id"]): shape_hash(s) for s in shapes if s.get("source") == "auto" and s.get("type") == "mask"}
    best: tuple[int, Path] | None = None
    for other in sorted(path.parent.glob(f"*-task{int(task_id)}.json")) if live else ():
        try:
            data = json.loads(other.read_text())
        except (OSError, ValueError):
            continue
        recorded = data.get("server")
        if isinstance(recorded, dict) and recorded.get("name") != server.name:
            continue
        matches = sum(1 for sid, h in data.get("shapes", {}).items() if live.get(int(sid)) == h)
        if matches and (best is None or matches > best[0]):
            best = (matches, other)
    if best is None:
        return Ledger(path, server, task_id)
    log.info("using the record %s: %d of its masks are on this server", best[1].name, best[0])
    found = Ledger.load(best[1], server, task_id)
    found.path = path
    return found


@dataclass
class Ledger:
    """shapes: our shape id -> content hash; pending: hashes of uploads whose
    reply has not arrived; keyframes: the person's shape id -> hash used as
    prompts by the last completed run (None: no run completed yet)."""

    path: Path
    server: ServerIdentity
    task_id: int
    shapes: dict[int, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    keyframes: dict[int, str] | None = None

    @classmethod
    def load(cls, path: Path, server: ServerIdentity, task_id: int) -> "Ledger":
        path = Path(path)
        if not path.exists():
            return cls(path, server, task_id)
        data = json.loads(path.read_text())
        kf = data.get("keyframes")
        return cls(
            path, server, task_id,
            shapes={int(k): str(v) for k, v in data.get("shapes", {}).items()},
            pending=[str(h) for h in data.get("pending", [])],
            keyframes=None if kf is None else {int(k): str(v) for k, v in kf.items()},
        )

    def save(self) -> None:
        """Atomic write (temp file + rename): a crash never leaves half a record."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": VERSION, "task": self.task_id,
            "server": {"url": self.server.url, "name": self.server.name, "version": self.server.version},
            "shapes": {str(k): v for k, v in sorted(self.shapes.items())},
            "pending": self.pending,
            "keyframes": None if self.keyframes is None else {str(k): v for k, v in sorted(self.keyframes.items())},
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.path)
