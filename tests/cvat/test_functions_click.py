"""The SAM click function against cvat-sdk's interaction protocol, driven by
cvat-cli's own agent driver code (its worker jobs, called in this process)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest_functions import color_models, inside, pil, real_checkpoints, video, worker  # noqa: F401 - fixtures
from cvat_sdk.masks import decode_mask, encode_mask as sdk_encode_mask
from plugin.cvat import functions_click
from tam_core.errors import ConfigError, PromptError

interaction = pytest.importorskip("cvat_cli._internal.agent_driver_interaction")


def prompts(pos=(), neg=(), box=None):
    return interaction._InteractionPromptsImpl(pos_points=tuple(pos), neg_points=tuple(neg), bounding_box=box)


def decoded(shape, video):
    h, w = video.size
    return decode_mask(shape.points, image_width=w, image_height=h)


def test_spec_is_what_cvat_cli_registers_and_accepts(color_models):
    fn = functions_click.create()
    driver_cls = interaction.AgentInteractionFunctionDriver
    fields = driver_cls.get_remote_function_fields(fn.spec)
    assert fields == {"min_pos_points": 1, "min_neg_points": 0, "startswith_box_optional": True}
    # the function as the server stores it after create-native (negatives allowed, box optional)
    remote = {"min_pos_points": 1, "min_neg_points": 0, "startswith_box": False, "startswith_box_optional": True}
    driver_cls(None, None, fn.spec).validate_function_compatibility(remote)
    assert color_models.BUILT == []  # create() and the spec load no model


def test_clicks_through_the_agent_driver_give_exact_masks_and_reuse_the_embedding(color_models, worker, video):
    worker(functions_click.create())
    key = (7, 3, ())  # the driver's cache key: (task, frame, roi)
    shapes = interaction._worker_job_interact(key, pil(video.frames[3]), prompts(pos=[inside(video, 3, 1)]))
    assert [s.type for s in shapes] == ["mask"]
    np.testing.assert_array_equal(decoded(shapes[0], video), video.mask(3, 1))
    assert shapes[0].points == sdk_encode_mask(video.mask(3, 1))  # our codec == cvat-sdk's on this mask
    assert [(a.spec_id, a.value) for a in shapes[0].attributes] == [(0, "0.9500")]  # CONFIDENCE = SAM's IoU

    # the next click on the same frame comes from the agent's cache: no new embedding
    again = interaction._worker_job_interact_from_cache(key, prompts(pos=[inside(video, 3, 2)], neg=[inside(video, 3, 1)]))
    np.testing.assert_array_equal(decoded(again[0], video), video.mask(3, 2))
    segmenter = color_models.BUILT[-1].segmenter
    assert segmenter.embed_calls == 1
    assert [c["key"] for c in segmenter.calls] == ["embedding", "embedding"]  # never the segmenter's own current image
    np.testing.assert_array_equal(segmenter.calls[-1]["point_labels"], [1, 0])
    assert len(color_models.BUILT) == 1  # one model load for the worker's life


def test_prompts_reach_sam_in_pixels_with_the_box_ordered(color_models, worker, video):
    fn = worker(functions_click.create())
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


def test_an_empty_answer_is_no_shape(color_models, worker, video):
    fn = worker(functions_click.create())
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

    expected = seg.predict(points=np.array([[x, y]]), point_labels=np.array([1]), multimask=True,
                           embedding=seg.embed(video.frames[2])).mask
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
