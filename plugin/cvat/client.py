"""A thin connection to a CVAT 2.x server built on cvat-sdk.

cvat-sdk does the transport, session login (cookie + CSRF header) and token
auth. Responses are read as plain JSON (``_parse_response=False``) rather than
through the SDK's generated models: those are strict about the newest schema
(cvat-sdk 2.80's models cannot parse a 2.23 server's answers), and the few
fields we read are the same on every 2.x server. Its own version check is off
(it only compares against the SDK release); :func:`parse_version` does ours,
and token auth is refused up front on servers older than 2.48.

Only these calls are made (see docs/cvat.md): ``GET /api/server/about``
(once, without retries, before anything else: a wrong host, port or scheme is
:class:`CvatUnreachableError`), ``POST /api/auth/login``, ``GET /api/tasks/{id}``,
``GET /api/tasks/{id}/data/meta``,
``GET /api/tasks/{id}/data/?type=frame&number=N&quality=original``,
``GET /api/labels?task_id=`` and ``GET /api/jobs?task_id=`` (paginated),
``GET /api/jobs/{id}``, ``GET /api/tasks/{id}/annotations/``,
``GET /api/jobs/{id}/annotations/`` (the re-read before each upload batch),
``GET/POST /api/issues``, ``GET/POST/PATCH/DELETE /api/comments`` (the
record of our masks and the run lease, see ``record.py``/``lease.py``),
``PATCH /api/jobs/{id}/annotations/?action=create`` (a task-level create is
stored once in EVERY job holding the frame; jobs overlap) and
``PATCH /api/tasks/{id}/annotations/?action=delete`` (deletes exactly the
listed ids, in whichever job holds them).
Nothing here can delete all annotations: there is no PUT and no DELETE, and a
delete with an empty id list is refused before it is sent.
"""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .credentials import Credentials
from .errors import CvatAuthError, CvatConnectionError, CvatError, CvatUnreachableError
from .server import ServerIdentity, check_url, normalise_url

log = logging.getLogger(__name__)

MIN_SERVER = (2, 4)  # mask shapes and the `source` field on shapes
TOKEN_SERVER = (2, 48)  # personal access tokens (Authorization: Bearer) exist from this release
PROBE_TIMEOUT = 10.0  # seconds for the first request (connect and read)
RECONNECT_S = 60.0  # how long a run waits for a server that went away (a restart) before giving up
MAX_WAIT_S = 2.0  # longest pause between two attempts during an outage
_SHAPE_FIELDS = ("id", "type", "frame", "label_id", "group", "source", "occluded", "outside", "z_order", "rotation", "points", "attributes", "elements")


