"""The HTTP side of the fake CVAT server (``fake_cvat.py`` holds the state).

==========================================================  ====================================
``GET  /api/server/about``                                   ``{"name", "description", "version"}``
``POST /api/auth/login``                                     ``{"key"}`` + ``sessionid``/``csrftoken`` cookies;
                                                             400 on bad credentials (as CVAT)
``POST /api/auth/logout``                                    ``{"detail"}``
``GET  /api/tasks/{id}``                                     task (id, name, mode, size, segment_size, overlap, ...)
``GET  /api/tasks/{id}/data/meta``                           start_frame, stop_frame, frame_filter
                                                             ``"step=N"``, size, frames, deleted_frames
``GET  /api/tasks/{id}/data/?type=frame&number=N&quality=``   PNG (lossless, so tests compare exact pixels)
``GET  /api/labels?task_id=&page=&page_size=``               paginated ``count/next/previous/results``
``GET  /api/jobs?task_id=&page=&page_size=``                 paginated, newest job first (as CVAT)
``GET  /api/jobs/{id}``                                       job (id, task_id, start_frame, stop_frame, type)
``GET  /api/jobs/{id}/annotations/``                         that job's stored shapes
``PATCH /api/jobs/{id}/annotations/?action=``                create (stored once, in that job) / update / delete
``GET  /api/tasks/{id}/annotations/``                        all jobs merged (copies of masks come back twice)
``PATCH /api/tasks/{id}/annotations/?action=``               create (a copy per job holding the frame) / update / delete
``PUT``/``DELETE /api/tasks/{id}/annotations/``              replace / remove ALL (recorded, so tests can
                                                             assert the tool never calls them)
==========================================================  ====================================

Paths match with or without the trailing ``/``; unauthenticated requests get
401; list pages hold ``page_size`` items (default 10).
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import numpy as np


class HttpError(Exception):
    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers


class _Drop(Exception):
    """Close the connection without an answer."""


@dataclass(frozen=True)
class Route:
    """``method`` + ``pattern`` (a full-match regex on the path without the
    trailing ``/``) -> ``func(handler, match, query, body) -> (status, body, headers)``;
    ``auth``: the request must be authenticated first."""

    method: str
    pattern: str
    func: Callable
    auth: bool = True


class Handler(BaseHTTPRequestHandler):
    fake: Any  # the FakeCvat (set on a subclass by FakeCvat.start)
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
        accept = self.headers.get("Accept") or "*/*"
        if path.startswith("/api/") and not any(a in accept for a in ("application/vnd.cvat+json", "*/*", "text/html")):
            # CVAT 2.23.1 answers e.g. "Accept: application/json" with 406
            self._reply(406, {"detail": "Could not satisfy the request Accept header."})
            return
        try:
            if fault is not None and not fault.apply:
                self._fire(fault)
            with fake._lock:
                status, body, headers = self._route(method, path, query, raw)
                for hook in list(fake.hooks):
                    hook(method, path, parts.query)
            if fault is not None:
                self._fire(fault)
            self._reply(status, body, headers)
        except HttpError as exc:
            self._reply(exc.status, exc.body, exc.headers)
        except _Drop:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

    def _route(self, method: str, path: str, query: dict, raw: bytes):
        allowed = False
        for route in self.fake.routes:
            m = re.fullmatch(route.pattern, path)
            if m is None:
                continue
            if route.method != method:
                allowed = True
                continue
            if route.auth:
                self._authenticate(method)
            return route.func(self, m, query, raw)
        self._authenticate(method)
        raise HttpError(405 if allowed else 404, {"detail": f'Method "{method}" not allowed.' if allowed else "Not found."})

    def _fault(self, method: str, path: str):
        for f in self.fake.faults:
            if not f.fired and f.method == method and re.search(f.path, path):
                f.seen += 1
                if f.seen >= f.nth:
                    f.fired = f.times > 0 and f.seen - f.nth + 1 >= f.times
                    return f
        return None

    @staticmethod
    def _fire(fault) -> None:
        if fault.drop:
            raise _Drop()
        raise HttpError(fault.status, {"detail": "injected fault"})

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
    def cookies(self) -> dict[str, str]:
        out = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                out[k] = v
        return out

    def _authenticate(self, method: str) -> None:
        fake = self.fake
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer ") and fake.has_tokens:
            if auth[7:] == fake.token:
                return
            raise HttpError(401, {"detail": "Invalid token."})
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, pw) == (fake.username, fake.password):
                return
            raise HttpError(401, {"detail": "Invalid username/password."})
        cookies = self.cookies()
        csrf = fake.sessions.get(cookies.get("sessionid", ""))
        if csrf is None:  # also a Bearer token on a server without tokens (before 2.48)
            raise HttpError(401, {"detail": "Authentication credentials were not provided."}, [("WWW-Authenticate", "Token")])
        if method not in ("GET", "HEAD", "OPTIONS") and (
            self.headers.get("X-CSRFToken") != csrf or cookies.get("csrftoken") != csrf
        ):
            raise HttpError(403, {"detail": "CSRF Failed: CSRF token missing or incorrect."})

    def page(self, items: list, query: dict, path: str) -> dict:
        size = int(query.get("page_size", self.fake.page_size))
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * size : page * size]
        base = f"{self.fake.url}{path}?task_id={query.get('task_id', '')}&page_size={size}"
        more = page * size < len(items)
        return {"count": len(items), "next": f"{base}&page={page + 1}" if more else None,
                "previous": f"{base}&page={page - 1}" if page > 1 else None, "results": chunk}


# -- routes ---------------------------------------------------------------------------
def _about(h, m, q, raw):
    return 200, {"name": "Computer Vision Annotation Tool", "description": "fake", "version": h.fake.version}, None


def _login(h, m, q, raw):
    fake = h.fake
    body = json.loads(raw or b"{}")
    user = body.get("username") or body.get("email")
    if (user, body.get("password")) != (fake.username, fake.password):
        raise HttpError(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
    sid, csrf = secrets.token_hex(16), secrets.token_hex(16)
    fake.sessions[sid] = csrf
    cookies = [("Set-Cookie", f"sessionid={sid}; HttpOnly; Path=/; SameSite=Lax"),
               ("Set-Cookie", f"csrftoken={csrf}; Path=/; SameSite=Lax")]
    return 200, {"key": secrets.token_hex(20)}, cookies


def _logout(h, m, q, raw):
    h.fake.sessions.pop(h.cookies().get("sessionid", ""), None)
    return 200, {"detail": "Successfully logged out."}, None


def _labels(h, m, q, raw):
    tid = int(q.get("task_id", 0))
    return 200, h.page([lab for lab in h.fake.labels.values() if lab["task_id"] == tid], q, "/api/labels"), None


def _jobs(h, m, q, raw):
    tid = int(q.get("task_id", 0))
    items = sorted((j for j in h.fake.jobs.values() if j["task_id"] == tid), key=lambda j: -j["id"])
    return 200, h.page(items, q, "/api/jobs"), None


def _job_of(h, m):
    job = h.fake.jobs.get(int(m.group(1)))
    if job is None:
        raise HttpError(404, {"detail": "Not found."})
    return job, h.fake.tasks[job["task_id"]]


def _job(h, m, q, raw):
    return 200, _job_of(h, m)[0], None


def _job_annotations(h, m, q, raw):
    job, task = _job_of(h, m)
    shapes = [s for sid, s in sorted(task.shapes.items()) if task.shape_job[sid] == job["id"]]
    return 200, {"version": task.version, "tags": [], "shapes": shapes, "tracks": []}, None


def _job_patch(h, m, q, raw):
    job, task = _job_of(h, m)
    return 200, h.fake.patch(task, q.get("action", ""), json.loads(raw or b"{}"), job=job["id"]), None


def _task_of(h, m):
    task = h.fake.tasks.get(int(m.group(1)))
    if task is None:
        raise HttpError(404, {"detail": "Not found."})
    return task


def _task(h, m, q, raw):
    task = _task_of(h, m)
    jobs = h.fake.task_jobs(task.id)
    return 200, {"id": task.id, "name": task.name, "mode": task.mode, "size": task.size,
                 "segment_size": task.segment_size or task.size, "overlap": task.overlap,
                 "status": "annotation", "dimension": "2d", "data": task.id,
                 "jobs": {"count": len(jobs), "completed": 0, "validation": 0, "url": f"{h.fake.url}/api/jobs?task_id={task.id}"},
                 "labels": {"url": f"{h.fake.url}/api/labels?task_id={task.id}"}}, None


def _meta(h, m, q, raw):
    task = _task_of(h, m)
    hh, w = task.source_frames.shape[1:3]
    if task.mode == "interpolation":  # a video: one entry for all frames, as CVAT
        frames = [{"width": w, "height": hh, "name": "video.mp4", "related_files": 0}]
    else:
        frames = [{"width": w, "height": hh, "name": f"img_{i:05d}.png", "related_files": 0} for i in range(task.size)]
    return 200, {"chunk_size": 36, "size": task.size, "image_quality": 70, "start_frame": task.start_frame,
                 "stop_frame": task.stop_frame, "frame_filter": f"step={task.step}" if task.step > 1 else "",
                 "frames": frames, "deleted_frames": list(task.deleted_frames), "included_frames": None,
                 "chunks_updated_date": "2024-01-01T00:00:00Z", "storage": "local", "cloud_storage_id": None}, None


def _data(h, m, q, raw):
    task = _task_of(h, m)
    if q.get("type") != "frame":
        raise HttpError(400, {"detail": "this fake serves type=frame only"})
    number = int(q.get("number", -1))
    if not 0 <= number < task.size:
        raise HttpError(400, {"detail": f"The frame number should be in the [0, {task.size - 1}] range"})
    return 200, _png(task.frame(number)), None


def _annotations(h, m, q, raw):
    return 200, h.fake.task_annotations(_task_of(h, m)), None


def _annotations_patch(h, m, q, raw):
    return 200, h.fake.patch(_task_of(h, m), q.get("action", ""), json.loads(raw or b"{}")), None


def _annotations_put(h, m, q, raw):
    task = _task_of(h, m)
    task.shapes.clear()
    task.shape_job.clear()
    h.fake.patch(task, "create", json.loads(raw or b"{}"))
    return 200, h.fake.task_annotations(task), None


def _annotations_delete(h, m, q, raw):
    task = _task_of(h, m)
    task.shapes.clear()
    task.shape_job.clear()
    return 204, b"", None


ROUTES: list[Route] = [
    Route("GET", r"/api/server/about", _about, auth=False),
    Route("POST", r"/api/auth/login", _login, auth=False),
    Route("POST", r"/api/auth/logout", _logout),
    Route("GET", r"/api/labels", _labels),
    Route("GET", r"/api/jobs", _jobs),
    Route("GET", r"/api/jobs/(\d+)", _job),
    Route("GET", r"/api/jobs/(\d+)/annotations", _job_annotations),
    Route("PATCH", r"/api/jobs/(\d+)/annotations", _job_patch),
    Route("GET", r"/api/tasks/(\d+)", _task),
    Route("GET", r"/api/tasks/(\d+)/data/meta", _meta),
    Route("GET", r"/api/tasks/(\d+)/data", _data),
    Route("GET", r"/api/tasks/(\d+)/annotations", _annotations),
    Route("PATCH", r"/api/tasks/(\d+)/annotations", _annotations_patch),
    Route("PUT", r"/api/tasks/(\d+)/annotations", _annotations_put),
    Route("DELETE", r"/api/tasks/(\d+)/annotations", _annotations_delete),
]


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
