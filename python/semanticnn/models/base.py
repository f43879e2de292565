"""The base classifier: a zoo model (`models.zoo`) cut at its split point.

The head (a `models.graph.Graph`) is what the device runs in int8; the tail (batch
norm, global pooling, a linear classifier) runs on the edge.
"""

from __future__ import annotations

import torch
from torch import nn

from semanticnn.models.zoo import ModelSpec, build_head, build_tail


class BaseClassifier(nn.Module):
    """The original, unsplit model: `tail(head(x))`."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.head = build_head(spec)
        self.tail = build_tail(spec, self.head.channels(spec.in_channels)[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.head(x))


def build_base(spec: ModelSpec) -> BaseClassifier:
    return BaseClassifier(spec)
