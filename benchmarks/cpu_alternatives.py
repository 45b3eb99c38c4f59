"""CPU speed-ups that were measured and NOT adopted (figures in docs/benchmarks.md).

    python benchmarks/cpu_alternatives.py bf16       # XMem under CPU bf16 autocast: reference agreement, decoder time
    python benchmarks/cpu_alternatives.py sam-bf16   # SAM ViT-B image encoder, fp32 vs CPU bf16 autocast
    python benchmarks/cpu_alternatives.py winograd   # Winograd F(2x2,3x3) vs oneDNN for XMem's 3x3 convolutions
    [--threads 2] [--repeats 3]

Every comparison is interleaved in one process (fp32 / alternative / fp32 ...)
and prints the load average. ``bf16`` runs the reference case
``tests/data/xmem`` (config ``default``) with seeded weights under
``torch.autocast("cpu", bfloat16)`` and compares with the original's output
using ``xmem_reference.agreement``; the timing is one decoder call at 480x864
with 2 objects. ``sam-bf16`` times the ViT-B image encoder (random weights) on a
1024x1024 input and reports the relative error of its features. ``winograd``
times a pure-PyTorch Winograd F(2x2,3x3) (input/output transforms as strided
element-wise ops, 16 batched GEMMs) against ``F.conv2d`` on channels-last
inputs of the decoder's three scales.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
CL = torch.channels_last


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _report(name: str, times: dict[str, float]) -> None:
    print(f"{name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()) + f"  (load {os.getloadavg()[0]:.1f})",
          flush=True)


def xmem_bf16(repeats: int) -> None:
    import numpy as np

    sys.path.insert(0, str(HERE))
    import xmem_reference

    from tam_core.trackers.xmem import load_xmem
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    case = HERE.parent / "tests" / "data" / "xmem"
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "seed1.pth"
        torch.save(xmem_seeded_state_dict(1), weights)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ours = xmem_reference.run_case(str(weights), case, case / "config_default.json",
                                           threads=torch.get_num_threads())
        print("bf16 vs the original (case default):",
              xmem_reference.agreement(ours, dict(np.load(case / "output_default.npz"))))
        net = load_xmem(weights)
    f16, f8, f4 = (torch.rand(1, c, h, w).contiguous(memory_format=CL)
                   for c, h, w in ((1024, 30, 54), (512, 60, 108), (256, 120, 216)))
    hidden, readout = torch.randn(2, 64, 30, 54), torch.randn(2, 512, 30, 54)
    with torch.inference_mode():
        for _ in range(repeats):
            times = {}
            for mode in ("fp32", "bf16"):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
                    times[mode] = _timed(lambda: net.decoder(f16, f8, f4, hidden, readout, True))
            _report("decoder 480x864, 2 objects", times)


def sam_bf16(repeats: int) -> None:
    from tam_core.segmenters.sam import SamConfig, build_sam

    torch.manual_seed(0)
    encoder = build_sam(SamConfig.vit_b()).eval().image_encoder
    x = torch.randn(1, 3, 1024, 1024)
    out = {}
    with torch.inference_mode():
        for _ in range(repeats):
            times = {}
            for mode in ("fp32", "bf16"):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
                    times[mode] = _timed(lambda: out.__setitem__(mode, encoder(x).float()))
            _report("ViT-B image encoder", times)
    err = (out["bf16"] - out["fp32"]).norm() / out["fp32"].norm()
    print(f"relative feature error bf16 vs fp32: {err.item():.4f}")


_G = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float64)


def winograd_weights(w: torch.Tensor) -> torch.Tensor:
    """[K,C,3,3] -> the 16 transformed weight matrices [16,C,K]."""
    u = torch.einsum("ia,kcab,jb->ijck", _G, w.double(), _G)
    return u.reshape(16, w.shape[1], w.shape[0]).float().contiguous()


def winograd_conv(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """3x3 convolution, stride 1, padding 1, by Winograd F(2x2,3x3); x [N,C,H,W] -> [N,K,H,W] channels-last."""
    n, c, h, w = x.shape
    k = u.shape[2]
    ph, pw = h % 2, w % 2
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1 + pw, 1, 1 + ph))
    th, tw = (h + ph) // 2, (w + pw) // 2
    d = [xp[:, a : a + 2 * th : 2] for a in range(4)]
    rows = [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]
    v = torch.empty(16, n * th * tw, c)
    for i, r in enumerate(rows):
        col = [r[:, :, b : b + 2 * tw : 2] for b in range(4)]
        vi = v[4 * i : 4 * i + 4].view(4, n, th, tw, c)
        torch.sub(col[0], col[2], out=vi[0])
        torch.add(col[1], col[2], out=vi[1])
        torch.sub(col[2], col[1], out=vi[2])
        torch.sub(col[1], col[3], out=vi[3])
    m = torch.bmm(v, u).view(4, 4, n, th, tw, k)
    t0, t1 = m[0] + m[1] + m[2], m[1] - m[2] - m[3]
    y = torch.empty(n, th, 2, tw, 2, k)
    for a, t in enumerate((t0, t1)):
        torch.add(t[0] + t[1], t[2], out=y[:, :, a, :, 0])
        torch.sub(t[1] - t[2], t[3], out=y[:, :, a, :, 1])
    return (y.view(n, 2 * th, 2 * tw, k)[:, :h, :w] + bias).permute(0, 3, 1, 2)


def winograd(repeats: int) -> None:
    torch.manual_seed(0)
    for (n, c, h, w), k in (((2, 256, 120, 216), 256), ((2, 512, 60, 108), 256), ((2, 512, 30, 54), 512)):
        x = torch.randn(n, c, h, w).contiguous(memory_format=CL)
        weight = (torch.randn(k, c, 3, 3) / (3 * c**0.5)).contiguous(memory_format=CL)
        bias = torch.randn(k) * 0.1
        u = winograd_weights(weight)
        with torch.inference_mode():
            ref = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
            err = (winograd_conv(x, u, bias) - ref).abs().max().item()
            for _ in range(repeats):
                _report(f"3x3 conv {c}->{k} at {h}x{w}, batch {n} (winograd max error {err:.1e})",
                        {"oneDNN": _timed(lambda: F.conv2d(x, weight, bias, padding=1)),
                         "winograd": _timed(lambda: winograd_conv(x, u, bias))})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["bf16", "sam-bf16", "winograd"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    {"bf16": xmem_bf16, "sam-bf16": sam_bf16, "winograd": winograd}[a.what](a.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
