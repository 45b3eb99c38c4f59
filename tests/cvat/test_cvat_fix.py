"""The fix loop: a person corrects frames in CVAT; only the affected span is re-tracked."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from helpers import auto_masks, click, make_task, source
from plugin.cvat import CvatOptions, fix_task, track_task
from plugin.cvat.masks import encode_mask
from tam_core.options import RunOptions
from tests.doubles import ColorSegmenter, ColorTrackerFactory

DEGRADE = 3  # task frame where the tracker double starts to drift (loses the right half)
FIXED = 8  # task frame the person corrects; under "both" it owns task frames 5..12 (0 owns 0..4)


def drifting(video):
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={source(DEGRADE)})
    return SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=factory, refiner=None)


@pytest.fixture
def tracked(cvat, conn, cvat_env):
    tid, video = make_task(cvat)
    car = cvat.label_id(tid, "car")
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    opts = CvatOptions(state_dir=cvat_env / "state", run=RunOptions(batch_size=4))
    track_task(conn, tid, drifting(video), opts)
    masks = auto_masks(cvat, tid, video)
    for f in range(13):  # exact before the drift, damaged from it on
        assert np.array_equal(masks[(car, 0, f)], video.mask(source(f), 1)) == (f < DEGRADE)
    return tid, video, car, opts


def shape_at(cvat, tid, frame):
    (s,) = [s for s in cvat.shapes(tid) if s["type"] == "mask" and s["frame"] == frame]
    return s


@pytest.mark.parametrize("ui_source", ["semi-auto", "auto"])
def test_an_edited_auto_mask_becomes_a_keyframe_and_only_its_span_is_retracked(cvat, conn, tracked, ui_source):
    tid, video, car, opts = tracked
    edited = shape_at(cvat, tid, FIXED)
    # the person repairs the mask in the UI: same id; CVAT marks it semi-auto (also test a
    # server that keeps "auto": the record of our uploads must still catch the edit)
    repaired = [float(p) for p in encode_mask(video.mask(source(FIXED), 1))]
    cvat.edit_shape(tid, edited["id"], points=repaired, source=ui_source)
    outside = {s["frame"]: s for s in cvat.shapes(tid) if s["frame"] < 5}
    models = drifting(video)
    report = fix_task(conn, tid, models, opts)
    assert report.changed == [(1, FIXED)]
    stepped = set(models.tracker_factory.stepped())
    assert stepped == {source(f) for f in range(5, 13)}  # only the span 5..12 was tracked
    after = {s["frame"]: s for s in cvat.shapes(tid) if s["label_id"] == car and s["type"] == "mask"}
    # the person's mask is kept exactly as they left it
    assert (after[FIXED]["id"], after[FIXED]["points"], after[FIXED]["source"]) == (edited["id"], repaired, ui_source)
    for f in range(5, 13):
        assert np.array_equal(auto_or_edit(after[f], video), video.mask(source(f), 1)), f
    for f in range(5):  # outside the span: untouched, same ids
        assert after[f] == outside[f]
    # a second fix finds nothing new
    again = fix_task(conn, tid, drifting(video), opts)
    assert again.changed == [] and "nothing to re-track" in again.message


def auto_or_edit(shape, video):
    from cvat_sdk.masks import decode_mask

    h, w = video.size
    return decode_mask(shape["points"], image_width=w, image_height=h)


def test_correction_points_retrack_from_that_frame(cvat, conn, tracked):
    tid, video, car, opts = tracked
    cvat.add_shape(tid, type="points", frame=FIXED, label_id=car, points=click(video, source(FIXED), 1))
    report = fix_task(conn, tid, drifting(video), opts)
    assert report.changed == [(1, FIXED)]
    masks = auto_masks(cvat, tid, video)
    for f in range(5, 13):
        assert np.array_equal(masks[(car, 0, f)], video.mask(source(f), 1)), f
    assert not np.array_equal(masks[(car, 0, 4)], video.mask(source(4), 1))  # outside the span: as before
    assert len([s for s in cvat.shapes(tid) if s["source"] == "manual"]) == 2


def test_a_new_manual_mask_is_kept_and_not_duplicated(cvat, conn, tracked):
    tid, video, car, opts = tracked
    truth = video.mask(source(FIXED), 1)
    mid = cvat.add_shape(tid, type="mask", frame=FIXED, label_id=car, points=[float(p) for p in encode_mask(truth)])
    fix_task(conn, tid, drifting(video), opts)
    on_fixed = [s for s in cvat.shapes(tid) if s["frame"] == FIXED and s["type"] == "mask"]
    assert [s["id"] for s in on_fixed] == [mid]  # our old auto mask there was replaced by nothing
    masks = auto_masks(cvat, tid, video)
    for f in range(9, 13):
        assert np.array_equal(masks[(car, 0, f)], video.mask(source(f), 1)), f


def test_fix_without_an_earlier_run_says_to_track_first(cvat, conn, cvat_env):
    tid, video = make_task(cvat)
    cvat.add_shape(tid, type="points", frame=0, label_id=cvat.label_id(tid, "car"), points=click(video, source(0), 1))
    with pytest.raises(Exception, match="run `tam-label cvat track` first"):
        fix_task(conn, tid, drifting(video), CvatOptions(state_dir=cvat_env / "state"))
