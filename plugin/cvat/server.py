"""Which CVAT server a URL names: the URL check at start, and the identity that
the record of our uploads and the per-task lock are keyed by.

The same server is often spelled differently (``http://localhost:8080``,
``http://127.0.0.1:8080/``, ``HTTP://LOCALHOST:8080``); :func:`normalise_url`
maps all spellings of one address to one string, and :class:`ServerIdentity`
adds what the server says about itself (``GET /api/server/about``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from tam_core.errors import ConfigError

SCHEMES = ("http", "https")
_DEFAULT_PORT = {"http": 80, "https": 443}
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def check_url(url: str) -> str:
    """The URL to connect to (scheme lower-cased, trailing ``/`` removed); ConfigError for a URL
    without an http(s) scheme or host (never guess https)."""
    text = (url or "").strip()
    if "://" not in text:
        raise ConfigError(
            f"CVAT server URL {text!r} has no scheme: write http://{text} (or https://{text} if the server uses TLS)"
        )
    parts = urlsplit(text)
    if parts.scheme.lower() not in SCHEMES:
        raise ConfigError(f"CVAT server URL {text!r} has scheme {parts.scheme!r}: use http:// or https://")
    if not parts.hostname:
        raise ConfigError(f"CVAT server URL {text!r} has no host name, e.g. http://localhost:8080")
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"CVAT server URL {text!r} has an invalid port") from None
    if parts.query or parts.fragment:
        raise ConfigError(f"CVAT server URL {text!r} must not have a query or fragment: give the server's base URL")
    return (parts.scheme.lower() + text[len(parts.scheme):]).rstrip("/")


def normalise_url(url: str) -> str:
    """One spelling per address: lower-case scheme and host, loopback names and
    addresses as ``127.0.0.1``, no default port, no trailing ``/``."""
    parts = urlsplit(check_url(url))
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower().rstrip(".")
    if _is_loopback(host):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORT[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerIdentity:
    """url: :func:`normalise_url` of the URL used; name / version: from
    ``/api/server/about``. ``key`` names the record and lock files; it leaves
    out the version so that upgrading the server keeps the record."""

    url: str
    name: str
    version: str

    @property
    def key(self) -> str:
        return hashlib.sha1(f"{self.url}|{self.name}".encode()).hexdigest()[:12]
