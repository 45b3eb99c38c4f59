"""Where one XMem frame's time goes: per network part, and per operator (torch.profiler).

    python benchmarks/xmem_profile.py [--frames 8] [--size 480 854] [--objects 2] [--threads 2]
        [--compile] [--top 12]

Seeded weights, default config, the synthetic clip of ``xmem_speed.py``; frames
0 (given masks) and 1 are warm-up, the rest are profiled. Part times come from
wrapping the parts' ``forward`` (key encoder, key projection, value encoder,
the decoder and its stages); shares are of the total tracker time. The
operator table is torch.profiler's self-CPU time. Multiply-accumulates per
frame are counted from the convolutions' shapes (``--flops``), which is what
bounds a CPU that is already running them in oneDNN.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTS = ("key_encoder", "key_proj", "value_encoder", "decoder", "decoder.fuser", "decoder.up_16_8",
         "decoder.up_8_4", "decoder.hidden_update")


def time_parts(network) -> dict[str, float]:
    """Wrap each part's forward to add its seconds to the returned dict."""
    acc: dict[str, float] = collections.defaultdict(float)
    for name in PARTS:
        module = network.get_submodule(name)
        inner = module.forward

        def timed(*args, _inner=inner, _name=name, **kwargs):
            start = time.perf_counter()
            out = _inner(*args, **kwargs)
            acc[_name] += time.perf_counter() - start
            return out

        module.forward = timed
    return acc


class ConvCounter:
    """Counts multiply-accumulates of every F.conv2d call while active."""

    def __init__(self):
        self.macs = 0
        self._orig = F.conv2d

    def __enter__(self):
        def counting(x, w, *args, **kwargs):
            out = self._orig(x, w, *args, **kwargs)
            self.macs += out.numel() * w.shape[1] * w.shape[2] * w.shape[3]
            return out

        F.conv2d = counting
        torch.nn.modules.conv.F.conv2d = counting
        return self

    def __exit__(self, *exc):
        F.conv2d = self._orig
        torch.nn.modules.conv.F.conv2d = self._orig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, nargs=2, default=[480, 854], metavar=("H", "W"))
    p.add_argument("--objects", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="profile the compiled network")
    p.add_argument("--top", type=int, default=12, help="operators to list")
    a = p.parse_args(argv)

    from xmem_speed import synthetic_clip

    from tam_core.trackers.xmem import XMemNetwork, XMemTracker
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    torch.set_num_threads(a.threads)
    net = XMemNetwork()
    net.load_state_dict(xmem_seeded_state_dict(1))
    net.eval().requires_grad_(False).fuse_for_inference()
    if a.compile:
        net.compile_for_inference()
    frames, first = synthetic_clip(a.frames, *a.size, a.objects)
    tracker = XMemTracker(net)
    tracker.step(frames[0], {int(v): first == v for v in np.unique(first) if v})
    with ConvCounter() as counter:
        tracker.step(frames[1])  # a non-memory frame: key encoder + decoder
    acc = time_parts(net)
    profiled = range(2, a.frames)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for t in profiled:
            tracker.step(frames[t], end=(t == a.frames - 1))
        total = time.perf_counter() - start
    n = len(profiled)
    print(f"{a.size[0]}x{a.size[1]}, {a.objects} objects, {a.threads} threads, {n} frames: "
          f"{total / n * 1000:.0f} ms/frame; convolutions of a non-memory frame: {counter.macs / 1e9:.1f} GMAC")
    for name in PARTS:
        print(f"  {name:24s} {acc[name] / n * 1000:8.0f} ms/frame  {100 * acc[name] / total:5.1f} %")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
