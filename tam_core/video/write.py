"""``write_video``: frames to an H.264 mp4 the FiftyOne App can play."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from tam_core.errors import VideoError


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    codec: str = "libx264",
    crf: int = 18,
    keyframe_interval: int | None = None,
) -> int:
    """Write uint8 [H,W,3] RGB frames to an H.264 (yuv420p) mp4 the FiftyOne App can play.

    Width and height must be even (yuv420p). ``keyframe_interval`` sets the GOP
    length (encoder default when None). Returns the number of frames written;
    a failed write removes the partial file.
    """
    import av

    path = Path(path)
    if fps <= 0:
        raise VideoError(f"fps must be positive, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    count = 0
    try:
        with av.open(str(path), mode="w", options={"movflags": "+faststart"} if path.suffix.lower() in (".mp4", ".mov", ".m4v") else {}) as container:
            stream = None
            for frame in frames:
                arr = np.asarray(frame)
                if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
                    raise VideoError(f"frame {count} must be uint8 [H,W,3] RGB, got {arr.dtype} {tuple(arr.shape)}")
                if stream is None:
                    h, w = arr.shape[:2]
                    if h % 2 or w % 2:
                        raise VideoError(f"H.264 yuv420p needs even frame sizes, got {w}x{h}; crop or pad by one pixel")
                    stream = container.add_stream(codec, rate=rate)
                    stream.width, stream.height = w, h
                    stream.pix_fmt = "yuv420p"
                    if codec in ("libx264", "h264"):
                        stream.options = {"crf": str(crf)}
                    if keyframe_interval:
                        stream.codec_context.gop_size = int(keyframe_interval)
                elif arr.shape[:2] != (stream.height, stream.width):
                    raise VideoError(f"frame {count} is {arr.shape[1]}x{arr.shape[0]}, expected {stream.width}x{stream.height}")
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise VideoError(f"no frames to write to {path}")
            for packet in stream.encode():
                container.mux(packet)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return count
