"""Fixtures for the io tests: an index-coded clip and a fake checkpoint server on 127.0.0.1
(helpers live in io_media.py)."""

from __future__ import annotations

import threading
import http.server

import pytest

from io_media import T, FakeCheckpointHandler, index_frame


@pytest.fixture(scope="session")
def clip_mp4(tmp_path_factory):
    """40-frame H.264 mp4 (B-frames on, keyframe every 10 frames) at 25 fps."""
    from tam_core.video import write_video

    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    write_video(path, (index_frame(i) for i in range(T)), fps=25, keyframe_interval=10)
    return path


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeCheckpointHandler)
    httpd.mode = "ok"
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
