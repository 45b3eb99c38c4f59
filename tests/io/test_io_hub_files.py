"""Single weights files on the Hugging Face Hub (``.../resolve/main/x.pt``):
the Hub publishes each LFS file's SHA-256 and size on its redirect
(``X-Linked-Etag``, ``X-Linked-Size``). When we recorded no digest of our own,
the download is checked against those, and so is every later ``verify``."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from io_media import PAYLOAD
from tam_core.errors import CheckpointError
from tam_core.weights import Checkpoint, download_checkpoint, resolve_checkpoint, verify_checkpoint


class _Hub(http.server.BaseHTTPRequestHandler):
    """/resolve/x.pt redirects (302 + X-Linked-*) to /blob, which serves the bytes."""

    def do_GET(self):
        if self.path.startswith("/resolve/"):
            self.send_response(302)
            self.send_header("Location", "/blob")
            self.send_header("X-Linked-Etag", f'"{self.server.published}"')
            self.send_header("X-Linked-Size", str(len(PAYLOAD)))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    httpd.published = hashlib.sha256(PAYLOAD).hexdigest()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def unhashed(hub) -> Checkpoint:
    return Checkpoint(name="hubfile", filename="hubfile.pt", family="toy",
                      url=f"http://127.0.0.1:{hub.server_address[1]}/resolve/hubfile.pt")


def test_the_hubs_digest_checks_the_download_and_every_later_verify(hub, tmp_path):
    ckpt = unhashed(hub)
    path = download_checkpoint(ckpt, cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert resolve_checkpoint("hubfile", cache_dir=tmp_path, download=False, registry={"hubfile": ckpt}) == path
    path.write_bytes(PAYLOAD[:-1] + b"!")  # same size; without the published digest only the zip layout is checked
    with pytest.raises(CheckpointError, match="SHA-256"):
        verify_checkpoint(ckpt, path)


def test_bytes_that_do_not_match_the_published_digest_are_refused_and_removed(hub, tmp_path):
    hub.published = "0" * 64
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        download_checkpoint(unhashed(hub), cache_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == []
