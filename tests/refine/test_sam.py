"""SamSegmenter on a tiny random-weight SAM: shapes, stateless calls, embedding cache, validation, loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tam_core.errors import CheckpointError, ConfigError, PromptError
from tam_core.segmenters.cache import EmbeddingCache
from tam_core.segmenters.sam import SamConfig, SamSegmenter, build_sam, load_sam_state, mask_to_logits

TINY = SamConfig.tiny()


@pytest.fixture(scope="module")
def tiny_sam():
    torch.manual_seed(0)
    return build_sam(TINY)


@pytest.fixture()
def seg(tiny_sam):
    return SamSegmenter(tiny_sam, device="cpu")


def _image(seed=0, h=60, w=90):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_predict_shapes_and_dtypes(seg):
    emb = seg.embed(_image())
    out = seg.predict(emb, np.array([[10.0, 20.0]]), np.array([1]))
    assert out.mask.shape == (60, 90) and out.mask.dtype == bool
    assert isinstance(out.iou, float)
    assert out.low_res_logits.shape == (1, TINY.low_res_size, TINY.low_res_size) == (1, 32, 32)
    assert out.low_res_logits.dtype == np.float32
    # every prompt kind at once, feeding the previous logits back as the mask prompt
    out2 = seg.predict(emb, np.array([[10.0, 20.0], [70.0, 40.0]]), np.array([1, 0]), box=np.array([2, 3, 80, 55]),
                       mask_input=out.low_res_logits)
    assert out2.mask.shape == (60, 90) and out2.low_res_logits.shape == (1, 32, 32)


def test_embedding_cache_encodes_once_per_key_and_is_lru_bound(seg):
    a, b, c = _image(1), _image(2), _image(3)
    cache = EmbeddingCache(2)
    e = cache.embed(seg, 0, a)
    assert cache.embed(seg, 0, a) is e and seg.encoder_calls == 1
    cache.embed(seg, 1, b)
    cache.embed(seg, 0, a)  # still cached; now most recent
    assert seg.encoder_calls == 2
    cache.embed(seg, 2, c)  # evicts key 1 (least recently used), not 0
    cache.embed(seg, 0, a)
    assert seg.encoder_calls == 3
    cache.embed(seg, 1, b)
    assert seg.encoder_calls == 4 and len(cache) == 2


def test_embedding_cache_never_answers_with_another_images_embedding(seg, tiny_sam):
    """The same key with other pixels (frame 7 of another video) or for another
    segmenter (a reloaded model) is encoded again, never served from the cache."""
    cache = EmbeddingCache(4)
    first = cache.embed(seg, 7, _image(1))
    other = cache.embed(seg, 7, _image(2))
    assert seg.encoder_calls == 2 and other is not first
    assert other.features.shape == first.features.shape and not torch.equal(other.features, first.features)
    reloaded = SamSegmenter(tiny_sam, device="cpu")
    assert cache.embed(reloaded, 7, _image(2)) is not other and reloaded.encoder_calls == 1


def test_cached_embedding_gives_identical_answers(seg):
    a, b = _image(1), _image(2)
    cache = EmbeddingCache(4)
    first = seg.predict(cache.embed(seg, 0, a), np.array([[30.0, 30.0]]), np.array([1]))
    cache.embed(seg, 1, b)
    again = seg.predict(cache.embed(seg, 0, a), np.array([[30.0, 30.0]]), np.array([1]))
    np.testing.assert_array_equal(first.mask, again.mask)
    np.testing.assert_array_equal(first.low_res_logits, again.low_res_logits)
    assert seg.encoder_calls == 2


class _FixedIous(torch.nn.Module):
    """Stands in for SAM's IoU head: predicted IoUs 0.1 (the single-mask
    output), then 0.2, 0.9, 0.5 for the three multimask candidates."""

    def forward(self, token):
        return torch.tensor([[0.1, 0.2, 0.9, 0.5]])


def test_multimask_picks_the_candidate_with_highest_predicted_iou():
    torch.manual_seed(0)
    model = build_sam(TINY)  # its own model: the IoU head is swapped below
    model.mask_decoder.iou_prediction_head = _FixedIous()
    seg = SamSegmenter(model)
    emb = seg.embed(_image())
    pts = np.array([[5.0, 5.0]])
    out = seg.predict(emb, pts, np.array([1]))
    with torch.inference_mode():  # segment_anything's own candidates for the same click
        coords = torch.as_tensor(seg._transform.apply_coords(pts, emb.original_size), dtype=torch.float)[None]
        sparse, dense = model.prompt_encoder(points=(coords, torch.tensor([[1]])), boxes=None, masks=None)
        low, _ = model.mask_decoder(image_embeddings=emb.features, image_pe=model.prompt_encoder.get_dense_pe(),
                                    sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True)
    assert out.iou == pytest.approx(0.9)
    np.testing.assert_allclose(out.low_res_logits, low[0, 1:2].numpy(), atol=1e-4)  # candidate 1 of 0..2
    # several prompts, or multimask off: SAM's single-mask output (segment_anything's advice)
    assert seg.predict(emb, np.array([[5.0, 5.0], [50.0, 5.0]]), np.array([1, 0])).iou == pytest.approx(0.1)
    assert seg.predict(emb, pts, np.array([1]), multimask=False).iou == pytest.approx(0.1)


PROMPTS = [
    dict(points=np.array([[40.0, 30.0]]), point_labels=np.array([1])),
    dict(points=np.array([[10.0, 20.0], [70.0, 40.0]]), point_labels=np.array([1, 0]), box=np.array([2, 3, 80, 55])),
    dict(box=np.array([0, 0, 90, 60])),  # the box touching the right and bottom edges
    dict(points=np.array([[90.0, 60.0]]), point_labels=np.array([1])),  # the bottom-right corner, x == W, y == H
]


@pytest.mark.parametrize("kw", PROMPTS)
def test_predict_equals_segment_anything_predictor(tiny_sam, seg, kw):
    """Our embed/predict is segment_anything's SamPredictor without its state:
    same candidates, same choice (argmax of the predicted IoUs)."""
    from segment_anything import SamPredictor

    image = _image()
    ref = SamPredictor(tiny_sam)
    ref.set_image(image)
    multimask = "box" not in kw and len(kw["points"]) == 1
    with torch.inference_mode():
        masks, ious, low = ref.predict(point_coords=kw.get("points"), point_labels=kw.get("point_labels"),
                                       box=kw.get("box"), multimask_output=multimask)
    best = int(np.argmax(ious))
    out = seg.predict(seg.embed(image), **kw)
    assert out.iou == pytest.approx(float(ious[best]), abs=1e-6)
    np.testing.assert_array_equal(out.mask, masks[best])
    np.testing.assert_allclose(out.low_res_logits, low[best : best + 1], atol=1e-5)


def test_interleaved_callers_each_get_their_own_images_masks(seg):
    """The old failure: a "current image" on the shared segmenter let one
    caller's predict run on another caller's image. Calls now carry their
    embedding: interleaving two callers changes nothing."""
    a, b = _image(1), _image(2)
    pts, lbl = np.array([[30.0, 30.0], [60.0, 10.0]]), np.array([1, 0])
    alone_a = seg.predict(seg.embed(a), pts, lbl)
    alone_b = seg.predict(seg.embed(b), pts, lbl)
    assert not np.array_equal(alone_a.low_res_logits, alone_b.low_res_logits)
    emb_a = seg.embed(a)  # caller A embeds its frame ...
    emb_b = seg.embed(b)  # ... caller B embeds another one in between ...
    on_a = seg.predict(emb_a, pts, lbl)  # ... and A still prompts its own image
    on_b = seg.predict(emb_b, pts, lbl)
    np.testing.assert_array_equal(on_a.low_res_logits, alone_a.low_res_logits)
    np.testing.assert_array_equal(on_b.low_res_logits, alone_b.low_res_logits)
    assert not hasattr(seg, "set_image")
    state = {k for k, v in vars(seg).items() if not k.startswith("__")}
    assert state == {"device", "model", "_transform", "autocast_dtype", "_count_lock", "encoder_calls"}


def test_embedding_of_another_size_is_checked_against_its_own_image(seg):
    seg.embed(_image(h=60, w=90))
    tall = seg.embed(_image(h=120, w=40))
    out = seg.predict(tall, np.array([[39.0, 110.0]]), np.array([1]))  # outside a 90x60 image
    assert out.mask.shape == (120, 40)
    with pytest.raises(PromptError, match="outside the 40x120 frame"):
        seg.predict(tall, np.array([[60.0, 10.0]]), np.array([1]))
    with pytest.raises(PromptError, match="must be a SamEmbedding"):
        seg.predict(np.zeros((1, 32, 8, 8)), np.array([[5.0, 5.0]]), np.array([1]))


def test_no_writes_to_segment_anything_private_state():
    """Nothing assigns SamPredictor's state (features, is_image_set,
    original_size, input_size): the old embedding switch did exactly that."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    write = re.compile(r"^[\w., ]*\.(features|is_image_set|original_size|input_size)\b[\w., ]*=(?!=)", re.M)
    assert write.search("pred.features, pred.original_size, pred.input_size = e.features, e.size, e.inp")
    assert write.search("        pred.is_image_set = True") and not write.search("if emb.original_size == size:")
    assert not write.search("out = decoder(image_embeddings=emb.features, image_pe=pe)")
    for path in [*(root / "tam_core").rglob("*.py"), *(root / "plugin").rglob("*.py")]:
        text = path.read_text()
        assert not write.search(text), f"{path}: {write.search(text).group(0)}"
        assert "SamPredictor(" not in text, f"{path} builds a SamPredictor (use SamSegmenter.embed/predict)"


