"""Track-Anything step 3: the quality score of a tracked mask (``quality``),
its calibration and the refiner's thresholds (``options``) and the SAM repair
of weak masks (``refine``).

The names below are loaded on first use (PEP 562): option parsing can import
``RefineOptions`` without cv2."""

from importlib import import_module

_WHERE = {
    "RefineOptions": "options",
    **dict.fromkeys(("ObjectHistory", "QualityTerms", "consistency", "ramp", "score_object"), "quality"),
    **dict.fromkeys(("FrameRefinement", "Refiner"), "refine"),
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = sorted(_WHERE)
