"""The session and the refiner find each object's probability by its id, never
by a position: a tracker whose rows come in another order than its object ids
(ColorTracker with ``reverse_channels``) gives exactly the same results."""

from __future__ import annotations

import numpy as np

from tam_core.options import RunOptions
from tam_core.refinement import Refiner
from tam_core.sessions.session import TrackingSession
from tam_core.types import ObjectProbs, Prompt

from tests.doubles import ArrayFrames, ColorSegmenter, ColorTrackerFactory
from tests.session.helpers import collect


def _run(video, reverse: bool, refine: bool):
    seg = ColorSegmenter()
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={6} if refine else (),
                                  reverse_channels=reverse)
    s = TrackingSession(ArrayFrames(video.frames), factory, seg, refiner=Refiner(seg) if refine else None,
                        options=RunOptions(direction="both", refine=refine))
    s.add_prompt(Prompt(0, 1, mask=video.mask(0, 1)))
    s.add_prompt(Prompt(0, 2, mask=video.mask(0, 2)))
    s.add_prompt(Prompt(8, 3, mask=video.mask(8, 3)))
    results = list(s.propagate())
    return results, factory


def test_rows_in_reverse_order_give_the_ground_truth(video):
    results, _ = _run(video, reverse=True, refine=False)
    got = collect(results)
    assert set(got) == {(t, o) for t in range(30) for o in (1, 2, 3)}
    for (t, o), m in got.items():
        assert np.array_equal(m, video.mask(t, o)), (t, o)


def test_refinement_with_rows_in_reverse_order_equals_the_plain_order(video):
    plain, plain_factory = _run(video, reverse=False, refine=True)
    rev, rev_factory = _run(video, reverse=True, refine=True)
    assert [(r.frame, r.object_ids, r.refined) for r in rev] == [(r.frame, r.object_ids, r.refined) for r in plain]
    assert any(r.refined for r in rev)  # the damage on frame 6 was repaired
    assert rev_factory.amended() == plain_factory.amended()
    for a, b in zip(plain, rev):
        assert all(np.array_equal(a.masks[o], b.masks[o]) for o in a.object_ids), a.frame
        assert a.quality == b.quality, a.frame


def test_object_probs_mapping_and_restrict():
    stacked = np.zeros((4, 2, 3), np.float32)
    stacked[0, 0, 0] = stacked[1, 0, 1] = stacked[2, 0, 2] = stacked[3, 1] = 1.0
    probs = ObjectProbs((9, 4, 6), stacked)  # rows: background, 9, 4, 6
    assert list(probs) == [9, 4, 6] and len(probs) == 3 and 4 in probs and 1 not in probs
    assert np.array_equal(probs[4], stacked[2]) and np.array_equal(probs.background, stacked[0])
    assert probs.label_map().tolist() == [[0, 9, 4], [6, 6, 6]]
    assert {o: m.tolist() for o, m in probs.hard_masks().items()} == {
        9: [[False, True, False], [False] * 3], 4: [[False, False, True], [False] * 3], 6: [[False] * 3, [True] * 3]}
    only6 = probs.restrict([6])  # 9 and 4 become background
    assert only6.object_ids == (6,) and only6.label_map().tolist() == [[0, 0, 0], [6, 6, 6]]
    np.testing.assert_array_equal(only6.background, stacked[0] + stacked[1] + stacked[2])
    np.testing.assert_allclose(only6.stacked.sum(0), stacked.sum(0))
    assert probs.restrict([6, 9]).object_ids == (6, 9)


def test_object_probs_rejects_inconsistent_layouts():
    import pytest

    with pytest.raises(ValueError, match=r"expected \(3, H, W\) for background and 2 objects"):
        ObjectProbs((1, 2), np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="unique"):
        ObjectProbs((1, 1), np.zeros((3, 4, 4), np.float32))
