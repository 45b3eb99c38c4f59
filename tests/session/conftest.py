"""Fixtures for the session tests: a synthetic video, doubles and helpers."""

from __future__ import annotations

import pytest

from tests.doubles import ArrayFrames, ColorSegmenter, ColorTrackerFactory
from tests.synthetic import make_video


@pytest.fixture(scope="session")
def video():
    """30 frames 64x96: objects 1, 2 from frame 0, object 3 enters on frame 5."""
    return make_video(num_frames=30)


@pytest.fixture
def frames(video):
    return ArrayFrames(video.frames)


@pytest.fixture
def factory(video):
    return ColorTrackerFactory(frame_index_of=video.index_of)


@pytest.fixture
def segmenter():
    return ColorSegmenter()
