"""Reading a model file into the dataclasses of `layers` (no range checks: the Rust
loader does those; this is the numpy reference's input)."""

from __future__ import annotations

import json
import os
from typing import Any

from semanticnn.int8.layers import (
    FORMAT,
    FORMAT_VERSION,
    Activation,
    Add,
    Conv2d,
    DepthwiseConv2d,
    Head,
    Input,
    Layer,
    Model,
    ModelError,
    Pool2d,
)


def read_model(path: str | os.PathLike[str]) -> Model:
    """Parse a model file into `Model` (no range checks: the numpy reference's input)."""
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="numpy") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file")
        g = json.loads(meta["graph"])
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    inp = Input(tuple(g["input"]["shape"]), g["input"]["zero_point"], g["input"]["scale"])
    layers: list[Layer] = []
    shapes = [inp.shape]
    for i, e in enumerate(g["layers"]):
        out = Activation(e["output"]["zero_point"], e["output"]["scale"])
        common: dict[str, Any] = dict(
            act_min=e["act_min"], act_max=e["act_max"], inputs=tuple(e["inputs"])
        )
        op = e["op"]
        if op in ("conv2d", "depthwise_conv2d"):
            params = {
                n: arrays[f"layers.{i}.{n}"] for n in ("weight", "bias", "multiplier", "shift")
            }
            geo: dict[str, Any] = dict(stride=tuple(e["stride"]), padding=tuple(e["padding"]))
            if op == "conv2d":
                layers.append(Conv2d(**params, output=out, **geo, **common))
            else:
                layers.append(
                    DepthwiseConv2d(
                        **params,
                        output=out,
                        **geo,
                        depth_multiplier=e["depth_multiplier"],
                        **common,
                    )
                )
        elif op in ("avg_pool2d", "max_pool2d"):
            layers.append(
                Pool2d(
                    op[:3],
                    tuple(e["kernel"]),
                    tuple(e["stride"]),
                    tuple(e["padding"]),
                    out.scale,
                    **common,
                )
            )
        elif op == "add":
            layers.append(
                Add(
                    tuple(e["inputs"]),
                    tuple(e["input_multipliers"]),
                    tuple(e["input_shifts"]),
                    e["multiplier"],
                    e["shift"],
                    out,
                    e["left_shift"],
                    e["act_min"],
                    e["act_max"],
                )
            )
        else:
            raise ModelError(f"layers[{i}]: unknown op {op!r}")
        shapes.append(tuple(e["output"]["shape"]))
    h = g["head"]
    head = Head(arrays["head.centers"], h["frac_bits"], h["power_norm"], h["gray"])
    return Model(inp, layers, head, shapes)
