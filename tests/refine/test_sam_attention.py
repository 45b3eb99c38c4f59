"""Our folded relative-position attention computes what segment_anything's does."""

import pytest
import torch
from segment_anything.modeling import image_encoder as ie

from tam_core.segmenters.sam import SamConfig, build_sam
from tam_core.segmenters.sam.attention import FusedRelPosAttention


@pytest.mark.parametrize("size", [(5, 5), (6, 9)])  # windowed-like and non-square grids
@pytest.mark.parametrize("use_rel_pos", [True, False])
def test_same_output_as_segment_anything(size, use_rel_pos):
    torch.manual_seed(0)
    ref = ie.Attention(32, num_heads=4, qkv_bias=True, use_rel_pos=use_rel_pos, input_size=size).eval()
    if use_rel_pos:  # zero-initialised in the package: make the bias matter
        torch.nn.init.normal_(ref.rel_pos_h, std=0.5)
        torch.nn.init.normal_(ref.rel_pos_w, std=0.5)
    fused = ie.Attention(32, num_heads=4, qkv_bias=True, use_rel_pos=use_rel_pos, input_size=size).eval()
    fused.load_state_dict(ref.state_dict())
    fused.__class__ = FusedRelPosAttention
    x = torch.randn(2, *size, 32)
    with torch.inference_mode():
        expected, got = ref(x), fused(x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        # the bias really takes part: a different bias gives a different answer
        if use_rel_pos:
            fused.rel_pos_w.mul_(2)
            assert (fused(x) - expected).abs().max() > 1e-3


def test_build_sam_uses_it_and_keeps_the_state_dict_layout():
    sam = build_sam(SamConfig.tiny())
    attns = [m for m in sam.image_encoder.modules() if isinstance(m, ie.Attention)]
    assert attns and all(type(m) is FusedRelPosAttention for m in attns)
    assert any(k.endswith("attn.rel_pos_h") for k in sam.state_dict())
