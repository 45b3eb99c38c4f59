"""Model provider for the CVAT function tests (``TAM_LABEL_MODEL_PROVIDER``).

``color_models``: the colour doubles (``tests/providers.py``, which reproduce
the synthetic videos' ground truth exactly) with the real
``tam_core.refinement.Refiner`` on top, so clicks, tracking and refinement can be
checked pixel for pixel. ``DEGRADE`` / ``FRAME_OF`` make the tracker drift on
chosen frames (in-process tests set them; a spawned agent worker sees the
defaults). ``BUILT`` lists every model set built in this process, newest last.
"""

from __future__ import annotations

from tam_core.refinement import Refiner
from tests.doubles import ColorSegmenter, ColorTrackerFactory
from tests.providers import ColorModels

PROVIDER = "tests.cvat.function_models:color_models"
DEGRADE: set[int] = set()
FRAME_OF = None
BUILT: list[ColorModels] = []


def color_models(opts) -> ColorModels:
    segmenter = ColorSegmenter()
    factory = ColorTrackerFactory(frame_index_of=FRAME_OF, degrade_on=frozenset(DEGRADE))
    models = ColorModels(segmenter, factory, Refiner(segmenter), "cpu", opts)
    BUILT.append(models)
    return models
