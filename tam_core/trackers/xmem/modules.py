"""Building blocks of the XMem network (Cheng & Schwing, ECCV 2022).

Module and parameter names follow the original checkpoint's state-dict layout
exactly, so ``XMem-s012.pth`` loads with a strict key check. Per-object tensors
are laid out as ``[n, C, h, w]`` (objects on the batch axis); tensors shared by
all objects (image features) as ``[1, C, h, w]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (inference only)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return _cl(weight.detach()), bias.detach().contiguous()


def _cl(weight: torch.Tensor) -> torch.Tensor:
    """A convolution weight in channels-last order (what oneDNN convolves fastest on CPU)."""
    return weight.contiguous(memory_format=torch.channels_last)


class Fusable(nn.Module):
    """A module that can precompute inference-only weights (BatchNorm folded
    into convolutions, weight splits); ``unfuse`` drops them (e.g. after
    loading new weights)."""

    _fused: tuple | None = None

    def fuse(self) -> None:
        raise NotImplementedError

    def unfuse(self) -> None:
        self._fused = None


# --- ResNet pieces (key encoder: ResNet-50 bottlenecks; value encoder: ResNet-18 basic blocks)


class Bottleneck(Fusable):
    """torchvision v1.5 bottleneck (stride on the 3x3 conv)."""

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def fuse(self) -> None:
        ds = fold_bn(self.downsample[0], self.downsample[1]) if self.downsample is not None else None
        self._fused = (fold_bn(self.conv1, self.bn1), fold_bn(self.conv2, self.bn2), fold_bn(self.conv3, self.bn3), ds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fused is None:
            out = F.relu(self.bn1(self.conv1(x)))
            out = F.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            shortcut = x if self.downsample is None else self.downsample(x)
            return F.relu(out + shortcut)
        (w1, b1), (w2, b2), (w3, b3), ds = self._fused
        stride = self.conv2.stride
        out = F.conv2d(x, w1, b1).relu_()
        out = F.conv2d(out, w2, b2, stride=stride, padding=1).relu_()
        out = F.conv2d(out, w3, b3)
        shortcut = x if ds is None else F.conv2d(x, ds[0], ds[1], stride=stride)
        return out.add_(shortcut).relu_()


class BasicBlock(Fusable):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def fuse(self) -> None:
        ds = fold_bn(self.downsample[0], self.downsample[1]) if self.downsample is not None else None
        self._fused = (fold_bn(self.conv1, self.bn1), fold_bn(self.conv2, self.bn2), ds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fused is None:
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x if self.downsample is None else self.downsample(x)
            return F.relu(out + shortcut)
        (w1, b1), (w2, b2), ds = self._fused
        stride = self.conv1.stride
        out = F.conv2d(x, w1, b1, stride=stride, padding=1).relu_()
        out = F.conv2d(out, w2, b2, padding=1)
        shortcut = x if ds is None else F.conv2d(x, ds[0], ds[1], stride=stride)
        return out.add_(shortcut).relu_()


def _stage(block, cin: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [block(cin, width, stride)]
    cout = width * 4 if block is Bottleneck else width
    layers += [block(cout, width, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


# --- XMem's own blocks


class GroupResBlock(Fusable):
    """``conv2(relu(conv1(relu(g)))) + shortcut``; the shortcut convolves the un-ReLU'd input.

    ``forward_split`` computes the same thing for an input that is the channel
    concatenation ``[x, g]`` of a tensor ``x`` shared by all objects and a
    per-object ``g``: the convolutions are linear, so the ``x`` part is computed
    once instead of once per object (the original repeats it per object).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.downsample = conv3x3(cin, cout) if cin != cout else None
        self.conv1 = conv3x3(cin, cout)
        self.conv2 = conv3x3(cout, cout)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        shortcut = g if self.downsample is None else self.downsample(g)
        return out + shortcut

    def fuse(self, cx: int | None = None) -> None:
        """Precompute contiguous weight halves for inputs ``[x (cx channels), g]``."""
        if cx is None or self.downsample is None:
            return
        w1, wd = self.conv1.weight.detach(), self.downsample.weight.detach()
        self._fused = (cx, _cl(w1[:, :cx]), _cl(w1[:, cx:]), _cl(wd[:, :cx]), _cl(wd[:, cx:]))

    def forward_split(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        cx = x.shape[1]
        if self._fused is not None and self._fused[0] == cx:
            _, w1x, w1g, wdx, wdg = self._fused
        else:
            w1, wd = self.conv1.weight, self.downsample.weight
            w1x, w1g, wdx, wdg = w1[:, :cx], w1[:, cx:], wd[:, :cx], wd[:, cx:]
        h1 = F.conv2d(F.relu(g), w1g, self.conv1.bias, padding=1).add_(F.conv2d(F.relu(x), w1x, None, padding=1))
        sc = F.conv2d(g, wdg, self.downsample.bias, padding=1).add_(F.conv2d(x, wdx, None, padding=1))
        return self.conv2(h1.relu_()).add_(sc)


class ChannelGate(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(), nn.Linear(channels // reduction, channels)
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        att = self.mlp(y.mean(dim=(2, 3))) + self.mlp(y.amax(dim=(2, 3)))
        return y * torch.sigmoid(att)[:, :, None, None]


class _SpatialConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([y.amax(dim=1, keepdim=True), y.mean(dim=1, keepdim=True)], dim=1)
        return y * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.ChannelGate = ChannelGate(channels)
        self.SpatialGate = SpatialGate()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(y))


class FeatureFusionBlock(nn.Module):
    """Fuses a shared feature map ``x`` [1,Cx,h,w] with per-object ``g`` [n,Cg,h,w]."""

    def __init__(self, x_dim: int, g_dim: int, out_dim: int = 512):
        super().__init__()
        self.x_dim = x_dim
        self.block1 = GroupResBlock(x_dim + g_dim, out_dim)
        self.attention = CBAM(out_dim)
        self.block2 = GroupResBlock(out_dim, out_dim)

    def fuse(self) -> None:
        self.block1.fuse(self.x_dim)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        y = self.block1.forward_split(x, g)
        return self.block2(y + self.attention(y))


def gru_gate(t: torch.Tensor, h: torch.Tensor, hidden_dim: int) -> torch.Tensor:
    """GRU-like hidden update: forget, update and candidate from ``t`` [n,3*Ch,h,w]."""
    forget = torch.sigmoid(t[:, :hidden_dim])
    update = torch.sigmoid(t[:, hidden_dim : 2 * hidden_dim])
    cand = torch.tanh(t[:, 2 * hidden_dim :])
    return forget * h * (1 - update) + update * cand


class HiddenReinforcer(nn.Module):
    """Deep update of the hidden state from the value encoder's output."""

    def __init__(self, value_dim: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.transform = conv3x3(value_dim + hidden_dim, hidden_dim * 3)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return gru_gate(self.transform(torch.cat([v, h], dim=1)), h, self.hidden_dim)


class HiddenUpdater(nn.Module):
    """Decoder-side hidden update from the multi-scale decoder features."""

    def __init__(self, g_dims: tuple[int, int, int], mid_dim: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.g16_conv = nn.Conv2d(g_dims[0], mid_dim, 1)
        self.g8_conv = nn.Conv2d(g_dims[1], mid_dim, 1)
        self.g4_conv = nn.Conv2d(g_dims[2], mid_dim, 1)
        self.transform = conv3x3(mid_dim + hidden_dim, hidden_dim * 3)

    def forward(self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a = self.g16_conv(g16) + self.g8_conv(F.avg_pool2d(g8, 2)) + self.g4_conv(F.avg_pool2d(g4, 4))
        return gru_gate(self.transform(torch.cat([a, h], dim=1)), h, self.hidden_dim)


class UpsampleBlock(nn.Module):
    def __init__(self, skip_dim: int, g_in: int, g_out: int):
        super().__init__()
        self.skip_conv = conv3x3(skip_dim, g_in)
        self.out_conv = GroupResBlock(g_in, g_out)

    def forward(self, skip: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(g, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.out_conv(self.skip_conv(skip) + up)


# --- the four parts of the network


class KeyEncoder(Fusable):
    """ResNet-50 stem + first three stages -> f16, f8, f4."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.res2 = _stage(Bottleneck, 64, 64, 3, 1)
        self.layer2 = _stage(Bottleneck, 256, 128, 4, 2)
        self.layer3 = _stage(Bottleneck, 512, 256, 6, 2)

    def fuse(self) -> None:
        self._fused = fold_bn(self.conv1, self.bn1)

    def forward(self, x: torch.Tensor):
        if self._fused is None:
            x = F.relu(self.bn1(self.conv1(x)))
        else:
            x = F.conv2d(x, *self._fused, stride=2, padding=3).relu_()
        x = F.max_pool2d(x, 3, 2, 1)
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class KeyProjection(nn.Module):
    def __init__(self, in_dim: int, key_dim: int):
        super().__init__()
        self.key_proj = conv3x3(in_dim, key_dim)
        self.d_proj = conv3x3(in_dim, 1)
        self.e_proj = conv3x3(in_dim, key_dim)

    def forward(self, f16: torch.Tensor, need_shrinkage: bool, need_selection: bool):
        key = self.key_proj(f16)
        shrinkage = self.d_proj(f16) ** 2 + 1 if need_shrinkage else None
        selection = torch.sigmoid(self.e_proj(f16)) if need_selection else None
        return key, shrinkage, selection


class ValueEncoder(Fusable):
    """ResNet-18 stem + three stages over [image, mask_i, others_i], fused with f16."""

    def __init__(self, value_dim: int, hidden_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(5, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = _stage(BasicBlock, 64, 64, 2, 1)
        self.layer2 = _stage(BasicBlock, 64, 128, 2, 2)
        self.layer3 = _stage(BasicBlock, 128, 256, 2, 2)
        self.fuser = FeatureFusionBlock(1024, 256, value_dim)
        self.hidden_reinforce = HiddenReinforcer(value_dim, hidden_dim)

    def fuse(self) -> None:
        w, b = fold_bn(self.conv1, self.bn1)
        self._fused = (_cl(w[:, :3]), _cl(w[:, 3:]), b)

    def forward(self, image: torch.Tensor, f16: torch.Tensor, h: torch.Tensor, masks: torch.Tensor, deep_update: bool):
        """image [1,3,H,W], f16 [1,1024,h,w], h [n,Ch,h,w], masks [n,H,W] -> value [n,Cv,h,w], hidden."""
        n = masks.shape[0]
        others = masks.sum(dim=0, keepdim=True) - masks if n > 1 else torch.zeros_like(masks)
        both = torch.stack([masks, others], dim=1)
        # conv1 is linear: the image part is computed once and shared by all objects.
        if self._fused is None:
            w = self.conv1.weight
            x = F.conv2d(image, w[:, :3], None, stride=2, padding=3) + F.conv2d(both, w[:, 3:], None, stride=2, padding=3)
            x = self.bn1(x)
        else:
            w_img, w_mask, bias = self._fused
            x = F.conv2d(both, w_mask, None, stride=2, padding=3).add_(F.conv2d(image, w_img, bias, stride=2, padding=3))
        x = F.relu(F.max_pool2d(x, 3, 2, 1))
        g = self.layer3(self.layer2(self.layer1(x)))
        v = self.fuser(f16, g)
        if deep_update:
            h = self.hidden_reinforce(v, h)
        return v, h


class Decoder(nn.Module):
    def __init__(self, value_dim: int, hidden_dim: int):
        super().__init__()
        self.fuser = FeatureFusionBlock(1024, value_dim + hidden_dim, 512)
        self.hidden_update = HiddenUpdater((512, 256, 256 + 1), 256, hidden_dim)
        self.up_16_8 = UpsampleBlock(512, 512, 256)
        self.up_8_4 = UpsampleBlock(256, 256, 256)
        self.pred = conv3x3(256, 1)

    def forward(self, f16, f8, f4, h: torch.Tensor, readout: torch.Tensor, h_out: bool):
        """h [n,Ch,h,w], readout [n,Cv,h,w] -> (new hidden or None, logits [n,H,W])."""
        g16 = self.fuser(f16, torch.cat([readout, h], dim=1))
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = self.pred(F.relu(g4))
        new_h = self.hidden_update(g16, g8, torch.cat([g4, logits], dim=1), h) if h_out else None
        logits = F.interpolate(logits, scale_factor=4.0, mode="bilinear", align_corners=False)
        return new_h, logits[:, 0]
