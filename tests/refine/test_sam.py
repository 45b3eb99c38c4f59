"""SamSegmenter on a tiny random-weight SAM: shapes, caching, validation, loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tam_core.errors import CheckpointError, ConfigError, PromptError
from tam_core.segmenters.sam import SamConfig, SamSegmenter, build_sam, load_sam_state, mask_to_logits

TINY = SamConfig.tiny()


@pytest.fixture(scope="module")
def tiny_sam():
    torch.manual_seed(0)
    return build_sam(TINY)


@pytest.fixture()
def seg(tiny_sam):
    return SamSegmenter(tiny_sam, device="cpu", cache_size=2)


def _image(seed=0, h=60, w=90):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_predict_shapes_and_dtypes(seg):
    seg.set_image(_image(), key=0)
    out = seg.predict(np.array([[10.0, 20.0]]), np.array([1]))
    assert out.mask.shape == (60, 90) and out.mask.dtype == bool
    assert isinstance(out.iou, float)
    assert out.low_res_logits.shape == (1, TINY.low_res_size, TINY.low_res_size) == (1, 32, 32)
    assert out.low_res_logits.dtype == np.float32
    # every prompt kind at once, feeding the previous logits back as the mask prompt
    out2 = seg.predict(np.array([[10.0, 20.0], [70.0, 40.0]]), np.array([1, 0]), box=np.array([2, 3, 80, 55]),
                       mask_input=out.low_res_logits)
    assert out2.mask.shape == (60, 90) and out2.low_res_logits.shape == (1, 32, 32)


def test_embedding_computed_once_per_key_and_lru_bound(seg):
    a, b, c = _image(1), _image(2), _image(3)
    seg.set_image(a, key=0)
    seg.set_image(a, key=0)
    seg.predict(np.array([[5.0, 5.0]]), np.array([1]))
    seg.predict(np.array([[6.0, 5.0]]), np.array([1]))
    assert seg.encoder_calls == 1
    seg.set_image(b, key=1)
    seg.set_image(a, key=0)  # still cached; now most recent
    assert seg.encoder_calls == 2
    seg.set_image(c, key=2)  # evicts key 1 (least recently used), not 0
    seg.set_image(a, key=0)
    assert seg.encoder_calls == 3
    seg.set_image(b, key=1)
    assert seg.encoder_calls == 4
    # no key: never cached
    seg.set_image(a)
    seg.set_image(a)
    assert seg.encoder_calls == 6


def test_same_key_with_other_pixels_is_reencoded(seg):
    seg.set_image(_image(1), key=7)
    seg.set_image(_image(2), key=7)
    assert seg.encoder_calls == 2


def test_cached_embedding_gives_identical_answers(seg):
    a, b = _image(1), _image(2)
    seg.set_image(a, key=0)
    first = seg.predict(np.array([[30.0, 30.0]]), np.array([1]))
    seg.set_image(b, key=1)
    seg.set_image(a, key=0)
    again = seg.predict(np.array([[30.0, 30.0]]), np.array([1]))
    np.testing.assert_array_equal(first.mask, again.mask)
    np.testing.assert_allclose(first.low_res_logits, again.low_res_logits)


class _FakeDecoder(torch.nn.Module):
    """Stands in for SAM's mask decoder: three known candidates (candidate 1 is
    the top 10 rows, the others nothing) with predicted IoUs 0.2, 0.9, 0.5."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, multimask_output):
        self.calls.append(multimask_output)
        n = 3 if multimask_output else 1
        low = torch.full((1, 3, 32, 32), -5.0)
        low[0, 1, :5] = 5.0  # low-res rows 0..4 = input rows 0..19 of 85 = image rows 0..~14 of 60
        return low[:, :n], torch.tensor([[0.2, 0.9, 0.5]])[:, :n]


