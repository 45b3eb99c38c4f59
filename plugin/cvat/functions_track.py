"""CVAT tracking function: XMem with Track-Anything's SAM refinement.

Use with cvat-cli (CVAT Online / Enterprise, tracking functions need CVAT 2.42+)::

    cvat-cli --server-host https://app.cvat.ai --auth USER function create-native "TAM track (XMem)" \\
        --function-module plugin.cvat.functions_track
    cvat-cli --server-host https://app.cvat.ai --auth USER function run-agent FUNCTION_ID \\
        --function-module plugin.cvat.functions_track -p device=str:cuda

or ``tam-label cvat agent --function track``. Parameters: see
:class:`plugin.cvat.functions.FunctionParams`.

Shapes: ``mask`` and ``polygon`` (answered in the same type; a polygon answer
is the outline of the largest part of the tracked mask). Each shape is one
object in its own XMem tracker, whose memory XMem's config bounds. At most
``max_live_trackers`` trackers live at once (least recently tracked released
first); a released shape keeps only its last frame (PNG) and mask and gets a
fresh tracker from them when it is tracked again.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from tam_core.errors import PromptError
from tam_core.refinement.options import RefineOptions

from .functions import FunctionParams, require_sdk, to_rgb
from .masks import decode_mask, encode_mask, polygon_to_mask

SHAPE_TYPES = ("mask", "polygon")
OBJECT = 1  # the one object id inside each shape's tracker
REFINE = RefineOptions()  # the refiner's thresholds (the defaults; no -p parameter sets them)


@dataclass(frozen=True)
class TrackImage:
    """What ``preprocess_image`` returns: the frame as uint8 [H,W,3] RGB,
    converted once and shared by every shape tracked on it in one request."""

    image: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


@dataclass(eq=False)
class TrackState:
    """One tracked shape (the agent keeps it between requests).

    tracker: its live ``Tracker`` or None once released; steps: frames tracked
    since the shape was drawn (the refiner's frame clock); histories: the
    refiner's per-object history; anchor: the last frame with a non-empty mask,
    (uint8 [H,W,3], bool [H,W]), or (PNG bytes, CVAT mask runs) once released."""

    shape_type: str
    size: tuple[int, int]
    tracker: Any
    anchor: tuple[Any, np.ndarray]
    steps: int = 0
    histories: dict = field(default_factory=dict)


def shape_to_mask(shape_type: str, points: list[float], size: tuple[int, int]) -> np.ndarray:
    """A CVAT mask/polygon shape -> bool [H,W]."""
    h, w = size
    if shape_type == "mask":
        return decode_mask(points, h, w)
    if shape_type == "polygon":
        return polygon_to_mask(points, h, w)
    raise PromptError(f"cannot track a {shape_type!r} shape: use one of {', '.join(SHAPE_TYPES)}")


def mask_to_points(shape_type: str, mask: np.ndarray) -> list[float] | None:
    """bool [H,W] -> CVAT points of a ``mask`` or ``polygon`` shape (the largest
    outer contour, pixel centres), or None when nothing is left to draw."""
    if shape_type == "mask":
        encoded = encode_mask(mask)
        return None if encoded is None else [float(v) for v in encoded]
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = [c for c in contours if len(c) >= 3]
    if not contours:
        return None
    best = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    return [float(v) for v in best.reshape(-1)]


class XMemTrackFunction:
    """A ``cvat_sdk.auto_annotation.TrackingFunction`` for mask and polygon shapes."""

    def __init__(self, params: FunctionParams = FunctionParams()) -> None:
        cvataa = require_sdk()
        self.params = params
        self.spec = cvataa.TrackingFunctionSpec(supported_shape_types=SHAPE_TYPES)
        self._live: OrderedDict[TrackState, None] = OrderedDict()  # least recently tracked first

    @property
    def models(self):
        from tam_core.models import get_models

        return get_models(self.params.model_options())

    @property
    def live_states(self) -> int:
        """How many shapes hold a live tracker now (at most ``max_live_trackers``)."""
        return len(self._live)

    def preprocess_image(self, context: Any, image: Any) -> TrackImage:
        return TrackImage(to_rgb(image))

    def init_tracking_state(self, context: Any, pp_image: TrackImage, shape: Any) -> TrackState:
        """``shape``: ``cvat_sdk.auto_annotation.TrackableShape`` (mask or polygon)."""
        mask = shape_to_mask(shape.type, list(shape.points), pp_image.size)
        if not mask.any():
            raise PromptError(f"the {shape.type} to track covers no pixel")
        state = TrackState(shape.type, pp_image.size, None, (pp_image.image, mask))
        self._start(state)
        return state

    def track(self, context: Any, pp_image: TrackImage, state: TrackState) -> Any:
        """The shape on a later frame (``TrackableShape`` of the original type), or
        None when the object is lost."""
        cvataa = require_sdk()
        if pp_image.size != state.size:
            raise PromptError(f"frame size {pp_image.size} differs from the tracked shape's frame {state.size}")
        if state.tracker is None:
            self._start(state)
        self._live.move_to_end(state)
        models, image = self.models, pp_image.image
        probs = state.tracker.step(image)  # tam_core.types.ObjectProbs
        state.steps += 1
        refiner = models.refiner if self.params.refine else None
        if refiner is not None:
            from tam_core.refinement.quality import update_histories

            out = refiner.refine_frame(state.steps, image, probs, state.histories, REFINE)
            mask = np.asarray(out.masks[OBJECT], bool)
            if OBJECT in out.refined:
                state.tracker.amend({OBJECT: mask})
            update_histories(state.histories, state.steps, {OBJECT: mask}, REFINE)
        else:
            mask = probs.hard_masks()[OBJECT]
        points = mask_to_points(state.shape_type, mask)
        if points is None:
            return None
        state.anchor = (image, mask)
        return cvataa.TrackableShape(type=state.shape_type, points=points)

    # -- live trackers (bounded) ----------------------------------------------------

    def _start(self, state: TrackState) -> None:
        """Give ``state`` a fresh tracker seeded with its anchor frame and mask,
        releasing the least recently tracked shape's tracker if too many live."""
        while len(self._live) >= self.params.max_live_trackers:
            old, _ = self._live.popitem(last=False)
            self._release(old)
        image, mask = state.anchor
        if isinstance(image, bytes):
            image = cv2.cvtColor(cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            mask = decode_mask(mask, *state.size)
        models = self.models
        state.tracker = models.tracker_factory()
        state.tracker.step(image, {OBJECT: mask})
        state.anchor = (image, mask)
        state.histories.clear()
        if models.refiner is not None and self.params.refine:
            from tam_core.refinement import ObjectHistory

            history = ObjectHistory()
            history.update(state.steps, mask, REFINE.history_ema)
            state.histories[OBJECT] = history
        self._live[state] = None

    @staticmethod
    def _release(state: TrackState) -> None:
        image, mask = state.anchor
        if not isinstance(image, bytes):  # compact while released: PNG frame, CVAT mask runs
            ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            image, mask = png.tobytes(), encode_mask(mask)
        state.anchor = (image, mask)
        state.tracker = None


def create(**params: Any) -> XMemTrackFunction:
    """cvat-cli's factory hook (``--function-module plugin.cvat.functions_track -p name=type:value``)."""
    return XMemTrackFunction(FunctionParams.from_kwargs(params))


__all__ = ["SHAPE_TYPES", "TrackImage", "TrackState", "XMemTrackFunction", "create", "mask_to_points", "shape_to_mask"]
