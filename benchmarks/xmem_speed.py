"""Propagation speed of our XMem engine (frames per second).

    python benchmarks/xmem_speed.py [--device cpu|cuda] [--dtype fp32 fp16 bf16]
        [--frames 30] [--size 480 854] [--objects 2] [--threads 2]
        [--original PATH_TO_ORIGINAL_XMEM_CHECKOUT] [--compile] [--json OUT.json]

Default configuration, seeded weights (no checkpoint download needed: speed
does not depend on the weights' values), a synthetic clip with moving objects.
The first frame (given mask) and ``--warmup`` frames are not timed.

``--original`` runs the original implementation side by side, in the same
process and on the same frames and weights, through its own ``InferenceCore``
(a checkout of hkchengrex/XMem that you provide; nothing of it is part of this
project).

``--compile`` adds our engine with ``XMemNetwork.compile_for_inference`` (a
copy of the network); its compile time (two warm-up frames on a throwaway
tracker, same shapes) is reported separately and not in its fps. The load
average before and after is printed: the machine's other load distorts fps,
the interleaved ratios much less.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time

import numpy as np
import torch


def synthetic_clip(num_frames: int, height: int, width: int, num_objects: int, seed: int = 0):
    """frames uint8 [T,H,W,3] with ``num_objects`` moving discs, and the first frame's label map."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    background = (rng.random((height // 8 + 1, width // 8 + 1, 3)) * 255).astype(np.uint8)
    background = np.kron(background, np.ones((8, 8, 1), np.uint8))[:height, :width]
    colors = rng.integers(0, 255, (num_objects, 3))
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    first = np.zeros((height, width), np.uint8)
    for t in range(num_frames):
        img = background.copy()
        for k in range(num_objects):
            cy = height * (0.3 + 0.4 * k / max(1, num_objects - 1)) + 10 * np.sin(t / 5 + k)
            cx = width * (0.2 + 0.6 * ((t / num_frames + k / num_objects) % 1))
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < (min(height, width) / 8) ** 2
            img[disc] = colors[k]
            if t == 0:
                first[disc] = k + 1
        frames[t] = img
    return frames, first


class Ours:
    name = "tam_core.trackers.xmem"

    def __init__(self, network, frames, first, device, dtype):
        from tam_core.trackers.xmem import XMemTracker

        self.tracker = XMemTracker(network, device=device, autocast_dtype=None if dtype == "fp32" else dtype)
        self.tracker.step(frames[0], {int(v): first == v for v in np.unique(first) if v})


    def step(self, frame, end):
        return self.tracker.step(frame, end=end).label_map()  # what a consumer does with the result


def compile_network(network, frames, first, device) -> tuple[object, float]:
    """A compiled copy of ``network`` and the seconds its first two frames took
    (compilation for this frame size and object count)."""
    compiled = copy.deepcopy(network).compile_for_inference()
    start = time.perf_counter()
    warm = Ours(compiled, frames, first, device, "fp32")
    warm.step(frames[1], end=False)
    return compiled, time.perf_counter() - start


class Original:
    """Drives the original InferenceCore the way its eval.py does (fp32)."""

    name = "original XMem"

    def __init__(self, path, state, frames, first, device):
        sys.path.insert(0, path)
        import model.resnet  # noqa: E402  (the original's modules)
        from inference.inference_core import InferenceCore  # noqa: E402
        from model.network import XMem  # noqa: E402

        # Its encoders fetch ImageNet weights on construction; every weight is
        # overwritten right after, so skip that download (there is no network here).
        model.resnet.load_weights_add_extra_dim = lambda *args, **kwargs: None
        model.resnet.model_zoo.load_url = lambda *args, **kwargs: {}
        config = {"top_k": 30, "mem_every": 5, "deep_update_every": -1, "enable_long_term": True,
                  "enable_long_term_count_usage": True, "num_prototypes": 128, "min_mid_term_frames": 5,
                  "max_mid_term_frames": 10, "max_long_term_elements": 10000,
                  "key_dim": 64, "value_dim": 512, "hidden_dim": 64, "single_object": False}
        net = XMem(config, map_location="cpu").to(device).eval()
        net.load_weights(dict(state), init_as_zero_if_needed=False)
        self.core = InferenceCore(net, config=config)
        self.device = device
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        labels = [int(v) for v in np.unique(first) if v]
        onehot = torch.stack([torch.from_numpy(first == v).float() for v in labels]).to(device)
        with torch.inference_mode():
            self.core.set_all_labels(labels)
            self.core.step(self._prep(frames[0]), onehot, labels)

    def _prep(self, img):
        return ((torch.from_numpy(img).permute(2, 0, 1).float() / 255 - self.mean) / self.std).to(self.device)

    def step(self, frame, end):
        with torch.inference_mode():
            prob = self.core.step(self._prep(frame), end=end)
            return torch.argmax(prob, dim=0).cpu().numpy()


