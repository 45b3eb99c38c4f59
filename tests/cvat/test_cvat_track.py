"""End-to-end: `track_task` against the fake CVAT server with the color doubles."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import auto_masks, click, make_task, models, source
from plugin.cvat import CvatOptions, track_task
from tam_core.errors import PromptError
from tam_core.models import ModelOptions, clear_models, load_count
from tam_core.options import RunOptions


def opts(cvat_env, **kw):
    return CvatOptions(state_dir=cvat_env / "state", run=RunOptions(batch_size=4), **kw)


def setup_prompts(cvat, tid, video):
    car, ball = cvat.label_id(tid, "car"), cvat.label_id(tid, "ball")
    # object 1: a click on task frame 0; object 2: a box on task frame 3; object 3 (enters on
    # source frame 5 = between task frames 1 and 2): a click on task frame 4, grouped.
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    ys, xs = np.nonzero(video.mask(source(3), 2))
    cvat.add_shape(tid, type="rectangle", frame=3, label_id=ball, points=[xs.min() - 1.0, ys.min() - 1.0, xs.max() + 1.0, ys.max() + 1.0])
    cvat.add_shape(tid, type="points", frame=4, label_id=car, group=7, points=click(video, source(4), 3))
    return {1: (car, 0), 2: (ball, 0), 3: (car, 7)}


def expected(video, objects, size):
    out = {}
    for oid, (lid, group) in objects.items():
        for f in range(size):
            m = video.mask(source(f), oid)
            if m.any():
                out[(lid, group, f)] = m
    return out


def assert_masks(cvat, tid, video, objects, size):
    got = auto_masks(cvat, tid, video)
    want = expected(video, objects, size)
    assert sorted(got) == sorted(want)
    for key, m in want.items():
        assert np.array_equal(got[key], m), key


def test_track_fills_a_stepped_video_task_with_exact_masks(cvat, conn, cvat_env):
    tid, video = make_task(cvat)
    objects = setup_prompts(cvat, tid, video)
    manual_before = cvat.shapes(tid)
    report = track_task(conn, tid, models(video), opts(cvat_env))
    size = cvat.tasks[tid].size
    assert size == 13 and report.frames == (0, 13)
    assert_masks(cvat, tid, video, objects, size)
    # object 3 enters on source frame 5: nothing on task frames 0 and 1 (source 2 and 4)
    assert not any(k[1] == 7 and k[2] < 2 for k in auto_masks(cvat, tid, video))
    # the person's prompt shapes are untouched
    assert [s for s in cvat.shapes(tid) if s["source"] == "manual"] == manual_before
    assert report.counts.created == len(expected(video, objects, size))
    # frames were streamed in batches, never with PUT or DELETE
    assert len(cvat.calls("PATCH")) >= 3
    assert not cvat.calls("PUT") and not cvat.calls("DELETE", r"annotations")


def test_rerun_is_idempotent(cvat, conn, cvat_env):
    tid, video = make_task(cvat)
    setup_prompts(cvat, tid, video)
    track_task(conn, tid, models(video), opts(cvat_env))
    first = cvat.shapes(tid)
    patches = len(cvat.calls("PATCH"))
    report = track_task(conn, tid, models(video), opts(cvat_env))
    assert cvat.shapes(tid) == first  # same shapes, same ids
    assert len(cvat.calls("PATCH")) == patches and "nothing changed since the last run" in report.message


def test_no_prompts_is_a_clear_error(cvat, conn, cvat_env, monkeypatch):
    tid, video = make_task(cvat)
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:color_models")
    clear_models()  # any get_models call now counts as a load
    loads = load_count()
    with pytest.raises(PromptError, match="has no prompts"):
        track_task(conn, tid, ModelOptions(sam_type="vit_h"), opts(cvat_env))
    assert load_count() == loads  # checked before loading anything
