"""Run OUR XMem engine on a reference case and write outputs in the reference format.

    python benchmarks/xmem_reference.py --weights W.pth --case DIR [--config NAME] --out OUT.npz

A case folder holds ``input.npz`` (``frames`` uint8 [T,H,W,3], ``given_mask_frames``
int [n], ``given_masks`` uint8 [n,H,W] label maps) and ``config_NAME.json``.
The protocol mirrors the original evaluation: the labels of a given mask are
the objects annotated on that frame (new objects appear on any frame), the last
frame is flagged ``end``; CPU, 2 threads, fp32. Writes ``probs`` float32
[T,K+1,H,W] (objects in order of first appearance; channels of objects that do
not exist yet are zero), ``masks`` uint8 [T,H,W] (argmax), ``num_channels``
int32 [T], ``work_mem_size`` / ``long_mem_size`` int64 [T] (after each frame).
Compare with ``--compare REF.npz`` to print the agreement statistics and check
them against :data:`TOLERANCE` (exit 1 when outside).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def find_config(case: Path, name: str | None) -> Path:
    if name is not None:
        path = case / f"config_{name}.json"
        if not path.exists():
            sys.exit(f"no config {path}")
        return path
    configs = sorted(case.glob("config_*.json"))
    if len(configs) != 1:
        sys.exit(f"{case} has {len(configs)} configs ({[c.name for c in configs]}); choose one with --config")
    return configs[0]


def run_case(weights: str, case: Path, config_path: Path, threads: int = 2) -> dict[str, np.ndarray]:
    from tam_core.trackers.xmem import XMemConfig, XMemTracker, load_xmem

    torch.set_num_threads(threads)
    data = np.load(case / "input.npz")
    frames = data["frames"]
    given = {int(t): m for t, m in zip(data["given_mask_frames"], data["given_masks"])}
    config = XMemConfig.from_json(config_path)
    tracker = XMemTracker(load_xmem(weights, "cpu"), config)

    num_frames, height, width = frames.shape[:3]
    labels = sorted({int(v) for m in given.values() for v in np.unique(m) if v != 0})
    probs = np.zeros((num_frames, len(labels) + 1, height, width), np.float32)
    num_channels = np.zeros(num_frames, np.int32)
    work = np.zeros(num_frames, np.int64)
    long = np.zeros(num_frames, np.int64)
    for t in range(num_frames):
        masks = None
        if t in given:
            masks = {int(v): given[t] == v for v in np.unique(given[t]) if v != 0}
        out = tracker.step(frames[t], masks, end=(t == num_frames - 1)).stacked  # [K+1,H,W], channel order
        tracker.commit()
        probs[t, : out.shape[0]] = out
        num_channels[t] = out.shape[0]
        work[t], long[t] = tracker.memory.work_size, tracker.memory.long_size
    return {
        "probs": probs,
        "masks": probs.argmax(1).astype(np.uint8),
        "num_channels": num_channels,
        "work_mem_size": work,
        "long_mem_size": long,
    }


# The reference fixtures' README (tests/data/xmem/README.md, "Suggested
# equivalence tolerance"), per run: holds across CPUs (the original XMem
# itself, on a CPU with AVX-512, differs from case2's fixture by p99.9 9.8e-4
# and 0.28 % argmax pixels on one frame: a near-tie at the top-k cut) and
# across exact rewrites (BatchNorm folding, channels-last). Argmax flips are
# counted on confident pixels only: random weights leave many pixels at
# near-ties, whose flips are fp32 noise bounded by the max / p99.9 rules.
# Every misreading of the algorithm tried fails by far (max >= 3e-2, >= 1.5 %).
TOLERANCE = {
    "max_abs": 1e-2,  # max |prob - ref| over all frames and pixels
    "mean_abs": 1e-5,  # mean |prob - ref|
    "p999_abs": 2e-3,  # 99.9th percentile of |prob - ref|
    "max_frame_argmax_mismatch": 5e-3,  # fraction of a frame's confident pixels whose argmax differs, worst frame
}
# A pixel is confident when the reference's top-two probability margin is at least this.
CONFIDENT_MARGIN = 1e-2


def violations(stats: dict) -> list[str]:
    """What in ``agreement(...)`` is outside :data:`TOLERANCE` (empty: equivalent).
    Memory sizes and channel counts must be identical."""
    out = [f"{k} {stats[k]:.3g} > {limit:g}" for k, limit in TOLERANCE.items() if not stats[k] <= limit]
    out += [k for k in ("num_channels_equal", "work_mem_equal", "long_mem_equal") if not stats[k]]
    return out


def confident(ref_probs: np.ndarray) -> np.ndarray:
    """bool [T,H,W]: pixels whose reference top-two probability margin is >= CONFIDENT_MARGIN."""
    top2 = np.sort(ref_probs, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) >= CONFIDENT_MARGIN


def agreement(ours: dict, ref: dict) -> dict[str, float]:
    """The statistics of the reference README's suggested tolerance, plus the
    all-pixel argmax figure it asks to report beside the confident-pixel one."""
    d = np.abs(ours["probs"] - ref["probs"])
    frames = len(d)
    flipped = (ours["masks"] != ref["masks"]).reshape(frames, -1)
    sure = confident(ref["probs"]).reshape(frames, -1)
    per_frame_confident = (flipped & sure).sum(1) / np.maximum(sure.sum(1), 1)
    return {
        "max_abs": float(d.max()),
        "mean_abs": float(d.mean()),
        "p999_abs": float(np.quantile(d, 0.999)),
        "max_frame_argmax_mismatch": float(per_frame_confident.max()),
        "max_frame_argmax_mismatch_all_pixels": float(flipped.mean(1).max()),
        "num_channels_equal": bool(np.array_equal(ours["num_channels"], ref["num_channels"])),
        "work_mem_equal": bool(np.array_equal(ours["work_mem_size"], ref["work_mem_size"])),
        "long_mem_equal": bool(np.array_equal(ours["long_mem_size"], ref["long_mem_size"])),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="XMem state dict (.pth)")
    p.add_argument("--case", required=True, type=Path, help="case folder (input.npz, config_*.json)")
    p.add_argument("--config", default=None, help="NAME of config_NAME.json (default: the folder's only config)")
    p.add_argument("--out", required=True, type=Path, help="output .npz")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compare", type=Path, default=None, help="reference output .npz to compare with")
    a = p.parse_args(argv)
    result = run_case(a.weights, a.case, find_config(a.case, a.config), a.threads)
    np.savez_compressed(a.out, **result)
    print(f"wrote {a.out}")
    if a.compare is not None:
        stats = agreement(result, dict(np.load(a.compare)))
        for k, v in stats.items():
            print(f"{k}: {v}")
        bad = violations(stats)
        print("equivalent within the reference tolerance" if not bad else "NOT equivalent: " + "; ".join(bad))
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
