"""EfficientViT-SAM (MIT Han Lab, pip ``efficientsam``, Apache-2.0) as the
registry sees it: SAM's prompt encoder and mask decoder behind an EfficientViT
image encoder, so a new frame is encoded 5-15x faster than SAM ViT-B on a CPU
(``docs/benchmarks.md``). Light: the loader imports torch and ``efficientsam``
only when called."""

from __future__ import annotations

from typing import Any

from tam_core.segmenters.efficientvit.sizes import INPUT_SIZES, OFFICIAL_TYPES
from tam_core.segmenters.family import SegmenterFamily
from tam_core.weights.checkpoint import Checkpoint

_URL = "https://huggingface.co/mit-han-lab/efficientvit-sam/resolve/main/efficientvit_sam_{}.pt"


def _load(model_type: str, checkpoint: Any, device: Any = "cpu", autocast_dtype: Any = None) -> Any:
    from tam_core.segmenters.efficientvit.segmenter import load_efficientvit_sam

    return load_efficientvit_sam(model_type, checkpoint, device, autocast_dtype=autocast_dtype)


def _mask_to_logits(mask: Any) -> Any:
    from tam_core.segmenters.sam.segmenter import mask_to_logits

    return mask_to_logits(mask, 256)  # SAM's prompt encoder, unchanged: the same low-res layout


def _checkpoint(model_type: str) -> Checkpoint:
    # Sizes and SHA-256 digests: not published by MIT Han Lab and no independent
    # record of these exact files was found, so none is recorded here. The Hub
    # publishes each LFS file's SHA-256 and size on the download's redirect
    # (X-Linked-Etag / X-Linked-Size): tam_core.weights checks the download and
    # every later verify against those; the strict load checks every key and shape.
    return Checkpoint(name=f"efficientvit_sam_{model_type}", filename=f"efficientvit_sam_{model_type}.pt",
                      url=_URL.format(model_type), family="efficientvit_sam", license="Apache-2.0",
                      model_type=model_type)


EFFICIENTVIT_SAM = SegmenterFamily(
    name="efficientvit_sam",
    label="EfficientViT-SAM",
    types=OFFICIAL_TYPES,
    test_types=("tiny",),  # a small EfficientViT encoder, random weights (tests)
    input_size=INPUT_SIZES["l0"],  # the default type's; INPUT_SIZES has each type's
    low_res_size=256,
    load=_load,
    mask_to_logits=_mask_to_logits,
    checkpoints=tuple(_checkpoint(t) for t in OFFICIAL_TYPES),
    requires=("efficientsam",),
    extra="fast",
)

__all__ = ["EFFICIENTVIT_SAM", "INPUT_SIZES"]
