"""Official checkpoints: registry, cache folder and verified download.

``resolve_checkpoint("sam_vit_b")`` returns the cached file, downloading it
first when needed; ``resolve_checkpoint("/path/to/own.pth")`` returns that path
unchanged (fine-tuned or pre-downloaded weights are the user's business).

Cache folder: ``cache_dir`` argument (CLI ``--cache-dir``), else
``$TAM_LABEL_CACHE``, else ``$XDG_CACHE_HOME/tam-label`` (``~/.cache/tam-label``;
``%LOCALAPPDATA%\\tam-label`` on Windows).

Integrity: a download goes to ``<file>.part`` and is renamed into place only
after its size and SHA-256 match, so a file with the final name is complete. An
interrupted download keeps its ``.part`` and the next attempt resumes it with an
HTTP Range request. A verified file gets a ``<file>.verified`` note (size, mtime,
hash) so later runs skip re-hashing gigabytes; ``tam-label weights verify``
always re-hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

from tam_core.errors import CheckpointError
from tam_core.weights.registry import Checkpoint, get_checkpoint

CACHE_ENV = "TAM_LABEL_CACHE"
_CHUNK = 1 << 20


# -- cache ---------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$TAM_LABEL_CACHE``, else the platform's user cache folder + ``tam-label``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tam-label"


def cached_path(ckpt: Checkpoint | str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``ckpt`` lives (or will live) in the cache; it may not exist yet."""
    ckpt = get_checkpoint(ckpt) if isinstance(ckpt, str) else ckpt
    return Path(cache_dir).expanduser() / ckpt.filename if cache_dir else default_cache_dir() / ckpt.filename


# -- verification ----------------------------------------------------------------------
def sha256_file(path: Path, progress: bool = False) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    from tqdm import tqdm

    digest = hashlib.sha256()
    with open(path, "rb") as f, tqdm(
        total=path.stat().st_size, unit="B", unit_scale=True, desc=f"sha256 {path.name}", disable=not progress, leave=False
    ) as bar:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _check_structure(ckpt: Checkpoint, path: Path) -> None:
    """Cheap completeness check for files without a known size/hash.

    torch.save writes a zip archive whose directory sits at the very end, so a
    cut-off file is not a valid zip; the legacy pickle format starts with 0x80.
    """
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            raise CheckpointError(
                f"{path} is truncated or corrupt (incomplete zip archive); delete it and run "
                f"`tam-label weights download {ckpt.name}` again"
            )
    elif not head.startswith(b"\x80"):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint; delete it and download {ckpt.name} again")


def verify_checkpoint(
    ckpt: Checkpoint | str,
    path: str | os.PathLike,
    full_hash: bool = True,
    progress: bool = False,
) -> Path:
    """Check that ``path`` is the complete, intact ``ckpt``; return the path.

    Checks the size (when known), then the SHA-256 (when known and ``full_hash``;
    for weights we record no digest of, the one the server published at
    download, kept in the file's note), else the archive structure. Raises :class:`CheckpointError` saying what is wrong
    and to delete and re-download the file.
    """
    ckpt = get_checkpoint(ckpt) if isinstance(ckpt, str) else ckpt
    path = Path(path)
    if not ckpt.sha256 and published_digest(path):  # the digest the server published when we downloaded it
        ckpt = replace(ckpt, sha256=published_digest(path))
    if not path.is_file():
        raise CheckpointError(f"checkpoint {ckpt.name} not found at {path}; run `tam-label weights download {ckpt.name}`")
    size = path.stat().st_size
    if ckpt.size is not None and size != ckpt.size:
        kind = "truncated" if size < ckpt.size else "too large"
        raise CheckpointError(
            f"{path} is {kind} ({size} of {ckpt.size} bytes); delete it and run "
            f"`tam-label weights download {ckpt.name}` again"
        )
    if ckpt.sha256 and full_hash:
        actual = sha256_file(path, progress=progress)
        if actual != ckpt.sha256:
            raise CheckpointError(
                f"{path} has SHA-256 {actual[:12]}..., expected {ckpt.sha256[:12]}... for {ckpt.name} "
                f"(corrupt or a different file); delete it and run `tam-label weights download {ckpt.name}` again"
            )
        write_note(path, actual, published=_note(path).get("published", False))
    elif not ckpt.sha256:
        _check_structure(ckpt, path)
        if ckpt.family == "xmem":
            _check_xmem(ckpt, path)
    return path


_XMEM_OVERHEAD = 4 << 20  # container + pickle bytes beyond the tensors (seeded file: 122 kB)


def _check_xmem(ckpt: Checkpoint, path: Path) -> None:
    """XMem-s012 has no published hash or exact size: check that the file's size
    fits XMem's tensors (62.2 M values, 248.9 MB) and its keys and shapes are XMem's."""
    import torch

    from tam_core.trackers.xmem.network import XMemNetwork, check_state_dict

    with torch.device("meta"):  # the layout without allocating or initialising weights
        net = XMemNetwork()
    data = sum(v.numel() * v.element_size() for v in net.state_dict().values())
    size = path.stat().st_size
    if not data <= size <= data + _XMEM_OVERHEAD:
        kind = "truncated" if size < data else "too large"
        raise CheckpointError(
            f"{path} is {kind} for an XMem checkpoint ({size} bytes; XMem's weights alone are {data}); delete it "
            f"and run `tam-label weights download {ckpt.name}` again")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise CheckpointError(f"{path} cannot be read as a PyTorch checkpoint ({type(exc).__name__}); delete it "
                              f"and run `tam-label weights download {ckpt.name}` again") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not XMem's weights; delete it and run "
                              f"`tam-label weights download {ckpt.name}` again")
    check_state_dict(net, state, str(path))


def note_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def write_note(path: Path, sha256: str, published: bool = False) -> None:
    """Remember that ``path`` (this size and mtime) hashed to ``sha256``;
    ``published``: the digest is the one the server published at download (the
    Hugging Face Hub's ``X-Linked-Etag``), the only one known for the file."""
    st = path.stat()
    note = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256, "published": bool(published)}
    try:
        note_path(path).write_text(json.dumps(note))
    except OSError:
        pass  # a read-only cache still works, it just re-hashes


def _note(path: Path) -> dict:
    try:
        return json.loads(note_path(path).read_text())
    except (OSError, ValueError):
        return {}


def published_digest(path: Path) -> str | None:
    """The SHA-256 the server published for ``path`` when it was downloaded, or None."""
    note = _note(path)
    return note.get("sha256") if note.get("published") else None


def verified_before(ckpt: Checkpoint, path: Path) -> bool:
    """True when the note says this exact file (size, mtime) already hashed right."""
    note = _note(path)
    try:
        st = path.stat()
    except OSError:
        return False
    return bool(note) and note.get("sha256") == (ckpt.sha256 or published_digest(path)) and note.get("size") == st.st_size and note.get("mtime_ns") == st.st_mtime_ns
