"""Helpers of the CVAT function tests (their fixtures are in conftest.py):
cvat-sdk's public auto-annotation protocol driven the way cvat-cli's agent
worker drives it (``cvat_cli/_internal/agent_driver_*.py``: one
``preprocess_image`` per frame, reused for every prompt on it; a shape
context per tracked shape). The agent's private job functions, cache and
state store are not called here: the real agent runs them end to end in
test_functions_agent.py (``tam-label cvat agent`` against the fake server)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cvat_sdk import auto_annotation as cvataa


@dataclass(frozen=True)
class Checkpoints:
    xmem: Path
    sam: Path


def pil(frame: np.ndarray):
    from PIL import Image

    return Image.fromarray(frame)


def inside(video, frame: int, object_id: int) -> tuple[float, float]:
    """(x, y) pixel centre of the object's pixel nearest its centroid."""
    ys, xs = np.nonzero(video.mask(frame, object_id))
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return float(xs[i]) + 0.5, float(ys[i]) + 0.5


class Prompts(cvataa.InteractionPrompts):
    """Clicks and an optional box as cvat-sdk hands them to an interactor."""

    def __init__(self, pos=(), neg=(), box=None):
        self._pos, self._neg, self._box = tuple(pos), tuple(neg), box

    @property
    def pos_points(self):
        return self._pos

    @property
    def neg_points(self):
        return self._neg

    @property
    def bounding_box(self):
        return self._box


class ClickContext(cvataa.InteractionFunctionContext):
    pass


class TrackContext(cvataa.TrackingFunctionContext):
    pass


class ShapeContext(cvataa.TrackingFunctionShapeContext):
    def __init__(self, shape_type: str):
        self._type = shape_type

    @property
    def original_shape_type(self) -> str:
        return self._type


def init_tracking(fn, image: np.ndarray, shapes) -> list:
    """One state per shape, as the agent's init_tracking job makes them."""
    pp = fn.preprocess_image(TrackContext(), pil(image))
    return [fn.init_tracking_state(ShapeContext(s.type), pp, s) for s in shapes]


def track(fn, image: np.ndarray, states, types) -> list:
    """The shapes on a later frame, as the agent's track job asks (``types``: each state's original shape type)."""
    pp = fn.preprocess_image(TrackContext(), pil(image))
    return [fn.track(ShapeContext(t), pp, s) for s, t in zip(states, types)]
