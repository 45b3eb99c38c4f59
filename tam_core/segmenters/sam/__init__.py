"""SAM (segment-anything) as a ``Segmenter``: ``family`` (what the registry
needs: types, checkpoints, loader; light), ``segmenter`` (build, load,
embed/predict) and ``attention`` (a faster, equivalent attention for the image
encoder).

The heavy names are imported on first use (PEP 562), so reading the family
(option parsing, ``tam-label weights``) never imports torch."""

from tam_core.segmenters.sam.family import SAM, SAM_TYPES, TEST_SAM_TYPES

_HEAVY = ("SamConfig", "SamEmbedding", "SamSegmenter", "build_sam", "load_sam", "load_sam_state", "mask_to_logits")


def __getattr__(name: str):
    if name in _HEAVY:
        from tam_core.segmenters.sam import segmenter

        return getattr(segmenter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SAM", "SAM_TYPES", "TEST_SAM_TYPES", *_HEAVY]
