"""The fake CVAT server (``fake_cvat.py``) plus the function-queue endpoints
that cvat-cli's agent (``cvat-cli function create-native`` / ``run-agent``)
uses, modelled on cvat-cli 2.80's ``_internal/agent.py`` and
``commands_functions.py``:

=====================================================================  ==========================================
``POST /api/functions``                                                 create a native function (``provider``,
                                                                        ``kind``, ``name``, kind's fields) -> it + ``id``
``GET  /api/functions/{id}``                                            the function; interactors report
                                                                        ``min_neg_points = -1`` when negatives are not
                                                                        allowed and both ``startswith_box*`` flags
``GET  /api/functions/queues/function:{id}/watch``                      404 here: the agent falls back to polling
``POST /api/functions/queues/function:{id}/requests/acquire``           ``{agent_id, request_category}`` ->
                                                                        ``{"ar_assignment": {ar_id, ar_params} | null}``
``POST .../requests/{ar_id}/complete``                                  ``{agent_id, **result}`` (only the acquirer)
``POST .../requests/{ar_id}/fail``                                      ``{agent_id, exc_info}``
``POST .../requests/{ar_id}/update``                                    ``{agent_id, progress}``
=====================================================================  ==========================================

Request parameters (``ar_params``) as CVAT sends them: ``interact``:
``task, frame, pos_points [[x, y]...], neg_points, obj_bbox ([[x1, y1], [x2, y2]] or [])``;
``init_tracking``: ``task, frame, shapes [{type, points}]``; ``track``:
``task, frame, states``. ``follow_up`` lets a test play the UI: it sees each
completed request and may queue the next ones (e.g. ``track`` requests with
the states an ``init_tracking`` returned).

The task JSON also gets the fields cvat-sdk's ``TaskDataset`` reads (the agent
fetches frames through it). It plugs in through ``FakeCvat.routes``; nothing in
``fake_cvat.py`` changes.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from fake_cvat import FakeCvat
from fake_cvat_http import ROUTES, HttpError, Route

FUNCTION_KINDS = ("detector", "interactor", "tracker")
CATEGORIES = ("interactive", "batch")


@dataclass
class AnnotationRequest:
    """One queued request and what became of it (state: queued, running, completed, failed)."""

    id: str
    function_id: int
    category: str
    params: dict
    state: str = "queued"
    agent_id: str | None = None
    result: dict | None = None
    error: str | None = None
    progress: list[float] = field(default_factory=list)


class FakeAgentCvat(FakeCvat):
    """``FakeCvat`` with native functions and their request queues."""

    routes: list[Route] = []  # set below: the agent's routes, then FakeCvat's

    def __init__(self, *args: Any, version: str = "2.50.0", **kwargs: Any) -> None:
        super().__init__(*args, version=version, **kwargs)  # a release with function queues
        self.functions: dict[int, dict] = {}
        self.ars: dict[str, AnnotationRequest] = {}
        self.follow_up: Callable[[AnnotationRequest], list[dict]] | None = None
        self._ar_numbers = itertools.count(1)

    def add_function(self, kind: str, name: str = "fn", **fields: Any) -> int:
        """A native function as ``create-native`` would register it."""
        with self._lock:
            return self._create_function({"provider": "native", "kind": kind, "name": name, **fields})["id"]

    def enqueue(self, function_id: int, params: dict, category: str = "interactive") -> str:
        """Queue an annotation request (as the CVAT UI does); returns its id."""
        with self._lock:
            ar = AnnotationRequest(f"ar-{next(self._ar_numbers)}", function_id, category, dict(params))
            self.ars[ar.id] = ar
            return ar.id

    # -- server side -------------------------------------------------------------------
    def _create_function(self, body: dict) -> dict:
        if body.get("provider") != "native" or body.get("kind") not in FUNCTION_KINDS or not body.get("name"):
            raise HttpError(400, {"detail": "need provider 'native', a kind and a name"})
        fn = {"id": self._next_id(), "provider": "native", "kind": body["kind"], "name": body["name"],
              "visibility": body.get("visibility", "private")}
        if body["kind"] == "interactor":
            fn["min_pos_points"] = int(body.get("min_pos_points", 1))
            fn["min_neg_points"] = int(body.get("min_neg_points", -1))  # -1: negatives not allowed
            fn["startswith_box"] = bool(body.get("startswith_box", False))
            fn["startswith_box_optional"] = bool(body.get("startswith_box_optional", False))
        elif body["kind"] == "tracker":
            fn["supported_shape_types"] = list(body.get("supported_shape_types", []))
        self.functions[fn["id"]] = fn
        return fn

    def _acquire(self, function_id: int, body: dict) -> dict:
        category = body.get("request_category")
        if category not in CATEGORIES or not body.get("agent_id"):
            raise HttpError(400, {"detail": "need agent_id and a request_category"})
        for ar in self.ars.values():
            if ar.function_id == function_id and ar.category == category and ar.state == "queued":
                ar.state, ar.agent_id = "running", body["agent_id"]
                return {"ar_assignment": {"ar_id": ar.id, "ar_params": ar.params}}
        return {"ar_assignment": None}

    def _finish(self, function_id: int, ar_id: str, action: str, body: dict) -> dict:
        ar = self.ars.get(ar_id)
        if ar is None or ar.function_id != function_id:
            raise HttpError(404, {"detail": "Not found."})
        if ar.state != "running" or ar.agent_id != body.get("agent_id"):
            raise HttpError(400, {"detail": "the request is not assigned to this agent"})
        if action == "update":
            ar.progress.append(float(body["progress"]))
            return {}
        if action == "fail":
            ar.state, ar.error = "failed", str(body.get("exc_info"))
            return {}
        ar.state, ar.result = "completed", {k: v for k, v in body.items() if k != "agent_id"}
        for params in (self.follow_up(ar) if self.follow_up else []):
            self.enqueue(function_id, params, ar.category)
        return {}


_BASE = {(r.method, r.pattern): r.func for r in ROUTES}
_QUEUE = r"/api/functions/queues/function(?::|%3A)(\d+)"  # the SDK sends "function:1" as "function%3A1"


def _about(h, m, q, raw):  # cvat-cli reads it through the SDK's model, which wants these too
    status, body, headers = _BASE["GET", r"/api/server/about"](h, m, q, raw)
    return status, {**body, "logo_url": "", "subtitle": ""}, headers


def _task(h, m, q, raw):  # plus the fields cvat-sdk's TaskDataset (the agent's frame source) reads
    status, body, headers = _BASE["GET", r"/api/tasks/(\d+)"](h, m, q, raw)
    task = h.fake.tasks[int(m.group(1))]
    body.update({"url": f"{h.fake.url}/api/tasks/{task.id}", "organization": None, "project_id": None,
                 "owner": None, "assignee": None, "bug_tracker": "", "created_date": "2024-01-01T00:00:00Z",
                 "updated_date": "2024-01-01T00:00:00Z", "data_chunk_size": 36,
                 "data_compressed_chunk_type": "imageset",
                 "data_original_chunk_type": "video" if task.mode == "interpolation" else "imageset",
                 "image_quality": 70, "subset": "", "source_storage": None, "target_storage": None})
    return status, body, headers


def _create(h, m, q, raw):
    return 201, h.fake._create_function(json.loads(raw or b"{}")), None


def _function_of(h, m) -> int:
    fid = int(m.group(1))
    if fid not in h.fake.functions:
        raise HttpError(404, {"detail": "Not found."})
    return fid


def _function(h, m, q, raw):
    return 200, h.fake.functions[_function_of(h, m)], None


def _watch(h, m, q, raw):
    _function_of(h, m)
    raise HttpError(404, {"detail": "this fake has no event stream; poll"})


def _acquire(h, m, q, raw):
    return 200, h.fake._acquire(_function_of(h, m), json.loads(raw or b"{}")), None


def _finish(h, m, q, raw):
    return 200, h.fake._finish(_function_of(h, m), m.group(2), m.group(3), json.loads(raw or b"{}")), None


FakeAgentCvat.routes = [
    Route("GET", r"/api/server/about", _about, auth=False),
    Route("GET", r"/api/tasks/(\d+)", _task),
    Route("POST", r"/api/functions", _create),
    Route("GET", r"/api/functions/(\d+)", _function),
    Route("GET", _QUEUE + r"/watch", _watch),
    Route("POST", _QUEUE + r"/requests/acquire", _acquire),
    Route("POST", _QUEUE + r"/requests/([^/]+)/(complete|fail|update)", _finish),
    *ROUTES,
]
