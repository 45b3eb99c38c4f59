"""The Winograd prototype of benchmarks/cpu_alternatives.py computes the 3x3 convolution it is timed against."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.bench.test_davis import _load

alt = _load("cpu_alternatives")


@pytest.mark.parametrize("shape", [(2, 8, 6, 10), (1, 5, 7, 9)])  # even and odd sizes (padded tiles)
def test_winograd_equals_the_direct_convolution(shape):
    torch.manual_seed(0)
    n, c, h, w = shape
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(6, c, 3, 3), torch.randn(6)
    expected = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    got = alt.winograd_conv(x, alt.winograd_weights(weight), bias)
    assert got.shape == (n, 6, h, w)
    torch.testing.assert_close(got.double(), expected, atol=1e-4, rtol=1e-4)
