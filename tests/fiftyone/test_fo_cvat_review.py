"""Issue 22 item 11: tracked masks go to CVAT for review through FiftyOne's own
CVAT backend and come back with their masks and ``index``; masks nobody
touched are still ours and unedited, an edit counts as an edit, a deletion
removes the mask. Needs a real CVAT server (CVAT_REAL_URL, as
tests/cvat/test_cvat_real_server.py); skipped otherwise."""

from __future__ import annotations

import os

import numpy as np
import pytest

from plugin.fiftyone.convert import detection_digest, is_edited, is_ours, mask_to_detection
from tests.synthetic import make_video, write_h264

URL = os.environ.get("CVAT_REAL_URL")
USER = os.environ.get("CVAT_REAL_USER", "admin")
PASSWORD = os.environ.get("CVAT_REAL_PASSWORD", "admin12345")
LABELS = {1: "car", 2: "ball"}


def tracked_dataset(tmp_path, video):
    """A video sample with frames.tam as plugin.fiftyone writes it (mask_to_detection)."""
    import fiftyone as fo

    path = tmp_path / "clip.mp4"
    write_h264(path, video.frames, fps=10)
    ds = fo.Dataset()
    sample = fo.Sample(filepath=str(path))
    ds.add_sample(sample)
    ds.compute_metadata()
    for t in range(len(video.frames)):
        dets = [mask_to_detection(video.mask(t, o), o, LABELS[o], 0.9, False) for o in LABELS]
        sample.frames[t + 1]["tam"] = fo.Detections(detections=[d for d in dets if d is not None])
    sample.save()
    return ds


def masks(ds) -> dict:
    """(frame number, index) -> (label, full-frame mask, digest, ours, edited)."""
    sample = ds.first()
    h, w = sample.metadata.frame_height, sample.metadata.frame_width
    out = {}
    for fn, frame in sample.frames.items():
        for d in frame["tam"].detections if frame["tam"] is not None else []:
            full = np.zeros((h, w), bool)
            x, y = round(d.bounding_box[0] * w), round(d.bounding_box[1] * h)
            mh, mw = d.mask.shape
            assert (round(d.bounding_box[2] * w), round(d.bounding_box[3] * h)) == (mw, mh)  # box as big as its mask
            full[y:y + mh, x:x + mw] = d.mask.astype(bool)
            assert (fn, d.index) not in out
            out[fn, d.index] = (d.label, full, detection_digest(d), is_ours(d), is_edited(d))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not URL, reason="set CVAT_REAL_URL (and CVAT_REAL_USER/CVAT_REAL_PASSWORD) to run against a real CVAT")
def test_a_review_in_cvat_keeps_masks_and_index(tmp_path):
    import requests

    from cvat_sdk.masks import decode_mask, encode_mask
    from plugin.fiftyone.cvat_review import load_review, send_for_review

    video = make_video(num_frames=12, size=(64, 96))
    ds = tracked_dataset(tmp_path, video)
    before = masks(ds)
    assert len(before) == 24 and all(v[3] and not v[4] for v in before.values())
    creds = dict(url=URL, username=USER, password=PASSWORD)
    results = send_for_review(ds, "review", "tam", **creds)
    try:
        (tid,) = results.task_ids
        s = requests.Session()
        s.auth = (USER, PASSWORD)
        s.headers["Accept"] = "application/vnd.cvat+json"
        ann = s.get(f"{URL}/api/tasks/{tid}/annotations").json()
        labels = {lab["id"]: lab["name"] for lab in s.get(f"{URL}/api/labels", params={"task_id": tid}).json()["results"]}
        assert ann["tracks"] == []  # per-frame shapes, not mask tracks
        shapes = {(sh["frame"] + 1, sh["group"]): sh for sh in ann["shapes"]}
        assert len(shapes) == len(ann["shapes"]) == 24 and {sh["type"] for sh in ann["shapes"]} == {"mask"}
        h, w = video.size
        for (fn, index), sh in shapes.items():  # CVAT holds exactly our masks, the index as the group
            assert labels[sh["label_id"]] == before[fn, index][0]
            np.testing.assert_array_equal(decode_mask(sh["points"], image_width=w, image_height=h), before[fn, index][1])

        # a person reviews: grows the car on frame 5 by a column, deletes the ball on frame 8 (job-level, as the UI does)
        (job,) = s.get(f"{URL}/api/jobs", params={"task_id": tid}).json()["results"]
        edited = before[5, 1][1].copy()
        edited[:, np.flatnonzero(edited.any(axis=0))[-1] + 1] |= edited.any(axis=1)
        sh = dict(shapes[5, 1], points=encode_mask(edited, _bbox(edited)), source="semi-auto")
        s.patch(f"{URL}/api/jobs/{job['id']}/annotations", params={"action": "update"},
                json={"shapes": [sh], "tracks": [], "tags": []}).raise_for_status()
        s.patch(f"{URL}/api/jobs/{job['id']}/annotations", params={"action": "delete"},
                json={"shapes": [shapes[8, 2]], "tracks": [], "tags": []}).raise_for_status()

        assert load_review(ds, "review", "tam", cleanup=True, **creds) == 2  # frames 5 and 8 changed
    finally:
        if "review" in ds.list_annotation_runs():
            ds.load_annotation_results("review", **creds).cleanup()
    after = masks(ds)
    assert set(after) == set(before) - {(8, 2)}
    for key, (label, mask, digest, ours, was_edited) in after.items():
        if key == (5, 1):
            assert label == "car" and was_edited  # the person's edit: fix re-tracks from it
            np.testing.assert_array_equal(mask, edited)
        else:
            assert (label, digest, ours, was_edited) == (before[key][0], before[key][2], True, False), key
            np.testing.assert_array_equal(mask, before[key][1])
    assert not ds.has_frame_field("tam_review")


def _bbox(mask):
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return [int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1]  # exclusive, as cvat_sdk.masks.encode_mask takes it
