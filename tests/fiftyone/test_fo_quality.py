"""FiftyOne reads the one quality: a detection's ``confidence`` (and the review
records built from it) is the same with and without refinement on frames
refinement did not change."""

from __future__ import annotations

import hashlib

import numpy as np

from plugin.fiftyone import api
from plugin.fiftyone.review import read_records
from tam_core.options import RunOptions
from tam_core.refinement import RefineOptions, Refiner
from tests.doubles import ColorSegmenter, ColorTrackerFactory
from tests.fiftyone.helpers import add_click, new_dataset
from tests.providers import ColorModels

DAMAGED = 6  # 0-based frame from which the doubles' tracker loses each object's right half


def _digest(image) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _refusing_models(video) -> ColorModels:
    """Color doubles on the decoded clip with a real Refiner whose SAM answers
    are always refused (predicted IoU 0.1): refinement runs but changes nothing."""
    index = {_digest(f): i for i, f in enumerate(video.decoded)}
    seg = ColorSegmenter(iou=0.1)
    factory = ColorTrackerFactory(frame_index_of=lambda image: index.get(_digest(image)), degrade_on={DAMAGED})
    return ColorModels(seg, factory, Refiner(seg), "cpu", None)


def _confidences(sample, field):
    sample.reload()
    return {(d.index, fn - 1): d.confidence for fn, fr in sample.frames.items()
            for d in (fr[field].detections if fr.has_field(field) and fr[field] else [])}


def test_confidence_is_the_same_quality_with_and_without_refinement(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    add_click(sample, video, 1, 0)
    add_click(sample, video, 2, 0)
    on_models = _refusing_models(video)
    api.track(ds, label_field="with_refine", models=on_models, options=RunOptions(direction="forward", refine=True))
    api.track(ds, label_field="without", models=_refusing_models(video), options=RunOptions(direction="forward",
                                                                                             refine=False))
    assert on_models.segmenter.predict_calls > 2  # the two keyframe clicks, then refinement tried SAM
    on, off = _confidences(sample, "with_refine"), _confidences(sample, "without")
    assert set(on) == set(off) == {(o, t) for o in (1, 2) for t in range(12)}
    assert on == off
    assert on[(1, DAMAGED)] < RefineOptions().quality_threshold < on[(1, DAMAGED - 1)]
    rec_on, _ = read_records(sample, "with_refine")
    rec_off, _ = read_records(sample, "without")
    assert sorted((r.frame, r.object_id, r.quality, r.refined) for r in rec_on) == \
        sorted((r.frame, r.object_id, r.quality, r.refined) for r in rec_off)
