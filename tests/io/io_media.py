"""Synthetic media for the video tests: each frame carries its own index as
wide black/white bars, which survive lossy H.264 coding, so a decoded frame can
be identified exactly."""

from __future__ import annotations

import numpy as np

H, W, T = 64, 96, 40
BITS = 6  # 2**6 = 64 > T
BAR = W // BITS


def index_frame(i: int, h: int = H, w: int = W) -> np.ndarray:
    """uint8 [h,w,3] with bit b of ``i`` drawn as a white bar b (black if 0)."""
    bar = w // BITS
    frame = np.full((h, w, 3), 0, np.uint8)
    for b in range(BITS):
        if (i >> b) & 1:
            frame[:, b * bar : (b + 1) * bar] = 255
    return frame


def read_index(frame: np.ndarray) -> int:
    """Inverse of :func:`index_frame`, reading the centre of each bar."""
    h, w = frame.shape[:2]
    bar = w // BITS
    value = 0
    for b in range(BITS):
        centre = frame[h // 4 : 3 * h // 4, b * bar + bar // 4 : (b + 1) * bar - bar // 4]
        if centre.mean() > 128:
            value |= 1 << b
    return value
