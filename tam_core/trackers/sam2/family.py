"""SAM 2.1 as the tracker registry sees it: the four official sizes, with the
same weights (Meta's ``facebook/sam2.1-hiera-*`` repos on the Hugging Face
Hub, Apache-2.0: each holds the video model, whose image part the ``sam2``
segmenter family uses), so ``--segmenter sam2:T --tracker sam2:T`` downloads
one repo. A test-only random-weight type; the loader. Light: ``transformers``
is imported only when loading."""

from __future__ import annotations

from typing import Any

from tam_core.segmenters.sam2.family import SAM2 as SAM2_IMAGE
from tam_core.trackers.family import TrackerFamily


def _load(model_type: str, checkpoint: Any, device: Any = "cpu", autocast: str | None = None) -> Any:
    from tam_core.trackers.sam2.tracker import load_sam2_tracker

    return load_sam2_tracker(checkpoint, device, autocast=autocast, what=f"SAM 2.1 {model_type} ({checkpoint})")


SAM2 = TrackerFamily(
    name="sam2",
    label="SAM 2.1",
    types=SAM2_IMAGE.types,  # hiera_tiny, hiera_small, hiera_base_plus, hiera_large
    test_types=("test_tiny",),  # tam_core.trackers.sam2.tiny: random weights in the official layout
    checkpoints=SAM2_IMAGE.checkpoints,  # one declaration of the repos
    load=_load,
    requires=SAM2_IMAGE.requires,
    extra=SAM2_IMAGE.extra,
)

__all__ = ["SAM2"]
