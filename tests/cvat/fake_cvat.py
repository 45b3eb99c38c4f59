"""A small fake CVAT 2.x server for tests (stdlib ``http.server``, 127.0.0.1).

It implements exactly the endpoints tam-label calls, with CVAT's payloads, so
it can be checked against a real server later (docs/cvat.md lists them):

=========================================================  ====================================
``GET  /api/server/about``                                  ``{"name", "description", "version"}``
``POST /api/auth/login``                                    ``{"key"}`` + ``sessionid``/``csrftoken`` cookies;
                                                            400 on bad credentials (as CVAT)
``POST /api/auth/logout``                                   ``{"detail"}``
``GET  /api/tasks/{id}``                                    task (id, name, mode, size, segment_size, ...)
``GET  /api/tasks/{id}/data/meta``                          start_frame, stop_frame, frame_filter
                                                            ``"step=N"``, size, frames, deleted_frames
``GET  /api/tasks/{id}/data/?type=frame&number=N&quality=``  PNG (lossless, so tests compare exact pixels)
``GET  /api/labels?task_id=&page=&page_size=``              paginated ``count/next/previous/results``
``GET  /api/jobs/{id}``                                      job (id, task_id, start_frame, stop_frame)
``GET  /api/tasks/{id}/annotations/``                       ``{"version", "tags", "shapes", "tracks"}``
``PATCH /api/tasks/{id}/annotations/?action=create``        assigns ids, returns the created objects
``PATCH ...?action=update`` / ``?action=delete``            by id, returns the listed objects
``PUT``/``DELETE /api/tasks/{id}/annotations/``             replace / remove ALL (recorded, so tests can
                                                            assert the tool never calls them)
=========================================================  ====================================

Conventions of the real server kept here: paths match with or without the
trailing ``/``; unauthenticated requests get 401; session auth needs the
``X-CSRFToken`` header (equal to the ``csrftoken`` cookie) on unsafe methods
(else 403), while ``Authorization: Bearer <token>`` and Basic auth need no
CSRF; mask shapes are validated with ``cvat_sdk.masks.decode_mask`` (the
oracle); the task frame ``number`` is 0..size-1 and maps to source frame
``start_frame + number * step``; a task ``mode`` is ``interpolation`` (video)
or ``annotation`` (images); list pages hold ``page_size`` items (default 10).

Faults (:meth:`FakeCvat.add_fault`): answer the Nth matching request with an
HTTP status, or drop the connection without answering (optionally after
applying the change, as when a reply is lost in flight).
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

SHAPE_TYPES = {"rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"}
SOURCES = {"manual", "semi-auto", "auto", "file", "consensus"}


@dataclass
class Fault:
    """Answer the ``nth`` (1-based) request matching ``method`` and ``path``
    (a regex on the path) with ``status``, or drop the connection (``drop``);
    ``apply`` first performs the request's change (reply lost in flight)."""

    method: str
    path: str
    nth: int = 1
    status: int = 500
    drop: bool = False
    apply: bool = False
    seen: int = 0
    fired: bool = False


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
    shapes: dict[int, dict] = field(default_factory=dict)
    version: int = 0
    deleted_frames: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(range(self.start_frame, self.stop_frame + 1, self.step))

    def frame(self, number: int) -> np.ndarray:
        return self.source_frames[self.start_frame + number * self.step]


