"""Load the models a tracking session needs, once, from explicit options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError
from .refine import RefineOptions, Refiner
from .types import Segmenter, Tracker

_AUTOCAST = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class ModelOptions:
    """Which weights to load and where to run them.

    sam_type: "vit_b" | "vit_l" | "vit_h", or "tiny" (a random-weight test
    architecture, ``tam_core.sam.SamConfig.tiny``; needs ``sam_checkpoint``).

    sam_checkpoint / xmem_checkpoint: a file path or None for the official weights
    (``sam_vit_b|l|h`` / ``xmem`` via tam_core.weights, cached in ``cache_dir`` or
    ``$TAM_LABEL_CACHE``). device: "auto" | "cpu" | "cuda" | "cuda:N".
    autocast: "fp32" | "fp16" | "bf16" (half precision on CUDA only).
    xmem_config: a ``tam_core.xmem.XMemConfig`` or None for XMem's defaults.
    """

    sam_type: str = "vit_b"
    sam_checkpoint: str | Path | None = None
    xmem_checkpoint: str | Path | None = None
    device: str = "auto"
    cache_dir: str | Path | None = None
    autocast: str = "fp32"
    download: bool = True
    sam_cache_size: int = 4  # image embeddings kept per segmenter (frames re-prompted without re-encoding)
    xmem_config: Any = None
    refine: RefineOptions = field(default_factory=RefineOptions)

    def __post_init__(self) -> None:
        from .sam import SAM_TYPES, TEST_SAM_TYPES

        if self.sam_type not in SAM_TYPES + TEST_SAM_TYPES:
            raise ConfigError(f"unknown SAM model type {self.sam_type!r}: use one of {', '.join(SAM_TYPES)}")
        if self.sam_type in TEST_SAM_TYPES and self.sam_checkpoint is None:
            raise ConfigError(f"SAM type {self.sam_type!r} is a test architecture without official weights; "
                              "give its checkpoint file (--sam-checkpoint)")
        if self.autocast not in _AUTOCAST:
            raise ConfigError(f"unknown autocast {self.autocast!r}: use one of {', '.join(_AUTOCAST)}")


@dataclass(frozen=True)
class Models:
    """Loaded models. ``tracker_factory()`` makes a fresh tracker (one per video
    pass) that shares the single loaded XMem network."""

    segmenter: Segmenter
    tracker_factory: Callable[[], Tracker]
    refiner: Refiner
    device: Any  # torch.device


@dataclass(frozen=True)
class _TrackerFactory:
    """Every call builds a fresh tracker over the one shared, already loaded network."""

    network: Any
    config: Any
    device: Any
    autocast: str | None

    def __call__(self) -> Tracker:
        from .xmem import XMemTracker

        return XMemTracker(self.network, self.config, device=self.device, autocast_dtype=self.autocast)


def load_models(opts: ModelOptions = ModelOptions()) -> Models:
    """Resolve the checkpoints (downloading official weights when allowed), load
    SAM and XMem once on the chosen device, and wire the refiner to SAM."""
    from .device import resolve_device
    from .sam import load_sam
    from .weights import resolve_checkpoint
    from .xmem import XMemConfig, load_xmem

    device = resolve_device(opts.device)
    if opts.autocast != "fp32" and device.type != "cuda":
        raise ConfigError(f"autocast {opts.autocast} needs CUDA but the device is {device}; use --autocast fp32")
    autocast = None if opts.autocast == "fp32" else opts.autocast
    sam_path = resolve_checkpoint(opts.sam_checkpoint or f"sam_{opts.sam_type}", cache_dir=opts.cache_dir,
                                  download=opts.download)
    xmem_path = resolve_checkpoint(opts.xmem_checkpoint or "xmem", cache_dir=opts.cache_dir, download=opts.download)
    segmenter = load_sam(opts.sam_type, sam_path, device, autocast_dtype=autocast, cache_size=opts.sam_cache_size)
    network = load_xmem(xmem_path, device)
    config = opts.xmem_config if opts.xmem_config is not None else XMemConfig()
    factory = _TrackerFactory(network, config, device, autocast)
    return Models(segmenter=segmenter, tracker_factory=factory, refiner=Refiner(segmenter, opts.refine), device=device)


__all__ = ["ModelOptions", "Models", "load_models"]
