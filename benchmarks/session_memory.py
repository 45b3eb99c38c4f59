"""Peak memory of a tracking run vs video length (goal: 2,000 frames <= 1.15x 200 frames).

Each length runs in its own subprocess (peak RSS via ``resource.getrusage``)
through the real path of ``tam-label track``: ``plugin.cli.track_cmd.run_track``
(session, operators, DAVIS PNG writer, resume record, summary). Frames are
generated on the fly by a lazy FrameSource (never stored), 480p by default, with
the same two objects for every length: object 1 prompted on frame 0, object 2
on the middle frame (so both the forward and the backward pass run).

Tracker: ``--tracker xmem`` is our XMem with seeded random weights (its memory
is what grows in a real run; slow on CPU), ``--tracker double`` the color
tracker from tests/doubles.py (measures the session + writer alone), ``auto``
(default) XMem when ``tam_core.xmem`` imports and ``--device`` is CUDA, else
the double. The report says which ran.

    python benchmarks/session_memory.py                       # 200 vs 2000 frames, CPU
    python benchmarks/session_memory.py --tracker xmem --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COLORS = {1: (220, 30, 30), 2: (30, 190, 40)}


class GeneratedFrames:
    """A lazy FrameSource: frame t is drawn when asked for (two moving discs)."""

    def __init__(self, num_frames: int, size: tuple[int, int] = (480, 854)):
        self._n, self._size = num_frames, size
        h, w = size
        self._yy, self._xx = np.mgrid[0:h, 0:w]
        self.decoded = 0

    @property
    def num_frames(self) -> int:
        return self._n

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def gt(self, t: int) -> np.ndarray:
        """uint8 [H,W] object ids on frame t (motion periodic, so every length sees the same objects)."""
        h, w = self._size
        out = np.zeros((h, w), np.uint8)
        for oid, (cy, cx, rel, phase) in {1: (0.4, 0.3, 0.083, 0.0), 2: (0.6, 0.7, 0.115, 1.5)}.items():
            r = rel * h  # 40 and 55 px at 480p
            y = h * cy + 0.15 * h * np.sin(t / 25 + phase)
            x = w * cx + 0.2 * w * np.cos(t / 40 + phase)
            out[(self._yy - y) ** 2 + (self._xx - x) ** 2 <= r * r] = oid
        return out

    def __getitem__(self, t: int) -> np.ndarray:
        if not 0 <= t < self._n:
            raise IndexError(t)
        self.decoded += 1
        gt = self.gt(t)
        frame = np.empty(gt.shape + (3,), np.uint8)
        frame[:] = (100 + (self._xx // 32 + self._yy // 32) % 2 * 20)[..., None]  # mild checker texture
        for oid, color in COLORS.items():
            frame[gt == oid] = color
        return frame

    def iter_frames(self, start: int = 0, stop: int | None = None, reverse: bool = False):
        stop = self._n if stop is None else min(stop, self._n)
        for t in (range(stop - 1, start - 1, -1) if reverse else range(start, stop)):
            yield t, self[t]


def _models(kind: str, device: str):
    from types import SimpleNamespace

    if kind == "xmem":
        import torch

        from tam_core.xmem import XMemNetwork, XMemTracker
        from tam_core.xmem.seeded_weights import xmem_seeded_state_dict

        torch.manual_seed(0)
        net = XMemNetwork()
        net.load_state_dict(xmem_seeded_state_dict(1))
        net = net.to(device).eval()
        return SimpleNamespace(segmenter=None, refiner=None, tracker_factory=lambda: XMemTracker(net, device=device))
    sys.path.insert(0, str(ROOT))
    from tests.doubles import ColorTrackerFactory

    return SimpleNamespace(segmenter=None, refiner=None, tracker_factory=ColorTrackerFactory())


def _vm_hwm_kib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def child(num_frames: int, kind: str, device: str, size: tuple[int, int]) -> dict:
    """One run in this process; returns peak RSS and timings."""
    sys.path.insert(0, str(ROOT))
    from plugin.cli.track_cmd import TrackRunOptions, run_track
    from tam_core.types import Prompt

    frames = GeneratedFrames(num_frames, size)
    models = _models(kind, device)
    prompts = [Prompt(0, 1, mask=frames.gt(0) == 1), Prompt(num_frames // 2, 2, mask=frames.gt(num_frames // 2) == 2)]
    rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = run_track(frames, prompts, out, models, TrackRunOptions(direction="both", batch_size=8))
        pngs = len(list(Path(out).glob("*.png")))
    seconds = time.perf_counter() - t0
    result = {
        "num_frames": num_frames,
        "size": list(size),
        "tracker": kind,
        "device": device,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "vm_hwm_mib": _vm_hwm_kib() / 1024,  # the same peak from /proc (this process image only)
        "rss_after_setup_mib": rss_setup / 1024,
        "seconds": round(seconds, 2),
        "frames_decoded": frames.decoded,
        "pngs": pngs,
        "mean_quality_obj1": float(np.mean([f["1"]["quality"] for f in summary["frames"].values() if "1" in f])),
    }
    if kind == "xmem" and device.startswith("cuda"):
        import torch

        result["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", default="200,2000", help="comma-separated frame counts (first = baseline)")
    p.add_argument("--tracker", choices=("auto", "xmem", "double"), default="auto")
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", default="480,854", help="H,W")
    p.add_argument("--json", default=str(Path(tempfile.gettempdir()) / "session_memory.json"), help="where to write the results")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.split(","))
    kind = args.tracker
    if kind == "auto":
        # find_spec, not import: torch in this parent would inflate the
        # children's ru_maxrss (Linux carries it over fork/exec).
        import importlib.util

        has_xmem = importlib.util.find_spec("tam_core.xmem") is not None
        kind = "xmem" if has_xmem and args.device.startswith("cuda") else "double"
    if args.child is not None:
        print(json.dumps(child(args.child, kind, args.device, size)))
        return 0
    runs = []
    for n in (int(v) for v in args.lengths.split(",")):
        cmd = [sys.executable, __file__, "--child", str(n), "--tracker", kind, "--device", args.device, "--size", args.size]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        print(f"{n:6d} frames  peak RSS {r['peak_rss_mib']:8.1f} MiB  ({r['seconds']} s, tracker {kind}, {args.device})", flush=True)
    ratio = runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"]
    report = {"tracker": kind, "device": args.device, "runs": runs, "ratio": round(ratio, 4), "goal": 1.15, "ok": ratio <= 1.15}
    if "cuda_max_allocated_mib" in runs[0]:
        report["cuda_ratio"] = round(runs[-1]["cuda_max_allocated_mib"] / runs[0]["cuda_max_allocated_mib"], 4)
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"ratio {ratio:.3f} (goal <= 1.15): {'ok' if report['ok'] else 'FAILED'}; written to {args.json}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