class FakeCvat:
    """The server state plus an HTTP server thread. Use as a context manager::

        with FakeCvat() as cvat:
            tid = cvat.add_task(video.frames, labels=[{"name": "car"}])
            cvat.url  # "http://127.0.0.1:PORT"
    """

    def __init__(self, username: str = "alice", password: str = "s3cret-pass", token: str = "tok-123", version: str = "2.17.0"):
        self.username, self.password, self.token, self.version = username, password, token, version
        self.tasks: dict[int, FakeTask] = {}
        self.labels: dict[int, dict] = {}
        self.jobs: dict[int, dict] = {}
        self.sessions: dict[str, str] = {}  # sessionid -> csrftoken
        self.requests: list[tuple[str, str, str]] = []  # (method, path, query) of every request
        self.faults: list[Fault] = []
        self.page_size = 10
        self._ids = 0
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None

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
        name: str = "task",
    ) -> int:
        """A task over ``source_frames`` uint8 [N,H,W,3]. labels: ``{"name",
        "attributes": [{"name", "input_type", "values", ...}]}``."""
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
            seg = segment_size or task.size
            for start in range(0, task.size, seg):
                jid = self._next_id()
                self.jobs[jid] = {"id": jid, "task_id": tid, "start_frame": start, "stop_frame": min(start + seg, task.size) - 1,
                                  "type": "annotation", "stage": "annotation", "state": "new", "mode": mode}
            return tid

    def label_id(self, task_id: int, name: str) -> int:
        return next(lid for lid, lab in self.labels.items() if lab["task_id"] == task_id and lab["name"] == name)

    def attr_id(self, label_id: int, name: str) -> int:
        return next(a["id"] for a in self.labels[label_id]["attributes"] if a["name"] == name)

    def add_shape(self, task_id: int, **fields: Any) -> int:
        """Add a shape as a person would (``source="manual"`` unless given)."""
        with self._lock:
            shape = self._new_shape(self.tasks[task_id], dict(fields, source=fields.get("source", "manual")))
            return shape["id"]

    def shapes(self, task_id: int) -> list[dict]:
        with self._lock:
            return [dict(s) for s in sorted(self.tasks[task_id].shapes.values(), key=lambda s: s["id"])]

    def edit_shape(self, task_id: int, shape_id: int, **fields: Any) -> None:
        """Change a shape in place, like the CVAT UI saving an edit (same id)."""
        with self._lock:
            self.tasks[task_id].shapes[shape_id].update(fields)
            self.tasks[task_id].version += 1

    def add_fault(self, method: str, path: str, nth: int = 1, status: int = 500, drop: bool = False, apply: bool = False) -> Fault:
        fault = Fault(method, path, nth, status, drop, apply)
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

    def start(self) -> "FakeCvat":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
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

    # -- shape validation (as CVAT's serializers + our mask oracle) -------------------
    def _new_shape(self, task: FakeTask, data: dict) -> dict:
        from cvat_sdk.masks import decode_mask

        kind = data.get("type")
        if kind not in SHAPE_TYPES:
            raise _HttpError(400, {"type": [f'"{kind}" is not a valid choice.']})
        label = self.labels.get(data.get("label_id"))
        if label is None or label["task_id"] != task.id:
            raise _HttpError(400, {"label_id": [f"Invalid label id {data.get('label_id')}"]})
        frame = data.get("frame")
        if not isinstance(frame, int) or not 0 <= frame < task.size:
            raise _HttpError(400, {"frame": [f"frame {frame} is outside the task"]})
        source = data.get("source", "manual")
        if source not in SOURCES:
            raise _HttpError(400, {"source": [f'"{source}" is not a valid choice.']})
        points = [float(p) for p in data.get("points", [])]
        if kind == "mask":
            h, w = task.source_frames.shape[1:3]
            try:
                decode_mask(points, image_width=w, image_height=h)
            except ValueError as exc:
                raise _HttpError(400, {"points": [f"invalid mask: {exc}"]}) from None
        spec_ids = {a["id"] for a in label["attributes"]}
        for a in data.get("attributes", []):
            if a.get("spec_id") not in spec_ids:
                raise _HttpError(400, {"attributes": [f"attribute {a.get('spec_id')} is not an attribute of this label"]})
        shape = {
            "id": self._next_id(), "type": kind, "frame": frame, "label_id": label["id"],
            "group": int(data.get("group") or 0), "source": source, "occluded": bool(data.get("occluded", False)),
            "outside": bool(data.get("outside", False)), "z_order": int(data.get("z_order", 0)),
            "rotation": float(data.get("rotation", 0.0)), "points": points,
            "attributes": [{"spec_id": a["spec_id"], "value": str(a["value"])} for a in data.get("attributes", [])],
            "elements": [],
        }
        task.shapes[shape["id"]] = shape
        task.version += 1
        return shape

    def _patch(self, task: FakeTask, action: str, body: dict) -> dict:
        shapes = body.get("shapes", []) or []
        if body.get("tracks") or body.get("tags"):
            raise _HttpError(400, {"detail": "this fake supports shapes only"})
        if action == "create":
            if any("id" in s and s["id"] is not None for s in shapes):
                raise _HttpError(400, {"detail": "new objects must not have ids"})
            out = [self._new_shape(task, s) for s in shapes]
        elif action in ("update", "delete"):
            missing = [s.get("id") for s in shapes if s.get("id") not in task.shapes]
            if missing:
                raise _HttpError(400, {"detail": f"unknown shape ids {missing}"})
            out = []
            for s in shapes:
                if action == "delete":
                    out.append(task.shapes.pop(s["id"]))
                else:
                    task.shapes.pop(s["id"])
                    new = self._new_shape(task, {k: v for k, v in s.items() if k != "id"})
                    task.shapes.pop(new["id"])
                    new["id"] = s["id"]
                    task.shapes[s["id"]] = new
                    out.append(new)
            task.version += 1
        else:
            raise _HttpError(400, {"action": [f"unknown action {action!r}"]})
        return {"version": task.version, "tags": [], "shapes": out, "tracks": []}


