"""SAM 2.1 image segmentation (Meta, Apache-2.0) from Hugging Face
``transformers`` (``Sam2Model``) as the registry sees it. Light: the loader
imports torch and transformers only when called.

Weights: Meta's own Hub repos ``facebook/sam2.1-hiera-*`` hold the transformers
layout (config.json + model.safetensors, the video model's: ``Sam2Model`` takes
its image part and ignores the memory weights by design), resolved and
verified by ``tam_core.weights.hub``. EdgeTAM (``EdgeTamModel``) was preferred
but its image encoder needs ``timm`` (not a declared dependency) and its
transformers weights are not on the main branch of an official repo
(``facebook/EdgeTAM`` has them only in an open pull request, refs/pr/1).
"""

from __future__ import annotations

from typing import Any

from tam_core.segmenters.family import SegmenterFamily
from tam_core.weights.checkpoint import Checkpoint

TYPES = ("hiera_tiny", "hiera_small", "hiera_base_plus", "hiera_large")
INPUT_SIZE = 1024  # every SAM 2.1 type: the image is resized to 1024 x 1024
LOW_RES_SIZE = 256


def _load(model_type: str, checkpoint: Any, device: Any = "cpu", autocast_dtype: Any = None) -> Any:
    from tam_core.segmenters.sam2.segmenter import load_sam2

    return load_sam2(model_type, checkpoint, device, autocast_dtype=autocast_dtype)


def _mask_to_logits(mask: Any) -> Any:
    from tam_core.segmenters.sam2.segmenter import mask_to_logits

    return mask_to_logits(mask, LOW_RES_SIZE)


def _checkpoint(model_type: str) -> Checkpoint:
    repo = "facebook/sam2.1-" + model_type.replace("_", "-")
    return Checkpoint(name=f"sam2.1_{model_type}", filename=repo.split("/")[1], url=f"https://huggingface.co/{repo}",
                      family="sam2", model_type=model_type, repo_id=repo, license="Apache-2.0",
                      cli_flag="--sam-checkpoint (or --tracker-checkpoint)")  # the segmenter's and the tracker's


SAM2 = SegmenterFamily(
    name="sam2",
    label="SAM 2.1",
    types=TYPES,
    test_types=("tiny",),  # a few-hundred-kB random Sam2Model (tests), saved as a local folder
    input_size=INPUT_SIZE,
    low_res_size=LOW_RES_SIZE,
    load=_load,
    mask_to_logits=_mask_to_logits,
    checkpoints=tuple(_checkpoint(t) for t in TYPES),
    requires=("transformers", "huggingface_hub", "safetensors"),
    extra="hf",
)

__all__ = ["SAM2", "TYPES"]
