"""XMem vs SAM 2.1 as tracking engines, side by side on this machine.

Two measurements, each engine in its own subprocess (so peak RSS is its own):

* speed: CPU-s and wall-s per tracked frame at 480p (854x480), two objects
  given as masks on the first frame, after two warm-up steps. XMem: our XMem
  with seeded weights; SAM 2.1: the official layouts (``hiera_tiny``, ``hiera_small``;
  ``--sizes`` adds ``hiera_base_plus``/``hiera_large``) with random weights through
  ``tam_core.trackers.sam2.tracker`` (the wrapper every entry point uses).
* memory: peak RSS after passes of 50, 200 and 2,000 frames (``--lengths``)
  and what each engine holds at the end (XMem: memory elements; SAM 2.1: the
  session's kept frames and outputs). Memory growth is the wrapper's and the
  memory manager's, not the weights', so this runs on small frames (64x96) and
  SAM 2.1's tiny test architecture to finish in minutes.

Random weights: figures of speed and memory only, never of mask quality.

    python benchmarks/trackers.py                  # speed (xmem, sam2 hiera_tiny/hiera_small) + memory, CPU
    python benchmarks/trackers.py --quick          # fewer frames, lengths 50,200
    python benchmarks/trackers.py --device cuda --sizes hiera_tiny,hiera_small,hiera_base_plus,hiera_large --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HIERA = {  # Meta's sam2.1_hiera_{t,s,b+,l}.yaml as transformers configs
    "tiny": dict(hidden_size=96, num_attention_heads=1, blocks_per_stage=[1, 2, 7, 2],
                 global_attention_blocks=[5, 7, 9], embed_dim_per_stage=[96, 192, 384, 768],
                 window_positional_embedding_background_size=[7, 7]),
    "small": dict(hidden_size=96, num_attention_heads=1, blocks_per_stage=[1, 2, 11, 2],
                  global_attention_blocks=[7, 10, 13], embed_dim_per_stage=[96, 192, 384, 768],
                  window_positional_embedding_background_size=[7, 7]),
    "base_plus": dict(hidden_size=112, num_attention_heads=2, blocks_per_stage=[2, 3, 16, 3],
                      global_attention_blocks=[12, 16, 20], embed_dim_per_stage=[112, 224, 448, 896],
                      window_positional_embedding_background_size=[14, 14]),
    "large": dict(hidden_size=144, num_attention_heads=2, blocks_per_stage=[2, 6, 36, 4],
                  global_attention_blocks=[23, 33, 43], embed_dim_per_stage=[144, 288, 576, 1152],
                  window_positional_embedding_background_size=[7, 7]),
}


def frames(n: int, size: tuple[int, int]):
    """Two discs moving over noise: (frame uint8 [H,W,3], masks of objects 1 and 2)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    for t in range(n):
        img = noise.copy()
        masks = {}
        for oid, (cy, cx, col) in {1: (0.4, 0.3, (220, 30, 30)), 2: (0.6, 0.7, (30, 190, 40))}.items():
            m = (yy - h * cy) ** 2 + (xx - w * (cx + 0.002 * t % 0.3)) ** 2 <= (min(h, w) * 0.12) ** 2
            img[m] = col
            masks[oid] = m
        yield img, masks


