"""Prompts from several frame fields (clicks in Keypoints, boxes in
Detections), keyframes that survive corrections whatever field they came
from, object ids and FiftyOne's 1-based frame numbers in messages."""

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo

from plugin.fiftyone import api
from plugin.fiftyone.convert import PROMPT_ATTR, SOURCE_ATTR
from tam_core.errors import PromptError
from tests.fiftyone.helpers import add_box, add_click, centre_point, iou, new_dataset, output_masks, triggers

URI = "@tam-label/track-anything/"


def _det(sample, frame_number, oid, field="tam_tracks"):
    sample.reload()
    return next(d for d in sample.frames[frame_number][field].detections if d.index == oid)


def test_a_box_keyframe_survives_a_mask_edit_corrected_from_the_clicks_field_alone(tmp_path):
    """Issue 12 item 1: clicks (object 1) in tam_prompts, a box (object 2) on
    FiftyOne frame 8 in `boxes`; object 2's mask edited on frame 15; the
    correction is run, as the panel does, with tam_prompts only."""
    ds, (video,) = new_dataset(tmp_path, num_frames=20)
    s = ds.first()
    add_click(s, video, 1, 0)
    add_box(s, video, 2, 7)  # FiftyOne frame 8
    params = {"target": "CURRENT_VIEW", "prompt_field": "tam_prompts, boxes", "label_field": "tam_tracks"}
    res = foo.execute_operator(URI + "track_objects", ctx={"view": ds.view(), "params": params})
    assert triggers(res, "notify")[-1]["message"] == "track: 1 video(s), 20 frame(s) written"
    before = output_masks(s)
    assert sorted(f for o, f in before if o == 2) == list(range(20))
    assert min(iou(before[(2, f)], video.mask(f, 2)) for f in range(20)) > 0.8
    box_kf = _det(s, 8, 2)
    assert box_kf[SOURCE_ATTR] == "boxes" and box_kf[PROMPT_ATTR]
    assert _det(s, 1, 1)[SOURCE_ATTR] == "tam_prompts"

    edit = _det(s, 15, 2)  # a person erases the right half of object 2 on frame 15
    m = edit.mask.copy()
    m[:, m.shape[1] // 2:] = False
    edit.mask = m
    s.save()
    res = foo.execute_operator(URI + "correct_objects", ctx={"view": ds.view(), "params": {**params, "prompt_field": "tam_prompts"}})
    # Object 2's keyframes are frames 8 and 15: only the frames nearer 15 (12..20) are re-tracked.
    assert triggers(res, "notify")[-1]["message"] == "correct: 1 video(s), 9 frame(s) written"
    after = output_masks(s)
    assert all(np.array_equal(after[(2, f)], before[(2, f)]) for f in range(11))
    assert all(np.array_equal(after[(1, f)], before[(1, f)]) for f in range(20))
    assert after[(2, 14)].sum() < before[(2, 14)].sum()  # the edit is kept as the keyframe
    kept = _det(s, 8, 2)
    assert (kept[PROMPT_ATTR], kept[SOURCE_ATTR]) == (box_kf[PROMPT_ATTR], "boxes")
    (rep,) = api.correct(ds, "tam_prompts")
    assert rep.report is None and rep.note == "nothing changed since the last run"


def test_clicks_and_a_box_of_one_object_on_one_frame_are_one_keyframe(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_click(s, video, 2, 3, label="box")
    add_box(s, video, 2, 3)
    (rep,) = api.track(ds, ["frames.tam_prompts", "boxes"])
    assert [(o.object_id, o.label, o.frames) for o in rep.report.objects] == [(2, "box", 12)]
    kf = _det(s, 4, 2)
    assert kf[SOURCE_ATTR] == "boxes,tam_prompts"
    prompts = api.read_prompts(s, "tam_prompts,boxes", video.size)
    assert [(p.object_id, p.frame, p.points is not None, p.box is not None) for p in prompts] == [(2, 3, True, False), (2, 3, False, True)]


def test_explicit_index_is_never_renumbered_and_automatic_ids_start_above_it(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    s.frames[1]["tam_prompts"] = fo.Keypoints(keypoints=[
        fo.Keypoint(label="ball", points=[centre_point(video, 1, 0)]),  # no index
        fo.Keypoint(label="ball", points=[[0.1, 0.1]], index=5),
    ])
    s.frames[2]["boxes"] = fo.Detections(detections=[fo.Detection(label="car", bounding_box=[0.5, 0.5, 0.2, 0.2])])
    s.frames[3]["tam_prompts"] = fo.Keypoints(keypoints=[fo.Keypoint(label="ball", points=[[0.2, 0.2]])])
    s.save()
    got = [(p.frame, p.object_id, p.label) for p in api.read_prompts(s, "tam_prompts,boxes", video.size)]
    # index 5 stays 5; "ball" without index is one object (6) on every frame; "car" is 7.
    assert got == [(0, 6, "ball"), (0, 5, "ball"), (2, 6, "ball"), (1, 7, "car")]


def _kp(points, index=1, labels=None):
    kw = {} if labels is None else {"sam2_labels": labels}
    return fo.Keypoints(keypoints=[fo.Keypoint(label="x", points=points, index=index, **kw)])


def _box(x, index=2):
    return fo.Detections(detections=[fo.Detection(label="box", bounding_box=[x, 0.2, 0.2, 0.2], index=index)])


@pytest.mark.parametrize("frames, message", [
    ({25: {"tam_prompts": _kp([[0.5, 0.5]])}},
     r"^frames.tam_prompts has a prompt on frame 25, but the video has frames 1..20; move or delete it$"),
    ({4: {"tam_prompts": _kp([[1.2, 0.5]])}},
     r"^keypoints of object 1 on frame 4: normalised point \(1.2, 0.5\) is outside \[0, 1\] x \[0, 1\]$"),
    ({4: {"tam_prompts": _kp([[0.5, 0.5]], labels=[0])}}, r"^object 1 on frame 4: only negative points"),
    ({4: {"boxes": _box(0.1), "more_boxes": _box(0.5)}}, r"^object 2 on frame 4 has 2 different boxes"),
    ({4: {"tam_prompts": _kp([[0.5, 0.5]], index=0)}}, r"^frames.tam_prompts on frame 4: object ids must be integers >= 1, got 0$"),
])
def test_messages_use_fiftyone_frame_numbers(tmp_path, frames, message):
    ds, (video,) = new_dataset(tmp_path, num_frames=20)
    s = ds.first()
    add_click(s, video, 1, 0)
    for fn, labels in frames.items():
        for field, label in labels.items():
            s.frames[fn][field] = label
    s.save()
    with pytest.raises(PromptError, match=message):
        api.track(ds, "tam_prompts,boxes,more_boxes" if "boxes" in str(frames) else "tam_prompts")


def test_a_keypoint_on_the_right_and_bottom_edge_is_valid(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    s.frames[3]["tam_prompts"] = _kp([[1.0, 1.0], [0.0, 0.0]], labels=[1, 0])
    s.save()
    (p,) = api.read_prompts(s, "tam_prompts", video.size)
    h, w = video.size
    assert p.frame == 2 and p.points.tolist() == [[w, h], [0, 0]] and p.point_labels.tolist() == [1, 0]
    from operators.prompts import merge_prompts

    assert merge_prompts([p], 12, video.size)[0].points.tolist() == [[w, h], [0, 0]]


def test_a_removed_keyframe_is_refused_by_correct_and_dropped_by_track(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_click(s, video, 1, 0)
    add_click(s, video, 1, 6)
    api.track(ds)
    s.frames[7]["tam_prompts"] = None  # the person deletes the click on FiftyOne frame 7
    s.save()
    with pytest.raises(PromptError, match=r"^the keyframe of object 1 on frame 7 was removed since the last run; run Track"):
        api.correct(ds)
    (rep,) = api.track(ds)
    assert rep.report.frames_written == 12
    assert PROMPT_ATTR not in _det(s, 7, 1).field_names  # no longer a keyframe
    (rep,) = api.correct(ds)
    assert rep.report is None and rep.note == "nothing changed since the last run"
