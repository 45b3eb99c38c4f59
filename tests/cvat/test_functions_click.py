"""The SAM click function through cvat-sdk's public interaction protocol, called
the way cvat-cli's agent calls it (functions_helpers.py); the agent itself
runs it in test_functions_agent.py."""

from __future__ import annotations

import numpy as np
import pytest

from functions_helpers import ClickContext, Prompts, inside, pil
from cvat_sdk.masks import decode_mask, encode_mask as sdk_encode_mask
from plugin.cvat import functions_click
from tam_core.errors import ConfigError, PromptError

prompts = Prompts


def decoded(shape, video):
    h, w = video.size
    return decode_mask(shape.points, image_width=w, image_height=h)


def test_spec_is_what_cvat_cli_registers(color_models):
    """cvat-cli's create-native turns these into min_pos_points=1, min_neg_points=0,
    startswith_box_optional."""
    fn = functions_click.create()
    spec = fn.spec
    assert (spec.min_pos_points, spec.min_neg_points, spec.min_bounding_boxes) == (1, 0, 0)  # a box is optional
    assert color_models.BUILT == []  # create() and the spec load no model


def test_clicks_give_exact_masks_and_reuse_the_embedding(color_models, video):
    fn = functions_click.create()
    pp = fn.preprocess_image(ClickContext(), pil(video.frames[3]))  # the agent caches this per (task, frame)
    shapes = fn.detect(ClickContext(), pp, prompts(pos=[inside(video, 3, 1)]))
    assert [s.type for s in shapes] == ["mask"]
    np.testing.assert_array_equal(decoded(shapes[0], video), video.mask(3, 1))
    assert shapes[0].points == sdk_encode_mask(video.mask(3, 1))  # our codec == cvat-sdk's on this mask
    assert [(a.spec_id, a.value) for a in shapes[0].attributes] == [(0, "0.9500")]  # CONFIDENCE = SAM's IoU

    # the next click on the same frame comes from the agent's cache: no new embedding
    again = fn.detect(ClickContext(), pp, prompts(pos=[inside(video, 3, 2)], neg=[inside(video, 3, 1)]))
    np.testing.assert_array_equal(decoded(again[0], video), video.mask(3, 2))
    segmenter = color_models.BUILT[-1].segmenter
    assert segmenter.embed_calls == 1 and segmenter.predict_calls == 2
    np.testing.assert_array_equal(segmenter.calls[-1]["point_labels"], [1, 0])
    assert len(color_models.BUILT) == 1  # one model load for the worker's life


def test_prompts_reach_sam_in_pixels_with_the_box_ordered(color_models, video):
    fn = functions_click.create()
    pp = fn.preprocess_image(None, pil(video.frames[0]))
    x, y = inside(video, 0, 2)
    shapes = fn.detect(None, pp, prompts(pos=[(x, y)], box=((90.0, 60.0), (40.0, 20.0))))
    call = color_models.BUILT[-1].segmenter.calls[-1]
    np.testing.assert_array_equal(call["points"], [[x, y]])
    np.testing.assert_array_equal(call["box"], [40.0, 20.0, 90.0, 60.0])
    assert call["multimask"] is True
    np.testing.assert_array_equal(decoded(shapes[0], video), video.mask(0, 2) & _box(video, 40, 20, 90, 60))


def _box(video, x0, y0, x1, y1):
    out = np.zeros(video.size, bool)
    out[y0:y1, x0:x1] = True
    return out


def test_prompt_coordinates_follow_the_closed_frame_rule():
    pts, labels, box = functions_click.prompt_arrays([(96.0, 64.0)], [(0.0, 0.0)], ((0.0, 0.0), (96.0, 64.0)), (64, 96))
    np.testing.assert_array_equal(pts, [[96, 64], [0, 0]])  # x == W, y == H: the closed frame, as everywhere
    np.testing.assert_array_equal(labels, [1, 0])
    np.testing.assert_array_equal(box, [0, 0, 96, 64])
    with pytest.raises(PromptError, match=r"click: point \(96.5, 3\) is outside the 96x64 frame"):
        functions_click.prompt_arrays([(96.5, 3.0)], [], None, (64, 96))
    with pytest.raises(PromptError, match=r"box \(5, 5, 5, 9\) must satisfy 0 <= x0 < x1"):
        functions_click.prompt_arrays([(1.0, 1.0)], [], ((5.0, 5.0), (5.0, 9.0)), (64, 96))
    pts, labels, box = functions_click.prompt_arrays([], [], ((40.0, 30.0), (2.0, 3.0)), (64, 96))
    assert pts is None and labels is None
    np.testing.assert_array_equal(box, [2, 3, 40, 30])  # corners in any order


def test_an_empty_answer_is_no_shape(color_models, video):
    fn = functions_click.create()
    pp = fn.preprocess_image(None, pil(video.frames[0]))
    p = inside(video, 0, 1)
    assert fn.detect(None, pp, prompts(pos=[p], neg=[p])) == []  # the negative click removes what the positive found


def test_bad_parameters_fail_before_any_model_loads(color_models):
    with pytest.raises(ConfigError, match="unknown function parameter 'sam'"):
        functions_click.create(sam="vit_h")
    with pytest.raises(ConfigError, match="max_live_trackers"):
        functions_click.create(max_live_trackers=0)
    with pytest.raises(ConfigError, match="unknown SAM model type"):
        functions_click.create(sam_type="vit_x")
    assert color_models.BUILT == []


@pytest.mark.slow  # builds and loads the real engine's weights
def test_real_tiny_sam_answer_is_sams_own_mask(real_checkpoints, video, monkeypatch):
    """The real engine (tiny random-weight SAM): the function returns exactly what
    SAM's public API gives for the same click, encoded as cvat-sdk encodes it."""
    from tam_core.models import PROVIDER_ENV, clear_models, get_models

    monkeypatch.delenv(PROVIDER_ENV, raising=False)
    clear_models()
    fn = functions_click.create(sam_type="tiny", sam_checkpoint=str(real_checkpoints.sam),
                                xmem_checkpoint=str(real_checkpoints.xmem), device="cpu")
    seg = get_models(fn.params.model_options()).segmenter
    before = seg.encoder_calls
    pp = fn.preprocess_image(None, pil(video.frames[2]))
    x, y = inside(video, 2, 1)
    shapes = fn.detect(None, pp, prompts(pos=[(x, y)]))
    shapes2 = fn.detect(None, pp, prompts(pos=[(x, y)], neg=[inside(video, 2, 2)]))
    assert seg.encoder_calls == before + 1  # one embedding for both prompts

    expected = seg.predict(seg.embed(video.frames[2]), points=np.array([[x, y]]), point_labels=np.array([1]),
                           multimask=True).mask
    assert expected.any()  # these seeded weights do segment something here
    np.testing.assert_array_equal(decoded(shapes[0], video), expected)
    assert shapes[0].points == sdk_encode_mask(expected)
    assert all(s.type == "mask" for s in shapes2)
    clear_models()


def test_an_sdk_without_interaction_functions_is_named(monkeypatch):
    import cvat_sdk.auto_annotation as cvataa

    from plugin.cvat.functions import require_sdk

    monkeypatch.delattr(cvataa, "TrackingFunctionSpec")
    with pytest.raises(ConfigError, match=r"cvat-sdk [0-9.]+ has no interaction/tracking functions: pip install 'cvat-sdk>=2\.42'"):
        require_sdk()
