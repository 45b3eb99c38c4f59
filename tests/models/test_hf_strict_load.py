"""The one strict loader of transformers models (tam_core.weights.hf_model):
official layout loads bit-exactly; a renamed, missing or reshaped weight is a
one-line CheckpointError, never a silently re-initialised layer."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from safetensors.torch import load_file, save_file  # noqa: E402

from tam_core.errors import CheckpointError  # noqa: E402
from tam_core.weights.hf_model import load_pretrained_strictly  # noqa: E402

KEY = "mask_decoder.iou_prediction_head.proj_out.weight"


@pytest.fixture
def saved(tmp_path):
    """A tiny random SamModel saved in the official Hugging Face layout."""
    from transformers import SamConfig, SamModel

    cfg = SamConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, output_channels=32,
                           image_size=64, patch_size=16, mlp_dim=64, global_attn_indexes=[1], window_size=2),
        prompt_encoder_config=dict(hidden_size=32, image_size=64, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, num_hidden_layers=1, mlp_dim=64, num_attention_heads=2,
                                 iou_head_hidden_dim=32))
    torch.manual_seed(0)
    model = SamModel(cfg)
    model.save_pretrained(tmp_path / "tiny")
    return SamModel, model, tmp_path / "tiny"


def rewrite(folder, change):
    state = load_file(folder / "model.safetensors")
    change(state)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})


def test_official_layout_loads_every_weight_exactly(saved):
    cls, model, folder = saved
    loaded = load_pretrained_strictly(cls, folder)
    assert not loaded.training
    want, got = model.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)


@pytest.mark.parametrize("change, words", [
    (lambda s: s.__setitem__(KEY.replace("weight", "wieght"), s.pop(KEY)), ["1 missing keys", "1 unexpected keys"]),
    (lambda s: s.pop(KEY), ["1 missing keys", KEY]),
    (lambda s: s.__setitem__(KEY, torch.zeros(3, 3)), ["cannot be loaded as SamModel"]),
])
def test_a_renamed_missing_or_reshaped_weight_is_refused_in_one_line(saved, change, words):
    cls, _, folder = saved
    rewrite(folder, change)
    with pytest.raises(CheckpointError) as err:
        load_pretrained_strictly(cls, folder, what="toy weights")
    text = str(err.value)
    assert "\n" not in text and text.startswith("toy weights")
    for word in words:
        assert word in text


def test_a_folder_without_config_is_refused(tmp_path):
    from transformers import SamModel

    with pytest.raises(CheckpointError, match="no config.json"):
        load_pretrained_strictly(SamModel, tmp_path)
