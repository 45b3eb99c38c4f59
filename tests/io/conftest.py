"""Fixtures for the video tests (helpers live in io_media.py)."""

from __future__ import annotations

import pytest

from io_media import T, index_frame


@pytest.fixture(scope="session")
def clip_mp4(tmp_path_factory):
    """40-frame H.264 mp4 (B-frames on, keyframe every 10 frames) at 25 fps."""
    from tam_core.video import write_video

    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    write_video(path, (index_frame(i) for i in range(T)), fps=25, keyframe_interval=10)
    return path