def test_multimask_picks_the_candidate_with_highest_predicted_iou():
    torch.manual_seed(0)
    model = build_sam(TINY)  # its own model: the decoder is swapped below
    model.mask_decoder = fake = _FakeDecoder()
    seg = SamSegmenter(model)
    seg.set_image(_image(), key=0)
    out = seg.predict(np.array([[5.0, 5.0]]), np.array([1]))
    assert fake.calls == [True] and out.iou == pytest.approx(0.9)
    assert out.low_res_logits[0, 0, 0] == 5.0 and out.low_res_logits[0, 5, 0] == -5.0  # candidate 1's logits
    assert out.mask[:13].all() and not out.mask[15:].any()
    # several prompts: SAM's single-mask output (segment_anything's advice)
    seg.predict(np.array([[5.0, 5.0], [50.0, 5.0]]), np.array([1, 0]))
    seg.predict(np.array([[5.0, 5.0]]), np.array([1]), multimask=False)
    assert fake.calls == [True, False, False]


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
    out = seg.predict(**kw, embedding=seg.embed(image))
    assert out.iou == pytest.approx(float(ious[best]), abs=1e-6)
    np.testing.assert_array_equal(out.mask, masks[best])
    np.testing.assert_allclose(out.low_res_logits, low[best : best + 1], atol=1e-5)


def test_predict_with_embedding_equals_set_image_then_predict(seg):
    a, b = _image(1), _image(2)
    emb_a = seg.embed(a)
    assert emb_a.original_size == (60, 90) and seg.encoder_calls == 1
    seg.set_image(a, key=0)
    pts, lbl = np.array([[30.0, 30.0], [60.0, 10.0]]), np.array([1, 0])
    via_current = seg.predict(pts, lbl)
    via_embedding = seg.predict(pts, lbl, embedding=emb_a)
    np.testing.assert_array_equal(via_current.mask, via_embedding.mask)
    np.testing.assert_array_equal(via_current.low_res_logits, via_embedding.low_res_logits)
    assert via_current.iou == via_embedding.iou
    # frame A's embedding prompted while frame B is the current image
    seg.set_image(b, key=1)
    on_b = seg.predict(pts, lbl)
    on_a = seg.predict(pts, lbl, embedding=emb_a)
    np.testing.assert_array_equal(on_a.low_res_logits, via_current.low_res_logits)
    assert not np.array_equal(on_b.low_res_logits, on_a.low_res_logits)
    # ... and B stays current: prompting with an embedding changes no state
    np.testing.assert_array_equal(seg.predict(pts, lbl).low_res_logits, on_b.low_res_logits)
    assert seg.encoder_calls == 3  # embed(a), set_image(a), set_image(b): embed() does not fill the cache


def test_embedding_of_another_size_is_checked_against_its_own_image(seg):
    seg.set_image(_image(h=60, w=90), key=0)
    tall = seg.embed(_image(h=120, w=40))
    out = seg.predict(np.array([[39.0, 110.0]]), np.array([1]), embedding=tall)  # outside the current 90x60 image
    assert out.mask.shape == (120, 40)
    with pytest.raises(PromptError, match="outside the 40x120 frame"):
        seg.predict(np.array([[60.0, 10.0]]), np.array([1]), embedding=tall)
    with pytest.raises(PromptError, match="must be a SamEmbedding"):
        seg.predict(np.array([[5.0, 5.0]]), np.array([1]), embedding=np.zeros((1, 32, 8, 8)))


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
    seg.set_image(_image(), key=0)
    with pytest.raises(PromptError):
        seg.predict(**kw)


def test_predict_before_set_image_is_a_clear_error(seg):
    with pytest.raises(PromptError, match="set_image.*embedding=embed"):
        seg.predict(np.array([[5.0, 5.0]]), np.array([1]))


def test_set_image_rejects_non_rgb(seg):
    with pytest.raises(PromptError):
        seg.set_image(np.zeros((10, 10), np.uint8))
    with pytest.raises(PromptError):
        seg.set_image(np.zeros((10, 10, 3), np.float32))


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
        seg.set_image(img, key=0)
        outs.append(seg.predict(np.array([[30.0, 20.0], [5.0, 5.0]]), np.array([1, 0])))
    np.testing.assert_allclose(outs[0].low_res_logits, outs[1].low_res_logits, rtol=1e-5, atol=1e-5)
    assert outs[0].iou == pytest.approx(outs[1].iou, abs=1e-5)