class CvatConnection:
    """An authenticated connection to one CVAT server.

    Use as a context manager or call :meth:`close`. Once connected, an outage
    (a restart, a dropped connection, a 5xx) is bridged for up to ``reconnect_s``
    seconds: reads are retried, writes only while the server refuses
    connections (never reached it); a write meeting anything else fails at once
    (the record makes a re-run safe). One warning starts an outage, one line
    ends it; urllib3's retries are off. ``retry_wait``: the first pause (doubling up to 2 s).
    """

    def __init__(self, server: str, credentials: Credentials, reconnect_s: float = RECONNECT_S, retry_wait: float = 0.25):
        from cvat_sdk.core.client import AccessTokenCredentials, Client, Config

        self.server = check_url(server)
        self.reconnect_s = float(reconnect_s)
        self._gave_up = False  # set when an outage outlasted reconnect_s; cleared by the next answer
        self.retry_wait = retry_wait
        self._secrets = credentials.secrets()
        about = probe(self.server)
        self.version = parse_version(about)
        self.identity = ServerIdentity(normalise_url(self.server), str(about.get("name", "")), str(about.get("version", "")))
        if credentials.token and self.version[:2] < TOKEN_SERVER:
            raise CvatAuthError(
                f"CVAT {about.get('version')} has no API access tokens (they exist from "
                f"{TOKEN_SERVER[0]}.{TOKEN_SERVER[1]}): unset CVAT_ACCESS_TOKEN and set CVAT_USERNAME and CVAT_PASSWORD"
            )
        self._token = bool(credentials.token)
        self._client = Client(self.server, config=Config(allow_unsupported_server=True), check_server_version=False)
        _no_urllib3_retries(self._client.api_client)
        try:
            if credentials.token:
                # A bad token shows as HTTP 401 on the first task read.
                self._client.login(AccessTokenCredentials(credentials.token))
            else:
                self._client.login((credentials.username, credentials.password))
        except CvatError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc, "logging in") from None

    # -- plumbing -------------------------------------------------------------
    @property
    def _api(self):
        return self._client.api_client

    def __enter__(self) -> "CvatConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing must not hide the real error
            pass

    def _clean(self, exc: BaseException) -> str:
        """One line describing ``exc`` with every secret removed."""
        text = " ".join(str(exc).split())[:300]
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _translate(self, exc: Exception, what: str) -> CvatError:
        from cvat_sdk.api_client.exceptions import ApiException

        if isinstance(exc, ApiException):
            status = exc.status
            if status == 401 and self._token:
                return CvatAuthError(
                    f"CVAT refused the access token while {what} (HTTP 401): check CVAT_ACCESS_TOKEN "
                    "(create one in CVAT under your profile, Security) or use CVAT_USERNAME/CVAT_PASSWORD"
                )
            if status in (401, 403) or (what == "logging in" and status == 400):
                return CvatAuthError(
                    f"CVAT refused the credentials while {what} (HTTP {status}): check CVAT_USERNAME/CVAT_PASSWORD "
                    "or CVAT_ACCESS_TOKEN and your access to this task"
                )
            if status == 404:
                return CvatError(f"CVAT has no such resource while {what} (HTTP 404): check the server URL and the task/job id")
            if status is not None and status >= 500:
                return CvatConnectionError(f"CVAT server error while {what} (HTTP {status}); re-run the same command to resume")
            return CvatError(f"CVAT rejected the request while {what} (HTTP {status}): {self._clean(exc.body or exc.reason)}")
        return CvatConnectionError(f"lost the connection to CVAT while {what} ({_reason(exc)}); re-run the same command to resume")

    def _call(self, endpoint: Callable, what: str, *args: Any, idempotent: bool = True, **kwargs: Any):
        """Call an SDK endpoint unparsed, bridging an outage (see the class doc)."""
        from cvat_sdk.api_client.exceptions import ApiException

        outage: float | None = None  # monotonic start of the outage this call is in
        attempt = 0
        while True:
            try:
                _, response = endpoint(*args, _parse_response=False, **kwargs)
                self._gave_up = False
                if outage is not None:
                    log.warning("CVAT reconnected after %.0f s", time.monotonic() - outage)
                return response
            except ApiException as exc:
                retry = idempotent and exc.status is not None and exc.status >= 500
                error = exc
            except Exception as exc:  # noqa: BLE001 - urllib3 protocol/connection errors
                retry = idempotent or _refused(exc)
                error = exc
            now = time.monotonic()
            if self._gave_up:  # an outage already outlasted the window: clean-up calls try once, quietly
                raise self._translate(error, what) from None
            if outage is None and retry and self.reconnect_s > 0:
                outage = now
                log.warning("CVAT unreachable since %s (%s while %s); retrying for up to %.0f s",
                            time.strftime("%H:%M:%S"), _failure(error), what, self.reconnect_s)
            if not retry or outage is None or now - outage >= self.reconnect_s:
                self._gave_up = outage is not None
                raise self._translate(error, what) from None
            log.debug("retrying after %s while %s", _failure(error), what)
            time.sleep(min(self.retry_wait * 2**attempt, MAX_WAIT_S, max(0.0, outage + self.reconnect_s - now)))
            attempt += 1

    def get_json(self, endpoint: Callable, what: str, *args: Any, **kwargs: Any) -> Any:
        response = self._call(endpoint, what, *args, **kwargs)
        return json.loads(response.data or b"null")

    # -- reads ----------------------------------------------------------------
    def task(self, task_id: int) -> dict:
        return self.get_json(self._api.tasks_api.retrieve, f"reading task {task_id}", task_id)

    def data_meta(self, task_id: int) -> dict:
        return self.get_json(self._api.tasks_api.retrieve_data_meta, f"reading the frame list of task {task_id}", task_id)

    def job(self, job_id: int) -> dict:
        return self.get_json(self._api.jobs_api.retrieve, f"reading job {job_id}", job_id)

    def jobs(self, task_id: int) -> list[dict]:
        """All jobs of a task (follows the ``next`` pages); on video tasks with a
        segment size they overlap (CVAT's default overlap is 5 frames)."""
        out: list[dict] = []
        for page in self._pages(self._api.jobs_api.list, f"reading the jobs of task {task_id}", task_id=task_id):
            out.extend(page)
        return out

    def labels(self, task_id: int) -> list[dict]:
        """All labels of a task (follows the ``next`` pages)."""
        out: list[dict] = []
        for page in self._pages(self._api.labels_api.list, f"reading the labels of task {task_id}", task_id=task_id):
            out.extend(page)
        return out

    def _pages(self, endpoint: Callable, what: str, **kwargs: Any) -> Iterator[list[dict]]:
        page = 1
        while True:
            body = self.get_json(endpoint, what, page=page, **kwargs)
            yield list(body.get("results", []))
            if not body.get("next"):
                return
            page += 1

    def frame(self, task_id: int, number: int) -> np.ndarray:
        """Task frame ``number`` at original quality: uint8 [H,W,3] RGB."""
        from PIL import Image

        what = f"downloading frame {number} of task {task_id}"
        response = self._call(self._api.tasks_api.retrieve_data, what, task_id, type="frame", number=number, quality="original")
        try:
            with Image.open(io.BytesIO(response.data)) as img:
                return np.asarray(img.convert("RGB"), dtype=np.uint8)
        except Exception as exc:  # noqa: BLE001
            raise CvatError(f"frame {number} of task {task_id} is not a readable image ({type(exc).__name__})") from None

    def annotations(self, task_id: int) -> dict:
        """``{"shapes": [...], "tracks": [...], "tags": [...]}`` as the server has them."""
        return self.get_json(self._api.tasks_api.retrieve_annotations, f"reading the annotations of task {task_id}", task_id)

    def job_annotations(self, job_id: int) -> dict:
        """One job's stored shapes (no merging across overlapping jobs): what a
        person sees in that job, and the re-read right before each upload batch."""
        return self.get_json(self._api.jobs_api.retrieve_annotations, f"reading the annotations of job {job_id}", job_id)

    def issues(self, task_id: int) -> list[dict]:
        """All issues of a task's jobs (paginated); the record of our masks lives in one."""
        out: list[dict] = []
        for page in self._pages(self._api.issues_api.list, f"reading the issues of task {task_id}", task_id=task_id):
            out.extend(page)
        return out

    def comments(self, issue_id: int) -> list[dict]:
        out: list[dict] = []
        for page in self._pages(self._api.comments_api.list, f"reading the comments of issue {issue_id}", issue_id=issue_id):
            out.extend(page)
        return out

    # -- writes ---------------------------------------------------------------
    def create_issue(self, job_id: int, frame: int, position: Sequence[float], message: str) -> dict:
        """A resolved issue (hidden in the UI's default view) whose first comment is ``message``."""
        from cvat_sdk import models

        request = models.IssueWriteRequest(frame=frame, position=[float(p) for p in position], job=job_id, message=message,
                                           resolved=True)
        response = self._call(self._api.issues_api.create, f"creating the tam-label record in job {job_id}",
                              idempotent=False, issue_write_request=request)
        return json.loads(response.data or b"null")

    def delete_issue(self, issue_id: int) -> None:
        self._call(self._api.issues_api.destroy, f"removing duplicate record issue {issue_id}", issue_id, idempotent=False)

    def create_comment(self, issue_id: int, message: str) -> dict:
        from cvat_sdk import models

        response = self._call(self._api.comments_api.create, f"writing a comment on issue {issue_id}", idempotent=False,
                              comment_write_request=models.CommentWriteRequest(issue=issue_id, message=message))
        return json.loads(response.data or b"null")

    def update_comment(self, comment_id: int, message: str) -> dict:
        from cvat_sdk import models

        response = self._call(self._api.comments_api.partial_update, f"updating comment {comment_id}", comment_id,
                              patched_comment_write_request=models.PatchedCommentWriteRequest(message=message))
        return json.loads(response.data or b"null")

    def delete_comment(self, comment_id: int) -> None:
        self._call(self._api.comments_api.destroy, f"removing comment {comment_id}", comment_id, idempotent=False)

    def create_shapes(self, job_id: int, shapes: Sequence[dict]) -> list[dict]:
        """PATCH /api/jobs/{job_id}/annotations action=create: stored once, in
        that job (the server does not check that the frames lie in the job: the
        caller must). Returns the created shapes with their new ids."""
        if not shapes:
            return []
        data = _patch_request(shapes)
        response = self._call(
            self._api.jobs_api.partial_update_annotations, f"uploading {len(shapes)} masks to job {job_id}",
            idempotent=False, action="create", id=job_id, patched_labeled_data_request=data,
        )
        return list((json.loads(response.data or b"null") or {}).get("shapes", []))

    def delete_shapes(self, task_id: int, shapes: Sequence[dict]) -> None:
        """Task-level PATCH action=delete of exactly these shapes (as read from
        the server: the frame routes each id to the jobs holding that frame, and
        each job deletes the id only if it stores it)."""
        ids = [s.get("id") for s in shapes]
        if not ids or any(not isinstance(i, int) for i in ids):
            # An empty or id-less list must never reach the server (it could mean "everything").
            raise CvatError("internal error: refusing to send a delete without explicit shape ids")
        self._call(
            self._api.tasks_api.partial_update_annotations, f"replacing {len(ids)} earlier masks in task {task_id}",
            idempotent=False, action="delete", id=task_id, patched_labeled_data_request=_patch_request(shapes),
        )


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> dict:
    """``GET {url}/api/server/about`` once, without retries: the server's
    self-description, or :class:`CvatUnreachableError` saying what to fix."""
    import urllib3

    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout))
    fix = "check the host, port and scheme (http:// or https://)"
    try:
        response = http.request("GET", f"{url}/api/server/about", headers={"Accept": "application/vnd.cvat+json"})  # CVAT answers 406 to application/json
    except urllib3.exceptions.SSLError as exc:
        raise CvatUnreachableError(
            f"cannot reach CVAT at {url}: the TLS handshake failed ({_reason(exc)}); if the server speaks plain HTTP use http://"
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise CvatUnreachableError(f"cannot reach CVAT at {url} ({_reason(exc)}): {fix}") from None
    finally:
        http.clear()
    try:
        about = json.loads(response.data)
    except ValueError:
        about = None
    if response.status != 200 or not isinstance(about, dict) or "version" not in about:
        raise CvatUnreachableError(f"{url} answered HTTP {response.status} but not as a CVAT server (no /api/server/about): {fix}")
    return about


def _no_urllib3_retries(api_client) -> None:
    """Turn off the SDK's urllib3 retries (3 per request, each logged as a
    "Retrying ..." warning): :meth:`CvatConnection._call` retries instead.
    Pools are made on the first request, so this holds for all of them."""
    import urllib3

    pool = api_client.rest_client.pool_manager
    pool.connection_pool_kw["retries"] = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5)
    pool.clear()


