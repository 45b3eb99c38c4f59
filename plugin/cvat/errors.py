"""Errors of the CVAT integration, each with a one-line actionable message."""

from tam_core.errors import TamError


class CvatError(TamError):
    """Something about the CVAT server or task stops the run."""


class CvatAuthError(CvatError):
    """The server refused the credentials (or none were given)."""


class CvatConnectionError(CvatError):
    """The server could not be reached, dropped the connection or failed (5xx)."""
