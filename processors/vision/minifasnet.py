"""The MiniFASNet face anti-spoofing networks, written out so the weights load with strict=True.

Architecture from minivision-ai/Silent-Face-Anti-Spoofing, src/model_lib/MiniFASNet.py
(Copyright Minivision, Apache License 2.0, https://www.apache.org/licenses/LICENSE-2.0),
restated here with type hints. Module and attribute names must stay exactly as upstream:
they are the keys of the published state_dicts.
"""

from __future__ import annotations

import torch
from torch import nn

Pair = tuple[int, int]

# Channel counts kept after pruning, upstream's keep_dict.
KEEP_1_8M = [32, 32, 103, 103, 64, 13, 13, 64, 26, 26, 64, 13, 13, 64, 52, 52, 64, 231, 231,
             128, 154, 154, 128, 52, 52, 128, 26, 26, 128, 52, 52, 128, 26, 26, 128, 26, 26,
             128, 308, 308, 128, 26, 26, 128, 26, 26, 128, 512, 512]
KEEP_1_8M_ = [32, 32, 103, 103, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 231, 231,
              128, 231, 231, 128, 52, 52, 128, 26, 26, 128, 77, 77, 128, 26, 26, 128, 26, 26,
              128, 308, 308, 128, 26, 26, 128, 26, 26, 128, 512, 512]


def conv6_kernel(height: int, width: int) -> Pair:
    """Upstream get_kernel: the last depthwise kernel for an input size ((5, 5) at 80x80)."""
    return (height + 15) // 16, (width + 15) // 16


class ConvBlock(nn.Module):
    """Conv, BatchNorm, PReLU (upstream Conv_block)."""

    def __init__(self, in_c: int, out_c: int, kernel: Pair = (1, 1), stride: Pair = (1, 1),
                 padding: Pair = (0, 0), groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)
        self.prelu = nn.PReLU(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


class LinearBlock(nn.Module):
    """Conv, BatchNorm, no activation (upstream Linear_block)."""

    def __init__(self, in_c: int, out_c: int, kernel: Pair = (1, 1), stride: Pair = (1, 1),
                 padding: Pair = (0, 0), groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class SEModule(nn.Module):
    """Squeeze-and-excitation with BatchNorm (upstream SEModule)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels // reduction)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.relu(self.bn1(self.fc1(self.avg_pool(x))))
        return x * self.sigmoid(self.bn2(self.fc2(w)))


class DepthWise(nn.Module):
    """1x1 expand, depthwise conv, 1x1 project, optional residual and SE (upstream
    Depth_Wise and Depth_Wise_SE)."""

    def __init__(self, c1: Pair, c2: Pair, c3: Pair, residual: bool = False,
                 stride: Pair = (2, 2), se_reduct: int | None = None) -> None:
        super().__init__()
        self.conv = ConvBlock(c1[0], c1[1])
        self.conv_dw = ConvBlock(c2[0], c2[1], (3, 3), stride, (1, 1), groups=c2[0])
        self.project = LinearBlock(c3[0], c3[1])
        self.residual = residual
        if se_reduct is not None:
            self.se_module = SEModule(c3[1], se_reduct)
        self.has_se = se_reduct is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.conv_dw(self.conv(x)))
        if not self.residual:
            return out
        if self.has_se:
            out = self.se_module(out)
        return x + out


class Residual(nn.Module):
    """A stack of residual DepthWise blocks; with ``se`` the last one has an SE module."""

    def __init__(self, keep: list[int], start: int, num_block: int, se: bool) -> None:
        super().__init__()
        blocks = []
        for i in range(num_block):
            k = start + 3 * i
            blocks.append(DepthWise((keep[k], keep[k + 1]), (keep[k + 1], keep[k + 2]),
                                    (keep[k + 2], keep[k + 3]), residual=True, stride=(1, 1),
                                    se_reduct=4 if se and i == num_block - 1 else None))
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out


def _transition(keep: list[int], k: int) -> DepthWise:
    return DepthWise((keep[k], keep[k + 1]), (keep[k + 1], keep[k + 2]),
                     (keep[k + 2], keep[k + 3]))


class MiniFASNet(nn.Module):
    """MiniFASNet; ``se`` True gives upstream's MiniFASNetSE. Output: logits, 3 classes."""

    def __init__(self, keep: list[int], se: bool, kernel: Pair = (5, 5),
                 embedding_size: int = 128, num_classes: int = 3) -> None:
        super().__init__()
        self.conv1 = ConvBlock(3, keep[0], (3, 3), (2, 2), (1, 1))
        self.conv2_dw = ConvBlock(keep[0], keep[1], (3, 3), (1, 1), (1, 1), groups=keep[1])
        self.conv_23 = _transition(keep, 1)
        self.conv_3 = Residual(keep, 4, 4, se)
        self.conv_34 = _transition(keep, 16)
        self.conv_4 = Residual(keep, 19, 6, se)
        self.conv_45 = _transition(keep, 37)
        self.conv_5 = Residual(keep, 40, 2, se)
        self.conv_6_sep = ConvBlock(keep[46], keep[47])
        self.conv_6_dw = LinearBlock(keep[47], keep[48], kernel, groups=keep[48])
        self.linear = nn.Linear(512, embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)
        self.drop = nn.Dropout(p=0.0)  # inference only: dropout is the identity
        self.prob = nn.Linear(embedding_size, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34,
                      self.conv_4, self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
            x = stage(x)
        x = self.bn(self.linear(x.flatten(1)))
        out: torch.Tensor = self.prob(self.drop(x))
        return out


def build(model_type: str, kernel: Pair) -> MiniFASNet:
    """The network for an upstream model type name (from the weight file's name)."""
    if model_type == "MiniFASNetV1":
        return MiniFASNet(KEEP_1_8M, se=False, kernel=kernel)
    if model_type == "MiniFASNetV2":
        return MiniFASNet(KEEP_1_8M_, se=False, kernel=kernel)
    if model_type == "MiniFASNetV1SE":
        return MiniFASNet(KEEP_1_8M, se=True, kernel=kernel)
    if model_type == "MiniFASNetV2SE":
        return MiniFASNet(KEEP_1_8M_, se=True, kernel=kernel)
    raise ValueError(f"unknown MiniFASNet type {model_type!r}")
