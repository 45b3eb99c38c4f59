from operators.review import ReviewOptions, review_queue
from operators.track import ObjectRecord


def rec(frame, oid=1, q=0.9, area=100, box=(0, 0, 10, 10), refined=False):
    return ObjectRecord(frame, oid, q, area, box, refined)


def steady(n, oid=1):
    # A 10x10 box moving right: motion alone must not be flagged.
    return [rec(f, oid, box=(f, 0, f + 10, 10)) for f in range(n)]


def test_steady_track_has_nothing_to_review():
    assert review_queue(steady(10)) == []


def test_low_quality_ranks_first_and_says_why():
    recs = steady(10)
    recs[3] = rec(3, q=0.1, box=(3, 0, 13, 10))
    recs[6] = rec(6, q=0.4, box=(6, 0, 16, 10))
    items = review_queue(recs)
    assert [i.frame for i in items] == [3, 6]
    assert items[0].reasons == ("object 1: low quality 0.10",)
    assert items[0].object_ids == (1,)


def test_area_spike_flags_the_spike_frame_and_its_neighbours_less():
    recs = steady(9)
    recs[4] = rec(4, area=400, box=(4, 0, 14, 10))
    items = review_queue(recs)
    assert items[0].frame == 4 and items[0].reasons[0].startswith("object 1: area spike x4.0")
    # neighbours see the jump on one side only: listed, but after the spike
    assert [i.frame for i in items[1:]] == [3, 5]
    assert items[1].score < items[0].score and "area changed" in items[1].reasons[0]


def test_shape_change_is_flagged_but_pure_motion_is_not():
    recs = steady(6)
    recs[2] = rec(2, box=(2, 0, 42, 3))  # same area, very different shape
    items = review_queue(recs)
    assert items[0].frame == 2 and items[0].reasons[0].startswith("object 1: shape spike")
    assert [i.frame for i in items[1:]] == [1, 3]


def test_refined_frames_are_listed_below_real_problems_and_limit_applies():
    recs = steady(8)
    recs[1] = rec(1, refined=True, box=(1, 0, 11, 10))
    recs[5] = rec(5, q=0.2, box=(5, 0, 15, 10))
    items = review_queue(recs)
    assert [i.frame for i in items] == [5, 1]
    assert items[1].reasons == ("object 1: refined by SAM",)
    assert [i.frame for i in review_queue(recs, limit=1)] == [5]


def test_several_objects_on_one_frame_are_merged_into_one_item():
    recs = steady(5, 1) + steady(5, 2)
    recs[2] = rec(2, 1, q=0.3, box=(2, 0, 12, 10))
    recs[7] = rec(2, 2, q=0.2, box=(2, 0, 12, 10))
    items = review_queue(recs)
    assert len(items) == 1 and items[0].object_ids == (1, 2)
    assert items[0].reasons[0].startswith("object 2")  # worst first


def test_thresholds_are_options():
    recs = steady(5)
    recs[2] = rec(2, q=0.7, box=(2, 0, 12, 10))
    assert review_queue(recs) == []
    assert [i.frame for i in review_queue(recs, options=ReviewOptions(low_quality=0.8))] == [2]


def test_masks_a_person_set_are_neighbours_but_never_flagged():
    recs = steady(9)
    recs[4] = rec(4, q=0.1, area=400, box=(4, 0, 14, 10))  # a person's keyframe: low score and a big area
    items = review_queue(recs, person_set=[(4, 1)])
    # frame 4 itself is not listed; its neighbours still see the jump next to it
    assert [i.frame for i in items] == [3, 5]
    assert all(i.reasons[0].startswith("object 1: area changed x4.0 vs frame 4") for i in items)
    assert review_queue(recs, person_set=[(4, 2)])[0].frame == 4  # another object's keyframe: no effect


def test_reasons_number_frames_as_the_caller_counts_them():
    from tam_core.errors import frames_counted_from

    recs = steady(9)
    recs[4] = rec(4, area=400, box=(4, 0, 14, 10))
    with frames_counted_from(1):  # FiftyOne
        items = review_queue(recs)
    assert items[1].frame == 3 and items[1].reasons[0].endswith("vs frame 5")  # 0-based frame 4 is FiftyOne's 5
    assert review_queue(recs)[1].reasons[0].endswith("vs frame 4")  # outside the block: 0-based again
