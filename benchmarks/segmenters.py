"""Segmenter families side by side: what a click and a refinement cost.

    python benchmarks/segmenters.py [--quick] [--families efficientvit_sam:l0 sam2:hiera_tiny ...]
        [--threads 2] [--device cpu|cuda|auto] [--frames 21] [--every 10] [--repeats 5]
        [--no-refine-share] [--json segmenters.json]

Each family runs in its own subprocess (so its peak RSS is its own), built
with random weights (speed and memory do not depend on the weights' values)
at its input size, on one 480x854 frame of ``refine_overhead.clip``:

- params: the whole model and its image encoder (millions);
- encode: ``embed`` of a new frame (preprocessing included), wall seconds and
  CPU seconds (all threads), median of ``--repeats`` after one warm-up;
- new-frame click: encode + the first click's ``predict``, wall seconds (goal
  on 2 CPU cores with the fast default: <= 1 s);
- re-click: ``predict`` of another click on the encoded frame, milliseconds
  (goal: <= 50 ms);
- peak RSS of the subprocess (and peak CUDA memory on a GPU);
- refine share: ``refine_overhead.run_pass`` (our XMem with random weights
  tracking a moving disc, ``Refiner.refine_frame`` on every frame, the
  tracker made unsure on one frame in ``--every``), refinement seconds /
  tracking seconds within the same pass (goal: <= 25 %).

``--quick``: the fast default and SAM 2.1 tiny only, 11 frames, 3 repeats.
With CUDA available (``--device auto``) every family runs on the GPU too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = ["efficientvit_sam:l0", "efficientvit_sam:l1", "efficientvit_sam:xl0", "sam2:hiera_tiny", "sam:vit_b"]
QUICK = ["efficientvit_sam:l0", "sam2:hiera_tiny"]


def random_segmenter(spec: str, device):
    """(segmenter, its image encoder module) of the official architecture ``spec``, random weights."""
    import torch

    from tam_core.segmenters.registry import parse_segmenter

    family, model_type = parse_segmenter(spec)
    torch.manual_seed(0)
    if family == "sam":
        from tam_core.segmenters.sam import SamConfig, SamSegmenter, build_sam

        seg = SamSegmenter(build_sam(SamConfig.preset(model_type)), device=device)
        return seg, seg.model.image_encoder
    if family == "efficientvit_sam":
        from tam_core.segmenters.efficientvit import EfficientVitSamSegmenter, build_efficientvit_sam

        seg = EfficientVitSamSegmenter(build_efficientvit_sam(model_type), device=device)
        return seg, seg.model.image_encoder
    if family == "sam2":
        from tam_core.segmenters.sam2 import Sam2Segmenter, build_sam2

        seg = Sam2Segmenter(build_sam2(model_type), device=device)
        return seg, seg.model.vision_encoder
    raise SystemExit(f"no random-weight builder for {spec}")


def _millions(module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def measure(spec: str, device_name: str, threads: int, repeats: int, frames: int, every: int,
            refine_share: bool) -> dict:
    """One family's figures (run inside its own process)."""
    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from refine_overhead import _Sync, clip, run_pass

    from tam_core.device import resolve_device
    from tam_core.refinement import Refiner

    torch.set_num_threads(threads)
    device = resolve_device(device_name)
    now = _Sync(device)
    video, labels = clip(max(frames, 3), 480, 854)
    seg, encoder = random_segmenter(spec, device)
    h, w = video.shape[1:3]
    first, second = np.array([[w / 2, h / 2]]), np.array([[w / 2 + 20, h / 2 + 10]])
    seg.predict(seg.embed(video[1]), points=first)  # warm-up (allocator, kernels)
    enc_wall, enc_cpu, click_wall, reclick = [], [], [], []
    for i in range(repeats):
        image = video[i % len(video)]
        c0, t0 = time.process_time(), now()
        emb = seg.embed(image)
        t1, c1 = now(), time.process_time()
        seg.predict(emb, points=first)
        t2 = now()
        enc_wall.append(t1 - t0)
        enc_cpu.append(c1 - c0)
        click_wall.append(t2 - t0)
        for _ in range(3):
            s = now()
            seg.predict(emb, points=np.concatenate([first, second]), point_labels=np.array([1, 0]))
            reclick.append(now() - s)
    out = {
        "segmenter": spec, "device": str(device), "threads": threads,
        "input_size": getattr(seg, "input_size", None) or seg.model.image_encoder.img_size,
        "params_m": _millions(seg.model), "encoder_params_m": _millions(encoder),
        "encode_wall_s": float(np.median(enc_wall)), "encode_cpu_s": float(np.median(enc_cpu)),
        "new_frame_click_s": float(np.median(click_wall)), "reclick_ms": 1000 * float(np.median(reclick)),
    }
    if refine_share:
        from tam_core.trackers.xmem import XMemNetwork

        network = XMemNetwork().eval().requires_grad_(False).to(device)
        step_s, refine_s, triggered = run_pass(network, video[:frames], labels[:frames], device, None,
                                               Refiner(seg), every)
        out.update(refine_share_pct=100.0 * float(np.sum(refine_s) / np.sum(step_s)),
                   track_s_per_frame=float(np.mean(step_s)), refined_frames=triggered)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def run_one(spec: str, device: str, args) -> dict:
    """``measure`` in a fresh interpreter; its JSON is the last line it prints."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", spec, "--device", device,
           "--threads", str(args.threads), "--repeats", str(args.repeats), "--frames", str(args.frames),
           "--every", str(args.every)] + (["--no-refine-share"] if args.no_refine_share else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"segmenter": spec, "device": device, "error": tail}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    head = (f"{'segmenter':22} {'dev':5} {'in px':>5} {'params M':>9} {'enc M':>6} {'encode s':>9} {'enc CPU s':>9} "
            f"{'click s':>8} {'re-click ms':>11} {'RSS MB':>7} {'refine %':>8}")
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['segmenter']:22} {r['device']:5} error: {r['error']}")
            continue
        share = f"{r['refine_share_pct']:7.1f}%" if "refine_share_pct" in r else "       -"
        lines.append(f"{r['segmenter']:22} {r['device'][:5]:5} {r['input_size']:5d} {r['params_m']:9.1f} "
                     f"{r['encoder_params_m']:6.1f} {r['encode_wall_s']:9.2f} {r['encode_cpu_s']:9.2f} "
                     f"{r['new_frame_click_s']:8.2f} {r['reclick_ms']:11.1f} {r['peak_rss_mb']:7.0f} {share}")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", nargs="+", default=None, metavar="FAMILY:TYPE")
    ap.add_argument("--quick", action="store_true", help="the fast default and SAM 2.1 tiny, 11 frames, 3 repeats")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto (the CPU, and the GPU too when there is one)")
    ap.add_argument("--frames", type=int, default=None, help="frames of the refinement pass (default 21, quick 11)")
    ap.add_argument("--every", type=int, default=10, help="the tracker is unsure on one frame in this many")
    ap.add_argument("--repeats", type=int, default=None, help="timed clicks per family (default 5, quick 3)")
    ap.add_argument("--no-refine-share", action="store_true", help="skip the XMem pass (clicks and memory only)")
    ap.add_argument("--json", default="segmenters.json")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the subprocess of one family
    args = ap.parse_args(argv)
    args.frames = args.frames or (11 if args.quick else 21)
    args.repeats = args.repeats or (3 if args.quick else 5)
    if args.one:
        print(json.dumps(measure(args.one, args.device, args.threads, args.repeats, args.frames, args.every,
                                 not args.no_refine_share)))
        return []

    import torch

    families = args.families or (QUICK if args.quick else DEFAULT)
    devices = ["cpu", "cuda"] if args.device == "auto" and torch.cuda.is_available() else \
        ["cpu" if args.device == "auto" else args.device]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}, {args.threads} threads, 480x854, random weights", flush=True)
    rows = []
    for device in devices:
        for spec in families:
            rows.append(run_one(spec, device, args))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
            if args.json:  # after every family: a slow run still leaves its finished part
                Path(args.json).write_text(json.dumps(rows, indent=2))
    print(table(rows))
    print(f"load after: {os.getloadavg()[0]:.1f}; goals on 2 CPU cores with the fast default: click <= 1 s, "
          "re-click <= 50 ms, refine <= 25 %")
    return rows


if __name__ == "__main__":
    main()
