"""SAM 2.1 as the tracker registry sees it: the four official sizes (Meta's
``facebook/sam2.1-hiera-*`` repos on the Hugging Face Hub, Apache-2.0), a
test-only random-weight type, and the loader. Light: ``transformers`` is
imported only when loading."""

from __future__ import annotations

from typing import Any

from tam_core.trackers.family import TrackerFamily
from tam_core.weights.checkpoint import Checkpoint

_REPOS = {"tiny": "tiny", "small": "small", "base_plus": "base-plus", "large": "large"}


def _checkpoint(model_type: str) -> Checkpoint:
    repo = f"facebook/sam2.1-hiera-{_REPOS[model_type]}"
    return Checkpoint(name=f"sam2.1_hiera_{model_type}", filename=repo, url=f"https://huggingface.co/{repo}",
                      family="sam2.1", model_type=model_type, repo_id=repo, license="Apache-2.0",
                      cli_flag="--tracker-checkpoint")


def _load(model_type: str, checkpoint: Any, device: Any = "cpu", autocast: str | None = None) -> Any:
    from tam_core.trackers.sam2.tracker import load_sam2_tracker

    return load_sam2_tracker(checkpoint, device, autocast=autocast, what=f"SAM 2.1 {model_type} ({checkpoint})")


SAM2 = TrackerFamily(
    name="sam2.1",
    label="SAM 2.1",
    types=tuple(_REPOS),
    test_types=("test_tiny",),  # tam_core.trackers.sam2.tiny: random weights in the official layout
    checkpoints=tuple(_checkpoint(t) for t in _REPOS),
    load=_load,
)

__all__ = ["SAM2"]
