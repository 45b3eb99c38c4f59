"""Fixtures for the CVAT tests: a fake CVAT server (tests/cvat/fake_cvat.py) on
127.0.0.1 with a synthetic video task, and the deterministic model doubles."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

pytest.importorskip("cvat_sdk")

from fake_cvat import FakeCvat  # noqa: E402


@pytest.fixture
def cvat():
    with FakeCvat() as server:
        yield server


@pytest.fixture
def cvat_env(monkeypatch, tmp_path):
    """Credentials and a private state dir in the environment."""
    monkeypatch.setenv("CVAT_USERNAME", "alice")
    monkeypatch.setenv("CVAT_PASSWORD", "s3cret-pass")
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("TAM_LABEL_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def conn(cvat, cvat_env):
    """A connection to the fake server as alice (closed after the test)."""
    from plugin.cvat import connect
    from plugin.cvat.credentials import Credentials

    with connect(cvat.url, Credentials("alice", "s3cret-pass")) as c:
        yield c


# -- the function tests (test_functions_*.py) -----------------------------------------
@pytest.fixture(scope="module")
def video():
    """The function tests' clip: 8 frames 64x96: a disc (1) and a rectangle (2) from frame 0, a disc (3) from frame 5."""
    from tests.synthetic import make_video

    return make_video(num_frames=8, size=(64, 96))


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


@pytest.fixture(scope="session")
def real_checkpoints(tmp_path_factory):
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
    from functions_helpers import Checkpoints

    return Checkpoints(xmem, sam)


