"""Base classifiers for 28x28 / 32x32 inputs, split after their head.

The head (two 3x3 convs with ReLU, the second with stride 2, no normalisation) is what
the device runs in int8; the tail (residual or inverted-residual blocks with batch
norm, global pooling, a linear classifier) runs on the edge.
"""

from __future__ import annotations

import torch
from torch import nn

HEAD_CHANNELS = (16, 32)


def make_head(in_channels: int, channels: tuple[int, int] = HEAD_CHANNELS) -> nn.Sequential:
    """conv3x3 in->c0 s1 p1, ReLU, conv3x3 c0->c1 s2 p1, ReLU: the split point is its output."""
    c0, c1 = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c0, 3, 1, 1),
        nn.ReLU(),
        nn.Conv2d(c0, c1, 3, 2, 1),
        nn.ReLU(),
    )


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN, identity or 1x1 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, stride: int = 1, expand: int = 4) -> None:
        super().__init__()
        hid = cin * expand
        self.body = nn.Sequential(
            nn.Conv2d(cin, hid, 1, bias=False),
            nn.BatchNorm2d(hid),
            nn.ReLU6(),
            nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False),
            nn.BatchNorm2d(hid),
            nn.ReLU6(),
            nn.Conv2d(hid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def make_tail(kind: str, cin: int, num_classes: int) -> nn.Sequential:
    """The edge part of the base model, from the split features to the logits."""
    if kind == "resnet":
        blocks: list[nn.Module] = [BasicBlock(cin, 32), BasicBlock(32, 64, 2)]
        width = 64
    elif kind == "mobilenetv2":
        blocks = [
            InvertedResidual(cin, 32),
            InvertedResidual(32, 64, 2),
            InvertedResidual(64, 64),
            nn.Conv2d(64, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU6(),
        ]
        width = 128
    else:
        raise ValueError(f"unknown base architecture {kind!r} (resnet, mobilenetv2)")
    return nn.Sequential(
        *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)
    )


class BaseClassifier(nn.Module):
    """The original, unsplit model: `tail(head(x))`."""

    def __init__(self, kind: str, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.kind = kind
        self.head = make_head(in_channels)
        self.tail = make_tail(kind, HEAD_CHANNELS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.head(x))


def build_base(kind: str, in_channels: int, num_classes: int) -> BaseClassifier:
    return BaseClassifier(kind, in_channels, num_classes)
