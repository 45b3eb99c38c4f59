"""Issue 11 item 1: tasks whose jobs overlap (video tasks with a segment size).

The fake server stores a task-level upload once in every job holding the
frame and answers task-level reads with all copies, as the real CVAT 2.23.1
does (docs/cvat.md); the tool must store each mask once (job-level create),
delete exactly, and read a copy of its own mask as its own.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import auto_masks, click, make_task, models, source
from plugin.cvat import CvatOptions, fix_task, track_task
from plugin.cvat.masks import encode_mask

SEG = 6  # 13 task frames -> overlap min(5, 6 // 2) = 3: jobs 0-5, 3-8, 6-11, 9-12


@pytest.fixture
def overlapping(cvat):
    tid, video = make_task(cvat, segment_size=SEG)
    car = cvat.label_id(tid, "car")
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    return tid, video, car


def opts(cvat_env, **kw):
    return CvatOptions(state_dir=cvat_env / "state", **kw)


def mask_shape(frame, label, points, source="auto"):
    return {"type": "mask", "frame": frame, "label_id": label, "group": 0, "source": source, "points": points,
            "occluded": False, "z_order": 0, "rotation": 0.0, "attributes": []}


def test_the_fake_splits_and_stores_like_cvat_2_23(cvat):
    """What the real server showed (docs/cvat.md): 30 frames, segment 10 -> jobs
    0-9, 5-14, 10-19, 15-24, 20-29; a task-level create is stored per job, a
    job-level one once; deletes by id are exact."""
    tid, video = make_task(cvat, num_frames=60, start=0, step=1, stop=29, segment_size=10)
    assert [(j["start_frame"], j["stop_frame"]) for j in cvat.task_jobs(tid)] == [(0, 9), (5, 14), (10, 19), (15, 24), (20, 29)]
    car = cvat.label_id(tid, "car")
    task = cvat.tasks[tid]
    made = cvat.patch(task, "create", {"shapes": [mask_shape(7, car, [0, 6, 5, 10, 7, 11])]})["shapes"]
    assert len(made) == 2 and len({s["id"] for s in made}) == 2  # one copy per job holding frame 7
    assert sorted(cvat.shape_jobs(tid)[s["id"]] for s in made) == cvat.jobs_holding(tid, 7)
    assert [s["id"] for s in cvat.task_annotations(task)["shapes"]] == [s["id"] for s in made]  # read back twice
    job2 = cvat.jobs_holding(tid, 12)[0]
    once = cvat.patch(task, "create", {"shapes": [mask_shape(12, car, [0, 6, 5, 10, 7, 11])]}, job=job2)["shapes"]
    assert len(once) == 1
    other = cvat.jobs_holding(tid, 12)[1]
    cvat.patch(task, "delete", {"shapes": [once[0]]}, job=other)  # the wrong job ignores the id
    assert once[0]["id"] in task.shapes
    cvat.patch(task, "delete", {"shapes": [made[0]]})  # task-level: exactly that id
    assert made[0]["id"] not in task.shapes and made[1]["id"] in task.shapes


def test_track_stores_each_mask_once_in_one_job_holding_its_frame(cvat, conn, cvat_env, overlapping):
    tid, video, car = overlapping
    jobs = cvat.task_jobs(tid)
    assert [(j["start_frame"], j["stop_frame"]) for j in jobs] == [(0, 5), (3, 8), (6, 11), (9, 12)]
    report = track_task(conn, tid, models(video), opts(cvat_env, run=_run(4)))
    masks = auto_masks(cvat, tid, video)  # asserts one auto mask per (object, frame) among ALL stored copies
    assert sorted(masks) == [(car, 0, f) for f in range(13)]
    for (_, _, f), m in masks.items():
        assert np.array_equal(m, video.mask(source(f), 1)), f
    where = cvat.shape_jobs(tid)
    for s in cvat.shapes(tid):
        if s["source"] == "auto":  # the earliest job holding the frame
            assert where[s["id"]] == cvat.jobs_holding(tid, s["frame"])[0], s["frame"]
    assert cvat.calls("PATCH", r"/api/jobs/\d+/annotations$") and not cvat.calls("PATCH", r"/api/tasks/\d+/annotations$")
    assert report.counts.created == 13
    before, patches = cvat.shapes(tid), len(cvat.calls("PATCH"))
    again = track_task(conn, tid, models(video), opts(cvat_env, run=_run(4)))
    assert cvat.shapes(tid) == before and len(cvat.calls("PATCH")) == patches
    assert again.keyframes == [(1, 0)] and again.replaceable == 13 and "nothing changed since the last run" in again.message


def test_job_option_stores_in_that_job(cvat, conn, cvat_env, overlapping):
    tid, video, car = overlapping
    second = cvat.task_jobs(tid)[1]  # frames 3-8; 3-5 are also in the first job
    cvat.add_shape(tid, job=second["id"], type="points", frame=3, label_id=car, points=click(video, source(3), 1))
    track_task(conn, tid, models(video), opts(cvat_env, job_id=second["id"]))
    where = cvat.shape_jobs(tid)
    auto = [s for s in cvat.shapes(tid) if s["source"] == "auto"]
    assert sorted(s["frame"] for s in auto) == list(range(3, 9))
    assert {where[s["id"]] for s in auto} == {second["id"]}


def test_a_copy_of_our_mask_in_an_overlapping_job_is_ours(cvat, conn, cvat_env, overlapping):
    """An earlier task-level upload left a second copy (another id) of our mask in
    the overlapping job: it is not a person's keyframe, and a re-run leaves one."""
    tid, video, car = overlapping
    track_task(conn, tid, models(video), opts(cvat_env))
    task = cvat.tasks[tid]
    ours = {s["frame"]: s for s in cvat.shapes(tid) if s["source"] == "auto"}
    for f in (4, 7):  # frames in two jobs: copy into the job that does not hold it yet
        other = next(j for j in cvat.jobs_holding(tid, f) if j != cvat.shape_jobs(tid)[ours[f]["id"]])
        cvat.patch(task, "create", {"shapes": [{k: v for k, v in ours[f].items() if k != "id"}]}, job=other)
    assert len([s for s in cvat.task_annotations(task)["shapes"] if s["frame"] in (4, 7)]) == 4  # read back twice each
    report = track_task(conn, tid, models(video), opts(cvat_env))
    assert report.copies == 2 and report.keyframes == [(1, 0)] and report.person_shapes == 1
    left = [s for s in cvat.shapes(tid) if s["source"] == "auto"]
    assert sorted(s["frame"] for s in left) == list(range(13))  # one per frame again
    assert {s["id"] for s in left} == {s["id"] for s in ours.values()}  # the originals were kept
    assert fix_task(conn, tid, models(video), opts(cvat_env)).changed == []


