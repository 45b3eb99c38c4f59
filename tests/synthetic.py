"""Synthetic videos with known ground truth for tests.

``make_video`` draws a few flat-colored shapes (distinct saturated colors)
moving over a mildly textured gray background. Every pixel of an object has
exactly its color (objects drawn later occlude earlier ones, and ``gt`` follows
the same order), so the color-based test doubles in ``tests/doubles.py``
reproduce ``gt`` exactly. The background noise differs per frame, which keeps
every frame unique (the doubles identify frames by content).

Example::

    video = make_video(num_frames=20)
    video.frames  # uint8 [T,H,W,3]
    video.gt      # uint8 [T,H,W], pixel value = object id, 0 = background
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

# Distinct saturated colors, far (> 80 per channel somewhere) from the gray
# background and from each other.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (220, 30, 30),
    (30, 190, 40),
    (40, 70, 230),
    (235, 210, 20),
    (210, 40, 200),
    (20, 205, 215),
)
BACKGROUND = 110  # gray level; noise of +-NOISE on top
NOISE = 6


@dataclass(frozen=True)
class ObjectSpec:
    """One moving shape.

    shape: "disc" (radius = size[0]) or "rect" (half height, half width = size).
    start: (y, x) center on frame 0; velocity: (dy, dx) pixels per frame; the
    shape bounces off the frame borders. first_frame/last_frame: the object is
    drawn only on frames first_frame..last_frame (inclusive; None = to the end).
    """

    id: int
    shape: str = "disc"
    size: tuple[int, int] = (8, 8)
    start: tuple[float, float] = (20.0, 20.0)
    velocity: tuple[float, float] = (0.5, 1.0)
    color: tuple[int, int, int] | None = None
    first_frame: int = 0
    last_frame: int | None = None


@dataclass
class SyntheticVideo:
    """frames: uint8 [T,H,W,3] RGB; gt: uint8 [T,H,W] object ids; fps: float."""

    frames: np.ndarray
    gt: np.ndarray
    objects: tuple[ObjectSpec, ...]
    colors: dict[int, tuple[int, int, int]]
    fps: float = 10.0
    _index: dict[bytes, int] | None = field(default=None, repr=False)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def object_ids(self) -> tuple[int, ...]:
        return tuple(o.id for o in self.objects)

    def mask(self, frame: int, object_id: int) -> np.ndarray:
        """bool [H,W] ground truth of one object on one frame."""
        return self.gt[frame] == object_id

    def index_of(self, image: np.ndarray) -> int | None:
        """The frame index whose pixels equal ``image`` exactly, or None."""
        if self._index is None:
            self._index = {}
            for i, f in enumerate(self.frames):
                self._index.setdefault(_digest(f), i)
        return self._index.get(_digest(np.ascontiguousarray(image)))


def _digest(image: np.ndarray) -> bytes:
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def default_objects(size: tuple[int, int] = (64, 96)) -> tuple[ObjectSpec, ...]:
    """Two objects visible from frame 0 and a third entering on frame 5."""
    h, w = size
    r = max(3, min(h, w) // 8)
    return (
        ObjectSpec(1, "disc", (r, r), (h * 0.3, w * 0.25), (0.6, 1.1)),
        ObjectSpec(2, "rect", (r, int(r * 1.4)), (h * 0.7, w * 0.7), (-0.5, -0.9)),
        ObjectSpec(3, "disc", (max(2, r - 2), 0), (h * 0.25, w * 0.8), (0.4, -0.5), first_frame=5),
    )


def _bounce(p0: float, v: float, t: int, lo: float, hi: float) -> float:
    """Position at time t of a point moving at v between lo and hi (reflecting)."""
    span = hi - lo
    if span <= 0:
        return lo
    x = (p0 - lo + v * t) % (2 * span)
    return lo + (x if x <= span else 2 * span - x)


def make_video(
    num_frames: int = 30,
    size: tuple[int, int] = (64, 96),
    objects: Sequence[ObjectSpec] | None = None,
    seed: int = 0,
    fps: float = 10.0,
    texture: bool = True,
) -> SyntheticVideo:
    """Render a deterministic synthetic video with ground truth.

    objects: the shapes (drawn in order, later ones occlude earlier ones);
    default ``default_objects(size)``. texture: per-frame background noise of
    +-NOISE gray levels (off: a flat background, frames may repeat).
    """
    h, w = size
    objs = tuple(objects) if objects is not None else default_objects(size)
    ids = [o.id for o in objs]
    if len(set(ids)) != len(ids) or min(ids, default=1) < 1 or max(ids, default=1) > 255:
        raise ValueError(f"object ids must be unique and in 1..255, got {ids}")
    colors = {o.id: tuple(o.color or PALETTE[i % len(PALETTE)]) for i, o in enumerate(objs)}
    rng = np.random.default_rng(seed)
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    gt = np.zeros((num_frames, h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for t in range(num_frames):
        if texture:
            noise = rng.integers(-NOISE, NOISE + 1, size=(h, w, 1), dtype=np.int16)
            frames[t] = np.clip(BACKGROUND + noise, 0, 255).astype(np.uint8)
        else:
            frames[t] = BACKGROUND
        for o in objs:
            if t < o.first_frame or (o.last_frame is not None and t > o.last_frame):
                continue
            ry, rx = (o.size[0], o.size[0]) if o.shape == "disc" else o.size
            cy = _bounce(o.start[0], o.velocity[0], t, ry, h - 1 - ry)
            cx = _bounce(o.start[1], o.velocity[1], t, rx, w - 1 - rx)
            if o.shape == "disc":
                m = (yy - cy) ** 2 + (xx - cx) ** 2 <= ry * ry
            elif o.shape == "rect":
                m = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
            else:
                raise ValueError(f"unknown shape {o.shape!r}: use 'disc' or 'rect'")
            frames[t][m] = colors[o.id]
            gt[t][m] = o.id
    return SyntheticVideo(frames, gt, objs, colors, fps)


def write_h264(path: str | Path, frames: np.ndarray, fps: float = 10.0) -> Path:
    """Write frames uint8 [T,H,W,3] RGB as an H.264 (yuv420p) mp4 with the
    project's one writer (``tam_core.video.write_video``); H and W must be even."""
    from tam_core.video import write_video

    path = Path(path)
    write_video(path, frames, fps)
    return path
    import av
    from fractions import Fraction

    frames = np.asarray(frames, dtype=np.uint8)
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs even frame sizes, got {h}x{w}")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # Near-lossless so decoded colors stay close to the drawn ones.
        stream.options = {"crf": "10", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
