"""Quality has one definition (tam_core.refinement.quality), computed on every
tracked frame whether or not the run refines: a run with refinement that
changed nothing reports the same numbers as a run without, and the review
queue reads that number."""

from __future__ import annotations

import numpy as np

from operators.interfaces import MemorySink
from operators.review import review_queue
from operators.track import track
from tam_core.options import RunOptions
from tam_core.refinement import RefineOptions, Refiner
from tam_core.sessions.session import TrackingSession
from tam_core.types import Prompt
from tests.doubles import ColorSegmenter, ColorTrackerFactory

DAMAGED = 6  # from this frame on the doubles' tracker loses each object's right half, probability 0.6


def _refusing_models(video):
    """Color doubles whose SAM answers are always refused (predicted IoU 0.1 <
    min_predicted_iou): refinement runs and tries, but never changes a mask."""
    seg = ColorSegmenter(iou=0.1)
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={DAMAGED})
    return seg, factory, Refiner(seg)


def _session_run(video, frames, refine: bool):
    seg, factory, refiner = _refusing_models(video)
    s = TrackingSession(frames, factory, seg, refiner=refiner, options=RunOptions(direction="forward", refine=refine))
    s.add_prompt(Prompt(0, 1, mask=video.mask(0, 1)))
    s.add_prompt(Prompt(0, 2, mask=video.mask(0, 2)))
    return list(s.propagate()), seg


def test_quality_is_the_same_with_and_without_refinement_on_unchanged_frames(video, frames):
    on, seg_on = _session_run(video, frames, refine=True)
    off, seg_off = _session_run(video, frames, refine=False)
    assert seg_on.predict_calls > 0 and seg_off.predict_calls == 0  # refinement did run (and was refused)
    assert [(r.frame, r.object_ids) for r in on] == [(r.frame, r.object_ids) for r in off]
    for a, b in zip(on, off):
        assert a.refined == frozenset() and b.refined == frozenset()
        assert all(np.array_equal(a.masks[o], b.masks[o]) for o in a.object_ids)  # byte-identical masks
        assert a.quality == b.quality, a.frame  # ... and the same quality
    # and that one number is the score: low where the tracker lost half of object 1 (under
    # the default threshold, so SAM was asked), high before
    damaged = on[DAMAGED].quality[1]
    assert damaged < RefineOptions().quality_threshold <= min(on[t].quality[1] for t in range(1, DAMAGED))


def test_the_review_queue_reads_the_same_quality_with_and_without_refinement(video, frames):
    def run(refine: bool):
        seg, factory, refiner = _refusing_models(video)
        models = type("M", (), dict(segmenter=seg, tracker_factory=factory, refiner=refiner, device="cpu"))()
        prompts = [Prompt(0, 1, mask=video.mask(0, 1)), Prompt(0, 2, mask=video.mask(0, 2))]
        return track(frames, prompts, MemorySink(), models, RunOptions(direction="forward", refine=refine))

    on, off = run(True), run(False)
    assert [(r.frame, r.object_id, r.quality) for r in on.records] == \
        [(r.frame, r.object_id, r.quality) for r in off.records]
    queue_on, queue_off = review_queue(on.records, limit=None), review_queue(off.records, limit=None)
    assert queue_on == queue_off
    flagged = {it.frame for it in queue_on if any("low quality" in why for why in it.reasons)}
    assert DAMAGED in flagged
