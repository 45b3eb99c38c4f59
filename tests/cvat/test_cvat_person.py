"""Issue 22 items 1 and 4: the person always wins. Their edit, drawing,
deletion or relabel, before or DURING a run, is never overwritten, deleted,
re-created or duplicated, and the summary says what each became. A person
acts as the CVAT 2.23 UI does: a mask edit is a job-level update with the
same id and source auto -> semi-auto, a label change keeps source="auto", a
deletion is a job-level delete (``FakeCvat.edit_shape`` / ``delete_shape``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import auto_masks, click, make_task, models, source

from plugin.cvat import CvatOptions, fix_task, track_task
from plugin.cvat.masks import encode_mask
from tam_core.options import RunOptions
from tests.doubles import ColorSegmenter, ColorTrackerFactory


def opts(cvat_env, **kw):
    return CvatOptions(state_dir=cvat_env / "state", run=RunOptions(batch_size=4, direction="forward"), **kw)


def drifting(video):
    """Loses each object's right half from task frame 3 on (a poor first run)."""
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={source(3)})
    return SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=factory, refiner=None)


def car_masks(cvat, tid, car):
    return {s["frame"]: s for s in cvat.shapes(tid) if s["label_id"] == car and s["type"] == "mask"}


@pytest.mark.slow  # several tracking runs on the fake server
def test_a_person_editing_and_drawing_during_a_run_is_left_alone_and_reported(cvat, conn, cvat_env):
    tid, video = make_task(cvat)
    car = cvat.label_id(tid, "car")
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    track_task(conn, tid, drifting(video), opts(cvat_env))  # frames 3..12 are damaged
    before = car_masks(cvat, tid, car)
    assert len(before) == 13
    edited_points = [float(p) for p in encode_mask(video.mask(source(10), 1))]
    drawn_points = [float(p) for p in encode_mask(video.mask(source(9), 1))]
    acted = []

    def person(method, path, query):
        # right after the run's first upload batch, a person edits our mask on
        # frame 10 and draws their own mask on frame 9 (both still ahead of the run)
        if not acted and method == "PATCH" and path.startswith("/api/jobs/") and "action=create" in query:
            cvat.edit_shape(tid, before[10]["id"], points=edited_points, source="semi-auto")
            acted.append(cvat.add_shape(tid, type="mask", frame=9, label_id=car, points=drawn_points))

    cvat.hooks.append(person)
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))  # a second click: a new prompt
    report = track_task(conn, tid, models(video), opts(cvat_env))
    assert acted, "the person's hook never ran"
    after = car_masks(cvat, tid, car)
    # the edit: same id, the person's pixels, semi-auto; no auto mask over it
    assert (after[10]["id"], after[10]["points"], after[10]["source"]) == (before[10]["id"], edited_points, "semi-auto")
    # the drawing: the only mask of the car on frame 9 (our old one there removed, nothing new uploaded)
    assert [s["id"] for s in cvat.shapes(tid) if s["frame"] == 9 and s["label_id"] == car] == [acted[0]]
    for f in (3, 4, 5, 6, 7, 8, 11, 12):  # the rest is replaced by the correct masks, once each
        assert after[f]["source"] == "auto" and np.array_equal(auto_masks(cvat, tid, video)[(car, 0, f)], video.mask(source(f), 1)), f
    assert set(report.touched) == {"'car'@9 (drawn)", "'car'@10 (edited)"}
    assert "changed by a person during this run (left alone" in report.summary()
    # the next fix takes both as the person's keyframes and keeps them
    cvat.hooks.clear()
    again = fix_task(conn, tid, models(video), opts(cvat_env))
    assert sorted(again.changed) == [(1, 9), (1, 10)]
    assert car_masks(cvat, tid, car)[10]["points"] == edited_points


@pytest.mark.slow  # several tracking runs on the fake server
def test_a_person_deleting_during_a_run_is_a_decision(cvat, conn, cvat_env):
    tid, video = make_task(cvat)
    car = cvat.label_id(tid, "car")
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    track_task(conn, tid, drifting(video), opts(cvat_env))
    before = car_masks(cvat, tid, car)

    def person(method, path, query):
        if before[11]["id"] in cvat.tasks[tid].shapes and method == "PATCH" and "action=create" in query:
            cvat.delete_shape(tid, before[11]["id"])

    cvat.hooks.append(person)
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    report = track_task(conn, tid, models(video), opts(cvat_env))
    assert "'car'@11 (deleted)" in report.touched and 11 not in car_masks(cvat, tid, car)
    cvat.hooks.clear()
    cvat.add_shape(tid, type="points", frame=1, label_id=car, points=click(video, source(1), 1))
    later = track_task(conn, tid, models(video), opts(cvat_env))
    assert 11 not in car_masks(cvat, tid, car) and later.declined == ["'car'@11"]


@pytest.mark.slow  # several tracking runs on the fake server
def test_a_deletion_is_never_recreated_and_a_relabel_is_the_persons_shape_of_the_new_label(cvat, conn, cvat_env):
    tid, video = make_task(cvat)
    car, ball = cvat.label_id(tid, "car"), cvat.label_id(tid, "ball")
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    track_task(conn, tid, models(video), opts(cvat_env))
    ours = car_masks(cvat, tid, car)
    cvat.delete_shape(tid, ours[5]["id"])  # "not the car here"
    cvat.edit_shape(tid, ours[7]["id"], label_id=ball)  # the UI keeps source="auto" on a label change
    report = track_task(conn, tid, models(video), opts(cvat_env))
    after = car_masks(cvat, tid, car)
    assert 5 not in after and 7 not in after  # neither is re-created for the car
    relabelled = cvat.tasks[tid].shapes[ours[7]["id"]]
    assert (relabelled["label_id"], relabelled["source"], relabelled["points"]) == (ball, "auto", ours[7]["points"])
    assert report.decisions["deleted"] == ["'car'@5"] and report.decisions["relabelled"] == ["'car'@7 -> 'ball'"]
    assert (2, 7) in report.keyframes and report.objects[2] == "'ball'"  # the person's mask of the new label
    text = report.summary()
    assert "deleted by a person (never re-created" in text and "relabelled by a person" in text
    assert "another machine" not in text
    # later runs (track or fix) keep both decisions
    fixed = fix_task(conn, tid, models(video), opts(cvat_env))
    assert fixed.declined == ["'car'@5", "'car'@7"]
    assert 5 not in car_masks(cvat, tid, car) and 7 not in car_masks(cvat, tid, car)
    # a person's new prompt on a deleted pair overrides their deletion
    cvat.add_shape(tid, type="points", frame=5, label_id=car, points=click(video, source(5), 1))
    track_task(conn, tid, models(video), opts(cvat_env))
    assert car_masks(cvat, tid, car)[5]["source"] == "auto"
