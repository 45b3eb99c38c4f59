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
    """What identifies the models' results: SAM type, precision, XMem config and
    refinement thresholds, and each checkpoint's content digest (after loading,
    so official weights are resolved to their cached files)."""
    from tam_core.fingerprint import file_digest
    from tam_core.weights import cached_path

    from tam_core.segmenters.registry import DEFAULT_FAMILY, get_family

    out = {"sam_type": opts.sam_type, "autocast": opts.autocast, "xmem_config": repr(opts.xmem_config),
           "refine": repr(opts.refine)}
    if opts.segmenter_family != DEFAULT_FAMILY:  # records of SAM runs keep their fingerprint
        out["segmenter"] = opts.segmenter
    official = {"sam": lambda: get_family(opts.segmenter_family).checkpoint(opts.sam_type).name, "xmem": lambda: "xmem"}
    for family, given in (("sam", opts.sam_checkpoint), ("xmem", opts.xmem_checkpoint)):
        path = Path(given).expanduser() if given is not None else cached_path(official[family](), opts.cache_dir)
        out[f"{family}_checkpoint"] = file_digest(path) if path.is_file() else str(path)
    return out
