"""The model zoo: base classifiers whose head (up to the split point) runs on the
device in int8 and whose tail runs on the edge.

- `tiny`: two plain convs (`architecture.default_architecture()`); split `conv2`.
- `mobilenetv2-0.35`, `mobilenetv2-0.5`: stem conv-BN-ReLU6, then inverted-residual
  blocks; split after `block1` .. `block4` (default `block3`).
- `resnet8`, `resnet18`: stem conv-BN-ReLU (+ a max pool on inputs of 64 px and more),
  then the first residual stage; split `stem` or `stage1` (default).

CIFAR-style: the stems keep the resolution (small inputs), MobileNetV2's second
block group has stride 1 as in the CIFAR variants. The architecture follows the
dataset: its channels and classes, and on inputs of 64 px and more a stride-2 max pool
after the ResNet stem.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from semanticnn.models.architecture import ConvSpec, check_model, default_architecture
from semanticnn.models.graph import Conv, Graph, Pool, basic_block, inverted_residual

# (expansion t, channels c, repeats n, stride s) of MobileNetV2, CIFAR strides.
MOBILENETV2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
MOBILENETV2_LAST = 1280
# (width, blocks) per stage of the CIFAR ResNets.
RESNETS = {
    "resnet8": ((16, 1), (32, 1), (64, 1)),
    "resnet18": ((64, 2), (128, 2), (256, 2), (512, 2)),
}
WIDTHS = {"mobilenetv2-0.35": 0.35, "mobilenetv2-0.5": 0.5}


@dataclass(frozen=True)
class ModelSpec:
    """A zoo model for one data set: what `build` makes."""

    name: str
    split: str
    in_channels: int
    size: int  # the smaller side of the input images
    num_classes: int
    tail: str = "resnet"  # `tiny` only: the edge tail

    def __post_init__(self) -> None:
        if check_model(self.name, self.split, self.tail) != self.split:
            raise ValueError(f"model {self.name}: no split point given")
        if self.size < 8:
            raise ValueError(f"images of {self.size} px are too small: the zoo needs >= 8 px")


def model_spec(
    name: str, split: str, shape: tuple[int, int, int], num_classes: int, tail: str = "resnet"
) -> ModelSpec:
    """The spec of zoo model `name` for (C, H, W) images; `split` "" = its default."""
    c, h, w = shape
    return ModelSpec(name, check_model(name, split, tail), c, min(h, w), num_classes, tail)


def _divisible(v: float, by: int = 8) -> int:
    """torchvision's `_make_divisible`: round to a multiple of `by`, never 10% down."""
    out = max(by, int(v + by / 2) // by * by)
    return out + by if out < 0.9 * v else out


def _mobilenetv2_blocks(spec: ModelSpec) -> list[tuple[int, int, int]]:
    """(expand, channels, stride) of every inverted-residual block, in order."""
    width = WIDTHS[spec.name]
    return [
        (t, _divisible(c * width), s if i == 0 else 1)
        for t, c, n, s in MOBILENETV2_BLOCKS
        for i in range(n)
    ]


def _resnet_blocks(spec: ModelSpec) -> list[tuple[int, int]]:
    """(channels, stride) of every basic block, in order."""
    return [
        (width, (1 if stage == 0 else 2) if i == 0 else 1)
        for stage, (width, n) in enumerate(RESNETS[spec.name])
        for i in range(n)
    ]


def build_head(spec: ModelSpec) -> Graph:
    """A fresh head of `spec`: the device half, up to the split point."""
    head = Graph()
    if spec.name == "tiny":
        x = 0
        for s in _tiny_convs(spec):
            conv = Conv(
                s.in_channels,
                s.out_channels,
                s.kernel,
                s.stride,
                bn=False,
                activation="relu" if s.relu else "none",
                padding=s.padding,
            )
            x = head.add(conv, x)
        return head
    if spec.name in WIDTHS:
        stem = _divisible(32 * WIDTHS[spec.name])
        x = head.add(Conv(spec.in_channels, stem, 3, activation="relu6"), 0)
        cin = stem
        for t, c, stride in _mobilenetv2_blocks(spec)[: _device_blocks(spec)]:
            x = inverted_residual(head, x, cin, c, stride, t)
            cin = c
        return head
    x = head.add(Conv(spec.in_channels, _resnet_blocks(spec)[0][0], 3), 0)
    if spec.size >= 64:
        x = head.add(Pool("max", 3, 2, 1), x)
    cin = _resnet_blocks(spec)[0][0]
    for c, stride in _resnet_blocks(spec)[: _device_blocks(spec)]:
        x = basic_block(head, x, cin, c, stride)
        cin = c
    return head


def build_tail(spec: ModelSpec, split_channels: int) -> nn.Sequential:
    """A fresh tail of `spec`: from the split features to the logits, on the edge."""
    if spec.name == "tiny":
        return _tiny_tail(spec.tail, split_channels, spec.num_classes)
    g, y, cin = Graph(), 0, split_channels
    if spec.name in WIDTHS:
        for t, c, s in _mobilenetv2_blocks(spec)[_device_blocks(spec) :]:
            y = inverted_residual(g, y, cin, c, s, t)
            cin = c
        last = Conv(cin, MOBILENETV2_LAST, 1, activation="relu6")
        return _classifier([g, last], MOBILENETV2_LAST, spec.num_classes)
    for c, s in _resnet_blocks(spec)[_device_blocks(spec) :]:
        y = basic_block(g, y, cin, c, s)
        cin = c
    return _classifier([g], cin, spec.num_classes)


def _tiny_convs(spec: ModelSpec) -> list[ConvSpec]:
    convs = default_architecture()[:2]
    convs[0] = dataclasses.replace(convs[0], in_channels=spec.in_channels)
    return convs


def _device_blocks(spec: ModelSpec) -> int:
    """Blocks of the head after its stem."""
    if spec.name in WIDTHS:
        return int(spec.split.removeprefix("block"))
    return RESNETS[spec.name][0][1] if spec.split == "stage1" else 0


def _classifier(layers: list[nn.Module], width: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)
    )


def _tiny_tail(kind: str, cin: int, num_classes: int) -> nn.Sequential:
    """The edge part of `tiny`: residual or inverted-residual blocks with batch norm."""
    g = Graph()
    if kind == "resnet":
        x = basic_block(g, 0, cin, 32)
        basic_block(g, x, 32, 64, 2)
        return _classifier([g], 64, num_classes)
    x = inverted_residual(g, 0, cin, 32, 1, 4)
    x = inverted_residual(g, x, 32, 64, 2, 4)
    inverted_residual(g, x, 64, 64, 1, 4)
    return _classifier([g, Conv(64, 128, 1, activation="relu6")], 128, num_classes)


def split_shape(head: Graph, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(C, H, W) of the head's output for (C, H, W) images."""
    with torch.no_grad():
        c, h, w = head.eval()(torch.zeros(1, *shape)).shape[1:]
    return int(c), int(h), int(w)
