"""XMemNetwork.compile_for_inference: wiring and the eager fallback (torch.compile
itself is replaced by stand-ins here; compiling for real takes minutes on a CPU)."""

from __future__ import annotations

import logging

import pytest
import torch

from tam_core.trackers.xmem import network as network_module
from tam_core.trackers.xmem.network import XMemNetwork, _CompiledOrEager


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return XMemNetwork().eval().requires_grad_(False).fuse_for_inference()


def _features(net, n=2, size=32):
    with torch.inference_mode():
        image = torch.randn(1, 3, size, size)
        _, _, _, f16, f8, f4 = net.encode_key(image, False, False)
        h = torch.randn(n, net.hidden_dim, size // 16, size // 16)
        readout = torch.randn(n, net.value_dim, size // 16, size // 16)
    return image, f16, f8, f4, h, readout


def test_fallback_to_eager_after_a_compile_failure(monkeypatch, caplog):
    calls = []

    def broken(*args, **kwargs):
        calls.append("compiled")
        raise RuntimeError("no C++ compiler\nmore detail")

    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: broken)
    wrapped = _CompiledOrEager(lambda x: x + 1, "part")
    with caplog.at_level(logging.WARNING, logger=network_module.__name__):
        assert wrapped(1) == 2
        assert wrapped(2) == 3
    assert calls == ["compiled"]  # not retried after the first failure
    assert [r.getMessage() for r in caplog.records] == [
        "torch.compile of XMem's part failed (RuntimeError: no C++ compiler); running it eagerly"]


def test_fallback_when_torch_compile_refuses_at_once(monkeypatch, caplog):
    def refuse(fn, **kwargs):
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", refuse)
    with caplog.at_level(logging.WARNING, logger=network_module.__name__):
        wrapped = _CompiledOrEager(lambda x: x * 2, "decoder")
        assert wrapped(3) == 6
    assert [r.getMessage() for r in caplog.records] == [
        "torch.compile of XMem's decoder failed (RuntimeError: Dynamo is not supported on this Python); running it eagerly"]


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_compiled_network_computes_what_the_eager_one_does(monkeypatch, net):
    image, f16, f8, f4, h, readout = _features(net)
    with torch.inference_mode():
        eager_keys = net.key_encoder(image.contiguous(memory_format=torch.channels_last))
        eager_h, eager_logits = net.decoder(f16, f8, f4, h, readout, True)
    seen = []

    def fake_compile(fn, **kwargs):
        seen.append(kwargs)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    import copy

    compiled = copy.deepcopy(net).compile_for_inference()
    assert compiled.compile_for_inference() is compiled and len(seen) == 2  # idempotent
    assert all(k == {"dynamic": False, "options": {"freezing": True}} for k in seen)
    with torch.inference_mode():
        keys = compiled.key_encoder(image.contiguous(memory_format=torch.channels_last))
        new_h, logits = compiled.decoder(f16, f8, f4, h, readout, True)
        no_h, logits2 = compiled.decoder(f16, f8, f4, h, readout, False)
    for a, b in zip(keys, eager_keys):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(new_h, eager_h)
    torch.testing.assert_close(logits, eager_logits)
    assert no_h is None  # memory frames still get no decoder hidden update
    torch.testing.assert_close(logits2, eager_logits)


def test_fused_network_runs_channels_last(net):
    assert net.decoder.pred.weight.is_contiguous(memory_format=torch.channels_last)
    image, f16, f8, f4, _, _ = _features(net)
    assert f16.is_contiguous(memory_format=torch.channels_last)
    assert f4.is_contiguous(memory_format=torch.channels_last)
