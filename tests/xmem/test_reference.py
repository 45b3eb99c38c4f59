"""Fidelity to the original XMem: our engine against the original's outputs on
seeded weights (tests/data/xmem, copied from the shared reference fixtures)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tam_core.trackers.xmem.network import XMemNetwork
from tam_core.trackers.xmem.seeded_weights import digest, layout_of, xmem_seeded_state_dict

ROOT = Path(__file__).resolve().parents[2]


def test_state_dict_layout_is_the_original(xmem_data):
    expected = [(k, tuple(s), d) for k, s, d in json.loads((xmem_data / "layout.json").read_text())]
    assert layout_of(XMemNetwork().state_dict()) == expected


@pytest.mark.slow
@pytest.mark.parametrize("seed, sha_file", [(1, "weights_seed1.sha256"), (5, "case2/weights_seed5.sha256")])
def test_weight_generator_matches_published_digest(xmem_data, seed, sha_file):
    assert digest(xmem_seeded_state_dict(seed)) == (xmem_data / sha_file).read_text().split()[0]


def _run_reference_script(weights: Path, case: Path, config: str, out: Path, isa: str | None = None) -> dict:
    env = dict(os.environ)
    if isa is not None:  # oneDNN's kernels for an older CPU (a no-op on a CPU without newer ones)
        env["ONEDNN_MAX_CPU_ISA"] = isa
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "xmem_reference.py"), "--weights", str(weights),
         "--case", str(case), "--config", config, "--out", str(out)],
        check=True, cwd=ROOT, capture_output=True, env=env,
    )
    return dict(np.load(out))


def _reference_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("xmem_reference", ROOT / "benchmarks" / "xmem_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_agrees(ours: dict, ref: dict) -> None:
    # The fixtures' README tolerance (one definition: benchmarks/xmem_reference.py).
    bench = _reference_module()
    assert ours["probs"].shape == ref["probs"].shape
    assert bench.violations(bench.agreement(ours, ref)) == []


def _stats(**changes) -> dict:
    base = {"max_abs": 0.0, "mean_abs": 0.0, "p999_abs": 0.0, "max_frame_argmax_mismatch": 0.0,
            "max_frame_argmax_mismatch_all_pixels": 0.0,
            "num_channels_equal": True, "work_mem_equal": True, "long_mem_equal": True}
    return {**base, **changes}


def test_tolerance_is_the_fixture_readmes():
    """The numbers of tests/data/xmem/README.md "Suggested equivalence tolerance":
    the original itself on an AVX-512 CPU (max 2.3e-3, p99.9 9.8e-4, 0.28 % argmax on
    one frame) passes; the misreadings it lists (max >= 3e-2, >= 1.5 % argmax) fail."""
    bench = _reference_module()
    assert bench.TOLERANCE == {"max_abs": 1e-2, "mean_abs": 1e-5, "p999_abs": 2e-3, "max_frame_argmax_mismatch": 5e-3}
    assert bench.CONFIDENT_MARGIN == 1e-2
    assert bench.violations(_stats(max_abs=2.3e-3, mean_abs=3e-6, p999_abs=9.8e-4, max_frame_argmax_mismatch=2.8e-3)) == []
    assert bench.violations(_stats(max_abs=3e-2)) == ["max_abs 0.03 > 0.01"]
    assert bench.violations(_stats(max_frame_argmax_mismatch=0.015)) == ["max_frame_argmax_mismatch 0.015 > 0.005"]
    assert bench.violations(_stats(p999_abs=2.1e-3, mean_abs=2e-5)) == ["mean_abs 2e-05 > 1e-05", "p999_abs 0.0021 > 0.002"]
    assert bench.violations(_stats(long_mem_equal=False)) == ["long_mem_equal"]
    # the all-pixel figure is reported, not judged (near-tie flips are fp32 noise)
    assert bench.violations(_stats(max_frame_argmax_mismatch_all_pixels=0.5)) == []


def _case(ref_pixels: dict[int, list[float]], our_pixels: dict[int, list[float]]) -> tuple[dict, dict]:
    """Two 1-frame runs of 1000 pixels, background 0.7 / objects 0.2, 0.1 except
    at the given pixel indices (reference and ours)."""
    def run(pixels):
        probs = np.tile(np.array([0.7, 0.2, 0.1], np.float32)[None, :, None, None], (1, 1, 10, 100))
        flat = probs.reshape(1, 3, -1)
        for i, p in pixels.items():
            flat[0, :, i] = p
        return {"probs": probs, "masks": probs.argmax(1).astype(np.uint8), "num_channels": np.array([3]),
                "work_mem_size": np.array([60]), "long_mem_size": np.array([0])}
    return run(our_pixels), run(ref_pixels)


def test_argmax_flips_count_on_confident_pixels_only():
    """README rule: argmax flips are counted among the pixels whose reference
    top-two margin is >= 1e-2; flips at near-ties are reported, not counted."""
    bench = _reference_module()
    near_tie = range(0, 30)  # 3 % of the frame, reference margin 0.009
    ours, ref = _case({i: [0.4955, 0.5045, 0.0] for i in near_tie}, {i: [0.5005, 0.4995, 0.0] for i in near_tie})
    stats = bench.agreement(ours, ref)
    assert stats["max_frame_argmax_mismatch"] == 0.0
    assert stats["max_frame_argmax_mismatch_all_pixels"] == pytest.approx(0.03)

    # 6 flips among 970 confident pixels (margin 0.011, 0.62 %) beside the 30 near-ties: outside
    sure = range(30, 36)
    ref_px = {**{i: [0.4955, 0.5045, 0.0] for i in near_tie}, **{i: [0.4945, 0.5055, 0.0] for i in sure}}
    our_px = {i: [0.5005, 0.4995, 0.0] for i in [*near_tie, *sure]}
    stats = bench.agreement(*_case(ref_px, our_px))
    assert stats["max_frame_argmax_mismatch"] == pytest.approx(6 / 970)
    assert stats["max_frame_argmax_mismatch_all_pixels"] == pytest.approx(36 / 1000)
    assert "max_frame_argmax_mismatch 0.00619 > 0.005" in bench.violations(stats)


@pytest.mark.slow
@pytest.mark.parametrize("config", ["default", "smallmem"])
def test_case1_matches_original(xmem_data, seed1_weights, tmp_path, config):
    ours = _run_reference_script(seed1_weights, xmem_data, config, tmp_path / "out.npz")
    ref = dict(np.load(xmem_data / f"output_{config}.npz"))
    _assert_agrees(ours, ref)
    if config == "smallmem":  # consolidation and eviction really happened
        consolidations = int(np.sum(np.diff(ref["work_mem_size"]) < 0))
        assert consolidations == 5
        assert consolidations * 16 > ref["long_mem_size"].max() == 40  # prototypes were evicted


@pytest.mark.slow
@pytest.mark.parametrize("isa", [None, "AVX2"])
def test_case2_latecomer_matches_original(xmem_data, tmp_path, isa):
    """The case with a near-tie at the top-k cut, run with this CPU's fastest
    kernels and with AVX2 ones (what a CPU without AVX-512 runs): both agree
    with the original within the fixture README's tolerance."""
    import torch

    weights = tmp_path / "seed5.pth"
    torch.save(xmem_seeded_state_dict(5), weights)
    ours = _run_reference_script(weights, xmem_data / "case2", "latecomer", tmp_path / "out.npz", isa)
    ref = dict(np.load(xmem_data / "case2" / "output_latecomer.npz"))
    _assert_agrees(ours, ref)
    assert list(ref["num_channels"][:5]) == [3, 3, 3, 3, 4]
