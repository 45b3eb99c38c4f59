"""SAM 3 concept prompts as the rest of the project sees them: the gated
official checkpoint (``facebook/sam3``, Meta's SAM License), a test-only
random-weight type, and the loader. Light: ``transformers`` is imported only
when loading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tam_core.families import ModelFamily
from tam_core.weights.checkpoint import Checkpoint


@dataclass(frozen=True, kw_only=True)
class ConceptFamily(ModelFamily):
    """A concept-prompt family (``tam_core.families.ModelFamily``'s fields):
    load(model_type, folder, device) -> a ConceptTrackerFactory."""

    kind = "concept model"
    flag = "--concept-checkpoint"


def _load(model_type: str, checkpoint: Any, device: Any = "cpu") -> Any:
    from tam_core.concepts.tracker import load_concept_tracker

    return load_concept_tracker(checkpoint, device, what=f"SAM 3 {model_type} ({checkpoint})")


SAM3_CHECKPOINT = Checkpoint(name="sam3", filename="facebook/sam3", url="https://huggingface.co/facebook/sam3",
                             family="sam3", model_type="sam3", repo_id="facebook/sam3", license="SAM License",
                             gated=True, cli_flag="--concept-checkpoint")

SAM3 = ConceptFamily(name="sam3", label="SAM 3", types=("sam3",), checkpoints=(SAM3_CHECKPOINT,), load=_load,
                     test_types=("test_tiny",),  # tam_core.concepts.tiny
                     requires=("transformers", "huggingface_hub", "safetensors"), extra="hf")

__all__ = ["SAM3", "SAM3_CHECKPOINT", "ConceptFamily"]
