"""A small fake CVAT 2.x server for tests (stdlib ``http.server``, 127.0.0.1).

This module holds the server's state and its rules; ``fake_cvat_http.py`` the
HTTP side (the route table, auth, faults). Every rule below was checked
against a real CVAT 2.23.1 server (docs/cvat.md, "What the real server does"):

- Jobs: a task with ``segment_size`` S is split as CVAT does: overlap O =
  ``overlap`` if given, else 5 for video (``mode="interpolation"``) and 0 for
  images, at most S // 2; jobs start at 0, S-O, 2(S-O), ... and are
  ``[start, min(start+S-1, size-1)]``. Video with S=10 over 30 frames: 0-9,
  5-14, 10-19, 15-24, 20-29 (every frame from 5 on is in two jobs).
- Storage is per job. A task-level ``PATCH .../annotations?action=create``
  stores a copy (own id) in EVERY job holding the shape's frame and answers
  with all copies; a job-level create stores once, in that job, even when the
  frame lies outside the job (the server does not check).
- Deletes/updates by id: a task-level one goes to every job holding the listed
  frame, and each job changes the id only if it stores it; a job-level one
  only in that job. Unknown ids are ignored (HTTP 200, the listed shapes echoed).
- Task-level reads merge the jobs: objects of a later job in its first O frames
  are matched to the earlier job's objects on the same frame, and a
  rectangle/polygon pair with the same label and IoU >= 0.75 comes back once
  (the earlier job's); masks and points are never matched, so copies come back
  as duplicates.
- Auth: session login (400 on bad credentials), CSRF on unsafe methods, Basic;
  ``Authorization: Bearer`` exists only from 2.48 (older servers answer 401
  "Authentication credentials were not provided.").

Extending (e.g. other helpers' endpoints): subclass :class:`FakeCvat` and add
``fake_cvat_http.Route`` entries to ``routes``; a route function gets
``(handler, match, query, body)`` and returns ``(status, body, headers)``.

Faults (:meth:`FakeCvat.add_fault`): answer the Nth matching request with an
HTTP status, or drop the connection without answering (optionally after
applying the change, as when a reply is lost in flight).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np

from fake_cvat_http import ROUTES, Handler, HttpError, Route
from fake_cvat_issues import ISSUE_ROUTES, now

__all__ = ["FakeCvat", "FakeTask", "Fault", "HttpError", "Route", "TOKEN_VERSION"]

SHAPE_TYPES = {"rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"}
SOURCES = {"manual", "semi-auto", "auto", "file", "consensus"}
TOKEN_VERSION = (2, 48)  # API access tokens (Bearer) exist from this release


@dataclass
class Fault:
    """Answer the ``nth`` (1-based) request matching ``method`` and ``path``
    (a regex on the path) and the ``times - 1`` after it (``times=0``: all
    after it: the server is gone) with ``status``, or drop the connection
    (``drop``); ``apply`` first performs the request's change (reply lost in flight)."""

    method: str
    path: str
    nth: int = 1
    status: int = 500
    drop: bool = False
    apply: bool = False
    times: int = 1
    seen: int = 0
    fired: bool = False  # fired as often as it will


@dataclass
class FakeTask:
    id: int
    name: str
    source_frames: np.ndarray  # uint8 [N,H,W,3]: the uploaded video / images
    start_frame: int
    stop_frame: int
    step: int
    mode: str
    segment_size: int
    overlap: int = 0
    shapes: dict[int, dict] = field(default_factory=dict)  # every stored shape (all jobs), by id
    shape_job: dict[int, int] = field(default_factory=dict)  # shape id -> the job storing it
    version: int = 0
    deleted_frames: list[int] = field(default_factory=list)
    tracks: list[dict] = field(default_factory=list)  # returned by the task-level read as they are (e.g. FiftyOne's mask tracks)

    @property
    def size(self) -> int:
        return len(range(self.start_frame, self.stop_frame + 1, self.step))

    def frame(self, number: int) -> np.ndarray:
        return self.source_frames[self.start_frame + number * self.step]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # clients hanging up are normal here
            super().handle_error(request, client_address)


