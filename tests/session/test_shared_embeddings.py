"""Clicks and refinement share a frame's embedding within a run: a frame is
encoded for a click or for a repair, never for both, and only when a repair
will use it (issue 19: refinement at most a quarter of a CPU run)."""

from __future__ import annotations

import numpy as np

from tam_core.options import RunOptions
from tam_core.refinement import RefineOptions, Refiner
from tam_core.sessions.session import TrackingSession
from tam_core.types import Prompt
from tests.doubles import ColorSegmenter, ColorTrackerFactory

from tests.session.helpers import click


class FrameRecordingSegmenter(ColorSegmenter):
    """The color double, recording which frame (by pixels) each encode was for."""

    def __init__(self, video):
        super().__init__()
        self.video = video
        self.encoded: list[int] = []

    def embed(self, image):
        self.encoded.append(self.video.index_of(image))
        return super().embed(image)


def _session(video, frames, factory, segmenter, refine_options):
    return TrackingSession(frames, factory, segmenter=segmenter, refiner=Refiner(segmenter),
                           options=RunOptions(direction="forward", refine_options=refine_options))


def test_a_clicked_frame_is_not_encoded_again_to_refine_it(video, frames):
    seg = FrameRecordingSegmenter(video)
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={5, 10})  # weak masks there
    s = _session(video, frames, factory, seg, RefineOptions())
    s.add_prompt(Prompt(0, 1, points=click(video, 0, 1), point_labels=np.array([1])))
    s.add_prompt(Prompt(0, 2, points=click(video, 0, 2), point_labels=np.array([1])))
    s.add_prompt(Prompt(10, 1, points=click(video, 10, 1), point_labels=np.array([1])))  # object 2 is tracked here
    assert seg.encoded == [0, 10]  # the click on frame 0 encoded it once for both objects
    results = {r.frame: r for r in s.propagate()}
    assert results[5].refined and results[10].refined == {2}  # repaired on the clicked frame ...
    assert seg.encoded[:3] == [0, 10, 5]  # ... from the click's embedding (the code before issue 19 encoded 10 twice)
    assert len(seg.encoded) == len(set(seg.encoded))  # every frame at most once


def test_a_frame_is_encoded_only_when_a_repair_will_use_it(video, frames, factory):
    seg = FrameRecordingSegmenter(video)
    opts = RefineOptions()
    s = _session(video, frames, factory, seg, opts)
    s.add_prompt(Prompt(0, 1, points=click(video, 0, 1), point_labels=np.array([1])))
    results = list(s.propagate())
    weak = [r.frame for r in results if r.frame != 0 and min(r.quality.values()) < opts.quality_threshold]
    # the click's frame, then only frames with a weak mask (of a size worth repairing), each once
    assert seg.encoded[0] == 0 and set(seg.encoded[1:]) <= set(weak) and len(seg.encoded) == len(set(seg.encoded)) < 10


def test_a_refined_frame_serves_the_next_click_on_it(video, frames):
    seg = FrameRecordingSegmenter(video)
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={28})
    s = _session(video, frames, factory, seg, RefineOptions())
    s.add_prompt(Prompt(0, 1, points=click(video, 0, 1), point_labels=np.array([1])))
    assert 28 in {r.frame for r in s.propagate() if r.refined}
    encoded = list(seg.encoded)
    assert encoded[-1] == 28
    s.add_prompt(Prompt(28, 1, points=click(video, 28, 1), point_labels=np.array([1])))  # the person checks frame 28
    assert seg.encoded == encoded  # no new encode: the repair's embedding is reused
