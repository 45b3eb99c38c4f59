"""The real engine for end-to-end tests: our XMem (seeded weights) + a tiny
random-weight SAM, loaded through ``tam_core.models.load_models`` from .pth
files written once per test session. No test doubles.

Random weights say nothing about mask quality, so these tests assert only
what must hold whatever the weights: which frames and objects are yielded,
shapes, dtypes, ranges, keyframes kept exactly, memory writes, resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.synthetic import make_video

NUM_FRAMES, SIZE = 12, (64, 96)
XMEM_SEED = 1

# Accept any SAM answer and look at every tracked mask: random weights score
# everything low, and we want refinement (and so tracker.amend) to happen.
REFINE_ALWAYS = dict(quality_threshold=1.0, min_predicted_iou=-1e9, agreement_low=0.0, agreement_high=1.0, min_area=1)


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """One intra-op thread while these tests run (restored after): on 64x96
    frames a second OpenMP thread gains little, and on a shared 2-core machine
    threads waiting for each other made XMem steps ~10x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="package", autouse=True)
def real_models_only():
    """The real engine, whatever ran before: no test-double provider (e.g. one
    left in the environment by whoever started pytest) and no model
    set cached by ``get_models`` from an earlier test; restored afterwards."""
    from tam_core.models import clear_models

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TAM_LABEL_MODEL_PROVIDER", raising=False)
        clear_models()
        yield
        clear_models()


@dataclass(frozen=True)
class Checkpoints:
    xmem: Path
    sam: Path  # SamConfig.tiny() state dict (load with sam_type="tiny")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> Checkpoints:
    from tam_core.segmenters.sam import SamConfig, build_sam
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    root = tmp_path_factory.mktemp("weights")
    xmem, sam = root / "xmem_seeded.pth", root / "sam_tiny.pth"
    torch.save(xmem_seeded_state_dict(XMEM_SEED), xmem)
    with torch.random.fork_rng():  # a fixed SAM without touching the global RNG
        torch.manual_seed(0)
        torch.save(build_sam(SamConfig.tiny()).state_dict(), sam)
    return Checkpoints(xmem, sam)


@pytest.fixture(scope="session")
def video():
    """12 frames 64x96: objects 1 and 2 from frame 0, object 3 enters on frame 5."""
    return make_video(num_frames=NUM_FRAMES, size=SIZE)


def click_on(video, frame: int, object_id: int) -> tuple[float, float]:
    """(x, y) of a pixel of the object on that frame (the ground truth pixel nearest its centroid)."""
    ys, xs = np.nonzero(video.mask(frame, object_id))
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return float(xs[i]) + 0.5, float(ys[i]) + 0.5


@dataclass
class TrackerLog:
    """What the real trackers were asked to do, across all trackers of a session.

    steps: (tracker no., frame, given ids, end, memory elements before, after);
    amends: (tracker no., frame, ids).
    """

    frame_of: object
    steps: list = field(default_factory=list)
    amends: list = field(default_factory=list)
    trackers: int = 0


def recording_factory(models, log: TrackerLog):
    """A tracker factory building real XMemTrackers over ``models``' loaded
    network with the run's config, each reporting its calls and memory size to ``log``."""
    from tam_core.trackers.xmem import XMemTracker

    base = models.tracker_factory

    class RecordingTracker(XMemTracker):
        def __init__(self, no: int, config):
            super().__init__(base.network, config, device=base.device, autocast_dtype=base.autocast)
            self.no = no
            self.frame = None

        def _mem(self) -> int:
            return self.memory.work_size + self.memory.long_size

        def step(self, image, masks=None, end=False):
            before = self._mem()
            out = super().step(image, masks, end)
            self.frame = log.frame_of(image)
            log.steps.append((self.no, self.frame, tuple(sorted(masks or {})), end, before, self._mem()))
            return out

        def amend(self, masks):
            log.amends.append((self.no, self.frame, tuple(sorted(masks))))
            return super().amend(masks)

    def factory(config=None):
        log.trackers += 1
        return RecordingTracker(log.trackers - 1, config)

    return factory
