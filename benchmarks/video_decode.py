"""Decode speed of tam_core.video on a synthetic H.264 clip: forward, reverse
(block-wise) and random access. Usage:

    python benchmarks/video_decode.py [--frames 300] [--size 480x854] [--gop 250]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tam_core.video import open_video, write_video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="480x854", help="HxW")
    ap.add_argument("--gop", type=int, default=250, help="keyframe interval (x264 default 250)")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        write_video(path, (np.roll(base, 4 * i, axis=1) for i in range(args.frames)), fps=30, keyframe_interval=args.gop)
        t = time.perf_counter()
        video = open_video(path)
        t_open = time.perf_counter() - t
        n = video.num_frames

        t = time.perf_counter()
        sum(1 for _ in video.iter_frames())
        t_fwd = time.perf_counter() - t
        t = time.perf_counter()
        sum(1 for _ in video.iter_frames(reverse=True))
        t_rev = time.perf_counter() - t
        picks = rng.integers(0, n, size=20)
        t = time.perf_counter()
        for i in picks:
            video[int(i)]
        t_rand = (time.perf_counter() - t) / len(picks)
    print(f"{n} frames {h}x{w}, keyframe every {args.gop} ({len(video._keyframes)} keyframes)")
    print(f"open (packet index): {t_open * 1000:.0f} ms")
    print(f"forward: {n / t_fwd:.0f} frames/s")
    print(f"reverse: {n / t_rev:.0f} frames/s")
    print(f"random access: {t_rand * 1000:.0f} ms/frame")


if __name__ == "__main__":
    main()
