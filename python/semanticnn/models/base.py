"""Base classifiers for 28x28 / 32x32 inputs, split after their head.

The head is the first `SPLIT_LAYERS` convs of `architecture.default_architecture()`
(plain convs with ReLU, no normalisation: what the device runs in int8); the tail
(residual or inverted-residual blocks with batch norm, global pooling, a linear
classifier) runs on the edge.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from semanticnn.models.architecture import ConvSpec, default_architecture

# The split point: the output of the second conv of the default architecture.
SPLIT_LAYERS = 2


def encoder_architecture(in_channels: int) -> list[ConvSpec]:
    """`default_architecture()` with the first conv reading `in_channels`."""
    arch = default_architecture()
    arch[0] = dataclasses.replace(arch[0], in_channels=in_channels)
    return arch


def make_convs(specs: list[ConvSpec]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for s in specs:
        layers.append(nn.Conv2d(s.in_channels, s.out_channels, s.kernel, s.stride, s.padding))
        if s.relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def make_head(in_channels: int) -> nn.Sequential:
    """The device part of the base model: its output is the split features."""
    return make_convs(encoder_architecture(in_channels)[:SPLIT_LAYERS])


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
        split_channels = encoder_architecture(in_channels)[SPLIT_LAYERS - 1].out_channels
        self.tail = make_tail(kind, split_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.head(x))


def build_base(kind: str, in_channels: int, num_classes: int) -> BaseClassifier:
    return BaseClassifier(kind, in_channels, num_classes)
