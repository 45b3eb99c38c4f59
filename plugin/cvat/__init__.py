"""CVAT integration: pre-annotate a task from a few clicks, fix and re-track.

Python API (cvat-sdk is imported only when a connection is made)::

    from plugin.cvat import CvatOptions, connect, track_task, fix_task
    with connect("https://cvat.example.com") as conn:     # credentials from the environment
        report = track_task(conn, task_id=12, models=models)
        ...                                              # a person corrects some frames in CVAT
        report = fix_task(conn, task_id=12, models=models)

See README "Pre-annotate a CVAT task" for the prompt convention and docs/cvat.md
for the endpoints used.
"""

from .credentials import Credentials, credentials_from_env
from .errors import CvatAuthError, CvatConnectionError, CvatError

__all__ = [
    "Credentials", "credentials_from_env", "CvatError", "CvatAuthError", "CvatConnectionError",
    "connect", "CvatOptions", "CvatRunReport", "track_task", "fix_task",
]


def connect(server: str, credentials: Credentials | None = None, **kwargs):
    """An authenticated :class:`~plugin.cvat.client.CvatConnection` (credentials
    from the environment / a password prompt when not given)."""
    from .client import CvatConnection

    return CvatConnection(server, credentials or credentials_from_env(), **kwargs)


def __getattr__(name):  # the run API pulls in operators/ (and numpy-heavy code) on first use
    if name in ("CvatOptions", "CvatRunReport", "track_task", "fix_task"):
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
