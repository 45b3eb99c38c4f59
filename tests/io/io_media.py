"""Test media for tests/io.

- Frames that carry their own index as wide black/white bars, which survive
  lossy H.264 coding, so a decoded frame can be identified exactly.
- A fake checkpoint and an HTTP handler serving it (with failure modes).
- Label arrays / PNGs with hand-checkable J and F.
"""

from __future__ import annotations

import hashlib
import http.server
import socket

import numpy as np
from PIL import Image

from tam_core.weights import Checkpoint

H, W, T = 64, 96, 40
BITS = 6  # 2**6 = 64 > T
BAR = W // BITS


def index_frame(i: int, h: int = H, w: int = W) -> np.ndarray:
    """uint8 [h,w,3] with bit b of ``i`` drawn as a white bar b (black if 0)."""
    bar = w // BITS
    frame = np.full((h, w, 3), 0, np.uint8)
    for b in range(BITS):
        if (i >> b) & 1:
            frame[:, b * bar : (b + 1) * bar] = 255
    return frame


def read_index(frame: np.ndarray) -> int:
    """Inverse of :func:`index_frame`, reading the centre of each bar."""
    h, w = frame.shape[:2]
    bar = w // BITS
    value = 0
    for b in range(BITS):
        centre = frame[h // 4 : 3 * h // 4, b * bar + bar // 4 : (b + 1) * bar - bar // 4]
        if centre.mean() > 128:
            value |= 1 << b
    return value


# -- checkpoint downloads: a fake file served from 127.0.0.1 ----------------------------
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB fake checkpoint
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class FakeCheckpointHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at any path; the server's ``mode`` picks a failure."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        mode = self.server.mode
        self.server.requests.append(dict(self.headers))
        if mode == "404":
            self.send_error(404)
            return
        body = b"X" * len(PAYLOAD) if mode == "wrong" else PAYLOAD
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "no_range":
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "close_early":
            self.wfile.write(body[start : start + 300_000])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # promised more than it sends
            return
        self.wfile.write(body[start:])


def fake(server, **kw) -> Checkpoint:
    fields = dict(
        name="fake_sam",
        filename="fake_sam_0123.pth",
        url=f"http://127.0.0.1:{server.server_address[1]}/fake_sam_0123.pth",
        family="sam",
        size=len(PAYLOAD),
        sha256=SHA,
    )
    fields.update(kw)
    return Checkpoint(**fields)




# -- label PNGs for the metrics -------------------------------------------------------
def square(r0, c0, side=20, size=(100, 100)):
    m = np.zeros(size, bool)
    m[r0 : r0 + side, c0 : c0 + side] = True
    return m


def sequence():
    """5 frames, objects 1 and 2; the prediction is perfect on frames 1..3 and
    wrong (everything missing) on the first and last frame."""
    gt = np.zeros((5, 100, 100), np.uint8)
    for t in range(5):
        gt[t][square(10, 10 + t)] = 1
        gt[t][square(60, 60)] = 2
    pred = gt.copy()
    pred[0] = 0
    pred[4] = 0
    return pred, gt


def write_pngs(folder, labels, names=None, palette=True):
    folder.mkdir(parents=True, exist_ok=True)
    for t, lab in enumerate(labels):
        im = Image.fromarray(lab.astype(np.uint8), mode="L")
        if palette:
            im = im.convert("P")
            im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9))
            im.paste(Image.fromarray(lab.astype(np.uint8)))
        im.save(folder / f"{(names or [f'{i:05d}' for i in range(len(labels))])[t]}.png")
