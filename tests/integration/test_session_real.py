"""TrackingSession end to end on the real engine (XMem seeded weights + tiny SAM).

Object 1 is prompted by a mask on frame 2, object 3 (which enters on frame 5)
by a click on frame 8; direction "both", refinement on for every tracked mask.
"""

from __future__ import annotations

import numpy as np
import pytest

from tam_core.models import ModelOptions, load_models
from tam_core.options import RunOptions
from tam_core.refinement import RefineOptions
from tam_core.sessions.session import TrackingSession
from tam_core.types import Prompt
from tam_core.video import open_video
from tam_core.trackers.xmem import XMemConfig

from .conftest import NUM_FRAMES, REFINE_ALWAYS, SIZE, TrackerLog, click_on, recording_factory

# Memory written only on keyframes and amended frames (mem_every beyond the
# video), never consolidated: so each memory write is visible as growth.
XMEM = XMemConfig(mem_every=1000, max_mid_term_frames=64)

# (frame, objects) in yield order, derived from the propagation rule (tam_core.sessions.spans):
# object 1 keyframe 2 owns 2..11 forward and 0..1 backward; object 3 keyframe 8
# owns 8..11 forward and 0..7 backward; keyframes are yielded by the forward pass.
EXPECTED_FIRST = (
    [(t, (1,)) for t in range(2, 8)] + [(t, (1, 3)) for t in range(8, 12)]
    + [(t, (3,)) for t in range(7, 1, -1)] + [(1, (1, 3)), (0, (1, 3))]
)
# A correction of object 1 on frame 5 owns 5..11 forward and 4 backward ((2+5)//2+1 = 4).
EXPECTED_CORRECTION = [(t, (1,)) for t in range(5, 12)] + [(4, (1,))]



@pytest.fixture(scope="module")
def models(checkpoints):
    return load_models(ModelOptions(
        sam_type="tiny", sam_checkpoint=checkpoints.sam, xmem_checkpoint=checkpoints.xmem, device="cpu"))


@pytest.fixture(scope="module")
def run(models, video):
    """One session: prompts, first propagation, a correction and its propagation."""
    log = TrackerLog(frame_of=video.index_of)
    session = TrackingSession(open_video(video.frames), recording_factory(models, log), models.segmenter,
                              models.refiner, RunOptions(direction="both", refine=True, xmem_config=XMEM,
                                                         refine_options=RefineOptions(**REFINE_ALWAYS)))
    key1 = session.add_prompt(Prompt(2, 1, mask=video.mask(2, 1)))
    x, y = click_on(video, 8, 3)
    key3 = session.add_prompt(Prompt(8, 3, points=np.array([[x, y]]), point_labels=np.array([1])))
    first = list(session.propagate())
    first_log = (list(log.steps), list(log.amends))
    log.steps.clear(), log.amends.clear()
    fix = video.mask(5, 1)
    session.add_prompt(Prompt(5, 1, mask=fix))
    second = list(session.propagate())
    again = list(session.propagate())
    return dict(session=session, key1=key1, key3=key3, first=first, first_log=first_log, fix=fix,
                second=second, second_log=(log.steps, log.amends), again=again)


def _order(results):
    return [(r.frame, r.object_ids) for r in results]


def test_every_frame_is_yielded_once_per_object_in_pass_order(run):
    assert _order(run["first"]) == EXPECTED_FIRST
    seen = sorted((r.frame, o) for r in run["first"] for o in r.object_ids)
    assert seen == sorted((t, o) for t in range(NUM_FRAMES) for o in (1, 3))


def test_masks_shapes_dtypes_quality_and_disjointness(run):
    for r in run["first"] + run["second"]:
        assert set(r.masks) == set(r.object_ids) == set(r.quality)
        assert r.refined <= set(r.object_ids)
        union = np.zeros(SIZE, np.int32)
        for o in r.object_ids:
            m = r.masks[o]
            assert m.dtype == bool and m.shape == SIZE, (r.frame, o, m.dtype, m.shape)
            assert isinstance(r.quality[o], float) and 0.0 <= r.quality[o] <= 1.0, (r.frame, o, r.quality[o])
            union += m
        # one pixel, one object: the PNG/label writers rely on it
        assert union.max() <= 1, f"frame {r.frame}: masks of {r.object_ids} overlap"


def test_keyframes_return_their_masks_exactly(run, video):
    session = run["session"]
    assert np.array_equal(run["key1"], video.mask(2, 1))  # a mask prompt is taken as is
    assert run["key3"].dtype == bool and run["key3"].shape == SIZE  # SAM's answer to the click
    by = {(r.frame, o): r for r in run["first"] for o in r.object_ids}
    assert np.array_equal(by[(2, 1)].masks[1], run["key1"]) and by[(2, 1)].quality[1] == 1.0
    assert np.array_equal(by[(8, 3)].masks[3], run["key3"])
    assert np.array_equal(session.keyframe_mask(3, 8), run["key3"])
    assert 1 not in by[(2, 1)].refined and 3 not in by[(8, 3)].refined  # keyframes are never refined
    fixed = {r.frame: r for r in run["second"]}
    assert np.array_equal(fixed[5].masks[1], run["fix"])


def test_refinement_amends_the_real_tracker_memory(run):
    steps, amends = run["first_log"]
    refined = sorted((r.frame, o) for r in run["first"] for o in r.refined)
    assert refined, "refinement never accepted a SAM mask; the test cannot check amend"
    # every refined (frame, object) was amended into a tracker, and nothing else
    assert sorted((f, o) for _, f, ids in amends for o in ids) == refined
    amended = {(no, f) for no, f, _ in amends}
    by_tracker: dict[int, list] = {}
    for s in steps:
        by_tracker.setdefault(s[0], []).append(s)
    for no, seq in by_tracker.items():
        for prev, cur in zip(seq, seq[1:]):
            _, frame, given, end, _, _ = prev
            # memory is written when the next frame is stepped: exactly for the
            # frames that got a mask (keyframe) or were amended (refinement)
            wrote = bool(given) or (no, frame) in amended
            grew = cur[5] > cur[4]
            assert grew == (wrote and not end), (no, frame, given, (no, frame) in amended, cur[4], cur[5])


def test_correction_retracks_only_its_span(run):
    assert _order(run["second"]) == EXPECTED_CORRECTION
    steps, _ = run["second_log"]
    fed = [(no, f) for no, f, *_ in steps]
    # forward from keyframe 5 to the end, backward from keyframe 5 to frame 4
    assert [f for _, f in fed] == list(range(5, 12)) + [5, 4]
    assert len({no for no, _ in fed}) == 2
    assert run["again"] == []  # nothing left to track
    assert run["session"].dirty_keyframes == frozenset()


def test_click_with_mask_prompt_on_a_non_256_sam(models, video):
    """A mask that seeds a click goes to SAM in SAM's own low-res size (32 for the tiny model)."""
    session = TrackingSession(open_video(video.frames), models.tracker_factory, models.segmenter)
    x, y = click_on(video, 0, 2)
    mask = session.add_prompt(Prompt(0, 2, points=np.array([[x, y]]), point_labels=np.array([1]),
                                     mask=video.mask(0, 2)))
    assert mask.dtype == bool and mask.shape == SIZE
    assert session.dirty_keyframes == {(2, 0)}
