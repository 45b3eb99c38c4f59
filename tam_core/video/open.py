"""``open_video``: a video file, a folder of frames or an array as a lazy ``Video``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tam_core.errors import VideoError
from tam_core.video.file import FileVideo
from tam_core.video.reader import ArrayVideo, FolderVideo, Video, VideoOptions


def open_video(src: str | os.PathLike | np.ndarray, fps: float | None = None, options: VideoOptions = VideoOptions()) -> Video:
    """Open ``src`` as a lazy :class:`Video`.

    src: a video file path (mp4/mov/avi/webm/mkv), a folder of JPEG/PNG frames
    (sorted by file name; all the same size), or a numpy array uint8 [T,H,W,3].
    fps: frame rate to report for folders and arrays (files report their own).
    Raises :class:`VideoError` with a one-line reason when it cannot be opened.
    """
    if isinstance(src, np.ndarray):
        return ArrayVideo(src, fps=fps, options=options)
    if not isinstance(src, (str, os.PathLike)):
        raise VideoError(
            f"cannot open {type(src).__name__} as a video: pass a file path, a folder of frames or a uint8 [T,H,W,3] array"
        )
    path = Path(src).expanduser()
    if not path.exists():
        raise VideoError(f"video path does not exist: {path}")
    if path.is_dir():
        return FolderVideo(path, fps=fps, options=options)
    if path.stat().st_size == 0:
        raise VideoError(f"video file {path} is empty")
    return FileVideo(path, options=options)
