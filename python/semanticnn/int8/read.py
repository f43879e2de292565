"""Reading a model file into the dataclasses of `layers` (the numpy reference's input).

The file is first loaded by the Rust core, the one validation of the format: what
this reads has passed every check, and a bad file is the same `ModelError` here.
"""

from __future__ import annotations

import json
import os
from typing import Any

from semanticnn.int8.layers import (
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
    """Parse a model file into `Model`, after the Rust loader has checked it."""
    from safetensors import safe_open

    from semanticnn.int8.encoder import Encoder

    Encoder.load(path)
    with safe_open(os.fspath(path), framework="numpy") as f:
        g = json.loads(f.metadata()["graph"])
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    # Scales are informational (the integer math never reads them, nor does the Rust
    # loader): a file without them is valid.
    inp = Input(tuple(g["input"]["shape"]), g["input"]["zero_point"], g["input"].get("scale", 1.0))
    layers: list[Layer] = []
    shapes = [inp.shape]
    for i, e in enumerate(g["layers"]):
        out = Activation(e["output"]["zero_point"], e["output"].get("scale", 1.0))
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
