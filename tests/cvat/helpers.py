"""Shared helpers of the CVAT tests: a synthetic video task on the fake server,
click positions from ground truth, and the model doubles."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from cvat_sdk.masks import decode_mask
from tests.doubles import ColorSegmenter, ColorTrackerFactory
from tests.synthetic import make_video

START, STEP, STOP = 2, 2, 27  # task frame i = source frame 2 + 2 i, 13 task frames


def make_task(cvat, num_frames: int = 30, start: int = START, step: int = STEP, stop: int = STOP, mode: str = "interpolation", segment_size: int = 0):
    """A video task over a synthetic clip; returns (task id, video)."""
    video = make_video(num_frames=num_frames)
    labels = [{"name": "car", "attributes": [{"name": "negative", "input_type": "checkbox"}]}, {"name": "ball"}]
    tid = cvat.add_task(video.frames, labels, start_frame=start, stop_frame=stop, step=step, mode=mode, segment_size=segment_size)
    return tid, video


def source(frame: int, start: int = START, step: int = STEP) -> int:
    return start + frame * step


def click(video, src_frame: int, object_id: int) -> list[float]:
    """A pixel (x, y) inside the object: its middle foreground pixel in scan order."""
    ys, xs = np.nonzero(video.mask(src_frame, object_id))
    assert len(ys), f"object {object_id} is absent on source frame {src_frame}"
    k = len(ys) // 2
    return [float(xs[k]), float(ys[k])]


def models(video):
    return SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=ColorTrackerFactory(frame_index_of=video.index_of), refiner=None)


def auto_masks(cvat, tid, video) -> dict[tuple[int, int, int], np.ndarray]:
    """(label id, group, task frame) -> decoded mask of every source="auto" mask shape."""
    h, w = video.size
    out = {}
    for s in cvat.shapes(tid):
        if s["source"] == "auto" and s["type"] == "mask":
            key = (s["label_id"], s["group"], s["frame"])
            assert key not in out, f"two auto masks for {key}"
            out[key] = decode_mask(s["points"], image_width=w, image_height=h)
    return out


def proxy(port: int):
    """A TCP forwarder on another loopback port to ``port``: a second address
    of one server (as a DNS alias or a tunnel would be). Returns its port;
    the forwarding threads are daemons."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        while True:
            client, _ = listener.accept()
            upstream = socket.create_connection(("127.0.0.1", port))
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]
