"""Model provider for tests (TAM_LABEL_MODEL_PROVIDER): the deterministic
color doubles instead of SAM/XMem. Colors survive H.264 within the doubles'
tolerance, so they track the synthetic clips' objects."""

from types import SimpleNamespace

from tests.doubles import ColorSegmenter, ColorTrackerFactory


def color_models(choice):
    return SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=ColorTrackerFactory(), refiner=None, choice=choice)
