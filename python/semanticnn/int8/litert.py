"""LiteRT (TFLite's interpreter) as a peer: the conformance reference and a bench row.

`run` feeds int8 images to a `.tflite` encoder with one of LiteRT's three kernel sets:

* "reference": the builtin reference kernels (`OpResolverType.BUILTIN_REF`), the
  specification every output of the Rust encoder must equal bit for bit;
* "optimized": the builtin optimized kernels, without XNNPACK;
* "xnnpack": the default path (XNNPACK delegate where it takes the ops).

The optimized kernels may round some ties differently from the reference ones:
`random_layer` and `semanticnn bench tflite` measure how often (docs/tflite.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semanticnn.int8.layers import (
    Activation,
    Add,
    Conv2d,
    DepthwiseConv2d,
    Head,
    Input,
    Layer,
    Pool2d,
    same_padding,
)
from semanticnn.int8.params import activation_range, add_multipliers, conv_multipliers
from semanticnn.int8.tflite_file import ADD_LEFT_SHIFT

KERNEL_SETS = ("reference", "optimized", "xnnpack")
OPS = ("conv2d", "pointwise", "depthwise", "depthwise_dm2", "avg_pool", "max_pool", "add")


def interpreter(tflite: bytes, kernels: str = "reference", threads: int = 1) -> Any:
    """A LiteRT interpreter of `tflite` on `kernels` (one of KERNEL_SETS), allocated."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise ImportError("LiteRT is not installed (pip install ai-edge-litert)") from None
    resolver = {
        "reference": OpResolverType.BUILTIN_REF,
        "optimized": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        "xnnpack": OpResolverType.AUTO,
    }.get(kernels)
    if resolver is None:
        raise ValueError(f"kernels must be one of {KERNEL_SETS}, got {kernels!r}")
    interp = Interpreter(
        model_content=tflite, experimental_op_resolver_type=resolver, num_threads=threads
    )
    interp.allocate_tensors()
    return interp


