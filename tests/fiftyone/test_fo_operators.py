"""The plugin's operators through FiftyOne's own machinery: discovery from
fiftyone.yml, execute_operator immediate and delegated, form validation."""

from pathlib import Path

import numpy as np
import pytest
import yaml

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService

from tests.fiftyone.helpers import add_click, iou, new_dataset, output_masks, triggers

PLUGIN = "@tam-label/track-anything"
REPO = Path(__file__).resolve().parents[2]


def uri(name):
    return f"{PLUGIN}/{name}"


def test_every_operator_and_panel_in_fiftyone_yml_registers():
    spec = yaml.safe_load((REPO / "fiftyone.yml").read_text())
    assert spec["py_entry"] == "plugin/__init__.py"
    listed = spec["operators"] + spec.get("panels", [])
    registered = {op.name for op in foo.list_operators(enabled=True) if op.plugin_name == PLUGIN}
    assert set(listed) <= registered, f"not registered (see FiftyOne's log for the import error): {set(listed) - registered}"
    assert "track_anything" in {p.name for p in foo.list_operators(type="panel") if p.plugin_name == PLUGIN}


def test_track_immediate_writes_labels_and_leaves_other_fields(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_click(s, video, 1, 0)
    s.frames[2]["other"] = fo.Classification(label="keep")
    s.save()
    res = foo.execute_operator(uri("track_objects"), ctx={"view": ds.view(), "params": {
        "target": "CURRENT_VIEW", "prompt_field": "tam_prompts", "label_field": "tam_tracks",
        "sam_type": "vit_b", "device": "cpu", "refine": False, "direction": "forward"}})
    # Immediate runs stream progress to the App, then a summary.
    progress = triggers(res, "set_progress")
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress) and progress[-1]["progress"] == 1.0
    assert progress[-1]["label"] == "track: video 1/1, frame 12/12"
    assert triggers(res, "notify")[-1]["message"] == "track: 1 video(s), 12 frame(s) written"
    got = output_masks(ds.first())
    assert sorted(got) == [(1, f) for f in range(12)]
    assert min(iou(got[(1, f)], video.mask(f, 1)) for f in range(12)) > 0.8
    assert ds.first().frames[2]["other"].label == "keep"


def test_delegated_track_then_correct_on_selected_sample(tmp_path):
    ds, videos = new_dataset(tmp_path, num_samples=2)
    s0, s1 = list(ds)
    add_click(s0, videos[0], 2, 0)
    add_click(s1, videos[1], 2, 0)
    params = {"target": "SELECTED_SAMPLES", "prompt_field": "tam_prompts", "label_field": "tam_tracks", "direction": "forward"}
    foo.execute_operator(uri("track_objects"), ctx={"view": ds.view(), "selected": [s1.id], "params": params}, request_delegation=True)
    assert not ds.has_frame_field("tam_tracks")  # queued, not run yet
    results = DelegatedOperationService().execute_queued_operations(dataset_name=ds.name)
    assert len(results) == 1 and results[0].error is None, results[0].error
    assert ds.count("frames.tam_tracks.detections") == 12
    assert ds.select(s0.id).count("frames.tam_tracks.detections") == 0  # not selected: untouched
    # a correction click on frame 6: only frames 6..11 are rewritten
    before = output_masks(s1)
    add_click(s1, videos[1], 2, 6)
    res = foo.execute_operator(uri("correct_objects"), ctx={"view": ds.view(), "current_sample": s1.id,
                                                          "params": {**params, "target": "CURRENT_SAMPLE"}})
    assert triggers(res, "notify")[-1]["message"] == "correct: 1 video(s), 6 frame(s) written"
    after = output_masks(s1)
    assert all(np.array_equal(before[(2, f)], after[(2, f)]) for f in range(6))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"prompt_field": "missing"}, "frame field 'missing' does not exist"),
        ({"prompt_field": "empty_kp"}, "has no prompts in this view"),
        ({"prompt_field": "tam_prompts", "label_field": "cls"}, "already holds Classification"),
    ],
)
def test_form_validation_says_what_to_fix(tmp_path, params, message):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_click(s, video, 1, 0)
    s.frames[1]["cls"] = fo.Classification(label="x")
    s.save()
    ds.add_frame_field("empty_kp", fo.EmbeddedDocumentField, embedded_doc_type=fo.Keypoints)
    with pytest.raises(Exception) as err:
        foo.execute_operator(uri("track_objects"), ctx={"view": ds.view(), "params": {"label_field": "tam_tracks", **params}})
    assert message in str(err.value)
    assert not ds.has_frame_field("tam_tracks")


