"""The concept model double for the CVAT tests
(``TAM_LABEL_CONCEPT_PROVIDER=concept_models:provide``): "car" finds the
synthetic clip's object 1 (tracker id 0), "ball" its objects 2 and 3 (tracker
ids 1, 2), by color. ``BUILT`` lists the factories made (a test sees whether
the model was loaded); ``DAMAGE_FROM`` makes the masks poor from that step on."""

from __future__ import annotations

from tests.doubles import ColorConceptFactory
from tests.synthetic import make_video

PROVIDER = "concept_models:provide"
BUILT: list = []
DAMAGE_FROM: int | None = None


def provide(opts):
    colors = make_video(num_frames=1).colors
    factory = ColorConceptFactory({"car": {0: colors[1]}, "ball": {1: colors[2], 2: colors[3]}},
                                  damage_from=DAMAGE_FROM)
    BUILT.append(factory)
    return factory
