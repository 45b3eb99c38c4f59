"""SAM 2.1 as the tracking engine in FiftyOne, end to end on random weights
(tiny SAM + a tiny SAM 2.1 in the official Hugging Face layout): a track, then
a correction that re-tracks only its span; the engine is in the sample's run
record and chosen in the App from the form or the plugin settings."""

from __future__ import annotations

import numpy as np
import pytest

from plugin.fiftyone import api, settings
from tam_core.models import ModelOptions, load_models
from tam_core.options import RunOptions
from tests.fiftyone.helpers import add_click, new_dataset, output_masks
from tests.real_engine import write_checkpoints

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from tam_core.trackers.sam2.tiny import save_tiny

    root = tmp_path_factory.mktemp("weights")
    sam, _ = write_checkpoints(root)
    folder = save_tiny(root / "sam2", num_maskmem=3, max_object_pointers_in_encoder=4)
    opts = ModelOptions(sam_type="tiny", sam_checkpoint=sam, tracker="sam2:test_tiny", tracker_checkpoint=folder,
                        device="cpu")
    return opts, load_models(opts)


@pytest.mark.slow
def test_track_then_correct_with_sam2_rewrites_only_the_corrected_span(engine, tmp_path):
    opts, models = engine
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    add_click(sample, video, 1, 2)
    add_click(sample, video, 2, 6)
    run = RunOptions(refine=False)
    (report,) = api.track(ds, models=models, model_options=opts, options=run)
    first = output_masks(sample)
    assert set(first) == {(o, t) for o in (1, 2) for t in range(12)}  # direction both: every frame, both objects
    sample.reload()
    record = sample["tam_tracks_job"]
    assert "sam2:test_tiny" in str(record)  # the engine is in the run record

    add_click(sample, video, 1, 9)  # a correction of object 1 on frame 9: keyframes 2 and 9
    api.correct(ds, models=models, model_options=opts, options=run)
    second = output_masks(sample)
    assert set(second) == set(first)
    span = set(range((2 + 9) // 2 + 1, 12))  # object 1's frames now tracked from frame 9 (nearest keyframe)
    for (oid, t), mask in first.items():
        if oid == 1 and t in span:
            continue
        assert np.array_equal(second[(oid, t)], mask), (oid, t)  # outside the span: byte-equal


def test_the_app_offers_the_engines_and_takes_the_choice_from_form_or_settings(tmp_path):
    choices, chosen = settings.tracker_menu("xmem")
    assert chosen == "xmem:s012" and "sam2:hiera_tiny" in choices and "sam2:hiera_large" in choices
    assert not any("test_tiny" in c for c in choices)  # test-only types are hidden
    defaults = settings.ModelSettings(tracker="sam2:hiera_small")
    assert settings.model_options({}, defaults).tracker == "sam2:hiera_small"
    assert settings.model_options({"tracker": "sam2"}, settings.ModelSettings()).tracker == "sam2:hiera_tiny"
    folder = tmp_path / "mine"
    opts = settings.model_options({"tracker": "sam2:hiera_base_plus", "tracker_checkpoint": str(folder)},
                                  settings.ModelSettings())
    assert (opts.tracker, str(opts.tracker_checkpoint)) == ("sam2:hiera_base_plus", str(folder))
