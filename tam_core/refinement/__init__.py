"""Track-Anything step 3: the quality score of a tracked mask (``quality``),
its calibration and the refiner's thresholds (``options``) and the SAM repair
of weak masks (``refine``).

``RefineOptions`` is imported eagerly (light: ``tam_core.options`` holds one);
the rest on first use, so run options never pull in cv2."""

from importlib import import_module

from tam_core.refinement.options import RefineOptions

_LAZY = {
    "FrameQuality": "quality", "ObjectHistory": "quality", "QualityTerms": "quality", "consistency": "quality",
    "ramp": "quality", "score_frame": "quality", "score_object": "quality", "update_histories": "quality",
    "FrameRefinement": "refine", "Refiner": "refine",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RefineOptions", *_LAZY]