def build(engine: str, device: str):
    """(tracker factory, parameter count) for "xmem" or "sam2:<type>"."""
    import torch

    if engine == "xmem":
        from tam_core.trackers.xmem.family import XMemTrackerFactory
        from tam_core.trackers.xmem.network import XMemNetwork
        from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

        net = XMemNetwork()
        net.load_state_dict(xmem_seeded_state_dict(1))
        net = net.to(device).eval()
        return XMemTrackerFactory(net, torch.device(device), None), sum(p.numel() for p in net.parameters())
    from transformers import Sam2VideoConfig, Sam2VideoModel, Sam2VideoProcessor
    from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig

    from tam_core.trackers.sam2.tiny import save_tiny
    from tam_core.trackers.sam2.tracker import Sam2TrackerFactory, load_sam2_tracker

    size = engine.split(":", 1)[1]
    if size == "test_tiny":
        folder = save_tiny(Path(tempfile.mkdtemp()) / "tiny")
        factory = load_sam2_tracker(folder, device)
        return factory, sum(p.numel() for p in factory.model.parameters())
    hiera = HIERA[size.removeprefix("hiera_")]
    channels = list(reversed(hiera["embed_dim_per_stage"]))
    vision = Sam2VisionConfig(backbone_config=Sam2HieraDetConfig(**hiera).to_dict(), backbone_channel_list=channels)
    torch.manual_seed(0)
    model = Sam2VideoModel(Sam2VideoConfig(vision_config=vision.to_dict())).to(device).eval()
    from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    processor = Sam2VideoProcessor(image_processor=Sam2ImageProcessor(), video_processor=Sam2VideoVideoProcessor())
    return Sam2TrackerFactory(model, processor, torch.device(device)), sum(p.numel() for p in model.parameters())


def child_speed(engine: str, device: str, n: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    factory, params = build(engine, device)
    tracker = factory()
    cpu, wall = [], []
    for t, (img, masks) in enumerate(frames(n + 2, (480, 854))):
        c0, w0 = time.process_time(), time.perf_counter()
        tracker.step(img, masks if t == 0 else None)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if t >= 2:
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    out = {"engine": engine, "params_m": round(params / 1e6, 1), "frames": n,
           "cpu_s_per_frame": round(float(np.median(cpu)), 3), "wall_s_per_frame": round(float(np.median(wall)), 3),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(0)
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return out


def child_memory(engine: str, device: str, length: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    factory, _ = build(engine, device)
    tracker = factory()
    rss = []
    for t, (img, masks) in enumerate(frames(length, (64, 96))):
        tracker.step(img, masks if t == 0 else None, end=t == length - 1)
        if t in (length // 10, length - 1):
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out = {"engine": engine, "frames": length, "peak_rss_mib": round(rss[-1]),
           "growth_mib_after_first_tenth": round(rss[-1] - rss[0], 1)}
    if engine == "xmem":
        out["memory_elements"] = int(tracker.memory.work_size + tracker.memory.long_size)
    else:
        from tam_core.trackers.hf_stream import kept_frames

        out["session_frames"], out["session_outputs"] = kept_frames(tracker.session)
    return out


def run_child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{args}: failed\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default="hiera_tiny,hiera_small", help="SAM 2.1 layouts for the speed table")
    p.add_argument("--frames", type=int, default=4, help="timed frames per engine (after 2 warm-up steps)")
    p.add_argument("--lengths", default="50,200,2000", help="pass lengths for the memory table")
    p.add_argument("--quick", action="store_true", help="2 timed frames, lengths 50,200")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, engine, device, n, threads = args.child
        fn = child_speed if kind == "speed" else child_memory
        print(json.dumps(fn(engine, device, int(n), int(threads))))
        return 0
    if args.quick:
        args.frames, args.lengths = 2, "50,200"
    engines = ["xmem", *(f"sam2:{s}" for s in args.sizes.split(",") if s)]
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "device": args.device,
              "threads": args.threads, "speed": [], "memory": []}
    if not args.skip_speed:
        print(f"speed at 480p, {args.frames} frames after 2 warm-up steps, {args.threads} threads ({args.device})")
        for engine in engines:
            row = run_child("speed", engine, args.device, str(args.frames), str(args.threads))
            result["speed"].append(row)
            print("  " + json.dumps(row), flush=True)
    if not args.skip_memory:
        print("memory over pass lengths (64x96 frames; SAM 2.1: its tiny test architecture, same wrapper)")
        for engine in ("xmem", "sam2:test_tiny"):
            for length in (int(x) for x in args.lengths.split(",")):
                row = run_child("memory", engine, args.device, str(length), str(args.threads))
                result["memory"].append(row)
                print("  " + json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
