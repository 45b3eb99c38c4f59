"""Issue 22 item 10: a server restart mid-run. The fake server goes down (its
listener closed, the open connection dropped) in the middle of the frame
downloads and comes back on the same port: the run bridges it quietly, with
one line when the outage starts and one when it ends, or gives up after the
window with the usual one-line error. No urllib3 "Retrying" lines."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from fake_cvat import FakeCvat
from fake_cvat_http import Handler
from helpers import auto_masks, click, make_task, source
from plugin.cli import main

PROVIDER = "tests.providers:color_models"


class RestartHandler(Handler):
    def _handle(self, method: str) -> None:
        fake = self.fake
        with fake._lock:
            down = fake.down
            if not down and method == "GET" and self.path.split("?")[0].rstrip("/").endswith("/data"):
                fake.frame_gets += 1
                down = fake.frame_gets == fake.down_at
                if down:
                    fake.go_down()
        if down:  # a request on a connection opened before the restart
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        super()._handle(method)


class RestartingCvat(FakeCvat):
    """Goes away on the ``down_at``-th frame download for ``down_s`` seconds."""

    handler_class = RestartHandler

    def __init__(self, down_at: int, down_s: float):
        super().__init__()
        self.down_at, self.down_s = down_at, down_s
        self.down, self.frame_gets = False, 0
        self.back_at: float | None = None

    def go_down(self) -> None:
        self.down = True
        port = self.port

        def restart():
            self.stop()
            time.sleep(self.down_s)
            with self._lock:
                self.down = False
                self.back_at = time.monotonic()
            self.start(port)

        threading.Thread(target=restart, daemon=True).start()


def run_track(fake: RestartingCvat, window: float):
    tid, video = make_task(fake)
    fake.add_shape(tid, type="points", frame=0, label_id=fake.label_id(tid, "car"), points=click(video, source(0), 1))
    t0 = time.monotonic()
    rc = main(["cvat", "track", "--server", fake.url, "--task", str(tid), "--no-progress", "--reconnect-window", str(window)])
    return rc, time.monotonic() - t0, tid, video


def lines(caplog, capsys):
    err = capsys.readouterr().err
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING], err


@pytest.mark.slow  # a 1.5 s outage plus the backoff
def test_a_restart_mid_run_is_bridged_with_one_line_per_outage(cvat_env, monkeypatch, caplog, capsys):
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", PROVIDER)
    caplog.set_level(logging.DEBUG)
    with RestartingCvat(down_at=4, down_s=1.5) as fake:
        rc, took, tid, video = run_track(fake, window=20)
        assert rc == 0 and fake.back_at is not None
        want = {(fake.label_id(tid, "car"), 0, f) for f in range(13)}
        assert set(auto_masks(fake, tid, video)) == want  # every frame tracked and uploaded once
    warnings, err = lines(caplog, capsys)
    assert not [m for m in caplog.messages if "Retrying" in m], caplog.messages
    assert "Retrying" not in err
    down = [m for m in warnings if "unreachable since" in m]
    up = [m for m in warnings if "reconnected after" in m]
    assert len(down) == 1 and len(up) == 1, warnings
    assert "connection dropped" in down[0] and "downloading frame" in down[0] and "up to 20 s" in down[0]
    assert 1.0 <= float(up[0].split("after ")[1].split(" s")[0]) <= 5, up  # the outage lasted ~1.5 s
    assert took < 15


def test_an_outage_longer_than_the_window_ends_in_the_one_line_error(cvat_env, monkeypatch, caplog, capsys):
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", PROVIDER)
    caplog.set_level(logging.DEBUG)
    with RestartingCvat(down_at=4, down_s=4.0) as fake:
        rc, took, _, _ = run_track(fake, window=1)
    assert rc == 1 and took < 4  # gave up after the 1 s window, not after the server came back
    warnings, err = lines(caplog, capsys)
    assert not [m for m in caplog.messages if "Retrying" in m] and "Retrying" not in err
    assert len([m for m in warnings if "unreachable since" in m]) == 1
    assert not [m for m in warnings if "reconnected" in m]
    assert "lost the connection to CVAT while downloading frame" in err and "re-run the same command" in err
    assert err.count("\n") == 1, err  # the CLI's own output: the error line only (warnings went to caplog)


def test_a_write_to_a_refusing_server_is_retried_but_a_dropped_write_is_not(cvat, cvat_env):
    """Connection refused = the request never reached the server: safe to
    repeat a write. A write dropped after sending may have been applied: not
    repeated (the ledger makes the re-run safe)."""
    from plugin.cvat import connect
    from plugin.cvat.credentials import Credentials
    from plugin.cvat.errors import CvatConnectionError

    tid, _ = make_task(cvat)
    car = cvat.label_id(tid, "car")
    shape = {"type": "mask", "frame": 0, "label_id": car, "group": 0, "source": "auto",
             "points": [0, 4, 0, 0, 1, 1]}
    job = cvat.task_jobs(tid)[0]["id"]
    with connect(cvat.url, Credentials("alice", "s3cret-pass"), retry_wait=0.05, reconnect_s=10) as conn:
        cvat.add_fault("PATCH", r"/annotations$", drop=True, apply=True)
        with pytest.raises(CvatConnectionError, match="re-run the same command"):
            conn.create_shapes(job, [shape])
        assert len(cvat.calls("PATCH")) == 1  # not repeated
        port = cvat.port
        cvat.stop()
        timer = threading.Timer(0.5, cvat.start, kwargs={"port": port})
        timer.start()
        created = conn.create_shapes(job, [shape])
        timer.join()
    assert len(created) == 1 and len(cvat.calls("PATCH")) == 2
    assert len([s for s in cvat.shapes(tid) if s["type"] == "mask"]) == 2  # the lost-reply one + this one, no third
