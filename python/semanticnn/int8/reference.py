"""The encoder in plain numpy integer math, only to check the Rust path bit for bit.

Reference-only: slow and simple, nothing on a training or serving path calls it
(training runs the same integer math in torch, `semanticnn.quant.integer`).
"""

from __future__ import annotations

import math
import os
from dataclasses import replace

import numpy as np

from semanticnn.int8.layers import (
    Add,
    Conv2d,
    DepthwiseConv2d,
    Head,
    Layer,
    Model,
    ModelError,
    Pool2d,
    out_dim,
    pads,
)
from semanticnn.int8.read import read_model


def _srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Saturating rounding doubling high multiply (int64 in, int64 out)."""
    p = a * b
    nudge = np.where(p >= 0, 1 << 30, 1 - (1 << 30))
    s = p + nudge
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))  # truncating division by 2**31
    return np.where((a == -(1 << 31)) & (b == -(1 << 31)), (1 << 31) - 1, q)


def requantize(x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """TFLite/CMSIS-NN requantization of int32 values (returns int64; exact spec in the docs)."""
    x = np.asarray(x, np.int64)
    m = np.asarray(multiplier, np.int64)
    s = np.asarray(shift, np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    x1 = _wrap32(x << left)  # TFLite's int32 `x * (1 << left)` wraps
    y = _srdhm(x1, m)
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (y < 0)
    return (y >> right) + ((y & mask) > threshold)


def _wrap32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64).astype(np.int32).astype(np.int64)


def _windows(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int, int, int],
    fill: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(Ho, Wo, kh, kw, C) windows of an HWC array padded (top, bottom, left, right) with
    `fill`, and a validity mask."""
    (kh, kw), (sh, sw), (top, bottom, left, right) = kernel, stride, padding
    h, w, c = x.shape
    xp = np.full((top + h + bottom, left + w + right, c), fill, np.int64)
    xp[top : top + h, left : left + w] = x
    valid = np.zeros(xp.shape[:2], bool)
    valid[top : top + h, left : left + w] = True
    ho, wo = out_dim(h, kh, sh, (top, bottom)), out_dim(w, kw, sw, (left, right))
    oy = np.arange(ho)[:, None, None, None] * sh + np.arange(kh)[None, None, :, None]
    ox = np.arange(wo)[None, :, None, None] * sw + np.arange(kw)[None, None, None, :]
    return xp[oy, ox], valid[oy, ox]


def _run_layer(layer: Layer, xs: list[np.ndarray], zps: list[int]) -> tuple[np.ndarray, int]:
    """One layer on int64 HWC arrays; returns (output before the clamp, output zero point)."""
    inputs = layer.inputs
    assert inputs is not None
    x, zp = xs[inputs[0]], zps[inputs[0]]
    if isinstance(layer, Conv2d | DepthwiseConv2d):
        w = np.asarray(layer.weight, np.int64)
        if isinstance(layer, Conv2d):
            kernel = (w.shape[1], w.shape[2])
        else:
            kernel = (w.shape[0], w.shape[1])
        win, _ = _windows(x - zp, kernel, layer.stride, pads(layer), 0)
        if isinstance(layer, Conv2d):
            acc = np.einsum("hwyxc,oyxc->hwo", win, w)
        else:
            win = np.repeat(win, layer.depth_multiplier, axis=-1)
            acc = np.einsum("hwyxc,yxc->hwc", win, w)
        acc = _wrap32(acc + np.asarray(layer.bias, np.int64))
        out = _wrap32(requantize(acc, layer.multiplier, layer.shift) + layer.output.zero_point)
        return out, layer.output.zero_point
    if isinstance(layer, Pool2d):
        win, valid = _windows(x, layer.kernel, layer.stride, pads(layer), 0)
        v = valid[..., None]
        if layer.kind == "max":
            return np.where(v, win, -(1 << 40)).max(axis=(2, 3)), zp
        s = np.where(v, win, 0).sum(axis=(2, 3))
        n = v.sum(axis=(2, 3))
        q = (np.abs(s) + n // 2) // n
        return np.where(s >= 0, q, -q), zp
    if isinstance(layer, Add):
        x2, zp2 = xs[inputs[1]], zps[inputs[1]]
        a = requantize(
            (x - zp) << layer.left_shift, layer.input_multipliers[0], layer.input_shifts[0]
        )
        b = requantize(
            (x2 - zp2) << layer.left_shift, layer.input_multipliers[1], layer.input_shifts[1]
        )
        out = requantize(_wrap32(a + b), layer.multiplier, layer.shift)
        out = _wrap32(out + layer.output.zero_point)
        return out, layer.output.zero_point
    raise ModelError(f"unknown layer {type(layer).__name__}")


def reference_head(latent: np.ndarray, zero_point: int, head: Head) -> np.ndarray:
    """The head on one int8 latent (any shape, NHWC order): uint8 symbols."""
    v = np.asarray(latent, np.int64).reshape(-1) - zero_point
    f = int(head.frac_bits)
    if not head.power_norm:
        y = v << f
    else:
        n = v.size
        norm = math.isqrt((int(np.sum(v * v)) << 16) // n)
        if norm == 0:
            y = np.zeros_like(v)
        else:
            a = v << (f + 8)
            y = np.sign(a) * ((np.abs(a) + norm // 2) // norm)
    c = np.asarray(head.centers, np.int64)
    k = np.argmin(np.abs(y[:, None] - c[None, :]), axis=1)  # first minimum = lower index
    if head.gray:
        k = k ^ (k >> 1)
    return k.astype(np.uint8)


def reference_tensors(model: Model, image: np.ndarray) -> list[np.ndarray]:
    """Every int8 tensor (as int64 HWC arrays) of one uint8 HWC image; for tests."""
    xs = [np.asarray(image, np.int64) - 128]
    zps = [int(model.input.zero_point)]
    for i, layer in enumerate(model.layers):
        if layer.inputs is None:
            layer = replace(layer, inputs=(i,))
        out, zp = _run_layer(layer, xs, zps)
        xs.append(np.clip(out, layer.act_min, layer.act_max))
        zps.append(zp)
    return xs


def reference_encode(path: str | os.PathLike[str], images: np.ndarray) -> np.ndarray:
    """The encoder in plain numpy integer math: uint8 (N, H, W, C) -> uint8 (N, S).

    Slow and simple; it exists only to check the Rust path bit for bit.
    """
    model = read_model(path)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != model.input.shape:
        raise ValueError(
            f"images must be uint8 (N, {', '.join(map(str, model.input.shape))}), "
            f"got {images.dtype} {images.shape}"
        )
    out = np.empty((images.shape[0], model.num_symbols), np.uint8)
    last_zp = _tensor_zero_points(model)[-1]
    for n, image in enumerate(images):
        latent = reference_tensors(model, image)[-1]
        out[n] = reference_head(latent, last_zp, model.head)
    return out


def _tensor_zero_points(model: Model) -> list[int]:
    zps = [int(model.input.zero_point)]
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Pool2d):
            src = layer.inputs[0] if layer.inputs is not None else i
            zps.append(zps[src])
        else:
            zps.append(int(layer.output.zero_point))
    return zps