def test_fix_on_overlapping_jobs_replaces_exactly_and_keeps_the_persons_mask(cvat, conn, cvat_env, overlapping):
    tid, video, car = overlapping
    track_task(conn, tid, models(video), opts(cvat_env))
    target = next(s for s in cvat.shapes(tid) if s["source"] == "auto" and s["frame"] == 7)
    truth = [float(p) for p in encode_mask(video.mask(source(7), 1) & ~_left_column(video, 7))]
    cvat.edit_shape(tid, target["id"], points=truth, source="semi-auto")  # the person's repair, in its job
    report = fix_task(conn, tid, models(video), opts(cvat_env))
    assert report.changed == [(1, 7)]
    shapes = cvat.shapes(tid)
    per_frame = {f: [s for s in shapes if s["type"] == "mask" and s["frame"] == f] for f in range(13)}
    assert all(len(v) == 1 for v in per_frame.values()), {f: len(v) for f, v in per_frame.items()}
    assert (per_frame[7][0]["id"], per_frame[7][0]["points"], per_frame[7][0]["source"]) == (target["id"], truth, "semi-auto")


def _left_column(video, frame):
    m = video.mask(source(frame), 1)
    out = np.zeros_like(m)
    xs = np.nonzero(m.any(axis=0))[0]
    out[:, xs[0]] = True
    return out


def _run(batch):
    from tam_core.options import RunOptions

    return RunOptions(batch_size=batch)
