"""Verified, resumable download of an official checkpoint into the cache
(``tam_core.weights.download_checkpoint``; split out of ``weights`` to keep
each module small). A download goes to ``<file>.part``, resumes with an HTTP
Range request, and is renamed into place only once verified.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from tam_core.errors import CheckpointError, WeightsUnavailableError
from tam_core.weights.cache import cached_path, note_path, verify_checkpoint, write_note
from tam_core.weights.registry import Checkpoint, get_checkpoint

def _unavailable(ckpt: Checkpoint, dest: Path, reason: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"cannot download {ckpt.filename} from {ckpt.url} ({reason}); download it yourself and put it at "
        f"{dest}, or pass a local file with {ckpt.flag} PATH"
    )


def download_checkpoint(
    ckpt: Checkpoint | str,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download ``ckpt`` into the cache (resuming a ``.part``), verify it, and
    atomically move it into place. Returns the final path.

    Raises :class:`WeightsUnavailableError` for network problems (offline, HTTP
    errors, interrupted transfer) and :class:`CheckpointError` when the data
    arrives but does not match the recorded size/hash (the ``.part`` is deleted).
    """
    import requests
    from tqdm import tqdm

    ckpt = get_checkpoint(ckpt) if isinstance(ckpt, str) else ckpt
    recorded = ckpt.sha256
    dest = cached_path(ckpt, cache_dir)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create the cache folder {dest.parent}: {exc}; pass --cache-dir DIR") from None
    part = dest.with_name(dest.name + ".part")
    with _lock(dest):
        if dest.is_file():  # another process finished it while we waited
            return verify_checkpoint(ckpt, dest)
        offset = part.stat().st_size if part.is_file() else 0
        if ckpt.size is not None and offset > ckpt.size:
            part.unlink()
            offset = 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = requests.get(ckpt.url, stream=True, timeout=timeout, headers=headers)
        except requests.RequestException as exc:
            raise _unavailable(ckpt, dest, _short_reason(exc)) from None
        # Files on the Hugging Face Hub carry the SHA-256 and size the Hub
        # published for them (LFS) on the redirect: use them when we recorded none.
        ckpt = _with_published_digest(ckpt, response)
        with response:
            if offset and response.status_code == 416:  # .part already complete (or bogus)
                pass
            elif response.status_code not in (200, 206):
                raise _unavailable(ckpt, dest, f"HTTP {response.status_code}")
            else:
                if response.status_code == 200:
                    offset = 0  # server ignored the Range: start over
                total = ckpt.size or (offset + int(response.headers.get("Content-Length", 0)) or None)
                try:
                    with open(part, "ab" if offset else "wb") as f, tqdm(
                        total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                        desc=ckpt.filename, disable=not progress,
                    ) as bar:
                        for chunk in response.iter_content(chunk_size=64 * 1024):  # small: an interruption loses little
                            f.write(chunk)
                            bar.update(len(chunk))
                except requests.RequestException as exc:
                    got = part.stat().st_size if part.exists() else 0
                    raise WeightsUnavailableError(
                        f"download of {ckpt.filename} from {ckpt.url} was interrupted after {got} bytes "
                        f"({_short_reason(exc)}); run the same command again to resume, or put the file at {dest}"
                    ) from None
        got = part.stat().st_size if part.exists() else 0
        if ckpt.size is not None and got < ckpt.size:
            raise WeightsUnavailableError(
                f"download of {ckpt.filename} from {ckpt.url} stopped after {got} of {ckpt.size} bytes; "
                f"run the same command again to resume, or put the file at {dest}"
            )
        try:
            verify_checkpoint(ckpt, part)
        except CheckpointError as exc:
            part.unlink(missing_ok=True)
            note_path(part).unlink(missing_ok=True)
            detail = "SHA-256 mismatch" if "SHA-256" in str(exc) else "size or format mismatch"
            raise CheckpointError(
                f"downloaded {ckpt.filename} from {ckpt.url} is not the expected file ({detail}) and was deleted; "
                f"run the command again, or fetch the file yourself and put it at {dest}"
            ) from None
        os.replace(part, dest)  # atomic: the final name only ever holds a verified file
        note_path(part).unlink(missing_ok=True)
        if ckpt.sha256:
            write_note(dest, ckpt.sha256, published=ckpt.sha256 != recorded)
    return dest


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _with_published_digest(ckpt: Checkpoint, response) -> Checkpoint:
    """``ckpt`` with the Hub's ``X-Linked-Etag`` (SHA-256) / ``X-Linked-Size``
    filled in where we recorded none (they are on the Hub's redirect response)."""
    if ckpt.sha256 and ckpt.size:
        return ckpt
    for r in [*getattr(response, "history", []), response]:
        etag = str(r.headers.get("X-Linked-Etag", "")).strip('"W/ ').lower()
        if _SHA256.fullmatch(etag):
            size = r.headers.get("X-Linked-Size", "")
            return replace(ckpt, sha256=ckpt.sha256 or etag,
                           size=ckpt.size or (int(size) if size.isdigit() else None))
    return ckpt


def _short_reason(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "refused" in text:
            return "connection refused"
        if "Name or service not known" in text or "getaddrinfo" in text or "resolve" in text:
            return "no network: host name cannot be resolved"
        if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "IncompleteRead" in text:
            return "connection closed early"
        return "no network connection"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection closed early"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


class _lock:
    """An exclusive lock file next to ``dest`` so two processes never write the
    same ``.part`` (POSIX flock; no-op where unavailable)."""

    def __init__(self, dest: Path):
        self._path = dest.with_name(dest.name + ".lock")
        self._fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # Windows: no cross-process lock
            return self
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)  # releases the flock; the empty lock file is harmless
            self._fd = None