def run_interleaved(runners, frames, device, warmup):
    """Step every runner on each frame in turn, so that load from other
    processes on a shared machine hits all of them alike. Returns per runner
    the wall seconds and the process CPU seconds of each timed frame."""
    times = {id(r): [] for r in runners}
    cpu = {id(r): [] for r in runners}
    for t in range(1, len(frames)):
        for r in runners:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start, cpu_start = time.perf_counter(), time.process_time()
            r.step(frames[t], end=(t == len(frames) - 1))
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[id(r)].append(time.perf_counter() - start)
            cpu[id(r)].append(time.process_time() - cpu_start)
    return [times[id(r)][warmup:] for r in runners], [cpu[id(r)][warmup:] for r in runners]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", nargs="+", default=["fp32"], choices=["fp32", "fp16", "bf16"])
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--size", type=int, nargs=2, default=[480, 854], metavar=("H", "W"))
    p.add_argument("--objects", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--original", default=None, help="path to a checkout of the original XMem, to compare")
    p.add_argument("--compile", action="store_true", help="also run our engine compiled (torch.compile)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)

    from tam_core.trackers.xmem import XMemNetwork
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    torch.set_num_threads(a.threads)
    state = xmem_seeded_state_dict(1)
    network = XMemNetwork()
    network.load_state_dict(state, strict=True)
    network.eval().requires_grad_(False).to(a.device).fuse_for_inference()
    frames, first = synthetic_clip(a.frames, *a.size, a.objects)

    machine = torch.cuda.get_device_name(a.device) if a.device.startswith("cuda") else platform.processor() or platform.machine()
    load_before = os.getloadavg()
    runners, labels = [], []
    for dtype in a.dtype:
        runners.append(Ours(network, frames, first, a.device, dtype))
        labels.append(("tam_core.trackers.xmem", dtype))
    compile_s = None
    if a.compile:
        compiled, compile_s = compile_network(network, frames, first, a.device)
        runners.append(Ours(compiled, frames, first, a.device, "fp32"))
        labels.append(("tam_core.trackers.xmem+compile", "fp32"))
    if a.original:
        runners.append(Original(a.original, state, frames, first, a.device))
        labels.append(("original XMem", "fp32"))
    rows = []
    times, cpu_times = run_interleaved(runners, frames, a.device, a.warmup)
    for (impl, dtype), t, c in zip(labels, times, cpu_times):
        rows.append({"impl": impl, "dtype": dtype, "fps": len(t) / sum(t), "ms_per_frame": 1000 * float(np.mean(t)),
                     "cpu_ms_per_frame": 1000 * float(np.mean(c)), "ms_frames": [1000 * x for x in t]})
    load_after = os.getloadavg()
    print(f"XMem propagation, {a.size[0]}x{a.size[1]}, {a.objects} objects, default config, device {a.device} "
          f"({machine}), threads {a.threads}, {a.frames - 1 - a.warmup} timed frames, "
          f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    for r in rows:
        print(f"  {r['impl']:<22} {r['dtype']:<5} {r['fps']:8.3f} fps  {r['ms_per_frame']:9.1f} ms/frame  "
              f"{r['cpu_ms_per_frame']:9.1f} CPU-ms/frame")
    if compile_s is not None:
        print(f"  compile time (first two frames of the compiled engine): {compile_s:.0f} s")
    if a.original:
        base = np.asarray(times[-1])
        for (impl, dtype), t, r in zip(labels[:-1], times[:-1], rows[:-1]):
            per_frame = base / np.asarray(t)  # frame-by-frame ratios: neighbouring steps saw the same load
            print(f"  speed-up {impl} {dtype} / original: {r['fps'] / rows[-1]['fps']:.2f}x "
                  f"(median of per-frame ratios {np.median(per_frame):.2f}x, range {per_frame.min():.2f}-{per_frame.max():.2f}; "
                  f"CPU time {rows[-1]['cpu_ms_per_frame'] / r['cpu_ms_per_frame']:.2f}x)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": a.device, "machine": machine, "size": a.size, "objects": a.objects,
                       "threads": a.threads, "load_before": load_before, "load_after": load_after,
                       "compile_s": compile_s, "results": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
