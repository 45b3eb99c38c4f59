"""A FiftyOne correction encodes only the keyframes that changed: the stored
masks of unchanged keyframes are reused, and the result equals a full re-run."""

from __future__ import annotations

import numpy as np

from plugin.fiftyone import api
from tam_core.options import RunOptions
from tests.fiftyone.helpers import add_click, iou, new_dataset, output_masks
from tests.fiftyone.providers import color_models

KEYFRAMES = (0, 3, 6, 9)


def _encodes(models) -> int:
    seg = models.segmenter
    return seg.embed_calls + getattr(seg, "set_image_calls", 0)  # images SAM encoded, either API


def test_a_correction_encodes_only_the_changed_keyframe_and_equals_a_full_rerun(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    for t in KEYFRAMES:
        add_click(sample, video, 1, t)
    first = color_models(None)
    api.track(ds, models=first, options=RunOptions(direction="both"))
    assert _encodes(first) == len(KEYFRAMES)
    # the click on frame 6 moves onto object 2: one changed keyframe of four
    add_click(sample, video, 2, 6, field="tmp")
    sample.reload()
    kps = sample.frames[7]["tam_prompts"]
    kps.keypoints[0].points = sample.frames[7]["tmp"].keypoints[0].points
    sample.save()
    models = color_models(None)
    (rep,) = api.correct(ds, models=models, options=RunOptions(direction="both"))
    assert rep.report is not None
    assert _encodes(models) == 1
    corrected = output_masks(sample)
    # a full re-run from the same prompts into a fresh field
    api.track(ds, label_field="fresh", models=color_models(None), options=RunOptions(direction="both"))
    fresh = output_masks(sample, "fresh")
    assert set(corrected) == set(fresh)
    assert all(np.array_equal(corrected[k], fresh[k]) for k in fresh)
    assert iou(fresh[(1, 6)], video.mask(6, 2)) > 0.8 > iou(fresh[(1, 6)], video.mask(6, 1))  # the change took effect
