"""SAM (segment-anything) as a ``Segmenter``: ``family`` (names, light),
``segmenter`` (build, load, embed/predict) and ``attention`` (a faster,
equivalent attention for the image encoder)."""

from tam_core.segmenters.sam.family import SAM_TYPES, TEST_SAM_TYPES
from tam_core.segmenters.sam.segmenter import (SamConfig, SamEmbedding, SamSegmenter, build_sam, load_sam,
                                               load_sam_state, mask_to_logits)

__all__ = ["SAM_TYPES", "TEST_SAM_TYPES", "SamConfig", "SamEmbedding", "SamSegmenter", "build_sam", "load_sam",
           "load_sam_state", "mask_to_logits"]
