"""The record of what tam-label uploaded to a task (a small JSON file).

CVAT keeps no field we could use as a private marker, so we remember, per
task, the ids and content hashes of the mask shapes we created, the hashes of
uploads in flight (``pending``: a crash between the upload and its reply leaves
shapes whose ids we never learnt; they are recognised by content on the next
run), and the person's shapes we used as keyframes (to tell a new correction
from an old prompt). A shape is ours only if it is ``source="auto"`` and its
id and content match this record; anything else is a person's work.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

VERSION = 1


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


def ledger_path(state_dir: Path | None, server: str, task_id: int) -> Path:
    tag = hashlib.sha1(server.rstrip("/").encode()).hexdigest()[:12]
    return Path(state_dir or default_state_dir()) / f"{tag}-task{int(task_id)}.json"


@dataclass
class Ledger:
    """shapes: our shape id -> content hash; pending: hashes of uploads whose
    reply has not arrived; keyframes: the person's shape id -> hash used as
    prompts by the last completed run (None: no run completed yet)."""

    path: Path
    server: str
    task_id: int
    shapes: dict[int, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    keyframes: dict[int, str] | None = None

    @classmethod
    def load(cls, path: Path, server: str, task_id: int) -> "Ledger":
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
            "version": VERSION, "server": self.server, "task": self.task_id,
            "shapes": {str(k): v for k, v in sorted(self.shapes.items())},
            "pending": self.pending,
            "keyframes": None if self.keyframes is None else {str(k): v for k, v in sorted(self.keyframes.items())},
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.path)
