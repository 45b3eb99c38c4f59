"""The propagation rule: spans partition exactly the frames each keyframe is nearest to."""

import numpy as np
import pytest

from tam_core.sessions.spans import keyframe_spans, merge_runs, nearest_keyframe


@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_spans_match_nearest_keyframe(direction):
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        ks = sorted(set(rng.integers(0, n, size=int(rng.integers(1, 5))).tolist()))
        owner = {}
        for k in ks:
            for s in keyframe_spans(7, ks, k, n, direction):
                assert s.object_id == 7 and s.keyframe == k
                for t in range(s.lo, s.hi + 1):
                    if s.yields(t):
                        assert t not in owner, (ks, t)
                        owner[t] = k
        expected = {t: nearest_keyframe(ks, t, direction) for t in range(n)}
        assert owner == {t: k for t, k in expected.items() if k is not None}, (n, ks, direction)


def test_tie_goes_to_the_earlier_keyframe_and_runs_merge():
    assert nearest_keyframe([10, 20], 15, "both") == 10 and nearest_keyframe([10, 20], 16, "both") == 20
    spans = keyframe_spans(1, [10, 20], 20, 30, "both")
    assert [(s.keyframe, s.stop, s.reverse, s.yield_keyframe) for s in spans] == [(20, 29, False, True), (20, 16, True, False)]
    assert merge_runs(keyframe_spans(1, [0], 0, 10, "forward") + keyframe_spans(2, [12], 12, 20, "forward")) == [(0, 9), (12, 19)]
    assert merge_runs(keyframe_spans(1, [0], 0, 10, "forward") + keyframe_spans(2, [5], 5, 8, "forward")) == [(0, 9)]
