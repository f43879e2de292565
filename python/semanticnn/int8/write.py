"""Writing a model file (docs/model-format.md) from the dataclasses of `layers`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from semanticnn.fsutil import write_bytes_atomic
from semanticnn.int8.layers import (
    FORMAT,
    FORMAT_VERSION,
    FORMAT_VERSION_SYMMETRIC,
    Add,
    Conv2d,
    DepthwiseConv2d,
    Head,
    Input,
    Layer,
    ModelError,
    Pool2d,
    out_dim,
    pads,
)


def _pair(x: Sequence[int] | int, name: str) -> tuple[int, int]:
    if isinstance(x, int | np.integer):
        return int(x), int(x)
    t = tuple(int(v) for v in x)
    if len(t) != 2:
        raise ModelError(f"{name} must be an int or a pair, got {x!r}")
    return t[0], t[1]


def _layer_json(
    i: int,
    layer: Layer,
    shapes: list[tuple[int, int, int]],
    zps: list[int],
    tensors: dict[str, np.ndarray],
) -> dict[str, Any]:
    """The graph entry of layer `i`; checks it and records its output shape/zero point."""
    default_inputs: tuple[int, ...] = (i,)
    inputs = tuple(layer.inputs) if layer.inputs is not None else default_inputs
    for t in inputs:
        if not 0 <= t <= i:
            raise ModelError(f"layers[{i}].inputs: tensor {t} is not an earlier tensor")
    h, w, c = shapes[inputs[0]]
    entry: dict[str, Any] = {"inputs": list(inputs)}
    if isinstance(layer, Conv2d | DepthwiseConv2d):
        wt = np.asarray(layer.weight)
        if wt.dtype != np.int8:
            raise ModelError(f"layers[{i}].weight must be int8, got {wt.dtype}")
        if isinstance(layer, DepthwiseConv2d):
            if wt.ndim != 3:
                raise ModelError(f"layers[{i}].weight must be (kh, kw, Cout), got {wt.shape}")
            kh, kw, cout = wt.shape
            dm = int(layer.depth_multiplier)
            if cout != c * dm:
                raise ModelError(
                    f"layers[{i}].weight: Cout {cout} != Cin {c} * depth_multiplier {dm}"
                )
            entry.update(op="depthwise_conv2d", depth_multiplier=dm)
        else:
            if wt.ndim != 4 or wt.shape[3] != c:
                raise ModelError(f"layers[{i}].weight must be (Cout, kh, kw, {c}), got {wt.shape}")
            cout, kh, kw, _ = wt.shape
            entry.update(op="conv2d")
        stride = _pair(layer.stride, "stride")
        for name in ("bias", "multiplier", "shift"):
            arr = np.asarray(getattr(layer, name))
            if arr.dtype != np.int32 or arr.shape != (cout,):
                raise ModelError(
                    f"layers[{i}].{name} must be int32 ({cout},), got {arr.dtype} {arr.shape}"
                )
            tensors[f"layers.{i}.{name}"] = np.ascontiguousarray(arr)
        tensors[f"layers.{i}.weight"] = np.ascontiguousarray(wt)
        out_zp, scale = layer.output.zero_point, layer.output.scale
        kernel = (kh, kw)
    elif isinstance(layer, Pool2d):
        if layer.kind not in ("avg", "max"):
            raise ModelError(f"layers[{i}].kind must be 'avg' or 'max', got {layer.kind!r}")
        entry.update(op=f"{layer.kind}_pool2d")
        kernel = _pair(layer.kernel, "kernel")
        stride = _pair(layer.stride, "stride")
        cout, out_zp, scale = c, zps[inputs[0]], layer.scale
    elif isinstance(layer, Add):
        if len(inputs) != 2 or shapes[inputs[1]] != (h, w, c):
            raise ModelError(f"layers[{i}]: add needs two inputs of the same shape")
        entry.update(
            op="add",
            left_shift=int(layer.left_shift),
            input_multipliers=[int(v) for v in layer.input_multipliers],
            input_shifts=[int(v) for v in layer.input_shifts],
            multiplier=int(layer.multiplier),
            shift=int(layer.shift),
        )
        cout, out_zp, scale = c, layer.output.zero_point, layer.output.scale
        shape = (h, w, c)
    else:
        raise ModelError(f"layers[{i}] has unknown type {type(layer).__name__}")
    if not isinstance(layer, Add):
        if len(inputs) != 1:
            raise ModelError(f"layers[{i}] takes exactly one input")
        try:
            top, bottom, left, right = pads(layer)
        except ModelError as e:
            raise ModelError(f"layers[{i}].{e}") from None
        symmetric = (top, left) == (bottom, right)
        padding = [top, left] if symmetric else [top, bottom, left, right]
        entry.update(kernel=list(kernel), stride=list(stride), padding=padding)
        shape = (
            out_dim(h, kernel[0], stride[0], (top, bottom)),
            out_dim(w, kernel[1], stride[1], (left, right)),
            cout,
        )
        if shape[0] < 1 or shape[1] < 1:
            raise ModelError(f"layers[{i}]: window larger than the padded input {h}x{w}")
    entry.update(
        output={"shape": list(shape), "zero_point": int(out_zp), "scale": float(scale)},
        act_min=int(layer.act_min),
        act_max=int(layer.act_max),
    )
    shapes.append(shape)
    zps.append(int(out_zp))
    return entry


def write_model(
    path: str | os.PathLike[str], input: Input, layers: Sequence[Layer], head: Head
) -> None:
    """Write a `semanticnn-int8` model file (docs/model-format.md) atomically.

    `input` describes the uint8 HWC image; `layers` run in order (tensor 0 is
    the input, tensor i+1 the output of layers[i]); `head` quantizes the last
    tensor. Raises `ModelError` for an inconsistent description; every range
    rule of the format is checked again by the loaders.
    """
    from safetensors.numpy import save

    shapes: list[tuple[int, int, int]] = [tuple(int(d) for d in input.shape)]  # type: ignore[list-item]
    if len(shapes[0]) != 3:
        raise ModelError(f"input.shape must be (H, W, C), got {input.shape!r}")
    zps = [int(input.zero_point)]
    tensors: dict[str, np.ndarray] = {}
    graph_layers = [_layer_json(i, layer, shapes, zps, tensors) for i, layer in enumerate(layers)]
    centers = np.asarray(head.centers)
    if centers.dtype != np.int32 or centers.ndim != 1:
        raise ModelError(
            f"head.centers must be a 1-D int32 array, got {centers.dtype} {centers.shape}"
        )
    tensors["head.centers"] = np.ascontiguousarray(centers)
    graph = {
        "input": {
            "shape": list(shapes[0]),
            "zero_point": int(input.zero_point),
            "scale": float(input.scale),
        },
        "layers": graph_layers,
        "head": {
            "levels": len(centers),
            "frac_bits": int(head.frac_bits),
            "power_norm": bool(head.power_norm),
            "gray": bool(head.gray),
        },
    }
    # Older readers read a file whose paddings are all [ph, pw].
    per_side = any(len(e.get("padding", ())) == 4 for e in graph_layers)
    version = FORMAT_VERSION if per_side else FORMAT_VERSION_SYMMETRIC
    metadata = {"format": FORMAT, "format_version": version, "graph": json.dumps(graph)}
    data = save(tensors, metadata=metadata)
    write_bytes_atomic(path, data)