def _refused(exc: BaseException) -> bool:
    """The connection could not be opened: the request never reached the server."""
    import urllib3

    inner = getattr(exc, "reason", None) or exc
    return isinstance(inner, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError))


def _failure(exc: BaseException) -> str:
    """A few words for a failed request: ``HTTP 502``, ``connection refused``."""
    status = getattr(exc, "status", None)
    return f"HTTP {status}" if status is not None else _reason(exc)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a urllib3 error, in a few words."""
    inner = getattr(exc, "reason", None) or exc
    text = " ".join(str(inner).split())
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection dropped"
    for marker in ("Connection refused", "Name or service not known", "nodename nor servname", "timed out",
                   "WRONG_VERSION_NUMBER", "wrong version number", "CERTIFICATE_VERIFY_FAILED", "Connection reset"):
        if marker.lower() in text.lower():
            return marker.lower().replace("_", " ")
    return f"{type(inner).__name__}: {text[:120]}"


def parse_version(about: dict) -> tuple[int, int, int]:
    """``/api/server/about``'s version as (major, minor, patch); refuses pre-2.4 servers."""
    from packaging.version import InvalidVersion, Version

    text = str(about.get("version", ""))
    try:
        v = Version(text)
    except InvalidVersion:
        log.warning("CVAT server reports an unparsable version %r; assuming 2.x", text)
        return (2, 99, 0)
    ver = (v.major, v.minor, v.micro)
    if ver[:2] < MIN_SERVER:
        raise CvatError(f"CVAT server {text} is too old: mask shapes need CVAT {MIN_SERVER[0]}.{MIN_SERVER[1]} or newer")
    if v.major >= 3:
        log.warning("CVAT server %s is newer than the 2.x API this tool was tested with", text)
    return ver


def _patch_request(shapes: Sequence[dict]):
    from cvat_sdk import models

    return models.PatchedLabeledDataRequest(shapes=[_shape_request(s) for s in shapes], tracks=[], tags=[])


def _shape_request(shape: dict):
    """A plain shape dict -> the SDK's request model (only fields every 2.x server knows)."""
    from cvat_sdk import models

    fields = {k: shape[k] for k in _SHAPE_FIELDS if k in shape and shape[k] is not None}
    fields.setdefault("attributes", [])
    fields["attributes"] = [models.AttributeValRequest(spec_id=a["spec_id"], value=str(a["value"])) for a in fields["attributes"]]
    fields["elements"] = []
    fields["points"] = [float(p) for p in fields.get("points", [])]
    return models.LabeledShapeRequest(**fields)
