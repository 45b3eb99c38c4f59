"""SAM (segment-anything) as a ``Segmenter``: ``family`` (names, light),
``segmenter`` (build, load, embed/predict) and ``attention`` (a faster,
equivalent attention for the image encoder).

The names below are loaded on first use (PEP 562), so importing the family's
names for option parsing never imports torch or cv2."""

from importlib import import_module

_WHERE = {
    "SAM_TYPES": "family", "TEST_SAM_TYPES": "family",
    **dict.fromkeys(("SamConfig", "SamEmbedding", "SamSegmenter", "build_sam", "load_sam", "load_sam_state",
                     "mask_to_logits"), "segmenter"),
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = sorted(_WHERE)