def test_review_operator_lists_frames_and_saves_view(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_click(s, video, 1, 0)
    foo.execute_operator(uri("track_objects"), ctx={"view": ds.view(), "params": {"prompt_field": "tam_prompts", "direction": "forward"}})
    s.reload()
    s.frames[8]["tam_tracks"].detections[0].confidence = 0.2
    s.save()
    res = foo.execute_operator(uri("review_queue"), ctx={"view": ds.view(), "params": {"label_field": "tam_tracks", "limit": 3}})
    first = res.result["items"][0]
    assert (first["frame_number"], first["sample_id"]) == (8, s.id) and "low quality 0.20" in first["reasons"][0]
    assert ds.has_saved_view("tam-review")
    assert ds.load_saved_view("tam-review-frames").values("frame_number")[0] == 8  # the worst frame first


def test_whole_view_queues_one_delegated_job_per_prompted_video(tmp_path):
    ds, videos = new_dataset(tmp_path, num_samples=3)
    s0, s1, s2 = list(ds)
    add_click(s0, videos[0], 1, 0)
    add_click(s2, videos[2], 2, 3)  # s1 has no prompts: no job
    res = foo.execute_operator(uri("track_objects"), ctx={"view": ds.view(), "params": {
        "target": "EACH_VIDEO", "prompt_field": "tam_prompts", "direction": "forward"}})
    assert triggers(res, "notify")[-1]["message"].startswith("queued 2 delegated job(s), one per video")
    assert not ds.has_frame_field("tam_tracks")
    results = DelegatedOperationService().execute_queued_operations(dataset_name=ds.name)
    assert [r.error for r in results] == [None, None]
    assert sorted(r.result["videos"] for r in results) == [[s0.filepath], [s2.filepath]]
    assert sorted(output_masks(s0)) == [(1, f) for f in range(12)]
    assert sorted(output_masks(s2)) == [(2, f) for f in range(3, 12)]  # forward from its keyframe (FiftyOne frame 4)
    assert ds.select(s1.id).count("frames.tam_tracks.detections") == 0


def test_an_immediate_run_that_fails_says_so_in_the_app_and_raises(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_click(s, video, 1, 0, label="ball")
    add_click(s, video, 1, 5, label="cup")  # one object, two classes: refused when the run starts
    params = {"target": "CURRENT_VIEW", "prompt_field": "tam_prompts", "label_field": "tam_tracks"}
    gen = foo.executor.execute_or_delegate_operator(uri("track_objects"), {"dataset_name": ds.name, "view": ds.view()._serialize(),
                                                                          "params": params})
    import asyncio

    async def stream():
        result = await gen
        out = []
        try:
            async for message in result.result:
                out.append(message.to_json())
        except Exception as exc:  # the run's own error, after the messages
            return out, exc
        return out, None

    messages, error = asyncio.run(stream())
    assert "labelled 'ball' on one frame and 'cup' on frame 6" in str(error)
    assert messages[-2]["body"]["params"] == {"message": str(error), "variant": "error"}
    assert messages[-1]["error"] == str(error) and messages[-1]["cls"] == "ExecutionResult"
    assert not ds.has_frame_field("tam_tracks")
