"""Peak memory of a tracking run vs video length (goal: 2,000 frames <= 1.15x 200 frames).

Each length runs in its own subprocess (peak RSS via ``resource.getrusage``)
through the real path of ``tam-label track``: ``operators.folder_job.track_to_folder``
(session, operators, DAVIS PNG writer, resume record, summary). Frames are
generated on the fly by a lazy FrameSource (never stored), 480p by default, with
the same two objects for every length: object 1 prompted on frame 0, object 2
on the middle frame (so both the forward and the backward pass run).

Reported per length: ``peak_rss_mib`` (the whole run, model loading included),
``tracking_peak_rss_mib`` (the peak after loading: VmHWM is reset once the models
are loaded, Linux >= 4.0), ``tracking_growth_mib`` (that peak minus the RSS at
the reset) and, for XMem, its memory elements at the end of the last pass
(long-term memory is capped by ``XMemConfig.max_long_term_elements``).

Tracker: ``--tracker xmem`` is our XMem with seeded random weights (its memory
is what grows in a real run; slow on CPU), ``--tracker double`` the color
tracker from tests/doubles.py (measures the session + writer alone), ``auto``
(default) XMem when ``tam_core.trackers.xmem`` imports and ``--device`` is CUDA, else
the double. The report says which ran.

    python benchmarks/session_memory.py                       # 200 vs 2000 frames, CPU
    python benchmarks/session_memory.py --tracker xmem --device cuda --json out.json
    python benchmarks/session_memory.py --tracker xmem --size 48,80 --direction forward --threads 1  # real XMem on a CPU
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


def _models(kind: str, device: str, checkpoint: str | None = None):
    from types import SimpleNamespace

    if kind == "xmem":
        import torch

        from tam_core.trackers.xmem import XMemNetwork, XMemTracker, load_xmem
        from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

        if checkpoint:  # the CLI's loading path (weights_only load, strict check, fused)
            net = load_xmem(checkpoint, device)
        else:
            torch.manual_seed(0)
            net = XMemNetwork()
            net.load_state_dict(xmem_seeded_state_dict(1))
            net = net.to(device).eval()
        last: list = []

        def factory(config=None):
            # keep the newest tracker to report its memory size (the session drops it after its run)
            last[:] = [XMemTracker(net, config, device=device)]
            return last[0]

        return SimpleNamespace(segmenter=None, refiner=None, tracker_factory=factory, last_tracker=last)
    sys.path.insert(0, str(ROOT))
    from tests.doubles import ColorTrackerFactory

    return SimpleNamespace(segmenter=None, refiner=None, tracker_factory=ColorTrackerFactory())


def _reset_peak() -> bool:
    """Reset this process's VmHWM (Linux >= 4.0), so the next reading is the
    peak of what follows only (tracking, not model loading)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _vm_hwm_kib(field: str = "VmHWM") -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def child(num_frames: int, kind: str, device: str, size: tuple[int, int], direction: str = "both",
          threads: int = 0, checkpoint: str | None = None) -> dict:
    """One run in this process; returns peak RSS and timings."""
    sys.path.insert(0, str(ROOT))
    if threads > 0:  # fewer threads than cores on a shared machine; RSS does not depend on it
        import torch

        torch.set_num_threads(threads)
    from operators.folder_job import track_to_folder
    from tam_core.options import RunOptions
    from tam_core.types import Prompt

    frames = GeneratedFrames(num_frames, size)
    models = _models(kind, device, checkpoint)
    prompts = [Prompt(0, 1, mask=frames.gt(0) == 1), Prompt(num_frames // 2, 2, mask=frames.gt(num_frames // 2) == 2)]
    rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import gc

    gc.collect()
    reset = _reset_peak()
    rss_start = _vm_hwm_kib("VmRSS")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = track_to_folder(frames, prompts, out, models, RunOptions(direction=direction, batch_size=8))
        pngs = len(list(Path(out).glob("*.png")))
    seconds = time.perf_counter() - t0
    result = {
        "num_frames": num_frames,
        "size": list(size),
        "tracker": kind,
        "device": device,
        "direction": direction,
        # the reset below also clears ru_maxrss: the whole run's peak is the larger of the two
        "peak_rss_mib": max(rss_setup, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024,
        "load_peak_rss_mib": rss_setup / 1024,  # peak up to the end of model loading
        # VmHWM after a reset past model loading: the peak while tracking and writing
        "tracking_peak_rss_mib": _vm_hwm_kib() / 1024 if reset else float("nan"),
        "tracking_growth_mib": (_vm_hwm_kib() - rss_start) / 1024 if reset else float("nan"),
        "seconds": round(seconds, 2),
        "frames_decoded": frames.decoded,
        "pngs": pngs,
        "mean_quality_obj1": float(np.mean([f["1"]["quality"] for f in summary["frames"].values() if "1" in f])),
    }
    if getattr(models, "last_tracker", None):  # XMem memory elements at the end of the last pass
        mem = models.last_tracker[0].memory
        result["xmem_work_elements"], result["xmem_long_elements"] = mem.work_size, mem.long_size
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
    p.add_argument("--direction", choices=("forward", "backward", "both"), default="both",
                   help="forward: one pass over the video (half the steps of both)")
    p.add_argument("--threads", type=int, default=0, help="torch threads in the child (0: torch's default)")
    p.add_argument("--xmem-checkpoint", default=None,
                   help="XMem .pth loaded with load_xmem (default with --tracker xmem: seeded weights written once)")
    p.add_argument("--json", default=str(Path(tempfile.gettempdir()) / "session_memory.json"), help="where to write the results")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.split(","))
    kind = args.tracker
    if kind == "auto":
        # find_spec, not import: torch in this parent would inflate the
        # children's ru_maxrss (Linux carries it over fork/exec).
        import importlib.util

        has_xmem = importlib.util.find_spec("tam_core.trackers.xmem") is not None
        kind = "xmem" if has_xmem and args.device.startswith("cuda") else "double"
    if args.child is not None:
        print(json.dumps(child(args.child, kind, args.device, size, args.direction, args.threads, args.xmem_checkpoint)))
        return 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tmp = tempfile.TemporaryDirectory()
    ckpt = args.xmem_checkpoint
    if kind == "xmem" and not ckpt:  # written by a subprocess: torch stays out of this parent
        ckpt = str(Path(tmp.name) / "xmem_seeded.pth")
        subprocess.run([sys.executable, "-m", "tam_core.trackers.xmem.seeded_weights", "--seed", "1", "--out", ckpt],
                       check=True, cwd=ROOT, env=env, capture_output=True)
    runs = []
    for n in (int(v) for v in args.lengths.split(",")):
        cmd = [sys.executable, __file__, "--child", str(n), "--tracker", kind, "--device", args.device, "--size", args.size,
               "--direction", args.direction, "--threads", str(args.threads)]
        if ckpt:
            cmd += ["--xmem-checkpoint", ckpt]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        print(f"{n:6d} frames  peak RSS {r['peak_rss_mib']:8.1f} MiB  while tracking {r['tracking_peak_rss_mib']:8.1f} MiB "
              f"(+{r['tracking_growth_mib']:.1f})  "
              f"({r['seconds']} s, tracker {kind}, {args.device})", flush=True)
    tmp.cleanup()
    ratio = runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"]
    track_ratio = runs[-1]["tracking_peak_rss_mib"] / runs[0]["tracking_peak_rss_mib"]
    report = {"tracker": kind, "device": args.device, "direction": args.direction, "runs": runs, "ratio": round(ratio, 4),
              "tracking_ratio": round(track_ratio, 4), "goal": 1.15, "ok": ratio <= 1.15 and not track_ratio > 1.15}
    if "cuda_max_allocated_mib" in runs[0]:
        report["cuda_ratio"] = round(runs[-1]["cuda_max_allocated_mib"] / runs[0]["cuda_max_allocated_mib"], 4)
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"ratio {ratio:.3f}, while tracking {track_ratio:.3f} (goal <= 1.15): {'ok' if report['ok'] else 'FAILED'}; "
          f"written to {args.json}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
