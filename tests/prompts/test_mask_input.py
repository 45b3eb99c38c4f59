"""The one check of a segmenter's mask prompt (its own low-res logits), used
by every family's ``predict``."""

import numpy as np
import pytest

from tam_core.errors import PromptError
from tam_core.prompts import check_mask_input


def test_low_res_logits_pass_as_float32_1_l_l_and_a_plain_l_l_is_accepted():
    logits = np.full((256, 256), -8.0)
    out = check_mask_input(logits, 256)
    assert out.shape == (1, 256, 256) and out.dtype == np.float32 and np.all(out == -8.0)
    assert check_mask_input(None, 256) is None


def test_a_full_resolution_mask_is_refused_with_what_to_use():
    with pytest.raises(PromptError, match=r"mask_input has shape \(480, 854\), expected \(1, 256, 256\) .*mask_to_logits"):
        check_mask_input(np.zeros((480, 854), bool), 256)
