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
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .errors import CheckpointError, WeightsUnavailableError

CACHE_ENV = "TAM_LABEL_CACHE"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Checkpoint:
    """One downloadable checkpoint.

    size: bytes (None when not published); sha256: full hex digest (None when not
    published). family: "sam" or "xmem"; model_type: the segment_anything
    registry key ("vit_b", ...) for SAM.
    """

    name: str
    filename: str
    url: str
    family: str
    size: int | None = None
    sha256: str | None = None
    model_type: str | None = None

    @property
    def flag(self) -> str:
        """The command-line flag that takes a local file instead of this download."""
        return f"--{self.family}-checkpoint"


# SHA-256 digests: not published by Meta; these are the values recorded
# independently by micro-sam (computational-cell-analytics/micro-sam,
# micro_sam/util.py, checksum registry for "vit_h"/"vit_l"/"vit_b") and by many
# other download scripts with identical digests. Note that the hex in the file
# names (4b8939, ...) is *not* a prefix of the SHA-256 (vit_h is a7bf3b02...),
# so it is not checked. Sizes: vit_h and vit_b match published download
# manifests (2564550879, 375042383 bytes); vit_l is the project's recorded size.
# XMem-s012.pth: no published digest or exact size was found (about 249 MB); it is
# checked structurally instead (see _check_structure).
REGISTRY: Mapping[str, Checkpoint] = {
    c.name: c
    for c in (
        Checkpoint(
            name="sam_vit_h",
            filename="sam_vit_h_4b8939.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
            family="sam",
            size=2564550879,
            sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            model_type="vit_h",
        ),
        Checkpoint(
            name="sam_vit_l",
            filename="sam_vit_l_0b3195.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
            family="sam",
            size=1249524607,
            sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            model_type="vit_l",
        ),
        Checkpoint(
            name="sam_vit_b",
            filename="sam_vit_b_01ec64.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
            family="sam",
            size=375042383,
            sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            model_type="vit_b",
        ),
        Checkpoint(
            name="xmem",
            filename="XMem-s012.pth",
            url="https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem-s012.pth",
            family="xmem",
        ),
    )
}


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


def get_checkpoint(name: str, registry: Mapping[str, Checkpoint] | None = None) -> Checkpoint:
    """The registry entry ``name``; :class:`CheckpointError` listing the names otherwise."""
    registry = REGISTRY if registry is None else registry
    try:
        return registry[name]
    except KeyError:
        raise CheckpointError(
            f"unknown checkpoint {name!r}: use one of {', '.join(sorted(registry))} or a path to a .pth file"
        ) from None


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

    Checks the size (when known), then the SHA-256 (when known and ``full_hash``),
    else the archive structure. Raises :class:`CheckpointError` saying what is wrong
    and to delete and re-download the file.
    """
    ckpt = get_checkpoint(ckpt) if isinstance(ckpt, str) else ckpt
    path = Path(path)
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
        _write_note(path, actual)
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

    from .xmem.network import XMemNetwork, check_state_dict

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


def _note_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _write_note(path: Path, sha256: str) -> None:
    st = path.stat()
    try:
        _note_path(path).write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}))
    except OSError:
        pass  # a read-only cache still works, it just re-hashes


def _verified_before(ckpt: Checkpoint, path: Path) -> bool:
    """True when the note says this exact file (size, mtime) already hashed right."""
    try:
        note = json.loads(_note_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return note.get("sha256") == ckpt.sha256 and note.get("size") == st.st_size and note.get("mtime_ns") == st.st_mtime_ns


# -- resolve -------------------------------------------------------------------------
def _looks_like_path(text: str) -> bool:
    return (
        os.sep in text
        or "/" in text
        or text.startswith(("~", "."))
        or text.lower().endswith((".pth", ".pt", ".ckpt", ".bin", ".safetensors"))
    )


def resolve_checkpoint(
    name_or_path: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
    registry: Mapping[str, Checkpoint] | None = None,
) -> Path:
    """Turn a registry name or a local path into the path of a checkpoint file.

    An existing file is returned as is (not verified: it may be fine-tuned). A
    registry name gives the cached file when present and verified (the full
    SHA-256 is computed once per file and remembered), else it is downloaded
    (when ``download``). Raises :class:`CheckpointError` for a missing path or an
    unknown name, :class:`WeightsUnavailableError` when offline.
    """
    registry = REGISTRY if registry is None else registry
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise CheckpointError(f"checkpoint path {path} is a folder; pass the .pth file inside it")
    if isinstance(name_or_path, os.PathLike) or (_looks_like_path(text) and text not in registry):
        raise CheckpointError(
            f"checkpoint file not found: {path}; check the path or use a name ({', '.join(sorted(registry))})"
        )
    ckpt = get_checkpoint(text, registry)
    dest = cached_path(ckpt, cache_dir)
    if dest.is_file():
        if ckpt.sha256 and _verified_before(ckpt, dest):
            return verify_checkpoint(ckpt, dest, full_hash=False)
        return verify_checkpoint(ckpt, dest, progress=progress)
    if not download:
        raise WeightsUnavailableError(
            f"{ckpt.filename} is not in the cache ({dest}); run `tam-label weights download {ckpt.name}`, "
            f"put the file there, or pass a local file with {ckpt.flag} PATH"
        )
    return download_checkpoint(ckpt, cache_dir=cache_dir, progress=progress)


from .download import download_checkpoint  # noqa: E402  (re-exported; it uses the helpers above)
