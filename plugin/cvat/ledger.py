"""The record of what tam-label wrote to a task, and of a person's decisions.

It lives ON THE SERVER (``record.py``: a comment of a resolved issue in the
task's first job), so every client sees the same record whatever machine,
state folder or address it uses. Ownership is by content: a mask is ours
only if it is a ``source="auto"`` mask whose content digest
(:func:`shape_hash`: type, frame, label, group, pixels) is the one recorded
for its (object, frame). Any client recomputes the digest, so a lost reply
(the mask stored, its id never learnt) is recognised by content, and a
person's edit (other pixels) or relabel (other label) makes it a person's.

Entries: ``masks`` (object, frame) -> our masks there (id, digest, job; more
than one only while an upload that replaces one is in flight);
``deleted``: (object, frame) where a person deleted (or relabelled away) our
mask: "not this object here", never re-created; ``keyframes``: the person's
shape id -> digest used as prompts by the last completed run (what ``fix``
compares with); ``released``: ids of our masks a person edited or
relabelled (a person's now, even where the server kept ``source="auto"``);
``fingerprint``: of the inputs of the last completed run
(a no-op re-run stops before loading models); ``concept_groups``: a
concept pre-annotation's tracker object id -> the CVAT group its masks use
(new objects take a group above every group in the task, so never a
person's; re-runs keep them); ``concept_keyframes``: each found object's
first (object, frame), its keyframe for later ``track``/``fix`` runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
VERSION = 3  # 1/2: a local JSON file per server+task (shape id -> hash), read only to migrate

ObjectKey = tuple[int, int]  # (label id, group; 0 = ungrouped)
Where = tuple[ObjectKey, int]  # (object, task frame)


DIGEST_CHARS = 20  # 80 bits of SHA-1: the record holds one per mask and is re-written per batch


def shape_hash(shape: dict) -> str:
    """Content digest of a shape: what a person's edit or relabel would change."""
    key = [
        str(shape.get("type")), int(shape.get("frame", -1)), int(shape.get("label_id", -1)), int(shape.get("group") or 0),
        [round(float(p), 2) for p in shape.get("points", [])],
    ]
    return hashlib.sha1(json.dumps(key).encode()).hexdigest()[:DIGEST_CHARS]


def default_state_dir() -> Path:
    base = os.environ.get("TAM_LABEL_CACHE")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tam-label"
    return root / "cvat"


@dataclass
class Entry:
    """Our mask on one (object, frame): its id (None while the upload's reply is
    pending), content digest and the job storing it (None: not known yet)."""

    id: int | None
    digest: str
    job: int | None = None


def _where(text: str) -> Where:
    frame, label, group = (int(x) for x in text.split(":"))
    return (label, group), frame


def _text(where: Where) -> str:
    (label, group), frame = where
    return f"{frame}:{label}:{group}"


@dataclass
class Ledger:
    """The record's content; ``store`` (a ``record.ServerRecord``, None for a
    dry run) persists it on the server."""

    task_id: int
    masks: dict[Where, list[Entry]] = field(default_factory=dict)
    deleted: set[Where] = field(default_factory=set)
    keyframes: dict[int, str] | None = None
    fingerprint: str | None = None
    released: set[int] = field(default_factory=set)  # ids of our masks a person edited or relabelled: theirs now
    concept_groups: dict[int, int] = field(default_factory=dict)
    concept_keyframes: set[Where] = field(default_factory=set)
    store: Any = None
    exists: bool = False  # a record was found on the server

    def ours(self, where: Where, digest: str) -> Entry | None:
        """The entry our mask with this content on ``where`` has (None: not ours)."""
        return next((e for e in self.masks.get(where, ()) if e.digest == digest), None)

    def add(self, where: Where, entry: Entry) -> None:
        self.masks.setdefault(where, []).append(entry)

    def forget(self, where: Where, digest: str | None = None) -> None:
        """Drop the entries of ``where`` (only those with ``digest`` if given)."""
        left = [e for e in self.masks.get(where, ()) if digest is not None and e.digest != digest]
        if left:
            self.masks[where] = left
        else:
            self.masks.pop(where, None)

    def to_json(self) -> dict:
        return {
            "version": VERSION, "task": self.task_id,
            "masks": {_text(w): [[e.id, e.digest, e.job] for e in es]
                      for w, es in sorted(self.masks.items(), key=lambda x: (x[0][1], x[0][0])) if es},
            "deleted": sorted(_text(w) for w in self.deleted),
            "keyframes": None if self.keyframes is None else {str(k): v for k, v in sorted(self.keyframes.items())},
            "fingerprint": self.fingerprint,
            "released": sorted(self.released),
            "concept_groups": {str(k): v for k, v in sorted(self.concept_groups.items())},
            "concept_keyframes": sorted(_text(w) for w in self.concept_keyframes),
        }

    @classmethod
    def from_json(cls, data: dict, task_id: int) -> "Ledger":
        kf = data.get("keyframes")
        return cls(
            task_id,
            masks={_where(k): [Entry(None if e[0] is None else int(e[0]), str(e[1]), None if e[2] is None else int(e[2]))
                               for e in v] for k, v in (data.get("masks") or {}).items()},
            deleted={_where(k) for k in data.get("deleted") or ()},
            keyframes=None if kf is None else {int(k): str(v) for k, v in kf.items()},
            fingerprint=data.get("fingerprint"), released={int(i) for i in data.get("released") or ()}, exists=True,
            concept_groups={int(k): int(v) for k, v in (data.get("concept_groups") or {}).items()},
            concept_keyframes={_where(k) for k in data.get("concept_keyframes") or ()},
        )

    def save(self) -> None:
        if self.store is not None:
            self.store.save(self)


def legacy_records(state_dir: Path | None, task_id: int) -> dict[int, str]:
    """Shape id -> digest from the local records of versions 1-2 (before the
    record moved to the server), all addresses merged; only ids whose digest
    still matches a mask on the server are ever taken over."""
    out: dict[int, str] = {}
    for path in sorted(Path(state_dir or default_state_dir()).glob(f"*-task{int(task_id)}.json")):
        try:
            data = json.loads(path.read_text())
            out.update({int(k): str(v) for k, v in (data.get("shapes") or {}).items()})
        except (OSError, ValueError, TypeError, AttributeError):
            log.warning("ignoring the unreadable old record %s", path)
    return out
