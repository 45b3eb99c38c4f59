"""Video files decoded with PyAV (:class:`FileVideo`; open one with
``tam_core.video.open_video``, which documents the access model: a packet
index built at open time, seeks to the keyframe at or before a frame, reverse
iteration one keyframe interval at a time, rotation reported, not applied).
Split out of ``tam_core.video`` to keep each module small.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Iterator

import numpy as np

from tam_core.errors import VideoError
from tam_core.video.reader import Video, VideoOptions


class FileVideo(Video):
    """A video file decoded with PyAV; see the module docstring for the access model."""

    def __init__(self, path: Path, options: VideoOptions = VideoOptions()):
        import av

        self.path = path
        container = self._open()
        try:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else None
            pts, keyframes = self._index_packets(container, stream)
            declared = stream.frames  # 0 when the container does not record it (webm/mkv)
        except av.FFmpegError as exc:
            raise VideoError(f"cannot read video {path}: {exc}") from None
        finally:
            container.close()
        if not pts:
            raise VideoError(f"video {path} has zero frames")
        if declared and len(pts) < declared:
            # The sample table lists frames whose data is not in the file.
            raise VideoError(
                f"video {path} looks truncated: its header lists {declared} frames but only {len(pts)} "
                "are in the file; re-export or re-download it"
            )
        if not width or not height:
            raise VideoError(f"video {path} has no frame size in its header")
        super().__init__(len(pts), (height, width), fps, options)
        self._pts = pts  # presentation timestamps, sorted: frame i has pts[i]
        self._index_of = {p: i for i, p in enumerate(pts)}
        # Keyframe frame indices, sorted; frame 0 is always a valid start after a seek.
        self._keyframes = sorted({0} | {self._index_of[p] for p in keyframes})
        self._reader_pos: int | None = None  # index of the next frame the reader will yield
        self._reader_iter = None
        self._container = None  # opened on the first random access, reused for seeks
        self._rotation: int | None = None

    @property
    def rotation(self) -> int:
        if self._rotation is None:
            container = self._open()
            try:
                _, frame = next(self._decode_from(container, 0))
                self._rotation = int(round(getattr(frame, "rotation", 0) or 0))
            finally:
                container.close()
        return self._rotation

    def _open(self):
        import av

        try:
            container = av.open(str(self.path))
        except av.FFmpegError as exc:
            raise VideoError(f"cannot open video {self.path}: not a readable video file ({exc})") from None
        if not container.streams.video:
            container.close()
            raise VideoError(f"file {self.path} has no video stream")
        return container

    def _index_packets(self, container, stream) -> tuple[list[int], set[int]]:
        """Demux (no decode) to list every frame's pts and the keyframes' pts."""
        pts: list[int] = []
        keyframes: set[int] = set()
        missing_pts = 0
        for packet in container.demux(stream):
            if packet.size == 0:  # flush packet at the end
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                missing_pts += 1
                continue
            pts.append(stamp)
            if packet.is_keyframe:
                keyframes.add(stamp)
        if missing_pts:
            raise VideoError(
                f"video {self.path} has {missing_pts} packets without timestamps, so frames cannot be "
                "addressed; remux it first (e.g. ffmpeg -i in.avi -c copy out.mkv)"
            )
        pts.sort()
        if len(set(pts)) != len(pts):
            raise VideoError(f"video {self.path} has duplicate frame timestamps; re-encode it to a constant frame rate")
        return pts, keyframes

    def _decode_from(self, container, first: int) -> Iterator[tuple[int, object]]:
        """Seek ``container`` to the keyframe at or before frame ``first`` and yield
        (index, av.VideoFrame) from that keyframe on, in presentation order.
        Opening a container costs more than decoding several frames (stream
        probing), so callers keep one open and seek within it."""
        import av

        kf = self._keyframe_before(first)
        try:
            stream = container.streams.video[0]
            container.seek(self._pts[kf], stream=stream, backward=True, any_frame=False)  # also flushes the decoder
            for frame in container.decode(stream):
                stamp = frame.pts
                i = self._index_of.get(stamp) if stamp is not None else None
                if i is None or i < kf:
                    continue  # leading frames before the seek target
                yield i, frame
        except av.FFmpegError as exc:
            raise VideoError(f"cannot decode video {self.path}: {exc}") from None

    def _frames_between(self, container, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """Decode frames start..stop-1 forward (one seek); raise if any is missing."""
        expected = start
        for i, frame in self._decode_from(container, start):
            if i < start:
                continue
            if i != expected:
                raise VideoError(f"video {self.path}: frame {expected} could not be decoded (corrupt data?)")
            yield i, frame.to_ndarray(format="rgb24")
            expected += 1
            if expected >= stop:
                return
        if expected < stop:
            raise VideoError(
                f"video {self.path}: decoding stopped at frame {expected} of {self._num_frames} (truncated or corrupt file)"
            )

    def _keyframe_before(self, i: int) -> int:
        return self._keyframes[bisect.bisect_right(self._keyframes, i) - 1]

    def _read(self, i: int) -> np.ndarray:
        # Continue the open decode when frame i lies ahead of it in the same
        # keyframe interval (e.g. "for i in range(n): video[i]"); seek otherwise.
        pos = self._reader_pos
        if self._reader_iter is None or pos is None or not (self._keyframe_before(i) <= pos <= i):
            if self._container is None:
                self._container = self._open()
                self._container.streams.video[0].thread_type = "AUTO"
            self._reader_iter = self._frames_between(self._container, i, self._num_frames)
            self._reader_pos = i
        for j, frame in self._reader_iter:
            self._reader_pos = j + 1
            if j == i:
                return frame
            self._remember(j, frame)  # decoded on the way: likely asked for next
        self._reader_iter = None
        raise VideoError(f"video {self.path}: frame {i} could not be decoded")

    def _iter_range(self, start: int, stop: int, reverse: bool) -> Iterator[tuple[int, np.ndarray]]:
        # Its own container: iterating must not disturb random access (or another iteration).
        container = self._open()
        container.streams.video[0].thread_type = "AUTO"
        try:
            if not reverse:
                yield from self._frames_between(container, start, stop)
                return
            h, w = self._size
            max_block = max(1, self._options.reverse_block_bytes // (h * w * 3))
            end = stop  # exclusive end of the block still to yield
            while end > start:
                kf = self._keyframe_before(end - 1)
                block_start = max(start, kf, end - max_block)
                block = list(self._frames_between(container, block_start, end))
                for item in reversed(block):
                    yield item
                del block
                end = block_start
        finally:
            container.close()

    def close(self) -> None:
        super().close()
        self._reader_iter = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass
