"""SAM 2.1 image segmentation from transformers (``Sam2Model``) as a segmenter
family: Meta's Hub repos are declared, the official layout (the video model's
folder) loads strictly, and the segmenter answers as HF's processor + model
pipeline does, statelessly, in SAM 2.1's own low-res layout. Random weights
(HF's tiny test architecture)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tam_core.errors import CheckpointError, PromptError  # noqa: E402
from tam_core.models import ModelOptions  # noqa: E402
from tam_core.segmenters.registry import segmenter_choices  # noqa: E402
from tam_core.segmenters.sam2 import SAM2  # noqa: E402
from tam_core.weights import REGISTRY  # noqa: E402

KEY = "mask_decoder.iou_prediction_head.proj_out.weight"


def _video_config():
    """The tiny architecture as the official repos store it: a Sam2VideoModel folder."""
    from transformers import Sam2VideoConfig

    from tam_core.segmenters.sam2 import sam2_config

    image = sam2_config("tiny")
    return Sam2VideoConfig(vision_config=image.vision_config, prompt_encoder_config=image.prompt_encoder_config,
                           mask_decoder_config=image.mask_decoder_config, memory_encoder_hidden_size=32)


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory):
    from transformers import Sam2VideoModel

    folder = tmp_path_factory.mktemp("sam2") / "sam2.1-tiny"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        Sam2VideoModel(_video_config()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def segmenter(official_folder):
    from tam_core.segmenters.sam2 import load_sam2

    return load_sam2("tiny", official_folder)


def _image(seed: int) -> np.ndarray:
    img = np.random.default_rng(seed).integers(0, 60, (60, 80, 3), dtype=np.uint8)
    img[15:45, 20:55] = (200, 120, 40)
    return img


def test_family_declares_metas_hub_repos():
    assert [c for c in segmenter_choices() if c.startswith("sam2:")] == [
        "sam2:hiera_tiny", "sam2:hiera_small", "sam2:hiera_base_plus", "sam2:hiera_large"]
    ckpt = REGISTRY["sam2.1_hiera_base_plus"]
    assert (ckpt.repo_id, ckpt.on_hub, ckpt.license, ckpt.flag) == (
        "facebook/sam2.1-hiera-base-plus", True, "Apache-2.0", "--sam-checkpoint (or --tracker-checkpoint)")
    assert (SAM2.input_size, SAM2.low_res_size, SAM2.test_types) == (1024, 256, ("tiny",))
    assert ModelOptions.for_segmenter("sam2:hiera_tiny").segmenter == "sam2:hiera_tiny"


def test_official_layout_loads_every_image_weight(official_folder, segmenter):
    from transformers import Sam2VideoModel

    video = Sam2VideoModel.from_pretrained(official_folder).state_dict()
    loaded = segmenter.model.state_dict()
    assert set(loaded) < set(video)  # the memory weights are the video model's own
    assert all(torch.equal(loaded[k], video[k]) for k in loaded)


def test_strict_loading_refuses_a_renamed_or_missing_key(official_folder, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from tam_core.segmenters.sam2 import load_sam2

    for name, change in (("renamed", lambda s: s.__setitem__(KEY.replace("proj_out", "proj_output"), s.pop(KEY))),
                         ("missing", lambda s: s.pop(KEY))):
        folder = tmp_path / name
        shutil.copytree(official_folder, folder)
        state = load_file(folder / "model.safetensors")
        change(state)
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
        with pytest.raises(CheckpointError) as err:
            load_sam2("tiny", folder)
        assert "\n" not in str(err.value) and "1 missing keys" in str(err.value) and KEY in str(err.value)
    with pytest.raises(CheckpointError, match="must be a folder"):
        load_sam2("tiny", official_folder / "model.safetensors")


def test_answers_as_hfs_processor_and_model(segmenter):
    from transformers import Sam2ImageProcessor, Sam2Processor

    image = _image(1)
    points, labels = [[30.0, 25.0], [70.0, 50.0]], [1, 0]
    processor = Sam2Processor(image_processor=Sam2ImageProcessor(size={"height": 128, "width": 128}),
                              target_size=128)
    inputs = processor(images=image, input_points=[[points]], input_labels=[[labels]], return_tensors="pt")
    sizes = inputs.pop("original_sizes")
    with torch.no_grad():
        out = segmenter.model(**inputs, multimask_output=False)
    expected = processor.post_process_masks(out.pred_masks, sizes)[0][0, 0].numpy()
    ours = segmenter.predict(segmenter.embed(image), points=np.array(points), point_labels=np.array(labels))
    np.testing.assert_array_equal(ours.mask, expected)
    np.testing.assert_allclose(ours.low_res_logits, out.pred_masks[0, 0].numpy(), atol=1e-5)


def test_shapes_determinism_mask_round_trip_and_threads(segmenter):
    image = _image(2)
    emb = segmenter.embed(image)
    box = np.array([20.0, 15.0, 55.0, 45.0])
    out = segmenter.predict(emb, box=box)
    assert out.mask.shape == (60, 80) and out.mask.dtype == bool and out.low_res_logits.shape == (1, 32, 32)
    np.testing.assert_array_equal(out.low_res_logits, segmenter.predict(segmenter.embed(image), box=box).low_res_logits)
    assert segmenter.predict(emb, mask_input=out.low_res_logits).mask.shape == (60, 80)
    mask = np.zeros((60, 80), bool)
    mask[:, :40] = True  # the left half: SAM 2.1's square layout has no padding
    logits = segmenter.mask_to_logits(mask)
    assert logits.shape == (1, 32, 32) and (logits[0, :, :16] > 0).all() and (logits[0, :, 16:] < 0).all()
    assert SAM2.mask_to_logits(mask).shape == (1, 256, 256)
    segmenter.predict(emb, points=np.array([[30.0, 30.0]]), mask_input=logits)
    with pytest.raises(PromptError, match=r"expected \(1, 32, 32\)"):
        segmenter.predict(emb, mask_input=np.zeros((1, 256, 256), np.float32))
    with pytest.raises(PromptError, match="Sam2Embedding"):
        segmenter.predict(object(), points=np.array([[1.0, 1.0]]))

    images = [_image(s) for s in range(4)]
    click = np.array([[40.0, 30.0]])
    expected = [segmenter.predict(segmenter.embed(im), points=click).mask for im in images]
    before = {k: v for k, v in vars(segmenter).items() if k != "encoder_calls"}
    got = {}
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(
        i, segmenter.predict(segmenter.embed(images[i]), points=click).mask)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[i], expected[i]) for i in range(4))
    assert {k: v for k, v in vars(segmenter).items() if k != "encoder_calls"} == before


@pytest.mark.slow
def test_load_models_builds_it_from_a_local_folder(official_folder, tmp_path):
    from tam_core.models import load_models
    from tam_core.segmenters.sam2 import Sam2Segmenter
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    torch.save(xmem_seeded_state_dict(1), tmp_path / "xmem.pth")
    opts = ModelOptions.for_segmenter("sam2:tiny", sam_checkpoint=official_folder,
                                      xmem_checkpoint=tmp_path / "xmem.pth", device="cpu")
    assert isinstance(load_models(opts).segmenter, Sam2Segmenter)
