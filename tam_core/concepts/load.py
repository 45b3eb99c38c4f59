"""What concept model to load (:class:`ConceptOptions`) and the one cached
loader of it (:func:`get_concepts`), the concept counterpart of
``tam_core.models.get_models`` (kept apart: a pre-annotation needs only the
concept model, a correction afterwards only the segmenter and tracker).
Light at import: no torch, no transformers."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tam_core.errors import ConfigError
from tam_core.models import ModelSlot

from .registry import DEFAULT_CONCEPT_MODEL, get_family, parse_concept_model

PROVIDER_ENV = "TAM_LABEL_CONCEPT_PROVIDER"  # module:function(opts) -> factory (the App server tests' doubles)


@dataclass(frozen=True)
class ConceptOptions:
    """model: "family:type" of ``tam_core.concepts.registry`` ("sam3" = the
    official SAM 3, gated; "sam3:test_tiny" needs ``checkpoint``), stored
    normalised; checkpoint: a local Hugging Face folder instead of the official
    weights; device: "auto" | "cpu" | "cuda" | "cuda:N"; cache_dir / download:
    as for ``tam_core.models.ModelOptions`` (the Hub's own cache and token)."""

    model: str = DEFAULT_CONCEPT_MODEL
    checkpoint: str | Path | None = None
    device: str = "auto"
    cache_dir: str | Path | None = None
    download: bool = True

    def __post_init__(self) -> None:
        family_name, model_type = parse_concept_model(self.model)
        object.__setattr__(self, "model", f"{family_name}:{model_type}")
        family = get_family(family_name)
        if model_type in family.test_types and self.checkpoint is None:
            raise ConfigError(f"{family.title} type {model_type!r} is a test architecture without official weights; "
                              "give its folder (--concept-checkpoint PATH)")


def load_concepts(opts: ConceptOptions) -> Any:
    """Uncached: check the packages, resolve the checkpoint (downloading the
    official one when allowed: gated, so a token and an accepted license are
    needed), load it strictly on the device -> a ``ConceptTrackerFactory``."""
    from tam_core.device import resolve_device
    from tam_core.weights import resolve_checkpoint

    family_name, model_type = parse_concept_model(opts.model)
    family = get_family(family_name)
    family.check_installed()  # a missing package is one line before any download
    device = resolve_device(opts.device)
    path = resolve_checkpoint(opts.checkpoint or family.checkpoint(model_type).name,
                              cache_dir=opts.cache_dir, download=opts.download)
    return family.load(model_type, path, device)


_slot: ModelSlot[Any] = ModelSlot()


def get_concepts(opts: ConceptOptions | None = None) -> Any:
    """THE cached concept loader (one model in memory; thread-safe). Honours
    ``$TAM_LABEL_CONCEPT_PROVIDER=module:function`` (``function(opts)`` returns
    the factory: tests and the App server they start inject doubles this way)."""
    import importlib

    from tam_core.models import same_file

    opts = ConceptOptions() if opts is None else opts
    if not isinstance(opts, ConceptOptions):
        raise ConfigError(f"get_concepts takes ConceptOptions, not {type(opts).__name__}")
    provider = os.environ.get(PROVIDER_ENV, "").strip()

    def load() -> Any:
        if not provider:
            return load_concepts(opts)
        module, _, func = provider.partition(":")
        try:
            return getattr(importlib.import_module(module), func or "provide_concepts")(opts)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{PROVIDER_ENV}={provider!r} cannot be imported ({exc}); use module:function") from exc

    key = replace(opts, checkpoint=same_file(opts.checkpoint), cache_dir=same_file(opts.cache_dir))
    return _slot.get((provider, key), load)


def clear_concepts() -> None:
    _slot.clear()


__all__ = ["ConceptOptions", "PROVIDER_ENV", "clear_concepts", "get_concepts", "load_concepts"]
