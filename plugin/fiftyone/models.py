"""Deprecated shim: the FiftyOne code's old model choice over the one cached
loader ``tam_core.models.get_models`` (which also honours
``TAM_LABEL_MODEL_PROVIDER``; the provider now receives a ``ModelOptions``).

Kept only until the FiftyOne binding takes ``ModelOptions`` + ``RunOptions``
directly. ``ModelChoice.refine`` is a *run* option: it is not part of what is
loaded or cached (``to_model_options`` drops it).
"""

from __future__ import annotations

from dataclasses import dataclass

from tam_core.models import PROVIDER_ENV, SAM_TYPES, ModelOptions, Models
from tam_core.models import get_models as _get_models


@dataclass(frozen=True)
class ModelChoice:
    """What the user picked in a form (or in Python): sam_type "vit_b" |
    "vit_l" | "vit_h"; device "auto" | "cpu" | "cuda[:N]"; refine: SAM
    refinement (a run option); checkpoints: local files (None: the
    cached/downloaded official weights); download False: offline."""

    sam_type: str = "vit_b"
    device: str = "auto"
    refine: bool = True
    sam_checkpoint: str | None = None
    xmem_checkpoint: str | None = None
    download: bool = True

    def __post_init__(self) -> None:
        self.to_model_options()  # the same checks as ModelOptions

    def to_model_options(self) -> ModelOptions:
        return ModelOptions(sam_type=self.sam_type, sam_checkpoint=self.sam_checkpoint,
                            xmem_checkpoint=self.xmem_checkpoint, device=self.device, download=self.download)


def get_models(choice: ModelChoice | ModelOptions = ModelChoice()) -> Models:
    """``tam_core.models.get_models`` for a ModelChoice (or a ModelOptions)."""
    return _get_models(choice.to_model_options() if isinstance(choice, ModelChoice) else choice)


__all__ = ["PROVIDER_ENV", "SAM_TYPES", "ModelChoice", "get_models"]
