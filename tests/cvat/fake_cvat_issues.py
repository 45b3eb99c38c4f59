"""Issues, comments and job stage/state on the fake CVAT server (as 2.23.1).

Checked on the real server (docs/cvat.md): ``POST /api/issues`` with
``{frame, position, job, message, resolved}`` answers 201 with the issue and
stores ``message`` as its first comment; ``GET /api/issues?task_id=`` and
``GET /api/comments?issue_id=`` are paginated; a comment's ``message`` is
free text (300 kB accepted); ``PATCH /api/comments/{id}`` refreshes its
``updated_date``; deletes answer 204. Creating an issue or comment does not
change the job's ``updated_date``; an annotation change does.
``PATCH /api/jobs/{id}`` with ``{"stage", "state"}`` is how a reviewer
accepts a job. Comments of another user (``FakeCvat.foreign_comments``)
answer 403 to edits, as OPA does for a non-staff user.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from fake_cvat_http import HttpError, Route

STAGES = ("annotation", "validation", "acceptance")
STATES = ("new", "in progress", "rejected", "completed")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _owner(h) -> dict:
    return {"id": 1, "username": h.fake.username}


def _issues(h, m, q, raw):
    fake = h.fake
    items = sorted(fake.issues.values(), key=lambda i: i["id"])
    if "task_id" in q:
        items = [i for i in items if fake.jobs[i["job"]]["task_id"] == int(q["task_id"])]
    if "job_id" in q:
        items = [i for i in items if i["job"] == int(q["job_id"])]
    return 200, h.page(items, q, "/api/issues"), None


def _issue_create(h, m, q, raw):
    fake = h.fake
    body = json.loads(raw or b"{}")
    if body.get("job") not in fake.jobs or not body.get("message") or not body.get("position"):
        raise HttpError(400, {"detail": "job, frame, position and message are required"})
    fake._issue_ids += 1
    t = now()
    issue = {"id": fake._issue_ids, "frame": int(body.get("frame", 0)), "position": [float(p) for p in body["position"]],
             "job": body["job"], "owner": _owner(h), "assignee": None, "created_date": t, "updated_date": t,
             "resolved": bool(body.get("resolved", False)), "comments": {"count": 1}}
    fake.issues[issue["id"]] = issue
    _new_comment(h, issue["id"], str(body["message"]))
    return 201, issue, None


def _issue_of(h, m) -> dict:
    issue = h.fake.issues.get(int(m.group(1)))
    if issue is None:
        raise HttpError(404, {"detail": "Not found."})
    return issue


def _issue_delete(h, m, q, raw):
    issue = _issue_of(h, m)
    h.fake.issues.pop(issue["id"])
    for cid in [c for c, v in h.fake.comments.items() if v["issue"] == issue["id"]]:
        h.fake.comments.pop(cid)
    return 204, b"", None


def _new_comment(h, issue: int, message: str) -> dict:
    fake = h.fake
    fake._comment_ids += 1
    t = now()
    comment = {"id": fake._comment_ids, "issue": issue, "owner": _owner(h), "message": message, "created_date": t, "updated_date": t}
    fake.comments[comment["id"]] = comment
    return comment


def _comments(h, m, q, raw):
    items = sorted(h.fake.comments.values(), key=lambda c: c["id"])
    if "issue_id" in q:
        items = [c for c in items if c["issue"] == int(q["issue_id"])]
    return 200, h.page(items, q, "/api/comments"), None


def _comment_create(h, m, q, raw):
    body = json.loads(raw or b"{}")
    if body.get("issue") not in h.fake.issues:
        raise HttpError(400, {"issue": ["Invalid pk - object does not exist."]})
    return 201, _new_comment(h, body["issue"], str(body.get("message", ""))), None


def _comment_of(h, m) -> dict:
    comment = h.fake.comments.get(int(m.group(1)))
    if comment is None:
        raise HttpError(404, {"detail": "Not found."})
    if comment["id"] in h.fake.foreign_comments:
        raise HttpError(403, {"detail": "You do not have permission to perform this action."})
    return comment


def _comment_patch(h, m, q, raw):
    comment = _comment_of(h, m)
    comment.update(message=str(json.loads(raw or b"{}").get("message", comment["message"])), updated_date=now())
    return 200, comment, None


def _comment_delete(h, m, q, raw):
    h.fake.comments.pop(_comment_of(h, m)["id"])
    return 204, b"", None


def _job_patch_meta(h, m, q, raw):
    job = h.fake.jobs.get(int(m.group(1)))
    if job is None:
        raise HttpError(404, {"detail": "Not found."})
    body = json.loads(raw or b"{}")
    if body.get("stage", job["stage"]) not in STAGES or body.get("state", job["state"]) not in STATES:
        raise HttpError(400, {"detail": "invalid stage or state"})
    job.update({k: body[k] for k in ("stage", "state") if k in body}, updated_date=now())
    return 200, job, None


ISSUE_ROUTES: list[Route] = [
    Route("GET", r"/api/issues", _issues),
    Route("POST", r"/api/issues", _issue_create),
    Route("DELETE", r"/api/issues/(\d+)", _issue_delete),
    Route("GET", r"/api/comments", _comments),
    Route("POST", r"/api/comments", _comment_create),
    Route("PATCH", r"/api/comments/(\d+)", _comment_patch),
    Route("DELETE", r"/api/comments/(\d+)", _comment_delete),
    Route("PATCH", r"/api/jobs/(\d+)", _job_patch_meta),
]
