"""The one prompt contract (tam_core.prompts): the closed-frame edge rule, the
normalised -> pixel mapping, canonical types and object ids, at the boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from tam_core.errors import PromptError
from tam_core.prompts import (PNG_MAX_OBJECT_ID, AutomaticIds, assign_object_ids, check_object_id, pixel_index, to_pixels,
                              validate_prompt)
from tam_core.sessions.session import TrackingSession
from tam_core.types import Prompt

from tests.doubles import ArrayFrames, ColorSegmenter, ColorTrackerFactory

H, W = 40, 60
SIZE = (H, W)


def _v(prompt: Prompt, **kw) -> Prompt:
    return validate_prompt(prompt, 5, SIZE, **kw)


# ------------------------------------------------------------------ edge rule
@pytest.mark.parametrize("xy", [(W, 5), (5, H), (W, H), (0, 0), (W - 1e-9, H - 1e-9)])
def test_points_on_the_closed_frame_are_valid_and_kept_as_given(xy):
    p = _v(Prompt(0, 1, points=[xy]))
    assert p.points.tolist() == [list(map(float, xy))]  # not clipped, not rounded


@pytest.mark.parametrize("xy, shown", [((W + 0.5, 5), "(60.5, 5)"), ((5, H + 1e-6), "(5, 40)"),
                                       ((-0.001, 5), "(-0.001, 5)"), ((np.nan, 5), "(nan, 5)")])
def test_points_beyond_the_edge_are_rejected(xy, shown):
    with pytest.raises(PromptError) as err:
        _v(Prompt(3, 2, points=[xy]))
    assert str(err.value).startswith(f"prompt for object 2 on frame 3: point {shown} is outside the 60x40 frame")
    assert "(x in [0, 60], y in [0, 40])" in str(err.value)


def test_box_touching_the_right_and_bottom_edges_is_valid():
    assert _v(Prompt(0, 1, box=[0, 0, W, H])).box.tolist() == [0.0, 0.0, 60.0, 40.0]
    assert _v(Prompt(0, 1, box=[W - 1, H - 1, W, H])).box.tolist() == [59.0, 39.0, 60.0, 40.0]  # the last pixel


@pytest.mark.parametrize("box", [[0, 0, W + 1, H], [0, 0, W, H + 0.5], [-1, 0, 10, 10], [10, 0, 10, 5],
                                 [0, 5, 10, 5], [12, 0, 10, 5]])
def test_boxes_outside_or_empty_are_rejected(box):
    with pytest.raises(PromptError, match=r"must satisfy 0 <= x0 < x1 <= 60 and 0 <= y0 < y1 <= 40"):
        _v(Prompt(0, 1, box=box))


def test_pixel_index_puts_the_edge_on_the_last_pixel_and_floors_inside():
    rows, cols = pixel_index([[W, H], [0, 0], [3.7, 2.2], [59.99, 0.5]], SIZE)
    assert rows.tolist() == [H - 1, 0, 2, 0] and cols.tolist() == [W - 1, 0, 3, 59]
    assert rows.dtype == cols.dtype == np.int64


# ---------------------------------------------------------------- normalised
def test_to_pixels_maps_one_to_the_edge_exactly():
    px = to_pixels([[1.0, 1.0], [0.0, 0.0], [0.5, 0.25]], SIZE)
    assert px.dtype == np.float64 and px.tolist() == [[60.0, 40.0], [0.0, 0.0], [30.0, 10.0]]
    assert to_pixels([0.1, 1.0], (480, 640)).tolist() == pytest.approx([64.0, 480.0])
    box = to_pixels(np.reshape([0.5, 0.5, 1.0, 1.0], (2, 2)), SIZE).reshape(4)  # a box's two corners
    assert _v(Prompt(0, 1, box=box)).box.tolist() == [30.0, 20.0, 60.0, 40.0]


@pytest.mark.parametrize("xy", [[1.0001, 0.5], [0.5, -0.01], [np.inf, 0.5]])
def test_to_pixels_rejects_values_outside_the_unit_square(xy):
    with pytest.raises(PromptError, match=r"normalised point .* is outside \[0, 1\] x \[0, 1\]"):
        to_pixels([xy], SIZE)


def test_normalised_corner_click_segments_the_object_in_that_corner():
    """Normalised 1.0 (a FiftyOne keypoint on the right/bottom edge) goes through
    to_pixels and the session into the segmenter, and selects the corner object."""
    frames = np.full((3, H, W, 3), 128, np.uint8)
    frames[:, 30:, 50:] = (220, 30, 30)  # an object in the bottom-right corner
    frames[:, :10, :10] = (30, 200, 40)
    segmenter = ColorSegmenter()
    session = TrackingSession(ArrayFrames(frames), ColorTrackerFactory(), segmenter)
    mask = session.add_prompt(Prompt(1, 1, points=to_pixels([[1.0, 1.0]], SIZE)))
    expected = np.zeros(SIZE, bool)
    expected[30:, 50:] = True
    assert np.array_equal(mask, expected)
    assert segmenter.calls[0]["points"].tolist() == [[60.0, 40.0]]  # the edge point itself reached the segmenter
    # a box touching the edges reaches the segmenter unchanged as well
    mask = session.add_prompt(Prompt(2, 2, box=to_pixels([[0.75, 0.5], [1.0, 1.0]], SIZE).reshape(4)))
    assert np.array_equal(mask, expected) and segmenter.calls[1]["box"].tolist() == [45.0, 20.0, 60.0, 40.0]


# ------------------------------------------------------------ canonical types
def test_canonical_types():
    p = _v(Prompt(np.int64(2), np.int32(7), "car", points=[[1, 2]], box=np.array([1, 2, 3, 4], np.int32),
                  mask=np.pad(np.ones((2, 2), np.uint8), ((0, H - 2), (0, W - 2)))))
    assert type(p.frame) is int and type(p.object_id) is int and (p.frame, p.object_id, p.label) == (2, 7, "car")
    assert p.points.dtype == np.float64 and p.points.shape == (1, 2)
    assert p.point_labels.dtype == np.int64 and p.point_labels.tolist() == [1]  # all positive when not given
    assert p.box.dtype == np.float64 and p.mask.dtype == bool and p.mask.sum() == 4
    # an empty point list is "no points"
    q = _v(Prompt(0, 1, points=np.zeros((0, 2)), box=[1, 1, 5, 5]))
    assert q.points is None and q.point_labels is None


@pytest.mark.parametrize("prompt, message", [
    (Prompt(5, 1, points=[[1, 1]]), "frame 5 does not exist (the video has frames 0..4)"),
    (Prompt(-1, 1, points=[[1, 1]]), "frame -1 does not exist"),
    (Prompt(1.0, 1, points=[[1, 1]]), "frame 1.0 does not exist"),
    (Prompt(0, 1, points=[[1, 1]], point_labels=[2]), "point labels must be 1 (positive) or 0 (negative), got [2]"),
    (Prompt(0, 1, points=[[1, 1]], point_labels=[1, 0]), "1 points but 2 point labels"),
    (Prompt(0, 1, point_labels=[1], box=[1, 1, 4, 4]), "point labels given without points"),
    (Prompt(0, 1, points=[1, 2, 3]), "points must be [N,2] pixel (x, y), got shape (3,)"),
    (Prompt(0, 1, box=[1, 2, 3]), "a box is 4 numbers x0, y0, x1, y1, got [1, 2, 3]"),
    (Prompt(0, 1, points=[[1, "x"]]), "points must be numbers, got [[1, 'x']]"),
    (Prompt(0, 1, box=[[1, 2], [3]]), "a box must be numbers"),
    (Prompt(0, np.int64(0), points=[[1, 1]]), "object ids must be integers >= 1, got 0"),
    (Prompt(0, 1, mask=np.ones((10, 10), bool)), "mask has shape (10, 10), expected (40, 60)"),
    (Prompt(0, 1, mask=np.zeros(SIZE, bool)), "the mask prompt is empty"),
    (Prompt(0, 1), "prompt for object 1 on frame 0 has no points, box or mask"),
])
def test_invalid_prompts_raise_one_line_errors(prompt, message):
    with pytest.raises(PromptError) as err:
        _v(prompt)
    assert message in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------ object ids
@pytest.mark.parametrize("oid", [0, 256, 300, -1, True, 2.0, "3"])
def test_ids_outside_1_to_255_are_rejected_for_png_output(oid):
    with pytest.raises(PromptError, match=r"object ids must be integers 1..255 \(the most an indexed PNG holds\)"):
        _v(Prompt(0, oid, points=[[1, 1]]), max_object_id=PNG_MAX_OBJECT_ID)


def test_id_limits():
    assert _v(Prompt(0, 255, points=[[1, 1]]), max_object_id=255).object_id == 255
    assert _v(Prompt(0, 1, points=[[1, 1]]), max_object_id=255).object_id == 1
    assert _v(Prompt(0, 300, points=[[1, 1]])).object_id == 300  # no limit unless the output has one
    with pytest.raises(PromptError, match=r"object ids must be integers >= 1, got 0"):
        _v(Prompt(0, 0, points=[[1, 1]]))
    with pytest.raises(PromptError, match=r"object ids must be integers 1..9, got 10"):
        check_object_id(10, 9)


def test_automatic_ids_start_above_the_largest_explicit_id():
    # explicit 2 and 7 stay; "car" (seen twice) and "person" get 8 and 9
    assert assign_object_ids([2, 7], ["car", "person", "car"]) == {"car": 8, "person": 9}
    # the FiftyOne case: index 2 on one frame, the same class without index elsewhere
    assert assign_object_ids([2], ["person"]) == {"person": 3}
    assert assign_object_ids([], ["a", "b"]) == {"a": 1, "b": 2}
    assert assign_object_ids([4, 1], []) == {}


def test_automatic_ids_respect_the_limit_and_explicit_ids_are_validated():
    assert assign_object_ids([253], ["a", "b"], max_object_id=255) == {"a": 254, "b": 255}
    with pytest.raises(PromptError, match=r"automatic id for 'c' would be 256, above the largest allowed id 255"):
        assign_object_ids([253], ["a", "b", "c"], max_object_id=255)
    with pytest.raises(PromptError, match=r"1..255 .*got 256"):
        assign_object_ids([256], ["a"], max_object_id=255)


def test_automatic_ids_one_at_a_time_for_streaming_readers():
    allocate = AutomaticIds([2, 5])  # all explicit ids of the input, read first
    assert [allocate("dog"), allocate("cat"), allocate("dog")] == [6, 7, 6]
    assert allocate.ids == {"dog": 6, "cat": 7}
    assert AutomaticIds()("x") == 1
    full = AutomaticIds([255], max_object_id=255)
    with pytest.raises(PromptError, match="automatic id for 'x' would be 256"):
        full("x")
