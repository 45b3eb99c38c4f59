"""Where CVAT credentials come from: the environment, else a password prompt.

They are held only in this object (``repr`` hides them) and handed to the SDK;
nothing here prints or logs them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Mapping

from .errors import CvatAuthError


@dataclass(frozen=True)
class Credentials:
    """Either ``username`` + ``password`` (session login) or ``token`` (a
    personal access token, sent as ``Authorization: Bearer``)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.token and not (self.username and self.password):
            raise CvatAuthError("CVAT credentials are incomplete: set CVAT_USERNAME and CVAT_PASSWORD, or CVAT_ACCESS_TOKEN")

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in output (used by redaction)."""
        return tuple(s for s in (self.password, self.token) if s)


def credentials_from_env(
    env: Mapping[str, str] | None = None,
    username: str | None = None,
    interactive: bool | None = None,
    prompt: Callable[[str], str] | None = None,
) -> Credentials:
    """Read ``CVAT_ACCESS_TOKEN`` or ``CVAT_USERNAME``/``CVAT_PASSWORD``.

    username: overrides CVAT_USERNAME (e.g. ``--user``). When the password is
    missing and stdin is a terminal (``interactive``), ask for it with getpass.
    """
    env = os.environ if env is None else env
    token = env.get("CVAT_ACCESS_TOKEN") or None
    user = username or env.get("CVAT_USERNAME") or None
    password = env.get("CVAT_PASSWORD") or None
    if token and not username:
        return Credentials(token=token)
    if user and not password:
        if interactive is None:
            interactive = sys.stdin is not None and sys.stdin.isatty()
        if interactive:
            if prompt is None:
                import getpass

                prompt = getpass.getpass
            password = prompt(f"CVAT password for {user}: ") or None
    if not user or not password:
        raise CvatAuthError(
            "no CVAT credentials: set CVAT_USERNAME and CVAT_PASSWORD (or CVAT_ACCESS_TOKEN) in the environment"
        )
    return Credentials(username=user, password=password)