class _HttpError(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(status)
        self.status, self.body = status, body


class _Drop(Exception):
    """Close the connection without an answer."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeCvat
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self): self._handle("GET")  # noqa: E704
    def do_POST(self): self._handle("POST")  # noqa: E704
    def do_PATCH(self): self._handle("PATCH")  # noqa: E704
    def do_PUT(self): self._handle("PUT")  # noqa: E704
    def do_DELETE(self): self._handle("DELETE")  # noqa: E704

    # -- dispatch -------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with fake._lock:
            fake.requests.append((method, path, parts.query))
            fault = self._fault(method, path)
        try:
            if fault is not None and not fault.apply:
                self._fire(fault)
            with fake._lock:
                status, body, headers = self._route(method, path, query, raw)
            if fault is not None:
                self._fire(fault)
            self._reply(status, body, headers)
        except _HttpError as exc:
            self._reply(exc.status, exc.body)
        except _Drop:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

    def _fault(self, method: str, path: str) -> Fault | None:
        for f in self.fake.faults:
            if not f.fired and f.method == method and re.search(f.path, path):
                f.seen += 1
                if f.seen == f.nth:
                    f.fired = True
                    return f
        return None

    @staticmethod
    def _fire(fault: Fault) -> None:
        if fault.drop:
            raise _Drop()
        raise _HttpError(fault.status, {"detail": "injected fault"})

    def _reply(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
        if isinstance(body, (bytes, bytearray)):
            data, ctype = bytes(body), "image/png"
        else:
            data, ctype = json.dumps(body).encode(), "application/vnd.cvat+json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers or []:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    # -- auth -------------------------------------------------------------------------
    def _cookies(self) -> dict[str, str]:
        out = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                out[k] = v
        return out

    def _authenticate(self, method: str) -> None:
        fake = self.fake
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            if auth[7:] == fake.token:
                return
            raise _HttpError(401, {"detail": "Invalid token."})
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, pw) == (fake.username, fake.password):
                return
            raise _HttpError(401, {"detail": "Invalid username/password."})
        cookies = self._cookies()
        csrf = fake.sessions.get(cookies.get("sessionid", ""))
        if csrf is None:
            raise _HttpError(401, {"detail": "Authentication credentials were not provided."})
        if method not in ("GET", "HEAD", "OPTIONS") and (
            self.headers.get("X-CSRFToken") != csrf or cookies.get("csrftoken") != csrf
        ):
            raise _HttpError(403, {"detail": "CSRF Failed: CSRF token missing or incorrect."})

    # -- routes -----------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, raw: bytes):
        fake = self.fake
        if (method, path) == ("GET", "/api/server/about"):
            return 200, {"name": "Computer Vision Annotation Tool", "description": "fake", "version": fake.version}, None
        if (method, path) == ("POST", "/api/auth/login"):
            body = json.loads(raw or b"{}")
            user = body.get("username") or body.get("email")
            if (user, body.get("password")) != (fake.username, fake.password):
                raise _HttpError(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
            sid, csrf = secrets.token_hex(16), secrets.token_hex(16)
            fake.sessions[sid] = csrf
            cookies = [("Set-Cookie", f"sessionid={sid}; HttpOnly; Path=/; SameSite=Lax"),
                       ("Set-Cookie", f"csrftoken={csrf}; Path=/; SameSite=Lax")]
            return 200, {"key": secrets.token_hex(20)}, cookies
        self._authenticate(method)
        if (method, path) == ("POST", "/api/auth/logout"):
            fake.sessions.pop(self._cookies().get("sessionid", ""), None)
            return 200, {"detail": "Successfully logged out."}, None
        if (method, path) == ("GET", "/api/labels"):
            tid = int(query.get("task_id", 0))
            items = [lab for lab in fake.labels.values() if lab["task_id"] == tid]
            return 200, self._page(items, query, path), None
        m = re.fullmatch(r"/api/jobs/(\d+)", path)
        if m and method == "GET":
            job = fake.jobs.get(int(m.group(1)))
            if job is None:
                raise _HttpError(404, {"detail": "Not found."})
            return 200, job, None
        m = re.fullmatch(r"/api/tasks/(\d+)(/.*)?", path)
        if not m:
            raise _HttpError(404, {"detail": "Not found."})
        task = fake.tasks.get(int(m.group(1)))
        if task is None:
            raise _HttpError(404, {"detail": "Not found."})
        sub = m.group(2) or ""
        if (method, sub) == ("GET", ""):
            return 200, self._task_json(task), None
        if (method, sub) == ("GET", "/data/meta"):
            return 200, self._meta_json(task), None
        if (method, sub) == ("GET", "/data"):
            if query.get("type") != "frame":
                raise _HttpError(400, {"detail": "this fake serves type=frame only"})
            number = int(query.get("number", -1))
            if not 0 <= number < task.size:
                raise _HttpError(400, {"detail": f"The frame number should be in the [0, {task.size - 1}] range"})
            return 200, _png(task.frame(number)), None
        if sub == "/annotations":
            if method == "GET":
                shapes = sorted(task.shapes.values(), key=lambda s: s["id"])
                return 200, {"version": task.version, "tags": [], "shapes": shapes, "tracks": []}, None
            if method == "PATCH":
                return 200, fake._patch(task, query.get("action", ""), json.loads(raw or b"{}")), None
            if method == "PUT":
                task.shapes.clear()
                for s in json.loads(raw or b"{}").get("shapes", []):
                    fake._new_shape(task, s)
                return 200, {"version": task.version, "tags": [], "shapes": list(task.shapes.values()), "tracks": []}, None
            if method == "DELETE":
                task.shapes.clear()
                return 204, b"", None
        raise _HttpError(405 if method != "GET" else 404, {"detail": f'Method "{method}" not allowed.'})

    def _page(self, items: list, query: dict, path: str) -> dict:
        size = int(query.get("page_size", self.fake.page_size))
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * size : page * size]
        base = f"{self.fake.url}{path}?task_id={query.get('task_id', '')}&page_size={size}"
        more = page * size < len(items)
        return {"count": len(items), "next": f"{base}&page={page + 1}" if more else None,
                "previous": f"{base}&page={page - 1}" if page > 1 else None, "results": chunk}

    def _task_json(self, task: FakeTask) -> dict:
        jobs = [j for j in self.fake.jobs.values() if j["task_id"] == task.id]
        return {"id": task.id, "name": task.name, "mode": task.mode, "size": task.size, "segment_size": task.segment_size or task.size,
                "status": "annotation", "dimension": "2d", "data": task.id,
                "jobs": {"count": len(jobs), "completed": 0, "validation": 0, "url": f"{self.fake.url}/api/jobs?task_id={task.id}"},
                "labels": {"url": f"{self.fake.url}/api/labels?task_id={task.id}"}}

    @staticmethod
    def _meta_json(task: FakeTask) -> dict:
        h, w = task.source_frames.shape[1:3]
        if task.mode == "interpolation":  # a video: one entry for all frames, as CVAT
            frames = [{"width": w, "height": h, "name": "video.mp4", "related_files": 0}]
        else:
            frames = [{"width": w, "height": h, "name": f"img_{i:05d}.png", "related_files": 0} for i in range(task.size)]
        return {"chunk_size": 36, "size": task.size, "image_quality": 70, "start_frame": task.start_frame,
                "stop_frame": task.stop_frame, "frame_filter": f"step={task.step}" if task.step > 1 else "",
                "frames": frames, "deleted_frames": list(task.deleted_frames), "included_frames": None,
                "chunks_updated_date": "2024-01-01T00:00:00Z", "storage": "local", "cloud_storage_id": None}


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
