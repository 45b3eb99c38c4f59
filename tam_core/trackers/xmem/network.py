"""The XMem network and strict loading of the official checkpoint."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from tam_core.device import resolve_device
from tam_core.errors import CheckpointError, brief
from .modules import Decoder, FeatureFusionBlock, Fusable, KeyEncoder, KeyProjection, ValueEncoder

KEY_DIM = 64
VALUE_DIM = 512
HIDDEN_DIM = 64

EXPECTED_FILE = "XMem-s012.pth, the official release (Track Anything ships the same file)"
COMPILE_ENV = "TAM_XMEM_COMPILE"  # "1": load_xmem compiles the network (see XMemNetwork.compile_for_inference)

log = logging.getLogger(__name__)


class _CompiledOrEager:
    """Calls a ``torch.compile``d function; if compiling or running it fails
    (no C++ compiler, an unsupported op, ...), warns once and uses the eager
    function from then on. Both compute the same thing, so falling back is safe."""

    def __init__(self, eager, name: str):
        self.eager = eager
        self.name = name
        self.failed = False
        try:  # some torch/Python combinations refuse torch.compile right here
            self.compiled = torch.compile(eager, dynamic=False, options={"freezing": True})
        except Exception as exc:
            self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        self.failed = True
        log.warning("torch.compile of XMem's %s failed (%s: %s); running it eagerly",
                    self.name, type(exc).__name__, brief(exc, 200))

    def __call__(self, *args, **kwargs):
        if not self.failed:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # any backend failure: fall back, never break tracking
                self._give_up(exc)
        return self.eager(*args, **kwargs)


class XMemNetwork(nn.Module):
    """XMem's four networks with the original checkpoint's parameter names.

    Holds weights only; per-video state lives in :class:`XMemTracker`.
    """

    def __init__(self, key_dim: int = KEY_DIM, value_dim: int = VALUE_DIM, hidden_dim: int = HIDDEN_DIM):
        super().__init__()
        self.key_dim, self.value_dim, self.hidden_dim = key_dim, value_dim, hidden_dim
        self.key_encoder = KeyEncoder()
        self.value_encoder = ValueEncoder(value_dim, hidden_dim)
        self.key_proj = KeyProjection(1024, key_dim)
        self.decoder = Decoder(value_dim, hidden_dim)

    def fuse_for_inference(self) -> "XMemNetwork":
        """Fold BatchNorm into convolutions and pre-split fused weights.

        Inference-only caches beside the parameters (the state dict is
        unchanged); ``load_state_dict`` drops them. Results equal the unfused
        network up to float rounding.
        """
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (Fusable, FeatureFusionBlock)):
                    m.fuse()
            # Channels-last weights make every convolution (and so every
            # activation after it) channels-last: oneDNN's fastest CPU layout.
            self.to(memory_format=torch.channels_last)
        return self

    def compile_for_inference(self) -> "XMemNetwork":
        """``torch.compile`` the key encoder and the decoder (85-90 % of a frame's time).

        Inductor with frozen weights prepacks every convolution for oneDNN and
        fuses the activations and residual additions into it. Worth it for long
        videos only: compiling takes minutes on a small CPU and happens again
        for every new frame size and object count (see docs/benchmarks.md).
        The decoder always computes the new hidden state (2 % of its time), so
        one graph serves memory and non-memory frames. Any compile failure falls
        back to eager execution with a warning. Call after
        :meth:`fuse_for_inference`; use under ``torch.inference_mode``.
        """
        if isinstance(self.key_encoder.forward, _CompiledOrEager):
            return self
        self.key_encoder.forward = _CompiledOrEager(self.key_encoder.forward, "key encoder")
        decode = _CompiledOrEager(self.decoder.forward, "decoder")

        def decoder_forward(f16, f8, f4, h, readout, h_out: bool):
            # one memory layout for the hidden state whichever part wrote it last (no recompiles)
            new_h, logits = decode(f16, f8, f4, h.contiguous(), readout.contiguous(), True)
            return (new_h if h_out else None), logits

        self.decoder.forward = decoder_forward
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        for m in self.modules():
            if isinstance(m, Fusable):
                m.unfuse()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def encode_key(self, image: torch.Tensor, need_shrinkage: bool, need_selection: bool):
        """image float [1,3,H,W] (normalised, padded) -> key, shrinkage, selection, f16, f8, f4."""
        f16, f8, f4 = self.key_encoder(image.contiguous(memory_format=torch.channels_last))
        key, shrinkage, selection = self.key_proj(f16, need_shrinkage, need_selection)
        return key, shrinkage, selection, f16, f8, f4


def _load_state_dict(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"XMem checkpoint not found: {path} (expected {EXPECTED_FILE})") from None
    except Exception as exc:  # torch raises many types for corrupt/truncated files
        detail = brief(exc, 120)
        raise CheckpointError(
            f"cannot read XMem checkpoint {path} ({type(exc).__name__}: {detail}): the file is truncated or not "
            f"a PyTorch checkpoint; delete it and download {EXPECTED_FILE} again"
        ) from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors; expected {EXPECTED_FILE}")
    return obj


def check_state_dict(net: nn.Module, state: dict, source: str) -> None:
    """Strict key and shape check with an error that lists what differs."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:

        def show(items):
            return ", ".join(items[:8]) + (f" ... (+{len(items) - 8} more)" if len(items) > 8 else "")

        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {show(unexpected)}")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches: {show(wrong)}")
        raise CheckpointError(f"{source} is not an XMem checkpoint of the expected layout ({EXPECTED_FILE}): " + "; ".join(parts))


def load_xmem(checkpoint: str | os.PathLike, device: str | torch.device = "cpu") -> XMemNetwork:
    """Build the network and load ``checkpoint`` strictly (``weights_only=True``).

    Returns the network in eval mode on ``device`` with gradients disabled,
    fused for inference; compiled too when the environment variable
    ``TAM_XMEM_COMPILE`` is ``1`` (:meth:`XMemNetwork.compile_for_inference`).
    """
    path = Path(checkpoint)
    dev = resolve_device(device)
    state = _load_state_dict(path)
    net = XMemNetwork()
    check_state_dict(net, state, str(path))
    net.load_state_dict(state, strict=True)
    net.eval().requires_grad_(False)
    net = net.to(dev).fuse_for_inference()
    if os.environ.get(COMPILE_ENV, "") == "1":
        net.compile_for_inference()
    return net
