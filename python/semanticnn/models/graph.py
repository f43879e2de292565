"""The device half as a graph: what the base model's head computes in float, what its
int8 twin computes in training, and what the model file stores.

A graph is a list of nodes; node `i` reads tensors by index (0 = the image, `j + 1` =
the output of node `j`) and writes tensor `i + 1`, the model format's `inputs`
(docs/model-format.md). Three float node types cover the zoo: `Conv` (dense,
depthwise or pointwise, optional batch norm, fused ReLU/ReLU6), `Add` (a residual
add, fused activation) and `Pool` (average or max). `int8_twin` maps each to its
quantization-aware module (`semanticnn.quant.layers`), node for node, so the twin of
a head has the same indices as the head, and the exporter writes them as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semanticnn.quant.layers import (
    QAdd,
    QConv2d,
    QPool2d,
    activate,
    check_activation,
    check_pool,
)


class Conv(nn.Module):
    """conv (+ batch norm) + activation; `groups == cin` makes it depthwise."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        *,
        groups: int = 1,
        bn: bool = True,
        activation: str = "relu",
        padding: int | None = None,
    ) -> None:
        super().__init__()
        check_activation(activation)
        pad = kernel // 2 if padding is None else padding
        self.conv = nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=not bn)
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return activate(self.bn(y) if self.bn is not None else y, self.activation)


class Add(nn.Module):
    """A residual add with a fused activation."""

    def __init__(self, activation: str = "none") -> None:
        super().__init__()
        self.activation = activation

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return activate(a + b, self.activation)


class Pool(nn.Module):
    """Average or max pooling."""

    def __init__(self, kind: str, kernel: int, stride: int, padding: int = 0) -> None:
        super().__init__()
        check_pool(kind)
        self.kind, self.kernel, self.stride, self.padding = kind, kernel, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max":
            return F.max_pool2d(x, self.kernel, self.stride, self.padding)
        return F.avg_pool2d(x, self.kernel, self.stride, self.padding, count_include_pad=False)


class Graph(nn.Module):
    """Nodes with their input tensors; `forward` returns the last tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes = nn.ModuleList()
        self.inputs: list[tuple[int, ...]] = []

    def add(self, node: nn.Module, *inputs: int) -> int:
        """Append `node` reading tensors `inputs`; returns the index of its output."""
        out = len(self.nodes) + 1
        if not inputs or any(not 0 <= i < out for i in inputs):
            raise ValueError(f"node {out - 1}: inputs {inputs} must name earlier tensors")
        self.nodes.append(node)
        self.inputs.append(tuple(inputs))
        return out

    @property
    def last(self) -> int:
        """The index of the graph's output tensor."""
        return len(self.nodes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensors = [x]
        for node, ins in zip(self.nodes, self.inputs, strict=True):
            tensors.append(node(*(tensors[i] for i in ins)))
        return tensors[-1]

    def channels(self, in_channels: int) -> list[int]:
        """Channels of every tensor."""
        out = [in_channels]
        for node, ins in zip(self.nodes, self.inputs, strict=True):
            conv = getattr(node, "conv", None)
            out.append(conv.out_channels if isinstance(conv, nn.Conv2d) else out[ins[0]])
        return out


def basic_block(g: Graph, x: int, cin: int, cout: int, stride: int = 1) -> int:
    """ResNet basic block: conv-BN-ReLU, conv-BN, identity or 1x1 conv-BN shortcut,
    add, ReLU."""
    h = g.add(Conv(cin, cout, 3, stride), x)
    h = g.add(Conv(cout, cout, 3, activation="none"), h)
    short = x
    if stride != 1 or cin != cout:
        short = g.add(Conv(cin, cout, 1, stride, activation="none"), x)
    return g.add(Add("relu"), h, short)


def inverted_residual(g: Graph, x: int, cin: int, cout: int, stride: int, expand: int) -> int:
    """MobileNetV2 block: 1x1 expand (when expand > 1), 3x3 depthwise, 1x1 linear
    projection, residual add when the shape allows (all ReLU6)."""
    hidden = cin * expand
    h = x
    if expand != 1:
        h = g.add(Conv(cin, hidden, 1, activation="relu6"), h)
    h = g.add(Conv(hidden, hidden, 3, stride, groups=hidden, activation="relu6"), h)
    h = g.add(Conv(hidden, cout, 1, activation="none"), h)
    if stride == 1 and cin == cout:
        h = g.add(Add("none"), h, x)
    return h


def int8_twin(graph: Graph) -> tuple[nn.ModuleList, list[tuple[int, ...]]]:
    """The quantization-aware twin of every node (copies of its weights and batch
    norm), with the same inputs."""
    twins = nn.ModuleList()
    for node in graph.nodes:
        if isinstance(node, Conv):
            bn = copy.deepcopy(node.bn) if node.bn is not None else None
            twins.append(QConv2d(copy.deepcopy(node.conv), bn, node.activation))
        elif isinstance(node, Add):
            twins.append(QAdd(node.activation))
        elif isinstance(node, Pool):
            twins.append(QPool2d(node.kind, node.kernel, node.stride, node.padding))
        else:
            raise TypeError(f"no int8 twin for {type(node).__name__}")
    return twins, list(graph.inputs)


def load_twin(twins: Sequence[nn.Module], graph: Graph) -> None:
    """Copy the graph's trained weights and batch-norm statistics into its twin."""
    for twin, node in zip(twins, graph.nodes, strict=True):
        if isinstance(node, Conv) and isinstance(twin, QConv2d):
            twin.conv.load_state_dict(node.conv.state_dict())
            if node.bn is not None and twin.bn is not None:
                twin.bn.load_state_dict(node.bn.state_dict())
