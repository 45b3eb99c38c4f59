"""Content fingerprints of inputs: the same bytes give the same digest whatever
path spells them; different bytes give a different one.

- A file up to ``WHOLE_FILE_LIMIT`` bytes is hashed whole (BLAKE2b; ~1 GB/s).
- A larger file: its size, modification time and ``SAMPLES`` evenly spaced
  1 MiB blocks (always including the first and the last). A video edited in
  place keeps neither its mtime nor, in practice, its sampled blocks; a copy
  of the same file (new mtime) is hashed anew and simply starts over.
- A folder of frames: every frame file's name, size and whole-file hash, in
  the order the video reads them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

import numpy as np

WHOLE_FILE_LIMIT = 1 << 30  # 1 GiB
SAMPLES = 64
_BLOCK = 1 << 20


def file_digest(path: str | os.PathLike, whole_file_limit: int = WHOLE_FILE_LIMIT) -> str:
    """Hex digest (32 chars) of a file's content, fast for large files (see module doc)."""
    path = Path(path)
    st = path.stat()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"size={st.st_size}".encode())
    with open(path, "rb") as f:
        if st.st_size <= whole_file_limit:
            for chunk in iter(lambda: f.read(_BLOCK), b""):
                h.update(chunk)
        else:
            h.update(f"mtime_ns={st.st_mtime_ns}".encode())
            last = st.st_size - _BLOCK
            for i in range(SAMPLES):
                f.seek(last * i // (SAMPLES - 1))
                h.update(f.read(_BLOCK))
    return h.hexdigest()


def files_digest(files: Iterable[str | os.PathLike]) -> str:
    """Hex digest of an ordered list of files: names, sizes and contents."""
    h = hashlib.blake2b(digest_size=16)
    for p in files:
        p = Path(p)
        h.update(f"{p.name}\0{p.stat().st_size}\0{file_digest(p)}\n".encode())
    return h.hexdigest()


def video_fingerprint(video: object) -> str:
    """Digest of what a :class:`tam_core.video.Video` reads: a frame folder's
    files (``files``), a video file's content (``path``), or else the decoded
    pixels of every frame (in-memory sources). Raises TypeError for anything else."""
    files = getattr(video, "files", None)
    if files is not None:
        return "frames:" + files_digest(files)
    path = getattr(video, "path", None)
    if path is not None and Path(path).is_file():
        return "file:" + file_digest(path)
    if hasattr(video, "iter_frames") and hasattr(video, "num_frames"):  # in memory: hash the pixels
        h = hashlib.blake2b(digest_size=16)
        for _, frame in video.iter_frames(0, int(video.num_frames)):
            h.update(memoryview(np.ascontiguousarray(frame)).cast("B"))
        return "pixels:" + h.hexdigest()
    raise TypeError(f"cannot fingerprint {type(video).__name__}: give a video file, a frame folder or a FrameSource")

__all__ = ["file_digest", "files_digest", "video_fingerprint"]
