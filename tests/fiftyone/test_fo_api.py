"""Python API on real FiftyOne datasets (bundled MongoDB) and H.264 clips."""

import numpy as np
import pytest

import fiftyone as fo

from operators.interfaces import MemorySink
from operators.track import track as track_frames
from tam_core.options import RunOptions
from plugin.fiftyone import api
from plugin.fiftyone.convert import REFINED_ATTR
from tam_core.errors import ConfigError, PromptError
from tam_core.video import open_video
from tests.fiftyone.helpers import add_click, centre_point, iou, new_dataset, output_masks
from tests.fiftyone.providers import color_models


def expected_masks(path, prompts, direction="both"):
    """What the operators layer produces on the same decoded frames."""
    sink = MemorySink()
    with open_video(path) as v:
        track_frames(v, prompts, sink, color_models(None), RunOptions(direction=direction))
    return {(o, f): m for f, d in sink.masks.items() for o, m in d.items()}


@pytest.mark.slow  # ~4 s: a real H.264 clip tracked in both directions
def test_track_writes_native_detections_matching_the_operator_output(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    sample.frames[3]["user_field"] = fo.Classification(label="keep me")
    add_click(sample, video, 1, 2, "ball")
    add_click(sample, video, 2, 2, "box")
    (rep,) = api.track(ds, "tam_prompts", "tam_tracks", models=color_models(None))
    assert rep.report.frames_written == 12
    got = output_masks(sample)
    prompts = api.read_prompts(ds.first(), "tam_prompts", video.size)
    want = expected_masks(sample.filepath, prompts)
    assert got.keys() == want.keys()
    assert all(np.array_equal(got[k], want[k]) for k in want)
    # sanity against ground truth (H.264 blurs a few edge pixels)
    assert min(iou(got[(o, f)], video.mask(f, o)) for o in (1, 2) for f in range(12)) > 0.8
    # native detection fields
    det = ds.first().frames[5]["tam_tracks"].detections[0]
    assert (det.index, det.label) == (1, "ball") and 0 < det.confidence <= 1
    assert det[REFINED_ATTR] is False and det.mask.dtype == bool
    assert det.mask.shape == (round(det.bounding_box[3] * 96), round(det.bounding_box[2] * 128))
    # prompts and other fields untouched
    assert ds.first().frames[3]["user_field"].label == "keep me"
    assert len(ds.first().frames[3]["tam_prompts"].keypoints) == 2


def test_absent_objects_get_no_detection_and_rerun_is_idempotent(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    add_click(sample, video, 3, 8)  # object 3 enters on frame 5
    api.track(ds, models=color_models(None))
    first = output_masks(sample)
    assert sorted(f for (_, f) in first) == list(range(5, 12))
    ids_before = ds.values("frames.tam_tracks.detections.id")
    api.track(ds, models=color_models(None))
    again = output_masks(sample)
    assert first.keys() == again.keys() and all(np.array_equal(first[k], again[k]) for k in first)
    assert len(ds.values("frames.tam_tracks.detections.id", unwind=True)) == 7
    assert ids_before != ds.values("frames.tam_tracks.detections.id")  # rewritten, not duplicated


def test_user_detections_in_the_output_field_survive(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    add_click(sample, video, 1, 0)
    sample.frames[4]["tam_tracks"] = fo.Detections(detections=[fo.Detection(label="mine", bounding_box=[0, 0, 0.1, 0.1], index=1)])
    sample.save()
    api.track(ds, models=color_models(None))
    api.track(ds, models=color_models(None))
    labels = [d.label for d in ds.first().frames[4]["tam_tracks"].detections]
    assert labels.count("mine") == 1 and labels.count("thing") == 1


def test_correct_retracks_only_changed_spans_and_edits_become_keyframes(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    add_click(sample, video, 1, 0)
    add_click(sample, video, 2, 0)
    api.track(ds, models=color_models(None), options=RunOptions(direction="forward"))
    before = output_masks(sample)
    # nothing changed: no work
    (rep,) = api.correct(ds, models=color_models(None), options=RunOptions(direction="forward"))
    assert rep.report is None and "nothing changed" in rep.note
    # a new correction click for object 1 on frame 7 -> frames 7..11 of object 1 only
    models = color_models(None)
    add_click(sample, video, 1, 7)
    (rep,) = api.correct(ds, models=models, options=RunOptions(direction="forward"))
    assert rep.report.frames_written == 5 and len(models.tracker_factory.stepped()) == 5
    assert {r.object_id for r in rep.report.records} == {1}
    after = output_masks(sample)
    assert all(np.array_equal(before[(2, f)], after[(2, f)]) for f in range(12))
    # a user edits object 2's mask on frame 9 (erases its right half) -> keyframe
    fr = sample.frames[10]
    det = [d for d in fr["tam_tracks"].detections if d.index == 2][0]
    m = det.mask.copy()
    m[:, m.shape[1] // 2:] = False
    det.mask = m
    sample.save()
    (rep,) = api.correct(ds, models=color_models(None), options=RunOptions(direction="forward"))
    assert rep.report.frames_written == 3 and {r.object_id for r in rep.report.records} == {2}
    final = output_masks(sample)
    assert final[(2, 9)].sum() < after[(2, 9)].sum()  # the edit was kept, not overwritten
    assert all(np.array_equal(after[(1, f)], final[(1, f)]) for f in range(12))
    (rep,) = api.correct(ds, models=color_models(None), options=RunOptions(direction="forward"))
    assert rep.report is None  # the edit is now a stored keyframe: nothing left to do


@pytest.mark.parametrize(
    "setup, field, out, message",
    [
        (None, "nope", "tam_tracks", "frame field 'nope' does not exist"),
        ("cls", "cls", "tam_tracks", "holds Classification"),
        (None, "tam_prompts", "tam_prompts", "is the prompt field"),
        ("cls", "tam_prompts", "cls", "already holds Classification"),
        (None, "", "tam_tracks", "no prompt field given"),
    ],
)
def test_bad_fields_are_rejected_with_a_fix(tmp_path, setup, field, out, message):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    add_click(sample, video, 1, 0)
    if setup:
        sample.frames[1][setup] = fo.Classification(label="x")
        sample.save()
    with pytest.raises(ConfigError, match=message):
        api.track(ds, field, out, models=color_models(None))
    assert not ds.has_frame_field(out) or out in ("tam_prompts", "cls")


def test_keypoints_without_index_and_bad_labels(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    sample.frames[1]["tam_prompts"] = fo.Keypoints(keypoints=[fo.Keypoint(label="ball", points=[centre_point(video, 1, 0)])])
    sample.save()
    (rep,) = api.track(ds, models=color_models(None))
    assert rep.report.objects[0].object_id == 1 and rep.report.objects[0].label == "ball"
    sample.frames[1]["tam_prompts"] = fo.Keypoints(keypoints=[fo.Keypoint(label="b", points=[[0.5, 0.5]], index=1, sam2_labels=[1, 0])])
    sample.save()
    with pytest.raises(PromptError, match="1 points but 2 sam2_labels"):
        api.track(ds, models=color_models(None))


def test_box_prompts_and_review_view(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    ys, xs = np.nonzero(video.mask(0, 2))
    h, w = video.size
    box = [(xs.min() - 1) / w, (ys.min() - 1) / h, (xs.max() - xs.min() + 3) / w, (ys.max() - ys.min() + 3) / h]
    sample.frames[1]["boxes"] = fo.Detections(detections=[fo.Detection(label="box", bounding_box=box, index=2)])
    sample.save()
    api.track(ds, "frames.boxes", "frames.out", models=color_models(None))
    got = output_masks(sample, "out")
    assert sorted(got) == [(2, f) for f in range(12)]
    assert min(iou(got[(2, f)], video.mask(f, 2)) for f in range(12)) > 0.8
    # lower one frame's quality: review puts it first and the saved view holds it
    fr = sample.frames[6]
    fr["out"].detections[0].confidence = 0.1
    sample.save()
    items, view = api.review(ds, "out", limit=5, view_name="tam-review")
    sid, first = items[0]
    assert sid == sample.id and first.frame == 5 and "low quality 0.10" in first.reasons[0]
    saved = ds.load_saved_view("tam-review")
    assert 6 in saved.first().frames and saved.count("frames") == len({it.frame for _, it in items})
    assert ds.load_saved_view("tam-review-frames").first().frame_number == 6
    # a re-run after another frame got worse: the saved frames view follows the new scores
    sample.frames[9]["out"].detections[0].confidence = 0.01
    sample.save()
    api.review(ds, "out", limit=5, view_name="tam-review")
    assert ds.load_saved_view("tam-review-frames").values("frame_number")[:2] == [9, 6]


def _frame_labels(ds, field):
    """{(frame_number, index, label): (box, mask bytes)} of ``frames.field`` - every detection, ours or not."""
    out = {}
    for fn, fr in ds.first().frames.items():
        for d in (fr[field].detections if fr.has_field(field) and fr[field] is not None else []):
            out[(fn, d.index, d.label)] = (tuple(np.round(d.bounding_box, 9)), None if d.mask is None else d.mask.tobytes())
    return out


def test_apply_model_keeps_user_detections_exactly_as_api_track(tmp_path):
    from plugin.fiftyone.model import TrackAnythingModel

    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_click(s, video, 1, 4, "ball")
    # a user's own detection in the output field
    s.frames[5]["applied"] = fo.Detections(detections=[fo.Detection(label="mine", bounding_box=[0.0, 0.0, 0.1, 0.1], index=1)])
    s.save()
    twin = ds.clone()
    api.track(twin, "tam_prompts", "applied", models=color_models(None))
    model = TrackAnythingModel(models=color_models(None), label_field="applied")
    ds.apply_model(model, label_field="applied", prompt_field="frames.tam_prompts", skip_failures=False)
    got, want = _frame_labels(ds, "applied"), _frame_labels(twin, "applied")
    assert got == want
    assert (5, 1, "mine") in got and sorted(k[0] for k in got if k[2] == "ball") == list(range(1, 13))
    ds.apply_model(model, label_field="applied", prompt_field="frames.tam_prompts", skip_failures=False)  # re-run
    assert _frame_labels(ds, "applied") == want
    want_masks = expected_masks(s.filepath, api.read_prompts(s, "tam_prompts", video.size))
    got_masks = output_masks(ds.first(), "applied")
    assert all(np.array_equal(got_masks[k], want_masks[k]) for k in want_masks)
    assert [r.report.frames_written for r in model.reports] == [12, 12]


def test_review_skips_person_set_masks_ranks_by_score_and_the_saved_view_keeps_the_order(tmp_path):
    ds, videos = new_dataset(tmp_path, num_samples=2)
    s1, s2 = list(ds)
    for s, v in ((s1, videos[0]), (s2, videos[1])):
        add_click(s, v, 1, 0)
    api.track(ds, models=color_models(None), options=RunOptions(direction="forward"))
    for s, frame_number, conf in ((s1, 1, 0.05), (s1, 7, 0.3), (s2, 4, 0.1)):
        s.reload()
        s.frames[frame_number]["tam_tracks"].detections[0].confidence = conf  # not an edit: geometry unchanged
        s.save()
    s2.reload()
    edited = s2.frames[9]["tam_tracks"].detections[0]  # a person shrinks object 1 on frame 9 to a sliver
    edited.mask = np.zeros_like(edited.mask)
    edited.mask[:2, :2] = True
    s2.save()
    items, view = api.review(ds, limit=10, view_name="tam-review")
    got = [(sid, it.frame + 1, it.score) for sid, it in items]
    # frame 1 of s1 (its keyframe: a person clicked there) and the edited frame 9 are never listed;
    # the frames next to the edit are, with FiftyOne's frame numbers in the reasons.
    assert [(sid, fn) for sid, fn, _ in got] == [(s2.id, 8), (s2.id, 10), (s2.id, 4), (s1.id, 7)]
    assert [score for *_, score in got] == sorted((score for *_, score in got), reverse=True)
    assert [it.reasons for _, it in items[2:]] == [("object 1: low quality 0.10",), ("object 1: low quality 0.30",)]
    for _, it in items[:2]:
        assert it.reasons[0].startswith("object 1: area changed x1") and it.reasons[0].endswith("vs frame 9")
    saved = ds.load_saved_view("tam-review")
    assert saved.values("id") == [s2.id, s1.id]  # the video with the worst frame first, not dataset order
    assert saved.values("frames.frame_number") == [[4, 8, 10], [7]]
    s2_scores = {fn: sc for fn, sc in zip(ds.select(s2.id).values("frames.frame_number")[0],
                                          ds.select(s2.id).values("frames.tam_tracks_review")[0]) if sc is not None}
    assert s2_scores == {fn: score for sid, fn, score in got if sid == s2.id}
    # beside it, the same frames one sample each, worst first across videos
    frames = ds.load_saved_view("tam-review-frames")
    assert (str(frames.first().sample_id), frames.first().frame_number) == (s2.id, 8)
    assert [(str(i), fn) for i, fn in zip(*frames.values(["sample_id", "frame_number"]))] == \
        [(s2.id, 8), (s2.id, 10), (s2.id, 4), (s1.id, 7)]
    assert frames.values("tam_tracks_review") == [score for *_, score in got]