@pytest.mark.parametrize("kw", [
    dict(points=np.array([[90.5, 5.0]]), point_labels=np.array([1])),  # beyond x == W
    dict(points=np.array([[5.0, -1.0]]), point_labels=np.array([0])),
    dict(points=np.array([[5.0, 5.0]]), point_labels=np.array([2])),
    dict(points=np.array([[5.0, 60.5]]), point_labels=np.array([1])),  # beyond y == H
    dict(point_labels=np.array([1])),
    dict(points=np.array([[5.0, 5.0], [6, 6]]), point_labels=np.array([1])),
    dict(box=np.array([0, 0, 91, 10])),
    dict(box=np.array([10, 10, 5, 20])),
    dict(mask_input=np.zeros((1, 256, 256), np.float32)),  # wrong size for the tiny model
    dict(),
])
def test_invalid_prompts_raise_prompt_error(seg, kw):
    emb = seg.embed(_image())
    with pytest.raises(PromptError):
        seg.predict(emb, **kw)


def test_embed_rejects_non_rgb(seg):
    with pytest.raises(PromptError):
        seg.embed(np.zeros((10, 10), np.uint8))
    with pytest.raises(PromptError):
        seg.embed(np.zeros((10, 10, 3), np.float32))


def test_mask_to_logits_geometry():
    mask = np.zeros((60, 120), bool)
    mask[:, :60] = True  # left half
    lg = mask_to_logits(mask, 32)
    assert lg.shape == (1, 32, 32) and lg.dtype == np.float32
    # 60x120 -> 16x32 (longest side 32), padded below with background
    assert (lg[0, :16, :15] > 7).all() and (lg[0, :16, 17:] < -7).all()
    assert (lg[0, 16:] == -8).all()


