"""SAM 2.1 image segmentation (``transformers.Sam2Model``) as a ``Segmenter``:
``family`` (what the registry needs; light) and ``segmenter`` (configs, strict
load, embed/predict).

The heavy names are imported on first use (PEP 562), so reading the family
never imports torch."""

from tam_core.segmenters.sam2.family import SAM2

_HEAVY = ("Sam2Embedding", "Sam2Segmenter", "build_sam2", "load_sam2", "mask_to_logits", "sam2_config")


def __getattr__(name: str):
    if name in _HEAVY:
        from tam_core.segmenters.sam2 import segmenter

        return getattr(segmenter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SAM2", *_HEAVY]
