"""Explicit device selection (never a global default)."""

from __future__ import annotations

import torch

from tam_core.errors import DeviceError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``/None into a torch.device.

    ``auto`` picks CUDA when available. Asking for CUDA on a machine without it
    raises :class:`DeviceError` with what to do instead.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {device!r} was requested but CUDA is not available on this machine "
                "(no NVIDIA GPU or a CPU-only torch build); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {device!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type not in ("cpu", "mps"):
        raise DeviceError(f"unsupported device {device!r}: use 'cpu' or 'cuda'")
    return dev
