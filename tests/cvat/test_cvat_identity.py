"""Issue 11 items 2 and 5: the record of our uploads follows the server, not the
URL's spelling (it lives on the server: issue 22), an old local record is
taken over only where it matches; one run per task at a time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import click, make_task, models, source
from plugin.cvat import CvatOptions, connect, fix_task, track_task
from plugin.cvat.credentials import Credentials
from plugin.cvat.errors import CvatError, CvatLockedError
from plugin.cvat.lock import TaskLock
from plugin.cvat.server import ServerIdentity, check_url, normalise_url
from tam_core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080", "http://localhost:8080/", "HTTP://LocalHost:8080", "http://[::1]:8080//",
    "http://127.0.1.1:8080", "http://localhost.:8080/",
])
def test_loopback_spellings_normalise_to_one(url):
    assert normalise_url(url) == "http://127.0.0.1:8080"


@pytest.mark.parametrize("url, want", [
    ("https://CVAT.example.com:443/", "https://cvat.example.com"),
    ("http://cvat.example.com:80", "http://cvat.example.com"),
    ("https://cvat.example.com:8443/cvat/", "https://cvat.example.com:8443/cvat"),
    ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
])
def test_other_urls_keep_what_distinguishes_them(url, want):
    assert normalise_url(url) == want


@pytest.mark.parametrize("url, says", [
    ("localhost:8080", "has no scheme: write http://localhost:8080"),
    ("cvat.example.com", "has no scheme: write http://cvat.example.com (or https://cvat.example.com"),
    ("ftp://cvat.example.com", "use http:// or https://"),
    ("http://", "no host name"),
    ("http://cvat:port", "invalid port"),
])
def test_bad_urls_are_refused_with_the_fix(url, says):
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(".", r"\.")):
        check_url(url)


@pytest.fixture
def task(cvat):
    tid, video = make_task(cvat, segment_size=6)
    cvat.add_shape(tid, type="points", frame=0, label_id=cvat.label_id(tid, "car"), points=click(video, source(0), 1))
    return tid, video


def run(url, tid, video, state, fn=track_task):
    with connect(url, Credentials("alice", "s3cret-pass")) as conn:
        return fn(conn, tid, models(video), CvatOptions(state_dir=state))


def test_another_spelling_of_the_url_finds_the_same_record(cvat, cvat_env, task):
    tid, video = task
    state = cvat_env / "state"
    run(cvat.url, tid, video, state)
    before, patches = cvat.shapes(tid), len(cvat.calls("PATCH"))
    for url in (f"http://localhost:{cvat.port}/", f"HTTP://LOCALHOST:{cvat.port}"):
        report = run(url, tid, video, state)
        assert report.keyframes == [(1, 0)] and report.person_shapes == 1  # none of our 13 masks is "a person's"
        assert report.replaceable == 13 and "nothing changed since the last run" in report.message
    assert cvat.shapes(tid) == before and len(cvat.calls("PATCH")) == patches
    assert not list(state.glob("*.json"))  # the record is on the server, not in the state folder
    assert run(f"http://localhost:{cvat.port}", tid, video, state, fix_task).changed == []


def _legacy(state: Path, cvat, tid: int, shapes: dict) -> None:
    """An old (version 2) local record, under some address's key."""
    state.mkdir(parents=True, exist_ok=True)
    (state / f"0123456789ab-task{tid}.json").write_text(json.dumps({"version": 2, "task": tid, "shapes": shapes}))


def _drop_server_record(cvat) -> None:
    cvat.issues.clear()
    cvat.comments.clear()