def segments(size: int, segment_size: int, overlap: int | None, mode: str) -> tuple[list[tuple[int, int]], int]:
    """CVAT 2.23's split of ``size`` task frames into jobs: ([(start, stop)], overlap)."""
    seg = size if segment_size == 0 or segment_size > size else segment_size
    ov = min(overlap if overlap is not None else (5 if mode == "interpolation" else 0), seg // 2)
    return [(s, min(s + seg - 1, size - 1)) for s in range(0, size - ov, seg - ov)], ov


class FakeCvat:
    """The server state plus an HTTP server thread. Use as a context manager::

        with FakeCvat() as cvat:
            tid = cvat.add_task(video.frames, labels=[{"name": "car"}], segment_size=10)
            cvat.url  # "http://127.0.0.1:PORT"
    """

    routes: list[Route] = ROUTES + ISSUE_ROUTES
    handler_class: type = Handler

    def __init__(self, username: str = "alice", password: str = "s3cret-pass", token: str = "tok-123", version: str = "2.23.1"):
        self.username, self.password, self.token, self.version = username, password, token, version
        self.tasks: dict[int, FakeTask] = {}
        self.labels: dict[int, dict] = {}
        self.jobs: dict[int, dict] = {}
        self.sessions: dict[str, str] = {}  # sessionid -> csrftoken
        self.requests: list[tuple[str, str, str]] = []  # (method, path, query) of every request
        self.faults: list[Fault] = []
        self.hooks: list = []  # fn(method, path, query) after a request's change, before its reply (a person acting meanwhile)
        self.issues: dict[int, dict] = {}
        self.comments: dict[int, dict] = {}
        self.foreign_comments: set[int] = set()  # comments of another user: edits answer 403
        self._issue_ids = self._comment_ids = 0
        self.page_size = 10
        self._ids = 0
        self._shape_ids = 0
        self._lock = threading.RLock()
        self._httpd: _Server | None = None

    @property
    def has_tokens(self) -> bool:
        return tuple(int(x) for x in re.findall(r"\d+", self.version)[:2]) >= TOKEN_VERSION

    # -- setup ------------------------------------------------------------------
    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_task(
        self,
        source_frames: np.ndarray,
        labels: list[dict],
        start_frame: int = 0,
        stop_frame: int | None = None,
        step: int = 1,
        mode: str = "interpolation",
        segment_size: int = 0,
        overlap: int | None = None,
        name: str = "task",
    ) -> int:
        """A task over ``source_frames`` uint8 [N,H,W,3]. labels: ``{"name",
        "attributes": [{"name", "input_type", "values", ...}]}``. Jobs as CVAT
        splits them (see the module docstring)."""
        with self._lock:
            tid = self._next_id()
            stop = len(source_frames) - 1 if stop_frame is None else stop_frame
            task = FakeTask(tid, name, np.asarray(source_frames, np.uint8), start_frame, stop, step, mode, segment_size)
            self.tasks[tid] = task
            for spec in labels:
                lid = self._next_id()
                attrs = [
                    {"id": self._next_id(), "name": a["name"], "mutable": a.get("mutable", True),
                     "input_type": a.get("input_type", "checkbox"), "default_value": a.get("default_value", "false"),
                     "values": a.get("values", ["false"])}
                    for a in spec.get("attributes", [])
                ]
                self.labels[lid] = {"id": lid, "name": spec["name"], "color": "#ff0000", "attributes": attrs,
                                    "type": spec.get("type", "any"), "sublabels": [], "has_parent": False,
                                    "parent_id": None, "task_id": tid, "project_id": None}
            spans, task.overlap = segments(task.size, segment_size, overlap, mode)
            for start, end in spans:
                jid = self._next_id()
                self.jobs[jid] = {"id": jid, "task_id": tid, "start_frame": start, "stop_frame": end,
                                  "frame_count": end - start + 1, "type": "annotation", "stage": "annotation",
                                  "state": "new", "mode": mode, "updated_date": now()}
            return tid

    def label_id(self, task_id: int, name: str) -> int:
        return next(lid for lid, lab in self.labels.items() if lab["task_id"] == task_id and lab["name"] == name)

    def attr_id(self, label_id: int, name: str) -> int:
        return next(a["id"] for a in self.labels[label_id]["attributes"] if a["name"] == name)

    def task_jobs(self, task_id: int) -> list[dict]:
        """The task's jobs by start frame."""
        return sorted((j for j in self.jobs.values() if j["task_id"] == task_id), key=lambda j: j["start_frame"])

    def jobs_holding(self, task_id: int, frame: int) -> list[int]:
        return [j["id"] for j in self.task_jobs(task_id) if j["start_frame"] <= frame <= j["stop_frame"]]

    def add_shape(self, task_id: int, job: int | None = None, **fields: Any) -> int:
        """Add a shape as a person in the UI would: once, in ``job`` (default:
        the earliest job holding the frame); ``source="manual"`` unless given."""
        with self._lock:
            task = self.tasks[task_id]
            job = job if job is not None else self.jobs_holding(task_id, int(fields["frame"]))[0]
            return self._new_shape(task, dict(fields, source=fields.get("source", "manual")), job)["id"]

    def shapes(self, task_id: int) -> list[dict]:
        """Every stored shape (copies in overlapping jobs included), by id."""
        with self._lock:
            return [dict(s) for s in sorted(self.tasks[task_id].shapes.values(), key=lambda s: s["id"])]

    def shape_jobs(self, task_id: int) -> dict[int, int]:
        with self._lock:
            return dict(self.tasks[task_id].shape_job)

    def edit_shape(self, task_id: int, shape_id: int, **fields: Any) -> None:
        """Change a shape in place, like the CVAT UI saving an edit (job-level
        update: same id, same job; the UI sets ``source="semi-auto"`` on a mask
        edit and keeps ``auto`` on a label change: pass it)."""
        with self._lock:
            shape = self.tasks[task_id].shapes[shape_id]
            if fields.get("label_id", shape["label_id"]) != shape["label_id"] and "attributes" not in fields:
                fields["attributes"] = self._defaults(fields["label_id"], [])  # the UI resets them to the new label's
            shape.update(fields)
            self.tasks[task_id].version += 1
            self.jobs[self.tasks[task_id].shape_job[shape_id]]["updated_date"] = now()

    def delete_shape(self, task_id: int, shape_id: int) -> None:
        """A person deleting a shape in the UI (job-level action=delete)."""
        with self._lock:
            task = self.tasks[task_id]
            task.shapes.pop(shape_id)
            self.jobs[task.shape_job.pop(shape_id)]["updated_date"] = now()

    def add_fault(self, method: str, path: str, nth: int = 1, status: int = 500, drop: bool = False, apply: bool = False,
                  times: int = 1) -> Fault:
        fault = Fault(method, path, nth, status, drop, apply, times)
        self.faults.append(fault)
        return fault

    def calls(self, method: str | None = None, path: str | None = None) -> list[tuple[str, str, str]]:
        return [r for r in self.requests if (method is None or r[0] == method) and (path is None or re.search(path, r[1]))]

    # -- server -------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the server first"
        return self._httpd.server_address[1]

    def start(self, port: int = 0) -> "FakeCvat":
        """Listen on 127.0.0.1 (``port``: a fixed one, e.g. to come back after :meth:`stop`)."""
        handler = type("BoundHandler", (self.handler_class,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", port), handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeCvat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- shapes (as CVAT's serializers + our mask oracle) ------------------------------
    def _new_shape(self, task: FakeTask, data: dict, job: int) -> dict:
        from cvat_sdk.masks import decode_mask

        kind = data.get("type")
        if kind not in SHAPE_TYPES:
            raise HttpError(400, {"type": [f'"{kind}" is not a valid choice.']})
        label = self.labels.get(data.get("label_id"))
        if label is None or label["task_id"] != task.id:
            raise HttpError(400, {"label_id": [f"Invalid label id {data.get('label_id')}"]})
        frame = data.get("frame")
        if not isinstance(frame, int) or not 0 <= frame < task.size:
            raise HttpError(400, {"frame": [f"frame {frame} is outside the task"]})
        source = data.get("source", "manual")
        if source not in SOURCES:
            raise HttpError(400, {"source": [f'"{source}" is not a valid choice.']})
        points = [float(p) for p in data.get("points", [])]
        if kind == "mask":
            h, w = task.source_frames.shape[1:3]
            try:
                decode_mask(points, image_width=w, image_height=h)
            except ValueError as exc:
                raise HttpError(400, {"points": [f"invalid mask: {exc}"]}) from None
        spec_ids = {a["id"] for a in label["attributes"]}
        for a in data.get("attributes", []):
            if a.get("spec_id") not in spec_ids:
                raise HttpError(400, {"attributes": [f"attribute {a.get('spec_id')} is not an attribute of this label"]})
        self._shape_ids += 1
        shape = {
            "id": data.get("id") or self._shape_ids, "type": kind, "frame": frame, "label_id": label["id"],
            "group": int(data.get("group") or 0), "source": source, "occluded": bool(data.get("occluded", False)),
            "outside": bool(data.get("outside", False)), "z_order": int(data.get("z_order", 0)),
            "rotation": float(data.get("rotation", 0.0)), "points": points,
            "attributes": self._defaults(label["id"], data.get("attributes", [])),
            "elements": [],
        }
        task.shapes[shape["id"]] = shape
        task.shape_job[shape["id"]] = job
        task.version += 1
        self.jobs[job]["updated_date"] = now()
        return shape

    def _defaults(self, label_id: int, given: list[dict]) -> list[dict]:
        """The given attribute values plus the label's defaults for the rest (CVAT stores every spec)."""
        out = [{"spec_id": a["spec_id"], "value": str(a["value"])} for a in given]
        have = {a["spec_id"] for a in out}
        return out + [{"spec_id": a["id"], "value": str(a["default_value"])} for a in self.labels[label_id]["attributes"]
                      if a["id"] not in have]

    def patch(self, task: FakeTask, action: str, body: dict, job: int | None = None) -> dict:
        """PATCH annotations of the task (``job`` None: task-level) or of one job."""
        shapes = body.get("shapes", []) or []
        if body.get("tracks") or body.get("tags"):
            raise HttpError(400, {"detail": "this fake supports shapes only"})
        if action not in ("create", "update", "delete"):
            raise HttpError(400, {"action": [f"unknown action {action!r}"]})
        if action == "create" and any(s.get("id") is not None for s in shapes):
            raise HttpError(400, {"detail": "new objects must not have ids"})
        out = []
        for s in shapes:
            frame = s.get("frame")
            targets = [job] if job is not None else self.jobs_holding(task.id, frame if isinstance(frame, int) else -1)
            for jid in targets:
                if action == "create":
                    out.append(self._new_shape(task, s, jid))
                    continue
                out.append(dict(s))  # the real server echoes the listed shape per job, stored or not
                if task.shape_job.get(s.get("id")) != jid:
                    continue  # this job does not store that id: ignored, as the real server does
                if action == "delete":
                    task.shapes.pop(s["id"])
                    self.jobs[task.shape_job.pop(s["id"])]["updated_date"] = now()
                else:
                    self._new_shape(task, dict(s), jid)
        task.version += 1
        return {"version": task.version, "tags": [], "shapes": out, "tracks": []}

    def task_annotations(self, task: FakeTask) -> dict:
        """The task-level read: jobs merged as CVAT 2.23 merges them."""
        merged: list[dict] = []
        for job in self.task_jobs(task.id):
            own = [s for sid, s in sorted(task.shapes.items()) if task.shape_job[sid] == job["id"]]
            start = job["start_frame"]
            for s in own:
                if s["frame"] < start + task.overlap and start > 0 and any(_same_object(s, o) for o in merged):
                    continue
                merged.append(s)
        return {"version": task.version, "tags": [], "shapes": merged, "tracks": list(task.tracks)}


def _same_object(a: dict, b: dict) -> bool:
    """CVAT's overlap matching: same frame, type and label, and a rectangle or
    polygon with IoU >= 0.75 (polygons: identical points here)."""
    if (a["frame"], a["type"], a["label_id"]) != (b["frame"], b["type"], b["label_id"]):
        return False
    if a["type"] == "rectangle":
        x0, y0, x1, y1 = a["points"][:4]
        u0, v0, u1, v1 = b["points"][:4]
        inter = max(0.0, min(x1, u1) - max(x0, u0)) * max(0.0, min(y1, v1) - max(y0, v0))
        union = (x1 - x0) * (y1 - y0) + (u1 - u0) * (v1 - v0) - inter
        return union > 0 and inter / union >= 0.75
    return a["type"] == "polygon" and a["points"] == b["points"]
