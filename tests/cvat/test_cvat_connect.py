"""Issue 11 item 4: "cannot reach the server" (at start, nothing done) is told
apart from "lost the connection" (mid-run, resumable), and a URL without a
scheme is refused with the fix."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import click, make_task, models, source
from plugin.cli import main
from plugin.cvat import CvatOptions, connect, track_task
from plugin.cvat.credentials import Credentials
from plugin.cvat.errors import CvatConnectionError, CvatUnreachableError
from tam_core.errors import ConfigError

CREDS = Credentials("alice", "s3cret-pass")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_unreachable_at_once_without_retries():
    t0 = time.monotonic()
    with pytest.raises(CvatUnreachableError, match=r"cannot reach CVAT at http://127\.0\.0\.1:\d+ \(connection refused\): check the host, port and scheme"):
        connect(f"http://127.0.0.1:{free_port()}", CREDS)
    assert time.monotonic() - t0 < 3  # no retry loop (it took 11 s with the SDK's retries)


def test_https_to_a_plain_http_server_says_to_use_http(cvat):
    with pytest.raises(CvatUnreachableError, match=r"TLS handshake failed .*use http://"):
        connect(cvat.url.replace("http://", "https://"), CREDS)
    assert all(m != "GET" or p != "/api/labels" for m, p, _ in cvat.requests)


def test_a_web_server_that_is_not_cvat_is_named_as_such():
    class NotCvat(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>hello</html>"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotCvat)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(CvatUnreachableError, match=r"answered HTTP 404 but not as a CVAT server"):
            connect(f"http://127.0.0.1:{httpd.server_address[1]}", CREDS)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_url_without_a_scheme_is_refused_before_any_request(cvat):
    bare = cvat.url.removeprefix("http://")
    with pytest.raises(ConfigError, match=f"has no scheme: write http://{bare}"):
        connect(bare, CREDS)
    assert cvat.requests == []


def test_cli_prints_one_line_for_an_unreachable_server(cvat_env, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["cvat", "track", "--server", url, "--task", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach CVAT" in err and "re-run" not in err


@pytest.mark.slow
def test_losing_the_connection_mid_run_is_resumable_and_distinct(cvat, cvat_env):
    tid, video = make_task(cvat)
    cvat.add_shape(tid, type="points", frame=0, label_id=cvat.label_id(tid, "car"), points=click(video, source(0), 1))
    cvat.add_fault("GET", r"/data$", nth=4, drop=True, times=0)  # the server goes away after 3 frames
    with connect(cvat.url, CREDS, retry_wait=0.01, reconnect_s=0.2) as conn:
        with pytest.raises(CvatConnectionError, match=r"lost the connection to CVAT while downloading frame \d+ .*re-run the same command to resume") as err:
            track_task(conn, tid, models(video), CvatOptions(state_dir=cvat_env / "state"))
    assert not isinstance(err.value, CvatUnreachableError)


def test_the_fake_refuses_plain_json_accept_as_cvat_does(cvat):
    """Seen on the real 2.23.1 server: Accept: application/json -> 406 (our first
    probe sent it and every run failed); vnd.cvat+json and */* are served."""
    import urllib3

    assert urllib3.request("GET", f"{cvat.url}/api/server/about", headers={"Accept": "application/json"}).status == 406
    for accept in ("application/vnd.cvat+json", "*/*"):
        assert urllib3.request("GET", f"{cvat.url}/api/server/about", headers={"Accept": accept}).status == 200
