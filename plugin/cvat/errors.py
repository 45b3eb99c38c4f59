"""Errors of the CVAT integration, each with a one-line actionable message."""

from tam_core.errors import TamError


class CvatError(TamError):
    """Something about the CVAT server or task stops the run."""


class CvatAuthError(CvatError):
    """The server refused the credentials (or none were given, or the kind of
    credentials does not exist on that server's version)."""


class CvatUnreachableError(CvatError):
    """At start: nothing answers at the URL as a CVAT server (wrong host, port or
    scheme, DNS, TLS). Nothing was read or changed; fix the URL."""


class CvatConnectionError(CvatError):
    """Mid-run: the server dropped the connection or failed (5xx). Everything
    already sent is recorded; re-running the same command resumes."""


class CvatLockedError(CvatError):
    """Another run is working on the same task (its holder is in the message)."""
