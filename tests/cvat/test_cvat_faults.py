"""Faults in the middle of an upload leave the task consistent, and a re-run completes it."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import auto_masks, click, make_task, models, source
from plugin.cvat import CvatConnectionError, CvatOptions, connect, track_task
from plugin.cvat.credentials import Credentials
from tam_core.options import RunOptions


@pytest.fixture
def conn(cvat, cvat_env):
    with connect(cvat.url, Credentials("alice", "s3cret-pass"), retry_wait=0.01) as c:
        yield c


def prompted(cvat):
    tid, video = make_task(cvat)
    car, ball = cvat.label_id(tid, "car"), cvat.label_id(tid, "ball")
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    cvat.add_shape(tid, type="points", frame=6, label_id=ball, points=click(video, source(6), 2))
    want = {(lid, 0, f): video.mask(source(f), oid) for oid, lid in ((1, car), (2, ball)) for f in range(13)}
    return tid, video, want


def check_consistent(cvat, tid, video, want, manual):
    """Every auto mask present is exact (no duplicates: auto_masks asserts that); manual shapes untouched."""
    got = auto_masks(cvat, tid, video)
    assert set(got) <= set(want)
    for key, m in got.items():
        assert np.array_equal(m, want[key]), key
    assert [s for s in cvat.shapes(tid) if s["source"] == "manual"] == manual
    return got


@pytest.mark.parametrize(
    "fault",
    [
        dict(status=500),  # the server fails the request
        dict(drop=True),  # the connection drops before the server does anything
        dict(drop=True, apply=True),  # the server created the shapes but the reply is lost
    ],
    ids=["http500", "dropped", "reply-lost"],
)
@pytest.mark.slow
def test_interrupted_upload_is_consistent_and_a_rerun_completes_it(cvat, conn, cvat_env, fault):
    tid, video, want = prompted(cvat)
    manual = cvat.shapes(tid)
    cvat.add_fault("PATCH", r"/annotations$", nth=2, **fault)
    opts = CvatOptions(state_dir=cvat_env / "state", run=RunOptions(batch_size=4))
    with pytest.raises(CvatConnectionError, match="re-run the same command"):
        track_task(conn, tid, models(video), opts)
    partial = check_consistent(cvat, tid, video, want, manual)
    assert len(partial) < len(want)
    track_task(conn, tid, models(video), opts)
    done = check_consistent(cvat, tid, video, want, manual)
    assert set(done) == set(want)


def test_a_transient_500_on_a_frame_download_is_retried(cvat, conn, cvat_env):
    tid, video, want = prompted(cvat)
    cvat.add_fault("GET", r"/data$", nth=3, status=502)
    track_task(conn, tid, models(video), CvatOptions(state_dir=cvat_env / "state"))
    assert set(auto_masks(cvat, tid, video)) == set(want)


@pytest.mark.slow
def test_a_person_edit_during_a_lost_reply_is_not_adopted(cvat, conn, cvat_env):
    """Shapes created by a request whose reply was lost are ours only while unchanged."""
    tid, video, want = prompted(cvat)
    cvat.add_fault("PATCH", r"/annotations$", nth=1, drop=True, apply=True)
    opts = CvatOptions(state_dir=cvat_env / "state", run=RunOptions(batch_size=4))
    with pytest.raises(CvatConnectionError):
        track_task(conn, tid, models(video), opts)
    orphan = next(s for s in cvat.shapes(tid) if s["source"] == "auto")
    cvat.edit_shape(tid, orphan["id"], source="semi-auto")  # a person touched it meanwhile
    track_task(conn, tid, models(video), opts)
    assert cvat.tasks[tid].shapes[orphan["id"]]["source"] == "semi-auto"  # kept
