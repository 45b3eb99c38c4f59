"""Fixtures shared by the CVAT function tests (imported by their modules)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.synthetic import make_video

VIDEO_SIZE = (64, 96)


@pytest.fixture(scope="module")
def video():
    """8 frames 64x96: a disc (1) and a rectangle (2) from frame 0, a disc (3) from frame 5."""
    return make_video(num_frames=8, size=VIDEO_SIZE)


@pytest.fixture
def color_models(monkeypatch):
    """get_models answers with the colour doubles + the real Refiner (tests/cvat/function_models.py)."""
    import tests.cvat.function_models as function_models
    from tam_core.models import PROVIDER_ENV, clear_models

    monkeypatch.setenv(PROVIDER_ENV, function_models.PROVIDER)
    monkeypatch.setattr(function_models, "DEGRADE", set())
    monkeypatch.setattr(function_models, "FRAME_OF", None)
    function_models.BUILT.clear()
    clear_models()
    yield function_models
    clear_models()


@pytest.fixture
def worker():
    """Plays cvat-cli's agent worker process in this one: installs a function
    the way ``_worker_init`` does and gives deterministic tracking state ids."""
    agent_driver = pytest.importorskip("cvat_cli._internal.agent_driver")
    from cvat_cli._internal.agent_driver_interaction import AgentInteractionFunctionDriver
    from cvat_cli._internal.agent_driver_tracking import AgentTrackingFunctionDriver

    def install(function):
        agent_driver.set_worker_current_function(function)
        ids = itertools.count()
        for driver in (AgentInteractionFunctionDriver, AgentTrackingFunctionDriver):
            driver.init_worker(lambda: f"state-{next(ids)}")
        return function

    return install


@dataclass(frozen=True)
class Checkpoints:
    xmem: Path
    sam: Path


@pytest.fixture(scope="session")
def real_checkpoints(tmp_path_factory) -> Checkpoints:
    """Seeded XMem and a tiny random-weight SAM as .pth files (the real engine, no doubles)."""
    import torch

    from tam_core.segmenters.sam import SamConfig, build_sam
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    root = tmp_path_factory.mktemp("fn_weights")
    xmem, sam = root / "xmem_seeded.pth", root / "sam_tiny.pth"
    torch.save(xmem_seeded_state_dict(1), xmem)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(build_sam(SamConfig.tiny()).state_dict(), sam)
    return Checkpoints(xmem, sam)


def pil(frame: np.ndarray):
    from PIL import Image

    return Image.fromarray(frame)


def inside(video, frame: int, object_id: int) -> tuple[float, float]:
    """(x, y) pixel centre of the object's pixel nearest its centroid."""
    ys, xs = np.nonzero(video.mask(frame, object_id))
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return float(xs[i]) + 0.5, float(ys[i]) + 0.5
