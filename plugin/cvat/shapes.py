"""Sort a task's shapes into the tool's own output and a person's work, and
turn the person's shapes into tracking prompts (the prompt convention).

Objects: shapes with the same label and the same non-zero ``group`` are one
object; ungrouped shapes (group 0) of a label are that label's ungrouped
object. Our masks carry the object's label and group, so they read back the
same way. Prompts: ``points`` are clicks (negative when the label's checkbox
attribute ``negative`` is true), a ``rectangle`` is a box, ``polygon`` and
``mask`` shapes are mask prompts (unioned per object and frame) and, being
drawn or edited by a person, are kept as the truth on their frame.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from tam_core.errors import PromptError
from tam_core.types import Prompt

from .ledger import Entry, Ledger, ObjectKey, Where, shape_hash
from .masks import decode_mask, polygon_to_mask
from .task import TaskInfo

log = logging.getLogger(__name__)

PROMPT_TYPES = ("points", "rectangle", "polygon", "mask")


def object_key(shape: dict) -> ObjectKey:
    return int(shape["label_id"]), int(shape.get("group") or 0)


def where_of(shape: dict) -> Where:
    return object_key(shape), int(shape["frame"])


def is_auto_mask(shape: dict) -> bool:
    return shape.get("source") == "auto" and shape.get("type") == "mask"


@dataclass
class Decisions:
    """What a person did to our masks since we wrote them: edited (now a
    person's mask: a keyframe), deleted ("not this object here": never
    re-created), relabelled ((object, frame), new object: the old object's
    pair is treated as deleted, the shape is a person's of the new label)."""

    edited: list[Where] = field(default_factory=list)
    deleted: list[Where] = field(default_factory=list)
    relabelled: list[tuple[Where, ObjectKey]] = field(default_factory=list)


@dataclass
class TaskShapes:
    """ours: (object, frame) -> our mask shapes there (more than one only for
    copies); person: the person's prompt shapes; ignored: counts of shapes that
    are neither (other types, tracks); adopted: uploads whose reply was lost,
    recognised by content; copies: extra copies of our masks found;
    unclaimed: source="auto" masks no record claims; snapshot: id -> digest of
    every shape that is not ours, as the run found them."""

    ours: dict[Where, list[dict]] = field(default_factory=lambda: defaultdict(list))
    person: list[dict] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    adopted: int = 0
    copies: int = 0
    unclaimed: int = 0
    snapshot: dict[int, str] = field(default_factory=dict)
    decisions: Decisions = field(default_factory=Decisions)
    max_group: int = 0  # the highest group of any shape or track in the task


def classify(annotations: dict, ledger: Ledger, legacy: dict[int, str] | None = None) -> TaskShapes:
    """Split the server's annotations using the record, and bring the record up
    to date: our masks a person changed leave it (edited: a person's;
    deleted or relabelled: a decision ``ledger.deleted``), lost replies are
    adopted by content. ``legacy``: shape id -> digest from an old local
    record (taken over where id and content still match).

    Ours: ``source="auto"`` masks whose content digest is one the record holds
    for that (object, frame), copies included. Everything else is a person's."""
    out = TaskShapes()
    legacy = legacy or {}
    recorded = {e.id for es in ledger.masks.values() for e in es if e.id is not None} | ledger.released
    by_id: dict[int, dict] = {}
    out.max_group = max((int(x.get("group") or 0) for kind in ("shapes", "tracks") for x in annotations.get(kind, [])),
                        default=0)
    for shape in sorted(annotations.get("shapes", []), key=lambda s: int(s["id"])):
        sid, h, where = int(shape["id"]), shape_hash(shape), where_of(shape)
        by_id[sid] = shape
        entry = ledger.ours(where, h) if is_auto_mask(shape) else None
        if entry is None and is_auto_mask(shape) and legacy.get(sid, "")[:len(h)] == h:  # old records: full SHA-1
            entry = Entry(sid, h)
            ledger.add(where, entry)
        if entry is not None:
            if entry.id is None:
                entry.id = sid
                out.adopted += 1
            elif entry.id != sid:
                out.copies += 1
            out.ours[where].append(shape)
            continue
        out.snapshot[sid] = h
        if shape.get("type") in PROMPT_TYPES:
            out.person.append(shape)
            out.unclaimed += is_auto_mask(shape) and sid not in recorded  # ours, relabelled: a known decision
        else:
            out.ignored[str(shape.get("type"))] = out.ignored.get(str(shape.get("type")), 0) + 1
    if annotations.get("tracks"):
        out.ignored["track"] = len(annotations["tracks"])
    for where, entries in list(ledger.masks.items()):
        present = {int(s["id"]) for s in out.ours.get(where, ())}
        for e in entries:
            if e.id in present:
                continue
            if e.id is None:  # an upload whose reply was lost and that never arrived
                ledger.forget(where, e.digest)
                continue
            ledger.forget(where, e.digest)
            now = by_id.get(e.id)
            if where in out.ours:
                continue  # another copy of ours is still there
            if now is None:
                out.decisions.deleted.append(where)
                ledger.deleted.add(where)
            elif where_of(now) != where:
                out.decisions.relabelled.append((where, object_key(now)))
                ledger.deleted.add(where)
                ledger.released.add(e.id)
            else:
                out.decisions.edited.append(where)
                ledger.released.add(e.id)
        if where not in out.ours:
            ledger.masks.pop(where, None)  # entries of uploads that never arrived
    prompted = {where_of(s) for s in out.person}
    ledger.deleted -= prompted  # a person's prompt there later overrides their deletion
    return out


@dataclass(frozen=True)
class PromptSet:
    """prompts: window-relative Prompts; keys: object id -> ObjectKey;
    truth: (object, task frame) where a person's mask/polygon is the answer;
    sources: (object, task frame) -> {person's shape id: hash} behind that keyframe;
    on_deleted: the person's shapes on the task's deleted frames (not used)."""

    prompts: list[Prompt]
    keys: dict[int, ObjectKey]
    truth: frozenset[tuple[ObjectKey, int]]
    sources: dict[tuple[ObjectKey, int], dict[int, str]]
    on_deleted: int = 0

    def object_id(self, key: ObjectKey) -> int:
        return next(oid for oid, k in self.keys.items() if k == key)


def describe(task: TaskInfo, key: ObjectKey) -> str:
    label = task.labels.get(key[0])
    name = label.name if label else f"label id {key[0]}"
    return f"'{name}'" + (f" (group {key[1]})" if key[1] else "")


def build_prompts(person: list[dict], task: TaskInfo, first: int, stop: int) -> PromptSet:
    """The person's shapes in task frames [first, stop) -> prompts (frames
    relative to ``first``); shapes on the task's deleted frames are counted,
    not used. Raises PromptError for unknown labels, two boxes
    for one object on one frame, or malformed shapes."""
    per_key: dict[tuple[ObjectKey, int], list[dict]] = defaultdict(list)
    on_deleted = 0
    for shape in person:
        if int(shape["label_id"]) not in task.labels:
            raise PromptError(
                f"shape {shape['id']} on frame {shape['frame']} has label id {shape['label_id']}, which is not a label of task {task.id}"
            )
        frame = int(shape["frame"])
        if frame in task.deleted_frames:
            on_deleted += 1  # a deleted frame gives no prompt
        elif first <= frame < stop:
            per_key[(object_key(shape), frame)].append(shape)
    keys = sorted({k for k, _ in per_key})
    ids = {key: i + 1 for i, key in enumerate(keys)}
    prompts, truth, sources = [], set(), {}
    for (key, frame), shapes in sorted(per_key.items()):
        prompts.append(_prompt(shapes, task, key, frame, ids[key], first))
        if any(s["type"] in ("polygon", "mask") for s in shapes):
            truth.add((key, frame))
        sources[(key, frame)] = {int(s["id"]): shape_hash(s) for s in shapes}
    return PromptSet(prompts, {i: k for k, i in ids.items()}, frozenset(truth), sources, on_deleted)


def _prompt(shapes: list[dict], task: TaskInfo, key: ObjectKey, frame: int, oid: int, first: int) -> Prompt:
    where = f"object {describe(task, key)} on task frame {frame}"
    label = task.labels[key[0]]
    neg_spec = label.negative_spec
    points, labels, boxes = [], [], []
    mask = None
    for s in shapes:
        pts = np.asarray(s.get("points", []), dtype=np.float64)
        if s["type"] == "points":
            if pts.size == 0 or pts.size % 2:
                raise PromptError(f"{where}: points shape {s['id']} has an odd number of coordinates")
            negative = any(int(a["spec_id"]) == neg_spec and str(a["value"]).lower() == "true" for a in s.get("attributes", []))
            xy = pts.reshape(-1, 2)
            points.append(xy)
            labels.append(np.full(len(xy), 0 if negative else 1, np.int64))
        elif s["type"] == "rectangle":
            if float(s.get("rotation") or 0) != 0:
                raise PromptError(f"{where}: rectangle {s['id']} is rotated; box prompts must be axis-aligned")
            boxes.append(pts[:4])
        else:
            m = _shape_mask(s, task, where)
            mask = m if mask is None else mask | m
    if len(boxes) > 1:
        raise PromptError(f"{where} has {len(boxes)} rectangles; keep one box per object per frame (or group them into different objects)")
    if mask is not None and not mask.any():
        raise PromptError(f"{where}: its polygon/mask covers no pixel")
    return Prompt(
        frame=frame - first, object_id=oid, label=label.name,
        points=np.concatenate(points).astype(np.float32) if points else None,
        point_labels=np.concatenate(labels) if labels else None,
        box=boxes[0].astype(np.float32) if boxes else None,
        mask=mask,
    )


def _shape_mask(shape: dict, task: TaskInfo, where: str) -> np.ndarray:
    if shape["type"] == "mask":
        return decode_mask(shape.get("points", []), task.height, task.width)
    pts = shape.get("points", [])
    if len(pts) < 6 or len(pts) % 2:
        raise PromptError(f"{where}: polygon {shape['id']} needs at least 3 points")
    return polygon_to_mask(pts, task.height, task.width)
