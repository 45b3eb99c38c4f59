"""Deterministic seeded weights in XMem's state-dict layout (for tests and benchmarks).

No real checkpoint can be downloaded in CI, so the reference fixtures were made
with pseudo-random weights defined by a formula that any implementation can
reproduce bit-exactly from numpy's PCG64 generator:

per key ``name`` with shape S: ``z = default_rng([seed, crc32(name)]).standard_normal(S)``
(float64), then
* int64 entries (``num_batches_tracked``): 0;
* BatchNorm entries: weight ``1 + 0.1 z``, bias ``0.1 z``, running_mean ``0.1 z``,
  running_var ``1 + 0.1 |z|``;
* tensors with ndim >= 2: ``decoder.*`` ones centred per output channel first,
  then ``z * gain / sqrt(fan_in)`` (gain 2 for ``decoder.pred.weight``, else 1);
* other 1-D tensors (biases): ``offset + 0.01 z`` (offset -0.5 for
  ``decoder.pred.bias``, else 0);
all cast to float32.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from typing import Iterable

import numpy as np
import torch

_GAINS = {"decoder.pred.weight": 2.0}
_BIAS_OFFSETS = {"decoder.pred.bias": -0.5}
_CENTRED_PREFIXES = ("decoder.",)


def layout_of(state_dict: dict) -> list[tuple[str, tuple[int, ...], str]]:
    """[(key, shape, dtype name)] of a state dict, in order."""
    return [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in state_dict.items()]


def seeded_array(name: str, shape: tuple[int, ...], dtype: str, seed: int, bn_modules: set[str]) -> np.ndarray:
    if dtype.startswith("int"):
        return np.zeros(shape, dtype=np.int64)
    z = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))]).standard_normal(shape)
    module, _, leaf = name.rpartition(".")
    if module in bn_modules:
        v = {"weight": lambda: 1.0 + 0.1 * z, "bias": lambda: 0.1 * z, "running_mean": lambda: 0.1 * z,
             "running_var": lambda: 1.0 + 0.1 * np.abs(z)}[leaf]()
    elif len(shape) >= 2:
        if name.startswith(_CENTRED_PREFIXES):
            flat = z.reshape(shape[0], -1)
            z = (flat - flat.mean(axis=1, keepdims=True)).reshape(shape)
        v = z * (_GAINS.get(name, 1.0) / math.sqrt(int(np.prod(shape[1:]))))
    else:
        v = _BIAS_OFFSETS.get(name, 0.0) + 0.01 * z
    return v.astype(np.float32)


def seeded_state_dict(layout: Iterable[tuple[str, tuple[int, ...], str]], seed: int) -> dict[str, torch.Tensor]:
    layout = list(layout)
    bn_modules = {k[: -len(".running_mean")] for k, _, _ in layout if k.endswith(".running_mean")}
    return {k: torch.from_numpy(seeded_array(k, tuple(s), d, seed, bn_modules)) for k, s, d in layout}


def digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of all tensors as little-endian float32, in order (ints count as 0.0f)."""
    h = hashlib.sha256()
    for v in state.values():
        h.update(np.ascontiguousarray(v.numpy(), dtype="<f4").tobytes())
    return h.hexdigest()


def xmem_seeded_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights for our XMemNetwork (whose layout equals XMem-s012.pth)."""
    from .network import XMemNetwork

    return seeded_state_dict(layout_of(XMemNetwork().state_dict()), seed)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Write seeded XMem weights (a .pth state dict) for tests/benchmarks.")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    state = xmem_seeded_state_dict(a.seed)
    torch.save(state, a.out)
    print(f"{digest(state)}  seed={a.seed} tensors={len(state)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
