"""Track-Anything step 3: the quality score of a tracked mask (``quality``),
its calibration and the refiner's thresholds (``options``) and the SAM repair
of weak masks (``refine``)."""

from tam_core.refinement.options import RefineOptions
from tam_core.refinement.quality import ObjectHistory, QualityTerms, consistency, ramp, score_object
from tam_core.refinement.refine import FrameRefinement, Refiner

__all__ = ["FrameRefinement", "ObjectHistory", "QualityTerms", "RefineOptions", "Refiner", "consistency", "ramp",
           "score_object"]