def test_an_old_local_record_is_taken_over_where_ids_and_content_match(cvat, cvat_env, task, monkeypatch):
    """Upgrading from a version that kept the record only locally (full SHA-1
    digests): its masks are recognised (ids AND digests match), written to the
    server record."""
    from plugin.cvat import ledger

    tid, video = task
    state = cvat_env / "state"
    run(cvat.url, tid, video, state)
    with monkeypatch.context() as m:
        m.setattr(ledger, "DIGEST_CHARS", 40)  # as versions 1-2 wrote them
        auto = {s["id"]: ledger.shape_hash(s) for s in cvat.shapes(tid) if s["source"] == "auto"}
    assert all(len(h) == 40 for h in auto.values())
    _drop_server_record(cvat)
    _legacy(state, cvat, tid, {str(k): v for k, v in auto.items()})
    report = run(cvat.url, tid, video, state)
    assert report.keyframes == [(1, 0)] and report.replaceable == 13 and report.counts.created == 0
    assert cvat.comments  # now on the server


def test_an_old_local_record_that_does_not_match_is_not_trusted(cvat, cvat_env, task):
    """Same ids, other content: those masks are not ours, and the run refuses
    rather than silently disowning them."""
    tid, video = task
    state = cvat_env / "state"
    run(cvat.url, tid, video, state)
    _drop_server_record(cvat)
    _legacy(state, cvat, tid, {str(s["id"]): "0" * 40 for s in cvat.shapes(tid) if s["source"] == "auto"})
    with connect(cvat.url, Credentials("alice", "s3cret-pass")) as conn:
        with pytest.raises(CvatError, match="13 source=\"auto\" masks that no tam-label record on this server claims"):
            track_task(conn, tid, models(video), CvatOptions(state_dir=state, dry_run=True))
        report = track_task(conn, tid, models(video), CvatOptions(state_dir=state, dry_run=True, unclaimed_as_person=True))
    assert report.replaceable == 0 and report.person_shapes == 14


def _holder(path: Path, ready: Path) -> subprocess.Popen:
    code = (
        "import sys, time; from pathlib import Path; sys.path.insert(0, sys.argv[1])\n"
        "from plugin.cvat.lock import TaskLock; from plugin.cvat.server import ServerIdentity, normalise_url\n"
        "lock = TaskLock(Path(sys.argv[2]), ServerIdentity(normalise_url(sys.argv[3]), 'Computer Vision Annotation Tool', '2.23.1'), int(sys.argv[4]), 'track').acquire()\n"
        "Path(sys.argv[5]).write_text('ok'); time.sleep(60)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, str(ROOT), *map(str, path)] + [str(ready)])


def test_a_second_run_on_the_task_is_refused_naming_the_holder_until_it_dies(cvat, cvat_env, task):
    tid, video = task
    state = cvat_env / "state"
    ready = cvat_env / "ready"
    # the other run spells the server differently: still the same task lock
    proc = _holder((state, f"http://localhost:{cvat.port}", tid), ready)
    try:
        deadline = time.time() + 30
        while not ready.exists():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        with pytest.raises(CvatLockedError) as err:
            run(cvat.url, tid, video, state)
        msg = str(err.value)
        assert f"pid {proc.pid} on {socket.gethostname()} since 20" in msg and "tam-label cvat track" in msg
        assert not cvat.calls("PATCH")  # nothing was written
        assert run(cvat.url, tid, video, state, fn=_dry).dry_run  # a dry run is not blocked
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    report = run(cvat.url, tid, video, state)  # the dead holder's lock is taken over
    assert report.counts.created == 13


def _dry(conn, tid, models_, options):
    return track_task(conn, tid, models_, CvatOptions(state_dir=options.state_dir, dry_run=True))


def test_the_lock_excludes_within_one_process_too_and_is_released(cvat, cvat_env):
    ident = ServerIdentity("http://127.0.0.1:1", "Computer Vision Annotation Tool", "2.23.1")
    with TaskLock(cvat_env, ident, 5, "track"):
        with pytest.raises(CvatLockedError, match=f"pid {os.getpid()} on "):
            TaskLock(cvat_env, ident, 5, "fix").acquire()
        with TaskLock(cvat_env, ident, 6, "fix"):  # another task: free
            pass
    with TaskLock(cvat_env, ident, 5, "fix"):
        pass
