"""Issue 22 items 2 and 3: what is ours lives on the server. A lost state
folder, a second machine (another state folder) and a second address of one
server all recognise our masks; a second run on a task being changed is
refused whatever machine or address it comes from; where the signal is
missing the run refuses instead of disowning masks."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest
from helpers import auto_masks, click, make_task, models, proxy, source

from plugin.cvat import CvatError, CvatOptions, connect, fix_task, track_task
from plugin.cvat.credentials import Credentials
from plugin.cvat.errors import CvatLockedError
from plugin.cvat.lease import TaskLease
from plugin.cvat.masks import encode_mask
from plugin.cvat.record import ServerRecord
from plugin.cvat.task import load_task
from tam_core.options import RunOptions


@pytest.fixture
def task(cvat):
    tid, video = make_task(cvat, segment_size=6)
    car = cvat.label_id(tid, "car")
    click_id = cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    return tid, video, car, click_id


def run(url, tid, video, state, fn=track_task, **kw):
    with connect(url, Credentials("alice", "s3cret-pass")) as conn:
        return fn(conn, tid, models(video), CvatOptions(state_dir=state, run=RunOptions(batch_size=4), **kw))


@pytest.mark.slow  # several tracking runs on the fake server
def test_a_lost_state_folder_loses_nothing(cvat, cvat_env, task):
    tid, video, car, click_id = task
    state = cvat_env / "state"
    run(cvat.url, tid, video, state)
    ids = sorted(s["id"] for s in cvat.shapes(tid) if s["source"] == "auto")
    shutil.rmtree(state)
    again = run(cvat.url, tid, video, state)
    assert again.person_shapes == 1 and again.keyframes == [(1, 0)] and "nothing changed" in again.message
    assert sorted(s["id"] for s in cvat.shapes(tid) if s["source"] == "auto") == ids
    shutil.rmtree(state)
    # a moved click re-tracks and REPLACES (never duplicates) our masks
    ys, xs = video.mask(source(0), 1).nonzero()
    cvat.edit_shape(tid, click_id, points=[float(xs[0]), float(ys[0])])  # another pixel of the object
    cvat.add_shape(tid, type="points", frame=6, label_id=car, points=click(video, source(6), 1))
    moved = run(cvat.url, tid, video, state)
    assert moved.person_shapes == 2 and moved.replaceable == 13
    assert len(auto_masks(cvat, tid, video)) == 13  # one per (object, frame): asserted inside
    shutil.rmtree(state)
    # and fix still knows the baseline
    nine = next(s["id"] for s in cvat.shapes(tid) if s["source"] == "auto" and s["frame"] == 9)
    trimmed = video.mask(source(9), 1).copy()
    trimmed[trimmed.nonzero()[0][0], trimmed.nonzero()[1][0]] = False  # the person's edit: one pixel less
    cvat.edit_shape(tid, nine, points=[float(p) for p in encode_mask(trimmed)], source="semi-auto")
    fixed = run(cvat.url, tid, video, state, fn=fix_task)
    assert fixed.changed == [(1, 9)]


def test_a_second_machine_recognises_our_masks(cvat, cvat_env, task):
    tid, video, _, _ = task
    run(cvat.url, tid, video, cvat_env / "machine-a")
    before = cvat.shapes(tid)
    other = run(cvat.url, tid, video, cvat_env / "machine-b")
    assert other.person_shapes == 1 and other.replaceable == 13 and other.counts.created == 0
    assert cvat.shapes(tid) == before


def _hold(cvat, tid, url=None):
    """Another run holding the task: its lease on the server."""
    conn = connect(url or cvat.url, Credentials("alice", "s3cret-pass"))
    return conn, TaskLease(conn, ServerRecord(conn, load_task(conn, tid)), tid, "track", "http://elsewhere:8080").acquire()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["another state folder", "another address"])
def test_a_second_run_is_refused_from_any_machine_or_address(cvat, cvat_env, task, where):
    tid, video, _, _ = task
    conn, lease = _hold(cvat, tid)
    url = cvat.url if where == "another state folder" else f"http://127.0.0.1:{proxy(cvat.port)}"
    try:
        with pytest.raises(CvatLockedError, match=r"being changed by another tam-label run: pid \d+ on .* via http://elsewhere:8080"):
            run(url, tid, video, cvat_env / "machine-b")
        assert not cvat.calls("PATCH", r"annotations") and not any(s["source"] == "auto" for s in cvat.shapes(tid))
        assert run(url, tid, video, cvat_env / "machine-b", dry_run=True).dry_run  # a dry run is not blocked
    finally:
        lease.release()
        conn.close()
    assert run(url, tid, video, cvat_env / "machine-b").counts.created == 13


def test_a_second_address_recognises_our_masks(cvat, cvat_env, task):
    tid, video, _, _ = task
    run(cvat.url, tid, video, cvat_env / "state")
    before = cvat.shapes(tid)
    alias = f"http://127.0.0.1:{proxy(cvat.port)}"
    again = run(alias, tid, video, cvat_env / "state")
    assert again.person_shapes == 1 and "nothing changed" in again.message and cvat.shapes(tid) == before


def test_two_runs_starting_together_agree_on_one_holder(cvat, cvat_env, task):
    tid, _, _, _ = task
    conn_a, first = _hold(cvat, tid)
    try:
        with pytest.raises(CvatLockedError):
            _hold(cvat, tid)
        leases = [c for c in cvat.comments.values() if c["message"].startswith("tam-label lease")]
        assert [c["id"] for c in leases] == [first.comment]  # the loser removed its own
        assert len(cvat.issues) == 1
    finally:
        first.release()
        conn_a.close()


def test_a_lease_left_by_a_dead_run_expires(cvat, cvat_env, task):
    tid, video, _, _ = task
    conn, lease = _hold(cvat, tid)
    old = (datetime.now(timezone.utc) - timedelta(minutes=11)).isoformat().replace("+00:00", "Z")
    cvat.comments[lease.comment]["updated_date"] = old  # not renewed for 11 minutes: its run is gone
    lease.comment = None  # (it never releases)
    conn.close()
    assert run(cvat.url, tid, video, cvat_env / "state").counts.created == 13


def test_without_the_server_record_our_masks_are_refused_not_disowned(cvat, cvat_env, task):
    """Someone deleted the record issue: the run stops with what to do (rc 1),
    never a silent rc 0 that treats our masks as a person's."""
    tid, video, _, _ = task
    run(cvat.url, tid, video, cvat_env / "state")
    cvat.issues.clear()
    cvat.comments.clear()
    with pytest.raises(CvatError, match=r"13 source=\"auto\" masks that no tam-label record on this server claims.*"
                                        r"--treat-unclaimed-as-person"):
        run(cvat.url, tid, video, cvat_env / "other")


