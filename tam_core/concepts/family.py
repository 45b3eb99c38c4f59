"""SAM 3 concept prompts as the rest of the project sees them: the gated
official checkpoint (``facebook/sam3``, Meta's SAM License), a test-only
random-weight type, and the loader. Light: ``transformers`` is imported only
when loading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from tam_core.errors import ConfigError
from tam_core.weights.checkpoint import Checkpoint


@dataclass(frozen=True)
class ConceptFamily:
    """name; label (in messages); types with official weights; test_types
    (random weights, need a path); checkpoints (one per type);
    load(model_type, folder, device) -> a ConceptTrackerFactory."""

    name: str
    types: tuple[str, ...]
    checkpoints: tuple[Checkpoint, ...]
    load: Callable[..., Any]
    test_types: tuple[str, ...] = ()
    label: str = ""

    def checkpoint(self, model_type: str) -> Checkpoint:
        for c in self.checkpoints:
            if c.model_type == model_type:
                return c
        raise ConfigError(f"{self.label or self.name} type {model_type!r} has no official weights; give its "
                          "checkpoint folder (--concept-checkpoint PATH)")


def _load(model_type: str, checkpoint: Any, device: Any = "cpu") -> Any:
    from tam_core.concepts.tracker import load_concept_tracker

    return load_concept_tracker(checkpoint, device, what=f"SAM 3 {model_type} ({checkpoint})")


SAM3_CHECKPOINT = Checkpoint(name="sam3", filename="facebook/sam3", url="https://huggingface.co/facebook/sam3",
                             family="sam3", model_type="sam3", repo_id="facebook/sam3", license="SAM License",
                             gated=True, cli_flag="--concept-checkpoint")

SAM3 = ConceptFamily(name="sam3", label="SAM 3", types=("sam3",), checkpoints=(SAM3_CHECKPOINT,), load=_load,
                     test_types=("test_tiny",))  # tam_core.concepts.tiny

__all__ = ["SAM3", "SAM3_CHECKPOINT", "ConceptFamily"]
