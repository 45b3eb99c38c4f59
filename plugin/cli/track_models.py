"""Model flags of ``tam-label track``/``demo`` and the checks on them that run
before any model is loaded (device, precision, SAM type, checkpoint files),
plus what identifies the loaded models in a resume fingerprint."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SAM_CHOICES = ("vit_b", "vit_l", "vit_h", "tiny")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The model flags every command shares."""
    p.add_argument("--sam-type", default="vit_b", choices=SAM_CHOICES,
                   help="SAM model: vit_b (default), vit_l, vit_h; tiny = a test architecture (needs --sam-checkpoint)")
    p.add_argument("--sam-checkpoint", default=None, help="SAM checkpoint file (default: cached official weights)")
    p.add_argument("--xmem-checkpoint", default=None, help="XMem checkpoint file (default: cached official weights)")
    p.add_argument("--cache-dir", default=None, help="weights cache (default $TAM_LABEL_CACHE or ~/.cache/tam-label)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA when available), cpu, cuda or cuda:N")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_const", dest="autocast", const="fp16", help="half precision (CUDA only)")
    prec.add_argument("--bf16", action="store_const", dest="autocast", const="bf16", help="bfloat16 (CUDA only)")
    p.add_argument("--no-refine", action="store_true", help="no SAM refinement of frames where tracking degrades")
    p.set_defaults(autocast="fp32")


def check_model_options(args: argparse.Namespace, download: bool = True) -> Any:
    """A validated ``tam_core.models.ModelOptions``; raises one-line errors for
    an unavailable device, half precision without CUDA, missing checkpoint files."""
    from tam_core.device import resolve_device
    from tam_core.errors import CheckpointError, ConfigError
    from tam_core.models import ModelOptions

    opts = ModelOptions(sam_type=args.sam_type, sam_checkpoint=args.sam_checkpoint,
                        xmem_checkpoint=args.xmem_checkpoint, device=args.device, cache_dir=args.cache_dir,
                        autocast=args.autocast, download=download)
    device = resolve_device(args.device)
    if opts.autocast != "fp32" and device.type != "cuda":
        raise ConfigError(f"--{opts.autocast} needs a CUDA GPU but the device is {device}; "
                          f"drop --{opts.autocast} (on the CPU tam-label computes in fp32)")
    for flag, value in (("--sam-checkpoint", args.sam_checkpoint), ("--xmem-checkpoint", args.xmem_checkpoint)):
        if value is not None:
            path = Path(value).expanduser()
            if path.is_dir():
                raise CheckpointError(f"{flag} {path} is a folder; pass the .pth file inside it")
            if not path.is_file():
                raise CheckpointError(f"{flag}: checkpoint file not found: {path}")
    return opts


def load_models(opts: Any) -> Any:
    """Load SAM + XMem for ``opts`` (a ModelOptions)."""
    from tam_core.models import load_models as _load

    return _load(opts)


def model_fingerprint(opts: Any) -> dict[str, str]:
    """What identifies the models' results: SAM type, precision, XMem config and
    refinement thresholds, and each checkpoint's content digest (after loading,
    so official weights are resolved to their cached files)."""
    from tam_core.fingerprint import file_digest
    from tam_core.weights import cached_path

    out = {"sam_type": opts.sam_type, "autocast": opts.autocast, "xmem_config": repr(opts.xmem_config),
           "refine": repr(opts.refine)}
    for family, given, name in (("sam", opts.sam_checkpoint, f"sam_{opts.sam_type}"), ("xmem", opts.xmem_checkpoint, "xmem")):
        path = Path(given).expanduser() if given is not None else cached_path(name, opts.cache_dir)
        out[f"{family}_checkpoint"] = file_digest(path) if path.is_file() else str(path)
    return out
