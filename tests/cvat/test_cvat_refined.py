"""Refined frames reach CVAT: a run whose tracker drifts uploads SAM's repaired
masks (and, with --no-refine, the drifted ones), so CVAT tests do not only
exercise runs without a refiner."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from helpers import auto_masks, click, make_task, source
from plugin.cvat import CvatOptions, track_task
from tam_core.options import RunOptions
from tam_core.refinement import RefineOptions, Refiner
from tests.doubles import ColorSegmenter, ColorTrackerFactory

DRIFT = 3  # task frame from which the tracker loses each object's right half


def _run(cvat, conn, cvat_env, refine: bool):
    tid, video = make_task(cvat)
    car = cvat.label_id(tid, "car")
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    seg = ColorSegmenter()
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={source(DRIFT)})
    models = SimpleNamespace(segmenter=seg, tracker_factory=factory, refiner=Refiner(seg))
    opts = CvatOptions(state_dir=cvat_env / f"state-{refine}",
                       run=RunOptions(batch_size=4, direction="forward", refine=refine,
                                      # the double's drift is confidently wrong: a negative probe would land on
                                      # the lost half, and the color double then refuses; clicks inside suffice
                                      refine_options=RefineOptions(max_negative_points=0)))
    track_task(conn, tid, models, opts)
    got = auto_masks(cvat, tid, video)
    frames = [f for f in range(cvat.tasks[tid].size) if video.mask(source(f), 1).any()]
    return {f: (got[(car, 0, f)], video.mask(source(f), 1)) for f in frames}, factory


def test_refined_masks_are_what_cvat_stores(cvat, conn, cvat_env):
    masks, factory = _run(cvat, conn, cvat_env, refine=True)
    assert [f for f in masks if f >= DRIFT], "the object must be on the drifting frames"
    for f, (got, truth) in masks.items():
        assert np.array_equal(got, truth), f  # SAM's repair, exactly the object
    assert factory.amended(), "the repaired masks were fed back to the tracker"


def test_without_refinement_the_drifted_masks_are_stored(cvat, conn, cvat_env):
    masks, factory = _run(cvat, conn, cvat_env, refine=False)
    drifted = [f for f, (got, truth) in masks.items() if f >= DRIFT and not np.array_equal(got, truth)]
    assert drifted and all(np.array_equal(masks[f][0], masks[f][1]) for f in masks if f < DRIFT)
    for f in drifted:
        got, truth = masks[f]
        assert got.sum() < truth.sum() and not (got & ~truth).any()  # the half it kept, nothing else
    assert not factory.amended()
