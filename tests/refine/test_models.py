"""load_models wiring: checkpoints resolved, SAM loaded strictly, one shared XMem network."""

from __future__ import annotations

import pytest
import torch

import tam_core.segmenters.sam as sam_mod
import tam_core.trackers.xmem as xmem_mod
import tam_core.trackers.xmem.network as xmem_network
from tam_core.errors import CheckpointError, ConfigError
from tam_core.models import ModelOptions, load_models
from tam_core.refinement import Refiner
from tam_core.segmenters.sam import SamConfig, SamSegmenter, build_sam


@pytest.fixture()
def tiny_files(tmp_path, monkeypatch):
    """A tiny SAM checkpoint standing in for vit_b, and a counting load_xmem."""
    torch.manual_seed(0)
    sam_path = tmp_path / "sam_tiny.pth"
    torch.save(build_sam(SamConfig.tiny()).state_dict(), sam_path)
    xmem_path = tmp_path / "xmem.pth"
    xmem_path.write_bytes(b"stand-in")
    monkeypatch.setattr(SamConfig, "preset", classmethod(lambda cls, name: cls.tiny()))
    loads = []

    def fake_load_xmem(path, device):
        loads.append((str(path), str(device)))
        return torch.nn.Linear(1, 1)

    monkeypatch.setattr(xmem_network, "load_xmem", fake_load_xmem)  # what the XMem family loads with
    return sam_path, xmem_path, loads


def test_load_models_shares_one_network(tiny_files):
    sam_path, xmem_path, loads = tiny_files
    models = load_models(ModelOptions(sam_checkpoint=sam_path, xmem_checkpoint=xmem_path, device="cpu"))
    assert isinstance(models.segmenter, SamSegmenter)
    assert models.device == torch.device("cpu")
    assert loads == [(str(xmem_path), "cpu")]
    small = xmem_mod.XMemConfig(top_k=5, mem_every=2)
    a, b = models.tracker_factory(small), models.tracker_factory()
    assert isinstance(a, xmem_mod.XMemTracker) and a is not b
    assert a.network is b.network  # loaded once, shared
    assert a.config == small and b.config == xmem_mod.XMemConfig()  # memory settings per call, not per load
    assert len(loads) == 1
    assert isinstance(models.refiner, Refiner)
    assert models.refiner.segmenter is models.segmenter


def test_official_names_are_resolved_through_weights(tiny_files, monkeypatch, tmp_path):
    import tam_core.weights as weights

    sam_path, xmem_path, _ = tiny_files
    asked = []

    def fake_resolve(name, cache_dir=None, download=True, **kw):
        asked.append((name, cache_dir, download))
        return {"sam_vit_l": sam_path, "xmem": xmem_path}[name]

    monkeypatch.setattr(weights, "resolve_checkpoint", fake_resolve)
    load_models(ModelOptions(sam_type="vit_l", device="cpu", cache_dir=tmp_path, download=False))
    assert asked == [("sam_vit_l", tmp_path, False), ("xmem", tmp_path, False)]


def test_missing_checkpoint_file(tiny_files, tmp_path):
    _, xmem_path, _ = tiny_files
    with pytest.raises(CheckpointError):
        load_models(ModelOptions(sam_checkpoint=tmp_path / "nope.pth", xmem_checkpoint=xmem_path, device="cpu"))


def test_option_validation():
    with pytest.raises(ConfigError):
        ModelOptions(sam_type="vit_x")
    with pytest.raises(ConfigError):
        ModelOptions(autocast="int8")
    with pytest.raises(ConfigError, match="CUDA"):
        load_models(ModelOptions(device="cpu", autocast="fp16"))


def test_segmenter_autocast_names():
    seg = sam_mod.SamSegmenter(build_sam(SamConfig.tiny()), device="cpu", autocast_dtype="fp32")
    assert seg.autocast_dtype is None
    with pytest.raises(ConfigError):
        sam_mod.SamSegmenter(build_sam(SamConfig.tiny()), device="cpu", autocast_dtype="bf16")
    with pytest.raises(ConfigError):
        sam_mod.SamSegmenter(build_sam(SamConfig.tiny()), device="cpu", autocast_dtype="int4")
