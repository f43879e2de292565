"""The device part of SemanticNN: the base model's head, a compressor, power
normalization and the soft quantizer, run as int8 in training exactly as on the device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from semanticnn import _core, int8
from semanticnn.int8.layers import Head
from semanticnn.int8.params import fixed_point_centers
from semanticnn.models.graph import Conv, Graph, int8_twin, load_twin
from semanticnn.models.zoo import ModelSpec, build_head
from semanticnn.quant import PowerNorm, SoftQuantizer
from semanticnn.quant.integer import head_symbols
from semanticnn.quant.layers import (
    INPUT_SCALE,
    INPUT_ZERO_POINT,
    QAdd,
    QConv2d,
    QPool2d,
    QTensor,
    quantize_image,
)

# The compressor: stride-2 3x3 convs of this width, then a 1x1 conv to the latent.
COMPRESSOR_WIDTH = 32
# It halves the split features until they are at most this many pixels high (smaller
# ones keep their size: an 8x8x3 latent is already 72 bytes at 3 bits).
LATENT_SIZE = 8
DEFAULT_LATENT_CHANNELS = 3


def compressor(
    graph: Graph, split: tuple[int, int, int], latent_channels: int
) -> tuple[int, int, int]:
    """Append the compressor to `graph`: as many stride-2 convs + ReLU as bring the
    split features' height to <= LATENT_SIZE, then a 1x1 conv to the latent; returns
    the latent's (C, H, W)."""
    c, h, w = split
    x = graph.last
    for _ in range(max(0, math.ceil(math.log2(h / LATENT_SIZE)))):
        x = graph.add(Conv(c, COMPRESSOR_WIDTH, 3, 2, bn=False), x)
        c = COMPRESSOR_WIDTH
        h, w = (_core.conv_output_size(n, 3, 2, 1) for n in (h, w))
    graph.add(Conv(c, latent_channels, 1, bn=False, activation="none"), x)
    return latent_channels, h, w


class SemanticEncoder(nn.Module):
    """The int8 device part: the head (frozen, from the base model), the compressor,
    power norm and the soft quantizer.

    With `qat` on, every node runs as its quantization-aware twin (exact integer
    forward, straight-through gradient, `semanticnn.quant.layers`) and the symbols come
    from the integer head of docs/model-format.md, so they equal what the exported
    model computes. Without, the same graph runs in float.
    """

    FRAC_BITS = 12

    def __init__(
        self,
        spec: ModelSpec,
        split: tuple[int, int, int],
        latent_channels: int | None = None,
        levels: int = 8,
        power_norm: bool = False,
        qat: bool = True,
    ) -> None:
        super().__init__()
        graph = build_head(spec)  # fresh modules; `load_head` copies the trained ones
        self.head_nodes = len(graph.nodes)
        self.latent_shape = compressor(graph, split, latent_channels or DEFAULT_LATENT_CHANNELS)
        self.qat = qat
        self.nodes, self.inputs = int8_twin(graph) if qat else (graph.nodes, graph.inputs)
        self.use_power_norm = power_norm
        self.power_norm: nn.Module = PowerNorm() if power_norm else nn.Identity()
        self.quantizer = SoftQuantizer(levels)

    @property
    def latent_channels(self) -> int:
        return self.latent_shape[0]

    def load_head(self, head: Graph) -> None:
        """Copy the base model's trained head (weights, batch-norm statistics)."""
        mine = list(self.nodes)[: self.head_nodes]
        if self.qat:
            load_twin(mine, head)
        else:
            for node, trained in zip(mine, head.nodes, strict=True):
                node.load_state_dict(trained.state_dict())

    def head_parameters(self) -> list[nn.Parameter]:
        return [p for n in list(self.nodes)[: self.head_nodes] for p in n.parameters()]

    def compressor_parameters(self) -> list[nn.Parameter]:
        return [p for n in list(self.nodes)[self.head_nodes :] for p in n.parameters()]

    def int_centers(self, latent_scale: float) -> torch.Tensor:
        """The centers (int64, strictly increasing) in the fixed-point domain of the
        integer head, on the quantizer's device."""
        c = self.quantizer.sorted_centers().detach()
        ints = fixed_point_centers(
            c.double().cpu().numpy(), self.FRAC_BITS, self.use_power_norm, latent_scale
        )
        return torch.from_numpy(ints.astype(np.int64)).to(c.device)

    def int_head(self, latent_scale: float) -> Head:
        """The integer head of the model file (what `int_symbols` computes)."""
        centers = self.int_centers(latent_scale).cpu().numpy().astype(np.int32)
        return Head(centers, self.FRAC_BITS, self.use_power_norm, False)

    def latent_int(self, x: torch.Tensor) -> QTensor:
        """The int8 path: the latent as an int8 tensor."""
        tensors = [quantize_image(x)]
        for node, ins in zip(self.nodes, self.inputs, strict=True):
            tensors.append(node(*(tensors[i] for i in ins)))
        return tensors[-1]

    def int_symbols(self, latent: QTensor) -> torch.Tensor:
        """Symbols (B, C, H, W) of an int8 latent by the integer head, on its device."""
        centers = self.int_centers(latent.scale).to(latent.q.device)
        return head_symbols(
            latent.q.detach(), latent.zero_point, centers, self.FRAC_BITS, self.use_power_norm
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantized latent values with the SQ gradient, symbols (B, C, H, W))."""
        if not self.qat:
            tensors = [x]
            for node, ins in zip(self.nodes, self.inputs, strict=True):
                tensors.append(node(*(tensors[i] for i in ins)))
            return self.quantizer(self.power_norm(tensors[-1]))
        latent = self.latent_int(x)
        return self.quantizer(self.power_norm(latent.value), symbols=self.int_symbols(latent))

    def int8_model(self) -> tuple[list[int8.Layer], Head]:
        """The model file's layers (with their `inputs`) and head: what the device runs."""
        if not self.qat:
            raise ValueError("the encoder was trained without QAT: it has no int8 model")
        quant = [(INPUT_SCALE, INPUT_ZERO_POINT)]
        layers: list[int8.Layer] = []
        for node, ins in zip(self.nodes, self.inputs, strict=True):
            assert isinstance(node, QConv2d | QAdd | QPool2d), "a twin graph holds twins"
            layer: int8.Layer
            if isinstance(node, QAdd):
                layer = node.int8_layer(quant[ins[0]], quant[ins[1]], (ins[0], ins[1]))
            else:
                layer = node.int8_layer(quant[ins[0]], ins)
            layers.append(layer)
            if isinstance(layer, int8.Pool2d):
                quant.append(quant[ins[0]])
            else:
                quant.append((layer.output.scale, layer.output.zero_point))
        return layers, self.int_head(quant[-1][0])
