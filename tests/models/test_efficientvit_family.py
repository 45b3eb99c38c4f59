"""EfficientViT-SAM (pip ``efficientsam``) as a segmenter family: the official
layouts are efficientsam's own, checkpoints load strictly, and the segmenter
answers as efficientsam's predictor does, statelessly, in SAM's low-res layout.
Random weights only (a tiny EfficientViT encoder; l0 where the real size matters)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from tam_core.errors import CheckpointError, PromptError
from tam_core.models import ModelOptions
from tam_core.segmenters.efficientvit import EFFICIENTVIT_SAM, INPUT_SIZES
from tam_core.segmenters.registry import parse_segmenter, segmenter_choices
from tam_core.weights import REGISTRY


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from tam_core.segmenters.efficientvit import build_efficientvit_sam

    path = tmp_path_factory.mktemp("evsam") / "efficientvit_sam_tiny.pt"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(build_efficientvit_sam("tiny").state_dict(), path)
    return path


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    from tam_core.segmenters.efficientvit import load_efficientvit_sam

    return load_efficientvit_sam("tiny", tiny_checkpoint)


def _image(seed: int, size=(60, 80)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (*size, 3), dtype=np.uint8)
    img[15:45, 20:55] = (200, 120, 40)
    return img


def test_family_is_registered_with_official_checkpoints():
    assert parse_segmenter("efficientvit_sam:l0") == ("efficientvit_sam", "l0")
    assert EFFICIENTVIT_SAM.default_type == "l0" and EFFICIENTVIT_SAM.test_types == ("tiny",)
    assert [c for c in segmenter_choices() if c.startswith("efficientvit_sam:")] == [
        "efficientvit_sam:l0", "efficientvit_sam:l1", "efficientvit_sam:l2", "efficientvit_sam:xl0",
        "efficientvit_sam:xl1"]
    ckpt = REGISTRY["efficientvit_sam_xl1"]
    assert ckpt.url == "https://huggingface.co/mit-han-lab/efficientvit-sam/resolve/main/efficientvit_sam_xl1.pt"
    assert (ckpt.family, ckpt.model_type, ckpt.license, ckpt.flag) == ("efficientvit_sam", "xl1", "Apache-2.0",
                                                                      "--sam-checkpoint")
    assert ModelOptions.for_segmenter("efficientvit_sam:l0").segmenter == "efficientvit_sam:l0"


@pytest.mark.parametrize("model_type", ["l0", "l1", "l2", "xl0", "xl1"])
def test_official_layouts_are_efficientsams_own(model_type):
    """Our builder gives exactly the keys and shapes of efficientsam's model zoo
    (what the official .pt files hold), and the input size the zoo uses."""
    from efficientsam.sam_model_zoo import create_efficientvit_sam_model

    from tam_core.segmenters.efficientvit import build_efficientvit_sam

    with torch.device("meta"):
        ours = build_efficientvit_sam(model_type)
        zoo = create_efficientvit_sam_model(f"efficientvit-sam-{model_type}", pretrained=False)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in zoo.state_dict().items()}
    assert ours.image_size == zoo.image_size == (1024, INPUT_SIZES[model_type])
    eps = {m.eps for m in ours.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm))}
    assert eps == {m.eps for m in zoo.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm))}


def test_answers_as_efficientsams_predictor(segmenter):
    """Same image, same clicks: our stateless embed/predict equal efficientsam's
    stateful predictor (preprocessing, coordinate frame, postprocessing)."""
    from efficientsam.models.efficientvit.sam import EfficientViTSamPredictor

    image = _image(1)
    points, labels = np.array([[30.0, 25.0], [70.0, 50.0]]), np.array([1, 0])
    ours = segmenter.predict(segmenter.embed(image), points=points, point_labels=labels)
    predictor = EfficientViTSamPredictor(segmenter.model)
    predictor.set_image(image)
    masks, ious, low_res = predictor.predict(points, labels, multimask_output=False)
    np.testing.assert_array_equal(ours.mask, masks[0])
    np.testing.assert_allclose(ours.low_res_logits, low_res, atol=1e-5)
    assert ours.iou == pytest.approx(float(ious[0]), abs=1e-6)
    # one click: the best of three by predicted IoU, as for SAM
    one = segmenter.predict(segmenter.embed(image), points=points[:1])
    masks, ious, _ = predictor.predict(points[:1], np.array([1]), multimask_output=True)
    np.testing.assert_array_equal(one.mask, masks[int(np.argmax(ious))])


def test_shapes_determinism_and_mask_round_trip(segmenter):
    image = _image(2)
    emb = segmenter.embed(image)
    assert tuple(emb.features.shape) == (1, 256, 64, 64) and emb.original_size == (60, 80)
    assert emb.input_size == (768, 1024)  # the prompt encoder's 1024 px frame, not the encoder's 128 px
    out = segmenter.predict(emb, box=np.array([20.0, 15.0, 55.0, 45.0]))
    assert out.mask.shape == (60, 80) and out.mask.dtype == bool and out.low_res_logits.shape == (1, 256, 256)
    again = segmenter.predict(segmenter.embed(image), box=np.array([20.0, 15.0, 55.0, 45.0]))
    np.testing.assert_array_equal(out.mask, again.mask)
    np.testing.assert_array_equal(out.low_res_logits, again.low_res_logits)
    # a mask prompt in this family's layout: the decoder's own logits and mask_to_logits both fit
    assert segmenter.low_res_size == EFFICIENTVIT_SAM.low_res_size == 256
    from_logits = segmenter.predict(emb, mask_input=out.low_res_logits)
    assert from_logits.mask.shape == (60, 80)
    mask = np.zeros((60, 80), bool)
    mask[15:45, 20:55] = True
    logits = segmenter.mask_to_logits(mask)
    np.testing.assert_array_equal(logits, EFFICIENTVIT_SAM.mask_to_logits(mask))
    assert logits.shape == (1, 256, 256) and logits[0, 0, 0] < 0 < logits[0, 80, 100]  # 60x80 -> 192x256 (+ pad)
    segmenter.predict(emb, points=np.array([[30.0, 30.0]]), mask_input=logits)
    with pytest.raises(PromptError, match=r"expected \(1, 256, 256\)"):
        segmenter.predict(emb, mask_input=np.zeros((1, 128, 128), np.float32))


def test_shared_by_threads_without_per_call_state(segmenter):
    images = [_image(s) for s in range(4)]
    click = np.array([[40.0, 30.0]])
    expected = [segmenter.predict(segmenter.embed(im), points=click).mask for im in images]
    before = {k: v for k, v in vars(segmenter).items() if k != "encoder_calls"}
    got: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        got[i] = segmenter.predict(segmenter.embed(images[i]), points=click).mask

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[i], expected[i]) for i in range(4))
    assert {k: v for k, v in vars(segmenter).items() if k != "encoder_calls"} == before


def test_strict_loading_refuses_a_renamed_or_missing_key(tiny_checkpoint, tmp_path):
    from tam_core.segmenters.efficientvit import load_efficientvit_sam

    state = torch.load(tiny_checkpoint, weights_only=True)
    # efficientsam's own files wrap the weights in {"state_dict": ...}: accepted
    torch.save({"state_dict": state}, tmp_path / "wrapped.pt")
    assert load_efficientvit_sam("tiny", tmp_path / "wrapped.pt").model.image_encoder is not None
    key = "image_encoder.neck.output_ops.0.op_list.0.conv.weight"
    assert key in state
    renamed = {(k.replace("output_ops", "outputs") if k == key else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pt")
    with pytest.raises(CheckpointError) as err:
        load_efficientvit_sam("tiny", tmp_path / "renamed.pt")
    message = str(err.value)
    assert "\n" not in message and "does not match the EfficientViT-SAM tiny architecture" in message
    assert "output_ops.0.op_list.0.conv.weight" in message
    missing = {k: v for k, v in state.items() if not k.startswith("mask_decoder.iou_prediction_head")}
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="EfficientViT-SAM checkpoint .* does not match") as err:
        load_efficientvit_sam("tiny", tmp_path / "missing.pt")
    assert "\n" not in str(err.value) and "iou_prediction_head" in str(err.value)
    with pytest.raises(CheckpointError, match="does not match the EfficientViT-SAM l0 architecture"):
        load_efficientvit_sam("l0", tiny_checkpoint)  # right family, wrong type


@pytest.mark.slow
def test_load_models_builds_it_from_model_options(tiny_checkpoint, tmp_path):
    from tam_core.models import load_models
    from tam_core.segmenters.efficientvit import EfficientVitSamSegmenter
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    torch.save(xmem_seeded_state_dict(1), tmp_path / "xmem.pth")
    opts = ModelOptions.for_segmenter("efficientvit_sam:tiny", sam_checkpoint=tiny_checkpoint,
                                      xmem_checkpoint=tmp_path / "xmem.pth", device="cpu")
    loaded = load_models(opts)
    assert isinstance(loaded.segmenter, EfficientVitSamSegmenter) and loaded.refiner.segmenter is loaded.segmenter