def run(interp: Any, images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) images (int8 `pixel - 128` on the wire, as the device feeds
    them) through `interp` as one batch: int8 (N, S) latents in NHWC order."""
    inp = interp.get_input_details()[0]
    if inp["shape"][0] != len(images):
        interp.resize_tensor_input(inp["index"], [len(images), *images.shape[1:]])
        interp.allocate_tensors()
    interp.set_tensor(inp["index"], (images.astype(np.int16) - 128).astype(np.int8))
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    return out.reshape(len(images), -1)


# ------------------------------------------------------------------------ random layers


@dataclass(frozen=True)
class LayerCase:
    """One random layer (an add reads the input and a 1x1 depthwise conv of it) with
    random images for it."""

    op: str
    input: Input
    layers: list[Layer]
    images: np.ndarray  # uint8 (N, H, W, C)

    @property
    def head(self) -> Head:
        """A head the comparison never reads (latents are compared)."""
        return Head(np.array([-4096, 4096], np.int32), 0, False, False)


def _scale(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def _geometry(
    rng: np.random.Generator,
    shape: tuple[int, int, int],
    kernel: tuple[int, int],
    explicit: bool = True,
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """(stride, pads): TFLite's SAME (odd totals included), VALID, or (with `explicit`)
    any pads below the kernel, which the export writes as a PAD op."""
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    if explicit and rng.random() < 0.25:
        sides = tuple(int(rng.integers(0, kernel[d // 2])) for d in range(4))
        if all(shape[d] + sides[2 * d] + sides[2 * d + 1] >= kernel[d] for d in (0, 1)):
            return stride, (sides[0], sides[1], sides[2], sides[3])
    if rng.random() < 0.6 or shape[0] < kernel[0] or shape[1] < kernel[1]:
        top, bottom = same_padding(shape[0], kernel[0], stride[0])
        left, right = same_padding(shape[1], kernel[1], stride[1])
        return stride, (top, bottom, left, right)
    return stride, (0, 0, 0, 0)


def _filter_scales(
    rng: np.random.Generator, cout: int, in_scale: float, out_scale: float
) -> np.ndarray:
    """Per-channel scales whose multipliers mostly spread outputs over int8, with
    some at the limits: shift -31 (and below, flushed to 0), shift +30, zero."""
    real = np.exp(rng.uniform(np.log(1e-4), np.log(1e-1), cout))
    for c in range(cout):
        if rng.random() < 0.15:
            real[c] = float(
                rng.choice(
                    [
                        2.0 ** rng.uniform(-33, -30),  # shift -31 and the flush below
                        2.0 ** rng.uniform(28, 29.9),  # shift +29, +30: overflow ahead
                        2.0 ** rng.uniform(-1, 8),  # multipliers >= 1: positive shifts
                        0.0,
                    ]
                )
            )
    return (real * out_scale / in_scale).astype(np.float32)


def _conv(
    rng: np.random.Generator, shape: tuple[int, int, int], op: str, in_scale: float
) -> Conv2d | DepthwiseConv2d:
    """A conv of `op`; "pointwise" is 1x1, "add_branch" a 1x1 depthwise of stride 1."""
    cin = shape[2]
    kernel = 1 if op in ("pointwise", "add_branch") else int(rng.integers(1, 6))
    dm = 2 if op == "depthwise_dm2" else 1
    depthwise = op.startswith("depthwise") or op == "add_branch"
    cout = cin * dm if depthwise else int(rng.integers(1, 9))
    stride, sides = _geometry(rng, shape, (kernel, kernel))
    if op == "add_branch":
        stride, sides = (1, 1), (0, 0, 0, 0)
    out_scale = _scale(rng, 1e-3, 1.0)
    zp = int(rng.integers(-128, 128))
    fs = _filter_scales(rng, cout, in_scale, out_scale)
    mult, shift = conv_multipliers(in_scale, fs, out_scale)
    big = rng.random() < 0.2  # biases that saturate the output
    bias = rng.integers(-(2**31) if big else -5000, 2**31 if big else 5000, cout, dtype=np.int64)
    act = str(rng.choice(["none", "relu", "relu6"]))
    lo, hi = activation_range(act, out_scale, zp)
    common: dict[str, Any] = dict(
        output=Activation(zp, out_scale),
        stride=stride,
        padding=sides,
        act_min=lo,
        act_max=hi,
    )
    if depthwise:
        weight = rng.integers(-127, 128, (kernel, kernel, cout), dtype=np.int8)
        return DepthwiseConv2d(
            weight, bias.astype(np.int32), mult, shift, depth_multiplier=dm, **common
        )
    weight = rng.integers(-127, 128, (cout, kernel, kernel, cin), dtype=np.int8)
    return Conv2d(weight, bias.astype(np.int32), mult, shift, **common)


def random_layer(rng: np.random.Generator, op: str, images: int = 3) -> LayerCase:
    """A random layer of `op` (one of OPS) TFLite can express, with its int8 scales,
    extreme multipliers and activations, SAME (odd totals), VALID or explicit padding."""
    shape = (int(rng.integers(1, 11)), int(rng.integers(1, 11)), int(rng.integers(1, 7)))
    inp = Input(shape, int(rng.integers(-128, 128)), _scale(rng, 1e-3, 1.0))
    layers: list[Layer]
    if op in ("conv2d", "pointwise", "depthwise", "depthwise_dm2"):
        layers = [_conv(rng, shape, op, inp.scale)]
    elif op in ("avg_pool", "max_pool"):
        kernel = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        # TFLite's average pool cannot leave explicitly padded positions uncounted.
        stride, sides = _geometry(rng, shape, kernel, explicit=op == "max_pool")
        act = str(rng.choice(["none", "relu", "relu6"]))
        lo, hi = activation_range(act, inp.scale, inp.zero_point)
        pool = Pool2d(op[:3], kernel, stride, sides, inp.scale, lo, hi)
        layers = [pool]
    elif op == "add":
        other = _conv(rng, shape, "add_branch", inp.scale)
        scales = (inp.scale, other.output.scale)
        out_scale = _scale(rng, max(scales) / 4, max(scales) * 4)
        zp = int(rng.integers(-128, 128))
        act = str(rng.choice(["none", "relu", "relu6"]))
        lo, hi = activation_range(act, out_scale, zp)
        order = (0, 1) if rng.random() < 0.5 else (1, 0)
        ordered = (scales[order[0]], scales[order[1]])
        m_in, s_in, m, s = add_multipliers(ordered, out_scale, ADD_LEFT_SHIFT)
        add = Add(order, m_in, s_in, m, s, Activation(zp, out_scale), ADD_LEFT_SHIFT, lo, hi)
        layers = [other, add]
    else:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    pixels = rng.integers(0, 256, (images, *shape), dtype=np.uint8)
    return LayerCase(op, inp, layers, pixels)


@dataclass(frozen=True)
class Agreement:
    """How many int8 output values of one layer case equal LiteRT's reference kernels'."""

    values: int
    equal: dict[str, int]  # "rust:<kernel>", "numpy", "optimized", "xnnpack" -> values equal
    off_by_one: dict[str, int]  # -> values exactly one away
    max_diff: dict[str, int]  # -> the largest distance (0 where all are equal)
    refused: tuple[str, ...] = ()  # the LiteRT kernel sets that would not prepare the layer


def compare(case: LayerCase, directory: Path, peers: bool = True) -> Agreement:
    """Run `case` through LiteRT's reference kernels, the Rust encoder (every kernel this
    CPU has), the numpy reference and (with `peers`) LiteRT's optimized and XNNPACK
    kernels; count the values each gives as the reference does. A peer that refuses the
    layer (XNNPACK does some extreme scales) is listed, with no value equal."""
    from semanticnn.int8.encoder import Encoder
    from semanticnn.int8.read import read_model
    from semanticnn.int8.reference import reference_tensors
    from semanticnn.int8.tflite_file import to_tflite
    from semanticnn.int8.write import write_model

    path = directory / f"{case.op}.safetensors"
    write_model(path, case.input, case.layers, case.head)
    model = read_model(path)
    tflite = to_tflite(model)
    want = run(interpreter(tflite, "reference"), case.images)
    got = {
        f"rust:{k}": Encoder.load(path).latent(case.images, kernel=k, threads=1)
        for k in Encoder.kernels()
    }
    got["numpy"] = np.stack(
        [reference_tensors(model, image)[-1].reshape(-1) for image in case.images]
    )
    refused = []
    if peers:
        for kernels in ("optimized", "xnnpack"):
            try:
                got[kernels] = run(interpreter(tflite, kernels), case.images)
            except RuntimeError:  # LiteRT's "failed to prepare"
                refused.append(kernels)
                got[kernels] = np.empty(0, np.int8)
    ran = {k: np.abs(v.astype(np.int16) - want) for k, v in got.items() if v.size}
    return Agreement(
        want.size,
        {k: int((ran[k] == 0).sum()) if k in ran else 0 for k in got},
        {k: int((d == 1).sum()) for k, d in ran.items()},
        {k: int(d.max(initial=0)) for k, d in ran.items()},
        tuple(refused),
    )
