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

from .ledger import Ledger, shape_hash
from .masks import decode_mask, polygon_to_mask
from .task import TaskInfo

log = logging.getLogger(__name__)

ObjectKey = tuple[int, int]  # (label id, group; 0 = ungrouped)
PROMPT_TYPES = ("points", "rectangle", "polygon", "mask")


def object_key(shape: dict) -> ObjectKey:
    return int(shape["label_id"]), int(shape.get("group") or 0)


@dataclass
class TaskShapes:
    """ours: (object, frame) -> our mask shapes there (more than one only for
    copies: CVAT stores a task-level upload once in every job holding the
    frame); person: the person's prompt shapes; ignored: counts of shapes that
    are neither (other types, tracks); adopted: uploads whose reply was lost,
    recognised by content; copies: extra copies of our masks found."""

    ours: dict[tuple[ObjectKey, int], list[dict]] = field(default_factory=lambda: defaultdict(list))
    person: list[dict] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    adopted: int = 0
    copies: int = 0


def classify(annotations: dict, ledger: Ledger) -> TaskShapes:
    """Split the server's annotations using the ledger, and bring the ledger up
    to date (forget shapes that are gone or were edited, adopt pending uploads).

    Ours: ``source="auto"`` masks whose id and content hash are in the record,
    or whose content is a pending upload's, or an exact copy (same frame, label,
    group and pixels) of a mask the record holds (another job's copy of it).
    Everything else is a person's."""
    out = TaskShapes()
    pending = set(ledger.pending)
    recorded = set(ledger.shapes.values())
    seen: dict[int, str] = {}
    for shape in sorted(annotations.get("shapes", []), key=lambda s: int(s["id"])):
        sid, h = int(shape["id"]), shape_hash(shape)
        auto = shape.get("source") == "auto" and shape.get("type") == "mask"
        mine = ledger.shapes.get(sid) == h
        adopt = sid not in ledger.shapes and h in pending
        copy = sid not in ledger.shapes and h in recorded
        if auto and (mine or adopt or copy):
            out.adopted += adopt
            out.copies += copy and not adopt
            seen[sid] = h
            out.ours[(object_key(shape), int(shape["frame"]))].append(shape)
        elif shape.get("type") in PROMPT_TYPES:
            out.person.append(shape)
        else:
            out.ignored[str(shape.get("type"))] = out.ignored.get(str(shape.get("type")), 0) + 1
    if annotations.get("tracks"):
        out.ignored["track"] = len(annotations["tracks"])
    ledger.shapes = seen  # an edited or deleted shape of ours is no longer ours
    ledger.pending = []
    return out


@dataclass(frozen=True)
class PromptSet:
    """prompts: window-relative Prompts; keys: object id -> ObjectKey;
    truth: (object, task frame) where a person's mask/polygon is the answer;
    sources: (object, task frame) -> {person's shape id: hash} behind that keyframe."""

    prompts: list[Prompt]
    keys: dict[int, ObjectKey]
    truth: frozenset[tuple[ObjectKey, int]]
    sources: dict[tuple[ObjectKey, int], dict[int, str]]

    def object_id(self, key: ObjectKey) -> int:
        return next(oid for oid, k in self.keys.items() if k == key)


def describe(task: TaskInfo, key: ObjectKey) -> str:
    label = task.labels.get(key[0])
    name = label.name if label else f"label id {key[0]}"
    return f"'{name}'" + (f" (group {key[1]})" if key[1] else "")


def build_prompts(person: list[dict], task: TaskInfo, first: int, stop: int) -> PromptSet:
    """The person's shapes in task frames [first, stop) -> prompts (frames
    relative to ``first``). Raises PromptError for unknown labels, two boxes
    for one object on one frame, or malformed shapes."""
    per_key: dict[tuple[ObjectKey, int], list[dict]] = defaultdict(list)
    for shape in person:
        if int(shape["label_id"]) not in task.labels:
            raise PromptError(
                f"shape {shape['id']} on frame {shape['frame']} has label id {shape['label_id']}, which is not a label of task {task.id}"
            )
        frame = int(shape["frame"])
        if first <= frame < stop:
            per_key[(object_key(shape), frame)].append(shape)
    keys = sorted({k for k, _ in per_key})
    ids = {key: i + 1 for i, key in enumerate(keys)}
    prompts, truth, sources = [], set(), {}
    for (key, frame), shapes in sorted(per_key.items()):
        prompts.append(_prompt(shapes, task, key, frame, ids[key], first))
        if any(s["type"] in ("polygon", "mask") for s in shapes):
            truth.add((key, frame))
        sources[(key, frame)] = {int(s["id"]): shape_hash(s) for s in shapes}
    return PromptSet(prompts, {i: k for k, i in ids.items()}, frozenset(truth), sources)


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
