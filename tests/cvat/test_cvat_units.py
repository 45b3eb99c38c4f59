"""Mask codec against cvat-sdk's oracle, the prompt convention, frame windows."""

from __future__ import annotations

import numpy as np
import pytest
from cvat_sdk.masks import decode_mask as sdk_decode, encode_mask as sdk_encode

from helpers import click, make_task, models
from plugin.cvat import CvatOptions, connect, track_task
from plugin.cvat.credentials import Credentials, credentials_from_env
from plugin.cvat.errors import CvatAuthError
from plugin.cvat.masks import decode_mask, encode_mask
from plugin.cvat.shapes import build_prompts
from plugin.cvat.task import LabelInfo, TaskInfo, frame_window, parse_step
from tam_core.errors import ConfigError, PromptError


def test_encoding_matches_the_documented_example():
    m = np.zeros((5, 6), bool)
    m[1:4, 1:5] = [[0, 0, 1, 1], [1, 1, 1, 0], [0, 0, 0, 1]]
    assert encode_mask(m) == [2, 5, 4, 1, 1, 1, 4, 3]


@pytest.mark.parametrize("seed", range(6))
def test_codec_agrees_with_cvat_sdk(seed):
    rng = np.random.default_rng(seed)
    m = np.zeros((23, 31), bool)
    y0, x0 = rng.integers(0, 10, 2)
    m[y0 : y0 + rng.integers(1, 13), x0 : x0 + rng.integers(1, 20)] = rng.random((1, 1)) < 2
    m &= rng.random(m.shape) < 0.7
    if not m.any():
        m[3, 4] = True
    ys, xs = np.nonzero(m)
    ours = encode_mask(m)
    assert ours == sdk_encode(m, bbox=[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    assert np.array_equal(sdk_decode(ours, image_width=31, image_height=23), m)
    assert np.array_equal(decode_mask(ours, 23, 31), m)


def test_empty_mask_is_not_encoded_and_malformed_masks_are_rejected():
    assert encode_mask(np.zeros((4, 4), bool)) is None
    with pytest.raises(PromptError, match="runs cover"):
        decode_mask([1, 2, 0, 0, 1, 1], 4, 4)
    with pytest.raises(PromptError, match="outside"):
        decode_mask([1, 0, 0, 5, 0], 4, 4)


TASK = TaskInfo(1, "t", "interpolation", 10, 0, 9, 1, 20, 30,
                {5: LabelInfo(5, "car", {50: "negative"}), 6: LabelInfo(6, "ball")})


def shape(i, kind, frame, label, points, group=0, attributes=()):
    return {"id": i, "type": kind, "frame": frame, "label_id": label, "group": group, "source": "manual",
            "points": points, "attributes": list(attributes), "rotation": 0.0}


def test_prompt_convention_objects_negative_points_boxes_and_masks():
    ps = build_prompts([
        shape(1, "points", 2, 5, [3, 4, 8, 9]),
        shape(2, "points", 2, 5, [10, 10], attributes=[{"spec_id": 50, "value": "true"}]),
        shape(3, "rectangle", 2, 5, [1, 1, 12, 12]),
        shape(4, "polygon", 4, 5, [0, 0, 9, 0, 9, 9, 0, 9], group=3),
        shape(5, "points", 6, 6, [5, 5]),
    ], TASK, first=1, stop=10)
    assert ps.keys == {1: (5, 0), 2: (5, 3), 3: (6, 0)}  # ungrouped car, car group 3, ball
    p = {(q.object_id, q.frame): q for q in ps.prompts}
    car = p[(1, 1)]  # task frame 2 -> window frame 1
    assert car.points.tolist() == [[3, 4], [8, 9], [10, 10]] and car.point_labels.tolist() == [1, 1, 0]
    assert car.box.tolist() == [1, 1, 12, 12] and car.label == "car"
    assert p[(2, 3)].mask.sum() == 100 and ((5, 3), 4) in ps.truth
    assert ((5, 0), 2) not in ps.truth


@pytest.mark.parametrize("shapes, message", [
    ([shape(1, "rectangle", 0, 5, [0, 0, 5, 5]), shape(2, "rectangle", 0, 5, [1, 1, 6, 6])], "2 rectangles"),
    ([shape(1, "points", 0, 99, [1, 1])], "not a label of task"),
    ([shape(1, "polygon", 0, 5, [1, 1, 2, 2])], "at least 3 points"),
])
def test_ambiguous_or_invalid_prompts_are_rejected(shapes, message):
    with pytest.raises(PromptError, match=message):
        build_prompts(shapes, TASK, 0, 10)


def test_frame_windows():
    assert parse_step("step=3") == 3 and parse_step("") == 1
    assert frame_window(TASK) == (0, 10) and frame_window(TASK, "2:5") == (2, 5) and frame_window(TASK, "7:") == (7, 10)
    assert frame_window(TASK, "0:8", job={"id": 9, "task_id": 1, "start_frame": 5, "stop_frame": 9}) == (5, 8)
    with pytest.raises(ConfigError, match="A:B"):
        frame_window(TASK, "x")
    with pytest.raises(ConfigError, match="empty"):
        frame_window(TASK, "12:20")


def test_credentials_come_from_the_environment_or_a_prompt():
    assert credentials_from_env({"CVAT_ACCESS_TOKEN": "t"}).token == "t"
    c = credentials_from_env({"CVAT_USERNAME": "bob"}, interactive=True, prompt=lambda msg: "pw")
    assert (c.username, c.password) == ("bob", "pw") and "pw" not in repr(c)
    with pytest.raises(CvatAuthError, match="CVAT_USERNAME"):
        credentials_from_env({"CVAT_USERNAME": "bob"}, interactive=False)


def test_image_task_job_window_and_paginated_labels(cvat, cvat_env):
    cvat.page_size = 1  # labels come back one per page
    tid, video = make_task(cvat, start=0, step=1, stop=19, mode="annotation", segment_size=10)
    jobs = [j for j in cvat.jobs.values() if j["task_id"] == tid]
    ball = cvat.label_id(tid, "ball")  # the second label: only on page 2
    cvat.add_shape(tid, type="points", frame=12, label_id=ball, points=click(video, 12, 2))
    cvat.add_shape(tid, type="points", frame=2, label_id=ball, group=4, points=click(video, 2, 1))  # outside the job
    job = max(jobs, key=lambda j: j["start_frame"])
    assert (len(jobs), job["start_frame"], job["stop_frame"]) == (2, 10, 19)
    with connect(cvat.url, Credentials("alice", "s3cret-pass")) as conn:
        report = track_task(conn, tid, models(video), CvatOptions(job_id=job["id"], frames="5:18", state_dir=cvat_env / "s"))
    assert report.frames == (10, 18) and list(report.objects) == [1]  # the group-4 prompt lies outside the job
    frames = sorted(s["frame"] for s in cvat.shapes(tid) if s["source"] == "auto")
    assert frames == list(range(10, 18))
