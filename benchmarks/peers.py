"""Our XMem tracker vs SAM 2's video predictor on the same frames: s/frame and peak RSS vs video length.

    python benchmarks/peers.py [--lengths 4 8 16] [--size 480 854] [--objects 2]
        [--threads 2] [--sam2-config configs/sam2.1/sam2.1_hiera_t.yaml]
        [--sam2-checkpoint PATH] [--impls ours sam2] [--device cpu|cuda] [--json OUT.json]

Every (implementation, length) pair runs in a fresh child process, so its peak
resident memory (``ru_maxrss``) is its own; the children alternate between the
implementations (ours, SAM 2, ours, ...) so that a shared machine's drifting load
hits both alike. The clip is ``xmem_speed.synthetic_clip`` (moving discs on a
blocky background); both trackers get the first frame's masks and propagate to
the end. Frame 0 (the given masks) is not timed. Reported per run: wall and
CPU seconds per propagated frame (CPU time is what a loaded machine distorts
least), and the process's peak RSS.

Ours: ``XMemTracker`` with default-initialised weights (speed and memory do not
depend on the weights' values), default config, fp32. SAM 2: the ``sam2``
package (``pip install 'tam-label[peers]'``), ``build_sam2_video_predictor``
with ``--sam2-checkpoint`` or, without one, random initialisation; frames are
handed over as a JPEG folder (its ``init_state`` loads every frame, resized to
1024x1024 float32, up front - part of its memory cost, timed separately as
``load_s``). SAM 2 missing is reported, not fatal. On ``--device cuda`` the peak GPU memory
(``torch.cuda.max_memory_allocated``) is reported too.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _clip(length: int, size: tuple[int, int], objects: int):
    sys.path.insert(0, str(HERE))
    from xmem_speed import synthetic_clip

    return synthetic_clip(length, *size, objects)


def _now(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()


def run_ours(length: int, size: tuple[int, int], objects: int, device: str = "cpu") -> dict:
    import torch

    from tam_core.trackers.xmem import XMemNetwork, XMemTracker

    frames, first = _clip(length, size, objects)
    net = XMemNetwork().eval().requires_grad_(False).to(device).fuse_for_inference()
    tracker = XMemTracker(net)
    masks = {int(v): first == v for v in np.unique(first) if v}
    load_s = 0.0
    wall, cpu = [], []
    with torch.inference_mode():
        tracker.step(frames[0], masks)
        for t in range(1, length):
            w0, c0 = _now(device), time.process_time()
            tracker.step(frames[t], end=(t == length - 1)).label_map()
            wall.append(_now(device) - w0)
            cpu.append(time.process_time() - c0)
    return {"load_s": load_s, "wall": wall, "cpu": cpu}


def run_sam2(length: int, size: tuple[int, int], objects: int, config: str, checkpoint: str | None,
             device: str = "cpu") -> dict:
    import cv2
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    frames, first = _clip(length, size, objects)
    predictor = build_sam2_video_predictor(config, ckpt_path=checkpoint, device=device)
    wall, cpu = [], []
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        for t, frame in enumerate(frames):
            cv2.imwrite(str(Path(folder) / f"{t:05d}.jpg"), frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        w0 = time.perf_counter()
        state = predictor.init_state(video_path=folder)
        load_s = time.perf_counter() - w0
        for v in np.unique(first):
            if v:
                predictor.add_new_mask(state, frame_idx=0, obj_id=int(v), mask=first == v)
        w0, c0 = _now(device), time.process_time()
        for t, _ids, logits in predictor.propagate_in_video(state):
            (logits > 0).cpu().numpy()  # what a consumer does with the result
            if t > 0:
                wall.append(_now(device) - w0)
                cpu.append(time.process_time() - c0)
            w0, c0 = _now(device), time.process_time()
    return {"load_s": load_s, "wall": wall, "cpu": cpu}


def child(a) -> int:
    import torch

    torch.set_num_threads(a.threads)
    if a.child == "ours":
        r = run_ours(a.length, tuple(a.size), a.objects, a.device)
    else:
        r = run_sam2(a.length, tuple(a.size), a.objects, a.sam2_config, a.sam2_checkpoint, a.device)
    r["peak_rss_mib"] = peak_rss_mib()
    if a.device.startswith("cuda"):
        r["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(r))
    return 0


def sam2_available() -> bool:
    try:
        import sam2  # noqa: F401
    except ImportError:
        return False
    return True


def summarise(impl: str, length: int, r: dict) -> dict:
    return {
        "impl": impl,
        "length": length,
        "wall_s_per_frame": float(np.mean(r["wall"])),
        "cpu_s_per_frame": float(np.mean(r["cpu"])),
        "load_s": r["load_s"],
        "peak_rss_mib": r["peak_rss_mib"],
        "peak_gpu_mib": r.get("peak_gpu_mib"),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[4, 8, 16], help="video lengths (frames) to run")
    p.add_argument("--size", type=int, nargs=2, default=[480, 854], metavar=("H", "W"))
    p.add_argument("--objects", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--impls", nargs="+", default=["ours", "sam2"], choices=["ours", "sam2"])
    p.add_argument("--sam2-config", default="configs/sam2.1/sam2.1_hiera_t.yaml", help="SAM 2 model config (package path)")
    p.add_argument("--sam2-checkpoint", default=None, help="SAM 2 weights (default: random initialisation)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda for GPU timings and peak GPU memory")
    p.add_argument("--json", default=None, help="write the table (and the machine) as JSON here")
    p.add_argument("--child", choices=["ours", "sam2"], help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        return child(a)
    if min(a.lengths) < 2:
        p.error("--lengths must be >= 2 (frame 0 holds the given masks)")

    impls = list(a.impls)
    if "sam2" in impls and not sam2_available():
        print("SAM 2 is not installed (pip install 'tam-label[peers]'); running ours only", file=sys.stderr)
        impls.remove("sam2")
    rows = []
    for length in a.lengths:
        for impl in impls:
            cmd = [sys.executable, __file__, "--child", impl, "--length", str(length), "--size", *map(str, a.size),
                   "--objects", str(a.objects), "--threads", str(a.threads), "--sam2-config", a.sam2_config,
                   "--device", a.device]
            if a.sam2_checkpoint:
                cmd += ["--sam2-checkpoint", a.sam2_checkpoint]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(summarise(impl, length, json.loads(out.strip().splitlines()[-1])))
            r = rows[-1]
            print(f"{impl:5s} T={length:4d}  {r['wall_s_per_frame']:7.2f} s/frame wall  {r['cpu_s_per_frame']:7.2f} "
                  f"CPU-s/frame  load {r['load_s']:6.1f} s  peak RSS {r['peak_rss_mib']:7.0f} MiB"
                  + (f"  peak GPU {r['peak_gpu_mib']:7.0f} MiB" if r["peak_gpu_mib"] is not None else ""), flush=True)
    machine = {"cpu": platform.processor() or platform.machine(), "threads": a.threads, "device": a.device,
               "python": platform.python_version()}
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": machine, "size": a.size, "objects": a.objects,
                                            "sam2_config": a.sam2_config, "sam2_checkpoint": a.sam2_checkpoint,
                                            "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
