"""Model providers for ``TAM_LABEL_MODEL_PROVIDER`` (``tam_core.models.get_models``)
in tests: the deterministic color doubles (tests/doubles.py) instead of SAM and
XMem, so every entry point that loads through the one cached loader can run
without weights. The color objects of tests/synthetic.py clips track exactly."""

from __future__ import annotations

from dataclasses import dataclass, field

from tam_core.models import ModelOptions
from tests.doubles import ColorSegmenter, ColorTrackerFactory


@dataclass(frozen=True)
class ColorModels:
    """A ``tam_core.models.Models`` made of doubles; ``options`` is what was asked for."""

    segmenter: ColorSegmenter
    tracker_factory: ColorTrackerFactory
    refiner: RecordingRefiner | None
    device: str
    options: ModelOptions


def color_models(opts: ModelOptions) -> ColorModels:
    """Provider: fresh color doubles (no refiner) for ``opts``."""
    return ColorModels(ColorSegmenter(), ColorTrackerFactory(), None, "cpu", opts)


class RecordingRefiner:
    """A refiner that changes nothing and records the frames it was asked to
    refine (``calls``), to prove when a run does or does not refine."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def refine_frame(self, frame_index, *args, **kwargs):
        self.calls.append(int(frame_index))
        return _NoChange()


@dataclass(frozen=True)
class _NoChange:
    masks: dict = field(default_factory=dict)
    quality: dict = field(default_factory=dict)
    refined: frozenset = frozenset()


def recording_models(opts: ModelOptions) -> ColorModels:
    """Provider: color doubles with a :class:`RecordingRefiner`."""
    return ColorModels(ColorSegmenter(), ColorTrackerFactory(), RecordingRefiner(), "cpu", opts)


def refining_color_models(opts: ModelOptions) -> ColorModels:
    """Provider: color doubles with the real ``tam_core.refinement.Refiner`` over the color segmenter."""
    from tam_core.refinement import Refiner

    segmenter = ColorSegmenter()
    return ColorModels(segmenter, ColorTrackerFactory(), Refiner(segmenter), "cpu", opts)


def slow_color_models(opts: ModelOptions) -> ColorModels:
    """Provider that takes a while, so concurrent ``get_models`` calls overlap."""
    import time

    time.sleep(0.3)
    return color_models(opts)


def incomplete_models(opts: ModelOptions):
    """Provider returning something that is not a Models (no device)."""
    from types import SimpleNamespace

    return SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=ColorTrackerFactory(), refiner=None)
