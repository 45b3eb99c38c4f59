"""SAM 3 concept tracking (``tam_core.concepts.tracker.ConceptTracker``, the
wrapper every entry point uses) on this machine, random weights: figures of
speed and memory only, never of what is found.

* speed: CPU-s and wall-s per frame of ``ConceptTracker.step`` on 480p frames
  (854x480, two moving discs), prompt "ball, box", median after one warm-up
  frame, for the tiny test layout (224 px, ``tam_core.concepts.tiny``) and the
  official layout (``Sam3VideoConfig()``: 1008 px, about 860 M parameters,
  3.4 GB in fp32), each in its own subprocess (so peak RSS is its own);
* memory: peak RSS and what the session holds (``concept_kept``: processed
  frames, per-frame entries) after passes of ``--lengths`` frames (64x96
  frames, tiny layout: growth is the session's, not the weights'), pruned as
  every entry point runs it, and one short unpruned pass for contrast. A
  streaming SAM 3 session never drops an object it found (its hot-start
  removal needs future frames), so its state also grows with the number of
  distinct objects found; random weights "find" new objects on every frame,
  so these passes cap them at ``MEMORY_OBJECTS`` (SAM 3's own
  ``max_num_objects``, 10,000 by default) to measure growth with frames.

    python benchmarks/concepts.py                        # speed (tiny, full) + memory (200, 2000), CPU
    python benchmarks/concepts.py --quick                # tiny only, lengths 50,200
    python benchmarks/concepts.py --device cuda --frames 10 --json out.json   # on a GPU (GPU name and memory printed)
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
sys.path.insert(0, str(ROOT))
from benchmarks.trackers import frames  # noqa: E402  (the same two moving discs)

PROMPT = ("ball", "box")


MEMORY_OBJECTS = 4  # the memory passes cap SAM 3's objects (its max_num_objects): see the module doc


def build(layout: str, device: str, **config):
    """(ConceptTrackerFactory, parameter count) for "tiny" or "full"; ``config``: tiny config overrides."""
    import torch
    from transformers import Sam3VideoConfig, Sam3VideoModel

    from tam_core.concepts.postprocess import install
    from tam_core.concepts.tiny import save_tiny, tiny_processor
    from tam_core.concepts.tracker import ConceptTrackerFactory, load_concept_tracker

    if layout == "tiny":
        factory = load_concept_tracker(save_tiny(Path(tempfile.mkdtemp()) / "tiny", **config), device)
        return factory, sum(p.numel() for p in factory.model.parameters())
    install()
    torch.manual_seed(0)
    model = Sam3VideoModel(Sam3VideoConfig()).to(device).eval()
    factory = ConceptTrackerFactory(model, tiny_processor(1008, 288), torch.device(device))
    return factory, sum(p.numel() for p in model.parameters())


def child_speed(layout: str, device: str, n: int, threads: int) -> dict:
    import torch

    from tam_core.concepts.prompt import ConceptPrompt

    torch.set_num_threads(threads)
    factory, params = build(layout, device)
    tracker = factory(ConceptPrompt(PROMPT, threshold=0.0))
    cpu, wall, found = [], [], 0
    for t, (img, _) in enumerate(frames(n + 1, (480, 854))):
        c0, w0 = time.process_time(), time.perf_counter()
        objects = tracker.step(img)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if t >= 1:
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            found = max(found, len(objects))
        print(f"  {layout}: frame {t + 1}/{n + 1} {time.perf_counter() - w0:.1f} s", file=sys.stderr, flush=True)
    out = {"layout": layout, "params_m": round(params / 1e6, 1), "frames": n,
           "cpu_s_per_frame": round(float(np.median(cpu)), 3), "wall_s_per_frame": round(float(np.median(wall)), 3),
           "objects_max": found, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(0)
        out["precision"] = "fp32"
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return out


def child_memory(layout: str, device: str, length: int, threads: int, prune: bool = True) -> dict:
    import torch

    from tam_core.concepts.prompt import ConceptPrompt
    from tam_core.concepts.tracker import concept_kept

    torch.set_num_threads(threads)
    factory, _ = build(layout, device, max_num_objects=MEMORY_OBJECTS)
    tracker = factory(ConceptPrompt(PROMPT, threshold=0.0), prune=prune)
    rss, kept = [], []
    t0 = time.perf_counter()
    for t, (img, _) in enumerate(frames(length, (64, 96))):
        tracker.step(img)
        if t in (length // 10, length - 1):
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            kept.append(concept_kept(tracker.session))
        if (t + 1) % 200 == 0:
            print(f"  {layout} memory: {t + 1}/{length} frames, {time.perf_counter() - t0:.0f} s", file=sys.stderr,
                  flush=True)
    return {"layout": layout, "frames": length, "pruned": prune, "peak_rss_mib": round(rss[-1]),
            "growth_mib_after_first_tenth": round(rss[-1] - rss[0], 1),
            "held_at_first_tenth": list(kept[0]), "held_at_end": list(kept[-1]),
            "objects": len(tracker.session.obj_ids)}


def run_child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{args}: failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda when available)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--layouts", default="tiny,full", help="layouts for the speed table")
    p.add_argument("--frames", type=int, default=3, help="timed frames per layout (after 1 warm-up frame)")
    p.add_argument("--lengths", default="200,2000", help="pass lengths for the memory table (tiny layout)")
    p.add_argument("--unpruned", type=int, default=200, help="length of the unpruned contrast pass (0: none)")
    p.add_argument("--quick", action="store_true", help="tiny only, 2 timed frames, lengths 50,200, unpruned 50")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, layout, device, n, threads, prune = args.child
        out = (child_speed(layout, device, int(n), int(threads)) if kind == "speed"
               else child_memory(layout, device, int(n), int(threads), prune == "1"))
        print(json.dumps(out))
        return 0
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.quick:
        args.layouts, args.frames, args.lengths, args.unpruned = "tiny", 2, "50,200", 50
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "device": args.device,
              "threads": args.threads, "load": os.getloadavg(), "speed": [], "memory": []}
    if not args.skip_speed:
        print(f"speed at 480p, {args.frames} frames after 1 warm-up frame, {args.threads} threads ({args.device})")
        for layout in (x for x in args.layouts.split(",") if x):
            row = run_child("speed", layout, args.device, str(args.frames), str(args.threads), "1")
            result["speed"].append(row)
            print("  " + json.dumps(row), flush=True)
    if not args.skip_memory:
        print("memory over pass lengths (64x96 frames, tiny layout, pruned as every entry point runs it)")
        runs = [(int(x), "1") for x in args.lengths.split(",") if x] + ([(args.unpruned, "0")] if args.unpruned else [])
        for length, prune in runs:
            row = run_child("memory", "tiny", args.device, str(length), str(args.threads), prune)
            result["memory"].append(row)
            print("  " + json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
