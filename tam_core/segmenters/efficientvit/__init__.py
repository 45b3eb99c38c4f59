"""EfficientViT-SAM (pip ``efficientsam``) as a ``Segmenter``: ``family`` (what
the registry needs; light) and ``segmenter`` (build, strict load, embed; the
prompting is SAM's, ``tam_core.segmenters.sam.segmenter``).

The heavy names are imported on first use (PEP 562), so reading the family
never imports torch."""

from tam_core.segmenters.efficientvit.family import EFFICIENTVIT_SAM, INPUT_SIZES

_HEAVY = ("EfficientVitSamSegmenter", "build_efficientvit_sam", "load_efficientvit_sam")


def __getattr__(name: str):
    if name in _HEAVY:
        from tam_core.segmenters.efficientvit import segmenter

        return getattr(segmenter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EFFICIENTVIT_SAM", "INPUT_SIZES", *_HEAVY]