def test_official_presets_match_segment_anything_exactly():
    from segment_anything import sam_model_registry

    for name in ("vit_b", "vit_l", "vit_h"):
        with torch.device("meta"):  # shapes only: no memory, no time
            ours = build_sam(SamConfig.preset(name)).state_dict()
            theirs = sam_model_registry[name]().state_dict()
        assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    with pytest.raises(ConfigError):
        SamConfig.preset("vit_x")


def test_strict_load_roundtrip(tiny_sam, tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(tiny_sam.state_dict(), path)
    torch.manual_seed(1)
    other = build_sam(TINY)
    load_sam_state(other, path, "tiny SAM")
    for k, v in tiny_sam.state_dict().items():
        assert torch.equal(v, other.state_dict()[k]), k


def test_checkpoint_errors(tiny_sam, tmp_path):
    good = tmp_path / "tiny.pth"
    torch.save(tiny_sam.state_dict(), good)
    target = build_sam(TINY)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_sam_state(target, tmp_path / "missing.pth", "SAM vit_b")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pth.*SAM vit_b"):
        load_sam_state(target, truncated, "SAM vit_b")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_sam_state(target, garbage, "SAM vit_b")
    # a different architecture (tiny with a deeper encoder): strict load refuses
    deeper = build_sam(SamConfig(**{**TINY.__dict__, "encoder_depth": 3}))
    with pytest.raises(CheckpointError, match=r"tiny\.pth.*does not match the SAM vit_h"):
        load_sam_state(deeper, good, "SAM vit_h")
    msg = ""
    try:
        load_sam_state(deeper, good, "SAM vit_h")
    except CheckpointError as e:
        msg = str(e)
    assert "\n" not in msg


def test_load_sam_wrong_checkpoint_for_model_type(tmp_path, tiny_sam):
    from tam_core.segmenters.sam import load_sam

    path = tmp_path / "tiny.pth"
    torch.save(tiny_sam.state_dict(), path)
    with pytest.raises(CheckpointError, match="vit_b"):
        load_sam("vit_b", path, "cpu")


def test_autocast_only_on_cuda(tiny_sam):
    with pytest.raises(ConfigError):
        SamSegmenter(tiny_sam, device="cpu", autocast_dtype=torch.float16)


def test_load_sam_gives_the_saved_model(tmp_path, tiny_sam, monkeypatch):
    """load_sam builds on the meta device and takes the file's weights: same answers."""
    from tam_core.segmenters.sam import load_sam

    path = tmp_path / "tiny.pth"
    torch.save(tiny_sam.state_dict(), path)
    monkeypatch.setattr(SamConfig, "preset", classmethod(lambda cls, name: cls.tiny()))
    loaded = load_sam("vit_b", path, "cpu")
    assert not any(t.is_meta for t in [*loaded.model.parameters(), *loaded.model.buffers()])
    ref = SamSegmenter(tiny_sam, device="cpu")
    img = _image(4)
    outs = []
    for seg in (ref, loaded):
        outs.append(seg.predict(seg.embed(img), np.array([[30.0, 20.0], [5.0, 5.0]]), np.array([1, 0])))
    np.testing.assert_allclose(outs[0].low_res_logits, outs[1].low_res_logits, rtol=1e-5, atol=1e-5)
    assert outs[0].iou == pytest.approx(outs[1].iou, abs=1e-5)
