"""Whether a CVAT server can host the native functions ``tam-label cvat agent``
serves, asked before cvat-cli or any model is loaded.

Native (agent-based) functions live under ``/api/functions`` on CVAT Online
and Enterprise. A community server has no such endpoint (CVAT 2.23.1 answers
404 to any ``/api/functions`` path, signed in or not) and cvat-cli 2.80
cannot even parse 2.23's ``/api/server/about``: without this check the user
gets cvat-cli's 55-line traceback instead of the way forward.
"""

from __future__ import annotations

import base64

from .client import PROBE_TIMEOUT, probe
from .credentials import Credentials
from .errors import CvatError, CvatUnreachableError
from .server import check_url


class NoFunctionsError(CvatError):
    """The server has no native functions (a community edition)."""


def require_functions(server: str, credentials: Credentials) -> dict:
    """``/api/server/about`` of ``server`` if it has ``/api/functions``; else
    :class:`NoFunctionsError` naming the version and pointing to track/fix."""
    import urllib3

    url = check_url(server)
    about = probe(url)
    version = str(about.get("version", "?"))
    headers = {"Accept": "application/vnd.cvat+json"}
    if credentials.token:
        headers["Authorization"] = f"Bearer {credentials.token}"
    elif credentials.username:
        pair = f"{credentials.username}:{credentials.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=PROBE_TIMEOUT, read=PROBE_TIMEOUT))
    try:
        status = http.request("GET", f"{url}/api/functions", headers=headers).status
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise CvatUnreachableError(f"cannot reach CVAT at {url} ({type(exc).__name__}) while asking for /api/functions") from None
    finally:
        http.clear()
    if status == 404:
        raise NoFunctionsError(
            f"CVAT {version} at {url} is a community (self-hosted) edition without native functions "
            "(no /api/functions; they need CVAT Online or Enterprise), so `tam-label cvat agent` cannot serve it: "
            f"pre-annotate with `tam-label cvat track --server {url} --task ID` and re-track after edits with "
            "`tam-label cvat fix` (README, \"CVAT\")"
        )
    return about
