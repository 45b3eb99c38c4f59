import pytest

from operators.prompts import group_by_object, merge_prompts, object_labels
from tam_core.errors import PromptError
from tam_core.types import Prompt

SIZE = (40, 60)  # H, W


def test_merge_validates_each_prompt_with_the_core_rules():
    with pytest.raises(PromptError, match=r"frame 5 does not exist \(the video has frames 0..4\)"):
        merge_prompts([Prompt(frame=5, object_id=1, points=[[1, 1]])], 5, SIZE)
    with pytest.raises(PromptError, match="must satisfy 0 <= x0 < x1 <= 60"):
        merge_prompts([Prompt(frame=0, object_id=1, box=[-5, 2, 70, 30])], 5, SIZE)  # no silent clipping
    with pytest.raises(PromptError, match=r"integers 1..255 \(the most an indexed PNG holds\), got 256"):
        merge_prompts([Prompt(frame=0, object_id=256, points=[[1, 1]])], 5, SIZE, max_object_id=255)
    # the edge of the frame is inside: x == W, y == H
    merged = merge_prompts([Prompt(frame=0, object_id=255, points=[[60, 40]])], 5, SIZE, max_object_id=255)
    assert merged[0].points.tolist() == [[60.0, 40.0]] and merged[0].point_labels.tolist() == [1]


def test_only_negative_points_on_a_merged_keyframe_are_rejected():
    with pytest.raises(PromptError, match="only negative points"):
        merge_prompts([Prompt(frame=0, object_id=1, points=[[1, 1]], point_labels=[0])], 5, SIZE)
    # a negative click next to a box of the same keyframe is fine
    merged = merge_prompts([Prompt(0, 1, points=[[1, 1]], point_labels=[0]), Prompt(0, 1, box=[0, 0, 9, 9])], 5, SIZE)
    assert merged[0].point_labels.tolist() == [0] and merged[0].box.tolist() == [0, 0, 9, 9]


def test_merge_concatenates_points_and_keeps_box_of_the_same_keyframe():
    merged = merge_prompts(
        [
            Prompt(frame=1, object_id=2, label="car", box=[1, 1, 20, 20]),
            Prompt(frame=1, object_id=2, points=[[5, 5]], point_labels=[1]),
            Prompt(frame=1, object_id=2, points=[[6, 6]], point_labels=[0]),
            Prompt(frame=0, object_id=1, points=[[3, 3]]),
        ],
        5,
        SIZE,
    )
    assert [(p.object_id, p.frame) for p in merged] == [(1, 0), (2, 1)]
    obj2 = merged[1]
    assert obj2.label == "car"
    assert obj2.points.tolist() == [[5, 5], [6, 6]] and obj2.point_labels.tolist() == [1, 0]
    assert obj2.box.tolist() == [1, 1, 20, 20]


def test_conflicting_boxes_or_labels_are_rejected():
    with pytest.raises(PromptError, match="2 different boxes"):
        merge_prompts([Prompt(0, 1, box=[1, 1, 5, 5]), Prompt(0, 1, box=[2, 2, 6, 6])], 5, SIZE)
    with pytest.raises(PromptError, match="conflicting labels"):
        merge_prompts([Prompt(0, 1, "a", box=[1, 1, 5, 5]), Prompt(0, 1, "b", points=[[2, 2]])], 5, SIZE)
    with pytest.raises(PromptError, match="labelled 'a' on one frame and 'b' on frame 3"):
        merge_prompts([Prompt(0, 1, "a", box=[1, 1, 5, 5]), Prompt(3, 1, "b", points=[[2, 2]])], 5, SIZE)


def test_identical_duplicate_boxes_are_not_a_conflict():
    merged = merge_prompts([Prompt(0, 1, box=[1, 1, 5, 5]), Prompt(0, 1, box=[1, 1, 5, 5])], 5, SIZE)
    assert len(merged) == 1


def test_empty_prompt_list_is_an_error():
    with pytest.raises(PromptError, match="no prompts"):
        merge_prompts([], 5, SIZE)


def test_group_by_object_orders_keyframes():
    ps = [Prompt(4, 2, points=[[1, 1]]), Prompt(1, 2, points=[[1, 1]]), Prompt(0, 1, points=[[1, 1]])]
    groups = group_by_object(ps)
    assert list(groups) == [1, 2]
    assert [p.frame for p in groups[2]] == [1, 4]
    assert object_labels([Prompt(0, 1, None), Prompt(2, 1, "dog")]) == {1: "dog"}
