"""Read a layer's int8 output back from the Rust encoder, which only emits head symbols.

The head (no power norm, 0 fraction bits) maps a value to the nearest of 16 centers, so
one file reads 4 bits. Two probe files read the last tensor `q` of a graph exactly:

* high nibble: a 1x1 depthwise conv (weight 2, bias `2 (zp + 136)`, real multiplier
  1/32) makes `u = q + 136 >= 8` and rounds `u / 16` half up: `floor(q / 16) + 9`,
  in 1..=16, read by centers 1..=16;
* low nibble: the same conv negated gives `-(floor(q / 16) + 9)`; a 1x1 identity conv
  gives `q` at zero point 0; their `add` (multipliers 1 and 16, output 2**-20, all
  exact) is `q mod 16 - 144`, stored at zero point 127 and read by centers -144..-129.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from semanticnn import int8

Q30 = 1 << 30


def _zero_point(input: int8.Input, layers: Sequence[int8.Layer], t: int) -> int:
    """The zero point of tensor `t` (pooling keeps its input's)."""
    if t == 0:
        return input.zero_point
    layer = layers[t - 1]
    if isinstance(layer, int8.Pool2d):
        src = layer.inputs[0] if layer.inputs is not None else t - 1
        return _zero_point(input, layers, src)
    return layer.output.zero_point


def _dw1x1(c: int, weight: int, bias: int, shift: int, t: int) -> int8.DepthwiseConv2d:
    return int8.DepthwiseConv2d(
        np.full((1, 1, c), weight, np.int8),
        np.full(c, bias, np.int32),
        np.full(c, Q30, np.int32),
        np.full(c, shift, np.int32),
        int8.Activation(0, 1.0),
        inputs=(t,),
    )


def _head(lo: int) -> int8.Head:
    return int8.Head(np.arange(lo, lo + 16, dtype=np.int32), frac_bits=0, power_norm=False)


def _symbols(
    path: Path, input: int8.Input, layers: list[int8.Layer], head: int8.Head, px: np.ndarray
) -> np.ndarray:
    int8.write_model(path, input, layers, head)
    return int8.Encoder.load(path).encode(px)


def rust_tensor(input: int8.Input, layers: Sequence[int8.Layer], pixels: np.ndarray) -> np.ndarray:
    """The last tensor of the graph (int64 (N, H, W, C)) as the Rust core computes it
    for uint8 (N, H, W, C) `pixels`."""
    layers = list(layers)
    t = len(layers)
    zp = _zero_point(input, layers, t)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        int8.write_model(path, input, layers, _head(0))
        h, w, c = int8.read_model(path).shapes[t]
        high = _dw1x1(c, 2, 2 * (zp + 136), -4, t)
        hi = _symbols(path, input, [*layers, high], _head(1), pixels).astype(np.int64) - 8
        identity = _dw1x1(c, 2, 2 * zp, 0, t)  # q at zero point 0
        neg_high = _dw1x1(c, -2, -2 * (zp + 136), -4, t)
        add = int8.Add((t + 1, t + 2), (Q30, Q30), (1, 5), Q30, -19, int8.Activation(127, 1.0))
        lo = _symbols(path, input, [*layers, identity, neg_high, add], _head(-144), pixels)
    return (16 * hi + lo).reshape(-1, h, w, c)


def reference_tensor(
    input: int8.Input, layers: Sequence[int8.Layer], pixels: np.ndarray
) -> np.ndarray:
    """The last tensor by the numpy reference (`int8.reference_tensors`), (N, H, W, C)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        int8.write_model(path, input, layers, _head(0))
        model = int8.read_model(path)
    return np.stack([int8.reference_tensors(model, p)[-1] for p in pixels])