@pytest.mark.slow  # several tracking runs on the fake server
def test_the_record_survives_a_user_who_may_not_edit_its_comment(cvat, cvat_env, task):
    tid, video, car, _ = task
    run(cvat.url, tid, video, cvat_env / "state")
    record = [c for c in cvat.comments.values() if c["message"].startswith("tam-label record")]
    cvat.foreign_comments.update(c["id"] for c in record)  # written by another user: edits answer 403
    cvat.add_shape(tid, type="points", frame=6, label_id=car, points=click(video, source(6), 1))
    run(cvat.url, tid, video, cvat_env / "state")
    again = run(cvat.url, tid, video, cvat_env / "other")
    assert again.person_shapes == 2 and "nothing changed" in again.message


def test_a_run_whose_lease_was_taken_over_stops_writing(cvat, cvat_env, task):
    tid = task[0]
    conn, lease = _hold(cvat, tid)
    try:
        cvat.comments.pop(lease.comment)  # expired and removed by another run
        with pytest.raises(CvatLockedError, match="lost the lease on task"):
            lease.renew(force=True)
    finally:
        conn.close()


def test_the_record_round_trips_and_a_damaged_one_is_a_clear_error():
    from plugin.cvat.ledger import Entry, Ledger
    from plugin.cvat.record import decode, encode

    ledger = Ledger(7, masks={((3, 0), 5): [Entry(11, "a" * 40, 2), Entry(None, "b" * 40, 2)]}, deleted={((3, 1), 6)},
                    keyframes={4: "c" * 40}, fingerprint="f", released={9})
    text = encode(ledger)
    assert text.startswith("tam-label record of task 7:") and "do not edit or delete".lower() in text.lower()
    back = decode(text, 7)
    assert back.to_json() == ledger.to_json() and back.masks[((3, 0), 5)][1].id is None
    with pytest.raises(CvatError, match="record of task 7 on the server is damaged"):
        decode(text[:-10], 7)
