"""TrackingSession with the color doubles on a synthetic video: exact geometry,
frame sets and order per direction, corrections, refinement, laziness."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tam_core.errors import ConfigError, PromptError
from tam_core.options import RunOptions
from tam_core.sessions.session import ObjectInfo, TrackingSession
from tam_core.types import Prompt

from tests.session.helpers import click, collect

T = 30


def _session(frames, factory, segmenter=None, **kw):
    return TrackingSession(frames, factory, segmenter, options=RunOptions(**kw))


def test_both_directions_exact_masks_objects_starting_on_different_frames(video, frames, factory, segmenter):
    s = _session(frames, factory, segmenter)
    m1 = s.add_prompt(Prompt(0, 1, label="ball", points=click(video, 0, 1), point_labels=np.array([1])))
    ys, xs = np.nonzero(video.mask(12, 2))
    m2 = s.add_prompt(Prompt(12, 2, box=np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)))
    m3 = s.add_prompt(Prompt(8, 3, mask=video.mask(8, 3)))
    assert np.array_equal(m1, video.mask(0, 1)) and np.array_equal(m2, video.mask(12, 2))
    assert np.array_equal(m3, video.mask(8, 3))
    assert s.objects == {1: ObjectInfo(1, "ball", (0,)), 2: ObjectInfo(2, None, (12,)), 3: ObjectInfo(3, None, (8,))}
    got = collect(s.propagate())
    # Every object on every frame, equal to the ground truth (object 3 is
    # absent before frame 5: yielded with an empty mask by the backward pass).
    assert set(got) == {(t, o) for t in range(T) for o in (1, 2, 3)}
    for (t, o), m in got.items():
        assert np.array_equal(m, video.mask(t, o)), (t, o)
    assert not got[(2, 3)].any()
    # One forward pass from the first keyframe, one backward pass from the last.
    assert factory.stepped(0) == list(range(0, T)) and factory.stepped(1) == list(range(12, -1, -1))
    assert len(factory.trackers) == 2
    # The keyframes' masks were injected on their frames, objects introduced there.
    fwd = {c.frame: c.ids for c in factory.calls if c.tracker == 0 and c.ids}
    assert fwd == {0: (1,), 8: (3,), 12: (2,)}
    assert [c.end for c in factory.calls if c.kind == "step"].count(True) == 2


def test_forward_only_skips_frames_before_first_keyframe(video, frames, factory):
    s = _session(frames, factory, direction="forward")
    s.add_prompt(Prompt(4, 1, mask=video.mask(4, 1)))
    s.add_prompt(Prompt(9, 2, mask=video.mask(9, 2)))
    results = list(s.propagate())
    assert [r.frame for r in results] == list(range(4, T))  # increasing order, one pass
    got = collect(results)
    assert {t for t, o in got if o == 2} == set(range(9, T))
    assert {t for t, o in got if o == 1} == set(range(4, T))
    assert all(np.array_equal(m, video.mask(t, o)) for (t, o), m in got.items())
    assert factory.stepped() == list(range(4, T))


def test_backward_only_order_and_frames(video, frames, factory):
    s = _session(frames, factory, direction="backward")
    s.add_prompt(Prompt(20, 1, mask=video.mask(20, 1)))
    s.add_prompt(Prompt(10, 1, mask=video.mask(10, 1)))
    results = list(s.propagate())
    assert [r.frame for r in results] == list(range(20, -1, -1))
    got = collect(results)
    assert all(np.array_equal(m, video.mask(t, o)) for (t, o), m in got.items())
    # Frame 10 is owned by its own keyframe: the keyframe mask is re-injected there.
    assert [c.frame for c in factory.calls if c.kind == "step" and c.ids] == [20, 10]
    # ... in a tracker that remembers nothing tracked from keyframe 20
    assert factory.stepped(0) == list(range(20, 10, -1)) and factory.stepped(1) == list(range(10, -1, -1))


def test_middle_keyframe_both_directions_and_tie_rule(video, frames, factory):
    s = _session(frames, factory)
    s.add_prompt(Prompt(10, 1, mask=video.mask(10, 1)))
    results = list(s.propagate())
    assert [r.frame for r in results] == list(range(10, T)) + list(range(9, -1, -1))
    # Keyframes 10 and 20: frame 15 is equidistant -> the earlier (forward) one.
    s.add_prompt(Prompt(20, 1, mask=video.mask(20, 1)))
    factory.clear()
    results = list(s.propagate())
    assert [r.frame for r in results] == list(range(20, T)) + [19, 18, 17, 16]
    assert factory.stepped() == list(range(20, T)) + [20, 19, 18, 17, 16]


def test_correction_retracks_only_the_affected_span(video, frames, factory, segmenter):
    s = _session(frames, factory, segmenter)
    s.add_prompt(Prompt(0, 1, mask=video.mask(0, 1)))
    s.add_prompt(Prompt(0, 2, mask=video.mask(0, 2)))
    s.add_prompt(Prompt(5, 3, mask=video.mask(5, 3)))
    collect(s.propagate())
    factory.clear()
    # A correction of object 1 on frame 14 (keyframes 0 and 14): frames 8..29
    # now have a different nearest keyframe; 0..7 and objects 2, 3 are kept.
    s.add_prompt(Prompt(14, 1, points=click(video, 14, 1)))
    assert s.dirty_keyframes == {(1, 14)}
    results = list(s.propagate())
    assert {o for r in results for o in r.object_ids} == {1}
    assert [r.frame for r in results] == list(range(14, T)) + list(range(13, 7, -1))
    got = collect(results)
    assert all(np.array_equal(m, video.mask(t, o)) for (t, o), m in got.items())
    # Fresh trackers started at the new keyframe, tracking only object 1.
    assert factory.stepped() == list(range(14, T)) + list(range(14, 7, -1))
    assert {c.ids for c in factory.calls if c.ids} == {(1,)}
    assert len(factory.trackers) == 4
    # Nothing left to do; the same mask again changes nothing.
    assert list(s.propagate()) == []
    s.add_prompt(Prompt(14, 1, mask=video.mask(14, 1)))
    assert list(s.propagate()) == [] and s.dirty_keyframes == frozenset()


def test_correction_forward_only_stops_at_next_keyframe(video, frames, factory):
    s = _session(frames, factory, direction="forward")
    for k in (0, 20):
        s.add_prompt(Prompt(k, 1, mask=video.mask(k, 1)))
    list(s.propagate())
    factory.clear()
    s.add_prompt(Prompt(7, 1, mask=video.mask(7, 1) & (np.arange(96) < 40)))  # an edited mask
    results = list(s.propagate())
    assert [r.frame for r in results] == list(range(7, 20))
    assert np.array_equal(results[0].masks[1], video.mask(7, 1) & (np.arange(96) < 40))


def test_new_object_later_tracks_only_that_object(video, frames, factory):
    s = _session(frames, factory)
    s.add_prompt(Prompt(0, 1, mask=video.mask(0, 1)))
    list(s.propagate())
    s.add_prompt(Prompt(6, 3, mask=video.mask(6, 3)))
    got = collect(s.propagate())
    assert set(got) == {(t, 3) for t in range(T)}
    assert all(np.array_equal(m, video.mask(t, 3)) for (t, _), m in got.items())


def test_mark_tracked_retracks_only_given_keyframes(video, frames, factory):
    s = _session(frames, factory)
    for k in (0, 10, 20):
        s.add_prompt(Prompt(k, 2, mask=video.mask(k, 2)))
    s.add_prompt(Prompt(3, 1, mask=video.mask(3, 1)))
    s.mark_tracked(except_keyframes=[(2, 10)])
    results = list(s.propagate())
    # Keyframe 10 between 0 and 20 owns 6..15 under "both".
    assert sorted(r.frame for r in results) == list(range(6, 16))
    assert {o for r in results for o in r.object_ids} == {2}
    with pytest.raises(PromptError, match="no keyframe on frame 11"):
        s.mark_tracked(except_keyframes=[(2, 11)])


def test_direction_change_clears_frames_no_longer_covered(video, frames, factory):
    s = _session(frames, factory)
    s.add_prompt(Prompt(10, 1, mask=video.mask(10, 1)))
    list(s.propagate())
    got = collect(s.propagate("forward"))
    assert set(got) == {(t, 1) for t in range(T)}
    assert all(not got[(t, 1)].any() for t in range(10))
    assert all(np.array_equal(got[(t, 1)], video.mask(t, 1)) for t in range(10, T))


def test_refiner_repairs_and_amends_tracker(video, frames):
    from tests.doubles import ColorTrackerFactory

    class GroundTruthRefiner:
        """Repairs damaged masks (mean probability below 0.9) with the ground truth."""

        def __init__(self):
            self.frames = []

        def refine_frame(self, frame_index, image, probs, histories, options, scored, embeddings=None):
            self.frames.append(frame_index)
            # the session keeps the histories: up to the previous frame, keyframe first
            assert all(histories[oid].last_frame == frame_index - 1 for oid in probs.object_ids)
            masks, refined = dict(scored.masks), set()
            for oid in probs.object_ids:
                m = masks[oid]
                if m.any() and probs[oid][m].mean() < 0.9:
                    masks[oid] = video.mask(frame_index, oid)
                    refined.add(oid)
            return type("R", (), dict(masks=masks, refined=frozenset(refined)))

    def run(refiner):
        factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={6})
        s = TrackingSession(frames, factory, refiner=refiner, options=RunOptions(direction="forward"))
        s.add_prompt(Prompt(0, 1, mask=video.mask(0, 1)))
        s.add_prompt(Prompt(0, 2, mask=video.mask(0, 2)))
        return list(s.propagate()), factory

    plain, factory = run(None)
    assert not np.array_equal(plain[8].masks[1], video.mask(8, 1))  # damage persists without refinement
    assert plain[8].quality[1] < 0.8 and plain[8].refined == frozenset()
    refiner = GroundTruthRefiner()
    results, factory = run(refiner)
    assert refiner.frames == list(range(1, T))  # every tracked frame, not the keyframe
    assert factory.amended() == [(6, (1, 2))]  # the repair reached the tracker's memory
    assert results[6].refined == {1, 2}
    # the quality is what was measured on the tracked mask, repaired or not
    assert [r.quality for r in results[:7]] == [r.quality for r in plain[:7]] and results[6].quality[1] < 0.5
    assert all(np.array_equal(r.masks[o], video.mask(r.frame, o)) for r in results for o in r.object_ids)


def test_clicks_accumulate_on_the_same_keyframe(video, frames, factory, segmenter):
    s = _session(frames, factory, segmenter)
    p = click(video, 3, 1)
    s.add_prompt(Prompt(3, 1, points=p, point_labels=np.array([1])))
    mask = s.add_prompt(Prompt(3, 1, points=click(video, 3, 2), point_labels=np.array([1])))
    assert np.array_equal(mask, video.mask(3, 1) | video.mask(3, 2))
    second = segmenter.calls[-1]
    assert second["points"].shape == (2, 2) and second["mask_input"] and not second["multimask"]
    assert segmenter.calls[0]["multimask"] and segmenter.embed_calls == 1  # the frame is encoded once
    mask = s.add_prompt(Prompt(3, 1, points=click(video, 3, 2), point_labels=np.array([0])))
    assert np.array_equal(mask, video.mask(3, 1))
    assert s.objects[1].keyframes == (3,)


@pytest.mark.parametrize(
    "prompt, message",
    [
        (Prompt(30, 1, mask=np.zeros((64, 96), bool)), "frame 30 does not exist (the video has frames 0..29)"),
        (Prompt(-1, 1, mask=np.zeros((64, 96), bool)), "frame -1 does not exist"),
        (Prompt(0, 0, mask=np.zeros((64, 96), bool)), "object ids must be integers >= 1, got 0"),
        (Prompt(2, 1, points=np.array([[96.5, 5.0]])), "point (96.5, 5) is outside the 96x64 frame (x in [0, 96]"),
        (Prompt(2, 1, points=np.array([[5.0, 64.01]])), "point (5, 64.01) is outside the 96x64 frame"),
        (Prompt(2, 1, points=np.array([[5.0, 5.0]]), point_labels=np.array([1, 0])), "1 points but 2 point labels"),
        (Prompt(2, 1, points=np.array([[5.0, 5.0]]), point_labels=np.array([2])), "must be 1 (positive) or 0 (negative)"),
        (Prompt(2, 1, box=np.array([10, 10, 5, 20])), "must satisfy 0 <= x0 < x1 <= 96"),
        (Prompt(2, 1, box=np.array([1, 2, 3])), "a box is 4 numbers"),
        (Prompt(2, 1, mask=np.zeros((32, 96), bool)), "has shape (32, 96), expected (64, 96)"),
        (Prompt(2, 1, mask=np.zeros((64, 96), bool)), "the mask prompt is empty"),
        (Prompt(2, 1), "has no points, box or mask"),
    ],
)
def test_bad_prompts_raise_prompt_error(frames, factory, segmenter, prompt, message):
    s = _session(frames, factory, segmenter)
    with pytest.raises(PromptError) as err:
        s.add_prompt(prompt)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert s.objects == {} and segmenter.predict_calls == 0


def test_other_user_errors(video, frames, factory):
    s = _session(frames, factory)
    with pytest.raises(PromptError, match="need a segmenter"):
        s.add_prompt(Prompt(0, 1, points=click(video, 0, 1)))
    with pytest.raises(PromptError, match=r"unknown object id 4 \(known objects: none\)"):
        s.remove_object(4)
    with pytest.raises(ConfigError, match="unknown direction 'sideways'"):
        s.propagate("sideways")
    with pytest.raises(ConfigError):
        RunOptions(direction="up")


def test_remove_object_forgets_it(video, frames, factory):
    s = _session(frames, factory)
    s.add_prompt(Prompt(0, 1, mask=video.mask(0, 1)))
    s.add_prompt(Prompt(0, 2, mask=video.mask(0, 2)))
    s.remove_object(2)
    assert list(s.objects) == [1]
    assert {o for r in s.propagate() for o in r.object_ids} == {1}


def test_propagation_is_lazy(video, frames, factory):
    s = _session(frames, factory)
    s.add_prompt(Prompt(0, 1, mask=video.mask(0, 1)))
    frames.decoded = 0
    gen = s.propagate()
    assert frames.decoded == 0
    assert [r.frame for r in itertools.islice(gen, 3)] == [0, 1, 2]
    assert frames.decoded <= 4
    # An interrupted propagation is redone in full next time.
    gen.close()
    assert len(list(s.propagate())) == T


def test_real_refiner_wiring(video, frames):
    """With tam_core.refinement.Refiner: every refined result was amended into the
    tracker on that frame, and histories start at the keyframe."""
    from tam_core.refinement import Refiner
    from tests.doubles import ColorSegmenter, ColorTrackerFactory

    seg = ColorSegmenter()
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={6})
    s = TrackingSession(frames, factory, seg, refiner=Refiner(seg), options=RunOptions(direction="forward"))
    s.add_prompt(Prompt(0, 1, mask=video.mask(0, 1)))
    s.add_prompt(Prompt(0, 2, mask=video.mask(0, 2)))
    results = list(s.propagate())
    refined = [(r.frame, tuple(sorted(r.refined))) for r in results if r.refined]
    assert refined and factory.amended() == refined
    assert all(r.quality[o] == 1.0 for r in results[:6] for o in (1, 2))  # healthy before the damage
    assert min(r.quality[1] for r in results[6:8]) < 0.5  # the damage is scored
