"""Models for ``tam-label track``/``demo`` (flags: ``model_args``): the checks
that run before any model is loaded (device, precision; ``model_options``
checks the SAM type and checkpoint files), the one cached loader, and what
identifies the loaded models in a resume fingerprint."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

def check_model_options(args: argparse.Namespace) -> Any:
    """``model_args.model_options(args)`` plus the device checks, all before
    loading: an unavailable device and half precision without CUDA are
    one-line errors here, not after minutes of loading."""
    from tam_core.models import check_device

    from .model_args import model_options

    opts = model_options(args)
    check_device(opts)
    return opts


def load_models(opts: Any) -> Any:
    """The models for ``opts`` through the one cached loader (``tam_core.models.get_models``)."""
    from tam_core.models import get_models

    return get_models(opts)


def model_fingerprint(opts: Any) -> dict[str, str]:
    """What identifies the models' results: SAM type, precision and each
    checkpoint's content digest (after loading, so official weights are
    resolved to their cached files). The per-run settings (XMem memory,
    refinement thresholds) are in the run options' part of the fingerprint."""
    from tam_core.fingerprint import file_digest
    from tam_core.weights import cached_path

    out = {"sam_type": opts.sam_type, "autocast": opts.autocast}
    for family, given, name in (("sam", opts.sam_checkpoint, f"sam_{opts.sam_type}"), ("xmem", opts.xmem_checkpoint, "xmem")):
        path = Path(given).expanduser() if given is not None else cached_path(name, opts.cache_dir)
        out[f"{family}_checkpoint"] = file_digest(path) if path.is_file() else str(path)
    return out
