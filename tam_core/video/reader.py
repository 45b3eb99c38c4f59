"""Open a video file, a folder of frames or an array as a lazy :class:`Video`.

``open_video(src)`` returns an object satisfying ``tam_core.types.FrameSource``:
``num_frames``, ``size`` (H, W), ``fps``, ``video[i]`` -> uint8 [H,W,3] RGB and
``iter_frames(start, stop, reverse)``. Nothing here holds the whole video in
memory (except an array the caller already holds).

Video files (decoded with PyAV):

- Frame ``i`` is the i-th frame in *presentation* order (sorted timestamps),
  0-based. The index is built at open time by demuxing the packets (no decoding),
  because the container's frame count (``stream.frames``) is missing or wrong in
  many files (webm/mkv report 0, some writers lie); this reads the file once.
- Random access seeks to the nearest keyframe at or before the frame and decodes
  forward; a small LRU cache keeps recently decoded frames.
- Reverse iteration decodes one keyframe interval (or a memory-bounded chunk of
  it) at a time and yields it reversed, so it costs about one forward decode.
- Rotation metadata (phone videos) is *not* applied: frames are returned as
  stored in the stream, so masks line up with the stored pixels the labeling
  tools also use. ``Video.rotation`` reports the display rotation in degrees.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from tam_core.errors import VideoError

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class FrameIndexError(VideoError, IndexError):
    """A frame index outside ``0 .. num_frames-1``."""


@dataclass(frozen=True)
class VideoOptions:
    """Decoding knobs.

    cache_frames: how many recently decoded frames ``video[i]`` keeps.
    reverse_block_bytes: memory bound for one block of reverse iteration; a
    keyframe interval longer than this is decoded in several chunks.
    """

    cache_frames: int = 16
    reverse_block_bytes: int = 256 * 1024 * 1024


class Video:
    """Base of the three sources; subclasses implement ``_read`` and ``_iter_range``."""

    def __init__(self, num_frames: int, size: tuple[int, int], fps: float | None, options: VideoOptions):
        self._num_frames = int(num_frames)
        self._size = (int(size[0]), int(size[1]))
        self._fps = fps
        self._options = options
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    @property
    def num_frames(self) -> int:
        return self._num_frames

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return self._size

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def rotation(self) -> int:
        """Display rotation in degrees stored in the file's metadata (not applied)."""
        return 0

    def __len__(self) -> int:
        return self._num_frames

    def __getitem__(self, index: int) -> np.ndarray:
        """uint8 [H,W,3] RGB frame ``index`` (0-based; negative indices are rejected)."""
        i = self._check_index(index)
        frame = self._cache.get(i)
        if frame is not None:
            self._cache.move_to_end(i)
            return frame
        frame = self._read(i)
        self._remember(i, frame)
        return frame

    def iter_frames(self, start: int = 0, stop: int | None = None, reverse: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, uint8 [H,W,3]) for ``start <= index < stop``, increasing, or
        decreasing when ``reverse``. Decodes lazily; ``stop`` defaults to the end."""
        stop = self._num_frames if stop is None else int(stop)
        start = int(start)
        if start < 0 or stop > self._num_frames:
            raise FrameIndexError(
                f"frame range [{start}, {stop}) is outside the video's frames 0..{self._num_frames - 1}"
            )
        if start >= stop:
            return iter(())
        return self._iter_range(start, stop, reverse)

    def close(self) -> None:
        """Release open files (also done when the object is garbage collected)."""
        self._cache.clear()

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers for subclasses -------------------------------------------------
    def _check_index(self, index: int) -> int:
        try:
            i = operator.index(index)  # ints and numpy ints; not floats or strings
        except TypeError:
            raise FrameIndexError(f"frame index must be an integer, got {index!r}") from None
        if not 0 <= i < self._num_frames:
            raise FrameIndexError(f"frame index {i} is out of range: the video has frames 0..{self._num_frames - 1}")
        return i

    def _remember(self, i: int, frame: np.ndarray) -> None:
        if self._options.cache_frames <= 0:
            return
        self._cache[i] = frame
        self._cache.move_to_end(i)
        while len(self._cache) > self._options.cache_frames:
            self._cache.popitem(last=False)

    def _read(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _iter_range(self, start: int, stop: int, reverse: bool) -> Iterator[tuple[int, np.ndarray]]:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        h, w = self._size
        return f"{type(self).__name__}(num_frames={self._num_frames}, size=({h}, {w}), fps={self._fps})"


# -- arrays ---------------------------------------------------------------------
class ArrayVideo(Video):
    """A caller's uint8 [T,H,W,3] array; frames are read-only views (no copy)."""

    def __init__(self, frames: np.ndarray, fps: float | None = None, options: VideoOptions = VideoOptions()):
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            dtype = getattr(frames, "dtype", type(frames).__name__)
            raise VideoError(f"frame array must be uint8 [T,H,W,3] RGB, got dtype {dtype}; convert with .astype(np.uint8)")
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise VideoError(
                f"frame array must have shape [T,H,W,3] (RGB), got {tuple(frames.shape)}; "
                "for a single image use frames[None]"
            )
        if frames.shape[0] == 0:
            raise VideoError("frame array has zero frames")
        super().__init__(frames.shape[0], frames.shape[1:3], fps, VideoOptions(cache_frames=0))
        self._frames = frames

    def _read(self, i: int) -> np.ndarray:
        view = self._frames[i]
        view.flags.writeable = False  # a view: protects the caller's array from consumers
        return view

    def _iter_range(self, start: int, stop: int, reverse: bool) -> Iterator[tuple[int, np.ndarray]]:
        order = range(stop - 1, start - 1, -1) if reverse else range(start, stop)
        for i in order:
            yield i, self._read(i)


# -- folders of images ----------------------------------------------------------
class FolderVideo(Video):
    """A folder of JPEG/PNG frames (DAVIS layout): frame i is the i-th file by name."""

    def __init__(self, folder: Path, fps: float | None = None, options: VideoOptions = VideoOptions()):
        from PIL import Image, UnidentifiedImageError

        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise VideoError(f"no .jpg/.jpeg/.png frames in folder {folder}")
        size = None
        for path in files:  # headers only: cheap, and catches mixed sizes before any tracking
            try:
                with Image.open(path) as im:
                    w, h = im.size
            except (OSError, UnidentifiedImageError) as exc:
                raise VideoError(f"cannot read frame image {path}: {exc}") from None
            if size is None:
                size = (h, w)
            elif (h, w) != size:
                raise VideoError(
                    f"frames in {folder} have different sizes: {files[0].name} is {size[1]}x{size[0]}, "
                    f"{path.name} is {w}x{h} (all frames must be the same size)"
                )
        super().__init__(len(files), size, fps, options)
        self.files = files

    def _read(self, i: int) -> np.ndarray:
        from PIL import Image

        path = self.files[i]
        try:
            with Image.open(path) as im:
                frame = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except OSError as exc:
            raise VideoError(f"cannot decode frame image {path}: {exc}") from None
        return frame

    def _iter_range(self, start: int, stop: int, reverse: bool) -> Iterator[tuple[int, np.ndarray]]:
        order = range(stop - 1, start - 1, -1) if reverse else range(start, stop)
        for i in order:
            yield i, self[i]
