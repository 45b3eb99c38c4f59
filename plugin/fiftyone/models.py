"""Which models the FiftyOne operators, panel and model wrapper use.

By default ``tam_core.models.load_models`` (SAM + our XMem, weights resolved
and downloaded by ``tam_core.weights``). The environment variable
``TAM_LABEL_MODEL_PROVIDER=module:function`` names a function
``function(choice: ModelChoice) -> Models-like`` to use instead — this is how
tests (and the App server they start) inject deterministic doubles, and how a
site can plug in its own loader. Loaded models are cached per choice, because
the panel asks for the segmenter on every click.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from typing import Any

from tam_core.errors import ConfigError

PROVIDER_ENV = "TAM_LABEL_MODEL_PROVIDER"
SAM_TYPES = ("vit_b", "vit_l", "vit_h")

_lock = threading.Lock()
_cache: dict[tuple, Any] = {}


@dataclass(frozen=True)
class ModelChoice:
    """What the user picked in a form (or in Python).

    sam_type: "vit_b" | "vit_l" | "vit_h"; device: "auto" | "cpu" | "cuda[:N]";
    refine: SAM refinement of degraded frames; checkpoints: local files
    (None: the cached/downloaded official weights).
    """

    sam_type: str = "vit_b"
    device: str = "auto"
    refine: bool = True
    sam_checkpoint: str | None = None
    xmem_checkpoint: str | None = None
    download: bool = True  # False: only cached/local weights (offline)

    def __post_init__(self) -> None:
        if self.sam_type not in SAM_TYPES:
            raise ConfigError(f"SAM type {self.sam_type!r} is unknown: use one of {', '.join(SAM_TYPES)}")


def get_models(choice: ModelChoice = ModelChoice()) -> Any:
    """Models for ``choice`` (``segmenter``, ``tracker_factory``, ``refiner``), cached."""
    provider = os.environ.get(PROVIDER_ENV, "").strip()
    key = (provider, choice)
    with _lock:
        if key not in _cache:
            _cache.clear()  # keep one model set in memory
            _cache[key] = _load(provider, choice)
        return _cache[key]


def _load(provider: str, choice: ModelChoice) -> Any:
    if provider:
        module, _, func = provider.partition(":")
        try:
            fn = getattr(importlib.import_module(module), func or "provide_models")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{PROVIDER_ENV}={provider!r} cannot be imported ({exc}); use module:function") from exc
        return fn(choice)
    from tam_core.models import ModelOptions, load_models

    # refine is applied per run (SessionOptions.refine), not when loading.
    return load_models(ModelOptions(
        sam_type=choice.sam_type, sam_checkpoint=choice.sam_checkpoint, xmem_checkpoint=choice.xmem_checkpoint,
        device=choice.device, download=choice.download,
    ))
