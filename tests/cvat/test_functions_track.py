"""The XMem tracking function through cvat-sdk's public tracking protocol,
called the way cvat-cli's agent calls it (functions_helpers.py); the agent
itself runs it in test_functions_agent.py."""

from __future__ import annotations

import numpy as np
import pytest

import functions_helpers
from cvat_sdk.auto_annotation import TrackableShape
from cvat_sdk.masks import decode_mask, encode_mask as sdk_encode_mask
from plugin.cvat import functions_track
from plugin.cvat.masks import polygon_to_mask
from tam_core.errors import PromptError



def mask_shape(mask):
    return TrackableShape(type="mask", points=sdk_encode_mask(mask))


def as_mask(shape, video):
    h, w = video.size
    if shape.type == "mask":
        return decode_mask(shape.points, image_width=w, image_height=h)
    return polygon_to_mask(shape.points, h, w)


def init(fn, video, frame, shapes):
    return functions_helpers.init_tracking(fn, video.frames[frame], shapes)


def track(fn, video, frame, states):
    return functions_helpers.track(fn, video.frames[frame], states, [s.shape_type for s in states])


def test_spec_is_what_cvat_cli_registers(color_models):
    """create-native sends supported_shape_types (test_functions_agent reads it back from the fake server)."""
    fn = functions_track.create()
    assert fn.spec.supported_shape_types == {"mask", "polygon"}
    assert color_models.BUILT == []


def test_mask_and_polygon_shapes_follow_their_objects_exactly(color_models, video):
    fn = functions_track.create()
    polygon = functions_track.mask_to_points("polygon", video.mask(2, 2))
    np.testing.assert_array_equal(polygon_to_mask(polygon, *video.size), video.mask(2, 2))  # the outline is exact
    states = init(fn, video, 2, [mask_shape(video.mask(2, 1)), TrackableShape(type="polygon", points=polygon)])
    for t in (3, 4, 5, 6):
        shapes = track(fn, video, t, states)
        assert [s.type for s in shapes] == ["mask", "polygon"]  # answered in the type they were drawn in
        np.testing.assert_array_equal(as_mask(shapes[0], video), video.mask(t, 1))
        np.testing.assert_array_equal(as_mask(shapes[1], video), video.mask(t, 2))
    factory = color_models.BUILT[-1].tracker_factory
    assert len(factory.trackers) == 2  # one tracker per shape
    assert [c.ids for c in factory.calls if c.kind == "step"][:2] == [(1,), (1,)]  # each seeded with its shape
    assert len(color_models.BUILT) == 1


@pytest.mark.parametrize("refine", [True, False])
def test_refinement_repairs_a_drifting_frame(color_models, video, refine):
    color_models.DEGRADE.add(4)  # the tracker loses the right half of every object from frame 4 on (honest double)
    color_models.FRAME_OF = video.index_of
    fn = functions_track.create(refine=refine)
    states = init(fn, video, 2, [mask_shape(video.mask(2, 2))])  # the rectangle: the refiner's probes all land on it
    track(fn, video, 3, states)
    got = as_mask(track(fn, video, 4, states)[0], video)
    later = as_mask(track(fn, video, 5, states)[0], video)
    factory = color_models.BUILT[-1].tracker_factory
    if refine:
        np.testing.assert_array_equal(got, video.mask(4, 2))
        np.testing.assert_array_equal(later, video.mask(5, 2))  # the amended memory keeps the repair
        assert factory.amended() == [(4, (1,))]
    else:
        assert got.sum() < 0.75 * video.mask(4, 2).sum() and not (got & ~video.mask(4, 2)).any()
        assert not (later == video.mask(5, 2)).all()  # without repair the damage persists
        assert factory.amended() == []


def test_live_trackers_are_bounded_and_a_released_shape_resumes(color_models, video):
    fn = functions_track.create(max_live_trackers=2)
    states = init(fn, video, 5, [mask_shape(video.mask(5, o)) for o in (1, 2, 3)])
    inner = states
    assert fn.live_states == 2
    image, runs = inner[0].anchor  # released: only a PNG of its last frame and that frame's mask as CVAT runs
    assert inner[0].tracker is None and isinstance(image, bytes) and runs == sdk_encode_mask(video.mask(5, 1))
    for t in (6, 7):
        shapes = track(fn, video, t, states)
        for o, shape in zip((1, 2, 3), shapes):
            np.testing.assert_array_equal(as_mask(shape, video), video.mask(t, o))
        assert fn.live_states == 2
    factory = color_models.BUILT[-1].tracker_factory
    # 3 first trackers, then every track request rebuilds the least recent one: 1, then 2, 3, 1 ...
    assert len(factory.trackers) == 3 + 3 + 3


def test_a_lost_object_is_no_shape_and_bad_input_is_refused(color_models, video):
    fn = functions_track.create()
    states = init(fn, video, 5, [mask_shape(video.mask(5, 3))])
    assert track(fn, video, 4, states) == [None]  # object 3 enters on frame 5
    with pytest.raises(PromptError, match="covers no pixel"):
        init(fn, video, 5, [TrackableShape(type="mask", points=[4, 0, 0, 1, 1])])  # a 2x2 box of background
    with pytest.raises(PromptError, match="at least 3"):
        init(fn, video, 5, [TrackableShape(type="polygon", points=[1, 1, 5, 5])])


@pytest.mark.slow  # builds and loads the real engine's weights
def test_real_xmem_answers_what_xmem_itself_tracks(real_checkpoints, video, monkeypatch):
    """The real engine (seeded XMem, refinement off): each answer is exactly the
    mask a directly driven XMemTracker gives on the same frames."""
    from tam_core.models import PROVIDER_ENV, clear_models, get_models

    monkeypatch.delenv(PROVIDER_ENV, raising=False)
    clear_models()
    fn = functions_track.create(sam_type="tiny", sam_checkpoint=str(real_checkpoints.sam),
                                xmem_checkpoint=str(real_checkpoints.xmem), device="cpu", refine=False)
    states = init(fn, video, 0, [mask_shape(video.mask(0, 1))])
    oracle = get_models(fn.params.model_options()).tracker_factory()
    oracle.step(video.frames[0], {1: video.mask(0, 1)})
    for t in (1, 2, 3):
        expected = oracle.step(video.frames[t]).hard_masks()[1]
        (shape,) = track(fn, video, t, states)
        assert expected.any()  # the seeded XMem keeps the object on these frames
        np.testing.assert_array_equal(as_mask(shape, video), expected)
    clear_models()
