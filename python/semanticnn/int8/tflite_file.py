"""The int8 encoder as a TFLite flatbuffer: out (`to_tflite`) and in (`from_tflite`).

A model file and a `.tflite` file describe the same integers: TFLite files carry float32
scales, and TFLite derives each layer's (multiplier, shift) from them by its own rules
(`params.conv_multipliers`, `params.add_multipliers`), which training follows too. So:

* out: each conv's per-channel filter scale is the float32 whose TFLite multiplier is
  the model's (found next to the quotient it must be); a layer whose integers no
  float32 scales give is refused, naming it. Padding TFLite's SAME or VALID cannot say
  becomes a PAD (conv: the zero point) or PADV2 (max pool: -128) before a VALID op.
* in: CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D and ADD on int8 tensors
  (per-channel or per-tensor filter scales, zero filter zero points), a PAD / PADV2
  folded into the conv or max pool it feeds; anything else is refused with a line
  naming the op and the tensor.

The head (SQ centers, power normalization, Gray mapping) has no TFLite op: it travels
in the file's metadata entry `semanticnn.head` (JSON, docs/model-format.md).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

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
    out_dim,
    pads,
    same_padding,
)
from semanticnn.int8.params import activation_range, add_multipliers, conv_multipliers

HEAD_METADATA = "semanticnn.head"
HEAD_FORMAT = "semanticnn-head"
HEAD_VERSION = 1
ADD_LEFT_SHIFT = 20  # TFLite's for int8 add; its multipliers assume it

# TFLite's fused activations that an int8 clamp range expresses.
_ACTIVATIONS = {"none": 0, "relu": 1, "relu6": 3}
_ACTIVATION_NAMES = {v: k for k, v in _ACTIVATIONS.items()}
_SAME, _VALID = 0, 1  # tflite.Padding


def _tflite() -> Any:
    try:
        import tflite
    except ImportError:
        raise ImportError(
            "reading or writing .tflite files needs the 'tflite' package "
            "(pip install 'semanticnn[tflite]')"
        ) from None
    return tflite


# ------------------------------------------------------------------------ geometry


def _tflite_padding(
    shape: tuple[int, int, int], kernel: tuple[int, int], stride: tuple[int, int], sides: Sides
) -> int | None:
    """SAME or VALID where it computes what the layer's pads do, else None.

    Only the pad before each dimension and the output size matter (positions past the
    input contribute nothing either way)."""
    top, bottom, left, right = sides
    ours = [
        (shape[d] + before + after - kernel[d]) // stride[d] + 1
        for d, (before, after) in enumerate([(top, bottom), (left, right)])
    ]
    if (top, left) == (0, 0) and all(
        o == (shape[d] - kernel[d]) // stride[d] + 1 for d, o in enumerate(ours)
    ):
        return _VALID
    if all(
        (before, o) == (same_padding(shape[d], kernel[d], stride[d])[0], -(-shape[d] // stride[d]))
        for d, (before, o) in enumerate(zip((top, left), ours, strict=True))
    ):
        return _SAME
    return None


Sides = tuple[int, int, int, int]  # (top, bottom, left, right)


def _fused_activation(i: int, act: tuple[int, int], quant: tuple[float, int]) -> int:
    """The TFLite fused activation whose int8 clamp is `act` at output `quant`."""
    for name, code in _ACTIVATIONS.items():
        if activation_range(name, quant[0], quant[1]) == act:
            return code
    raise ModelError(
        f"layer {i}: its clamp [{act[0]}, {act[1]}] is no TFLite activation (none, relu, "
        f"relu6) at output scale {quant[0]:.6g}, zero point {quant[1]}"
    )


def filter_scales(
    i: int, input_scale: float, output_scale: float, multiplier: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """Per-channel float32 filter scales from which TFLite derives exactly the layer's
    (multiplier, shift); a channel without one is a ModelError naming it."""
    m = np.asarray(multiplier, np.float64)
    real = m * np.exp2(np.asarray(shift, np.float64) - 31)
    guess = real * np.float64(np.float32(output_scale)) / np.float64(np.float32(input_scale))
    guess = guess.astype(np.float32)
    found = np.where(m == 0, np.float32(0), np.float32(np.nan))
    # The quotient has 31 bits, a float32 24: at most one float32 lands on each
    # multiplier, within an ulp or two of the guess.
    for step in (0, 1, -1, 2, -2, 3, -3):
        candidate = guess
        for _ in range(abs(step)):
            candidate = np.nextafter(candidate, np.float32(np.inf if step > 0 else 0))
        mult, sh = conv_multipliers(input_scale, candidate, output_scale)
        hit = (mult == multiplier) & (sh == shift) & np.isnan(found) & (candidate > 0)
        found = np.where(hit, candidate, found)
    missing = np.flatnonzero(np.isnan(found))
    if len(missing):
        c = int(missing[0])
        raise ModelError(
            f"layer {i}, channel {c}: multiplier {int(multiplier[c])} shift {int(shift[c])} "
            f"follows from no float32 filter scale at input scale {input_scale:.6g} and "
            f"output scale {output_scale:.6g} (a model trained before this version: train again)"
        )
    return found.astype(np.float32)


# ------------------------------------------------------------------------ out


@dataclass
class _Tensor:
    shape: tuple[int, ...]
    dtype: int  # tflite.TensorType
    name: str
    scales: np.ndarray | None = None  # float32
    zero_points: np.ndarray | None = None  # int64
    axis: int = 0
    data: bytes | None = None


@dataclass
class _Op:
    code: int  # tflite.BuiltinOperator
    version: int
    inputs: list[int]
    outputs: list[int]
    options: tuple[int, Callable[[Any], int]] | None  # (BuiltinOptions type, builder)


class _Graph:
    """Tensors and ops of one subgraph, as the flatbuffer will hold them."""

    def __init__(self) -> None:
        self.tensors: list[_Tensor] = []
        self.ops: list[_Op] = []

    def tensor(self, t: _Tensor) -> int:
        self.tensors.append(t)
        return len(self.tensors) - 1

    def activation(self, shape: tuple[int, int, int], quant: tuple[float, int], name: str) -> int:
        return self.tensor(
            _Tensor(
                (1, *shape),
                _tflite().TensorType.INT8,
                name,
                np.array([quant[0]], np.float32),
                np.array([quant[1]], np.int64),
            )
        )


def to_tflite(model: Model, *, description: str = "semanticnn int8 encoder") -> bytes:
    """The `.tflite` flatbuffer of `model` up to its int8 latent, the head in its
    metadata; a layer TFLite cannot express is a ModelError naming it."""
    tfl = _tflite()
    g = _Graph()
    quant = _quantizations(model)
    ids = [g.activation(model.input.shape, quant[0], "input")]
    for i, layer in enumerate(model.layers):
        inputs = layer.inputs if layer.inputs is not None else (i,)
        x, shape, q_in = ids[inputs[0]], model.shapes[inputs[0]], quant[inputs[0]]
        y = g.activation(model.shapes[i + 1], quant[i + 1], f"layers.{i}")
        if isinstance(layer, Add):
            _check_add(i, layer, quant[inputs[0]], quant[inputs[1]], quant[i + 1])
            act = _fused_activation(i, (layer.act_min, layer.act_max), quant[i + 1])
            g.ops.append(
                _Op(
                    tfl.BuiltinOperator.ADD,
                    2,
                    [x, ids[inputs[1]]],
                    [y],
                    (tfl.BuiltinOptions.AddOptions, _add_options(act)),
                )
            )
        elif isinstance(layer, Pool2d):
            _pool_op(g, i, layer, x, y, shape, q_in)
        else:
            _conv_op(g, i, layer, x, y, shape, q_in, quant[i + 1])
        ids.append(y)
    head = _head_metadata(model.head, quant[-1])
    return _serialize(g, ids[0], ids[-1], description, {HEAD_METADATA: head})


def _quantizations(model: Model) -> list[tuple[float, int]]:
    """(float32 scale, zero point) of every tensor; a pool keeps its input's."""
    quant = [(float(np.float32(model.input.scale)), int(model.input.zero_point))]
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Pool2d):
            quant.append(quant[layer.inputs[0] if layer.inputs is not None else i])
        else:
            quant.append((float(np.float32(layer.output.scale)), int(layer.output.zero_point)))
    return quant


def _check_add(
    i: int, layer: Add, a: tuple[float, int], b: tuple[float, int], out: tuple[float, int]
) -> None:
    want = add_multipliers((a[0], b[0]), out[0], ADD_LEFT_SHIFT)
    have = (
        tuple(layer.input_multipliers),
        tuple(layer.input_shifts),
        layer.multiplier,
        layer.shift,
    )
    if layer.left_shift != ADD_LEFT_SHIFT or have != want:
        raise ModelError(
            f"layer {i} (add): its multipliers are not those TFLite derives from the "
            f"float32 scales of its tensors ({a[0]:.6g}, {b[0]:.6g} -> {out[0]:.6g}) with "
            f"left shift {ADD_LEFT_SHIFT}"
        )


def _pad_op(
    g: _Graph,
    i: int,
    x: int,
    shape: tuple[int, int, int],
    sides: Sides,
    quant: tuple[float, int],
    value: int | None,
) -> tuple[int, tuple[int, int, int]]:
    """A PAD (zero point) or PADV2 (`value`) of `x` by `sides`: (its output, shape)."""
    tfl = _tflite()
    top, bottom, left, right = sides
    padded = (shape[0] + top + bottom, shape[1] + left + right, shape[2])
    out = g.activation(padded, quant, f"layers.{i}.padded")
    amounts = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
    widths = g.tensor(
        _Tensor((4, 2), tfl.TensorType.INT32, f"layers.{i}.paddings", data=amounts.tobytes())
    )
    if value is None:
        g.ops.append(_Op(tfl.BuiltinOperator.PAD, 2, [x, widths], [out], None))
    else:
        fill = g.tensor(
            _Tensor(
                (1,),
                tfl.TensorType.INT8,
                f"layers.{i}.pad_value",
                np.array([quant[0]], np.float32),
                np.array([quant[1]], np.int64),
                data=np.array([value], np.int8).tobytes(),
            )
        )
        g.ops.append(_Op(tfl.BuiltinOperator.PADV2, 2, [x, widths, fill], [out], None))
    return out, padded


def _pool_op(
    g: _Graph,
    i: int,
    layer: Pool2d,
    x: int,
    y: int,
    shape: tuple[int, int, int],
    quant: tuple[float, int],
) -> None:
    tfl = _tflite()
    sides = pads(layer)
    padding = _tflite_padding(shape, layer.kernel, layer.stride, sides)
    if padding is None:
        if layer.kind == "avg":
            raise ModelError(
                f"layer {i} (avg_pool2d): padding {sides} is neither TFLite's SAME nor VALID "
                "(TFLite's average pool cannot leave other padded positions uncounted)"
            )
        x, shape = _pad_op(g, i, x, shape, sides, quant, -128)
        padding = _VALID
    act = _fused_activation(i, (layer.act_min, layer.act_max), quant)
    code = (
        tfl.BuiltinOperator.AVERAGE_POOL_2D
        if layer.kind == "avg"
        else tfl.BuiltinOperator.MAX_POOL_2D
    )

    def options(b: Any) -> int:
        tfl.Pool2DOptionsStart(b)
        tfl.Pool2DOptionsAddPadding(b, padding)
        tfl.Pool2DOptionsAddStrideH(b, layer.stride[0])
        tfl.Pool2DOptionsAddStrideW(b, layer.stride[1])
        tfl.Pool2DOptionsAddFilterHeight(b, layer.kernel[0])
        tfl.Pool2DOptionsAddFilterWidth(b, layer.kernel[1])
        tfl.Pool2DOptionsAddFusedActivationFunction(b, act)
        return int(tfl.Pool2DOptionsEnd(b))

    g.ops.append(_Op(code, 2, [x], [y], (tfl.BuiltinOptions.Pool2DOptions, options)))


def _conv_op(
    g: _Graph,
    i: int,
    layer: Conv2d | DepthwiseConv2d,
    x: int,
    y: int,
    shape: tuple[int, int, int],
    q_in: tuple[float, int],
    q_out: tuple[float, int],
) -> None:
    tfl = _tflite()
    depthwise = isinstance(layer, DepthwiseConv2d)
    weight = np.asarray(layer.weight, np.int8)
    kernel = (weight.shape[0], weight.shape[1]) if depthwise else (weight.shape[1], weight.shape[2])
    sides = pads(layer)
    padding = _tflite_padding(shape, kernel, layer.stride, sides)
    if padding is None:
        x, shape = _pad_op(g, i, x, shape, sides, q_in, None)
        padding = _VALID
    fs = filter_scales(i, q_in[0], q_out[0], layer.multiplier, layer.shift)
    cout = len(fs)
    zeros = np.zeros(cout, np.int64)
    filt = g.tensor(
        _Tensor(
            (1, *weight.shape) if depthwise else weight.shape,
            tfl.TensorType.INT8,
            f"layers.{i}.weight",
            fs,
            zeros,
            axis=3 if depthwise else 0,
            data=weight.tobytes(),
        )
    )
    bias_scales = (np.float32(q_in[0]) * fs).astype(np.float32)
    bias = g.tensor(
        _Tensor(
            (cout,),
            tfl.TensorType.INT32,
            f"layers.{i}.bias",
            bias_scales,
            zeros,
            data=np.asarray(layer.bias, "<i4").tobytes(),
        )
    )
    act = _fused_activation(i, (layer.act_min, layer.act_max), q_out)
    sh, sw = layer.stride

    if isinstance(layer, DepthwiseConv2d):
        dm = layer.depth_multiplier

        def options(b: Any) -> int:
            tfl.DepthwiseConv2DOptionsStart(b)
            tfl.DepthwiseConv2DOptionsAddPadding(b, padding)
            tfl.DepthwiseConv2DOptionsAddStrideH(b, sh)
            tfl.DepthwiseConv2DOptionsAddStrideW(b, sw)
            tfl.DepthwiseConv2DOptionsAddDepthMultiplier(b, dm)
            tfl.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
            tfl.DepthwiseConv2DOptionsAddDilationHFactor(b, 1)
            tfl.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
            return int(tfl.DepthwiseConv2DOptionsEnd(b))

        kind = (tfl.BuiltinOperator.DEPTHWISE_CONV_2D, 3, tfl.BuiltinOptions.DepthwiseConv2DOptions)
    else:

        def options(b: Any) -> int:
            tfl.Conv2DOptionsStart(b)
            tfl.Conv2DOptionsAddPadding(b, padding)
            tfl.Conv2DOptionsAddStrideH(b, sh)
            tfl.Conv2DOptionsAddStrideW(b, sw)
            tfl.Conv2DOptionsAddFusedActivationFunction(b, act)
            tfl.Conv2DOptionsAddDilationHFactor(b, 1)
            tfl.Conv2DOptionsAddDilationWFactor(b, 1)
            return int(tfl.Conv2DOptionsEnd(b))

        kind = (tfl.BuiltinOperator.CONV_2D, 3, tfl.BuiltinOptions.Conv2DOptions)
    g.ops.append(_Op(kind[0], kind[1], [x, filt, bias], [y], (kind[2], options)))


def _add_options(act: int) -> Callable[[Any], int]:
    def build(b: Any) -> int:
        tfl = _tflite()
        tfl.AddOptionsStart(b)
        tfl.AddOptionsAddFusedActivationFunction(b, act)
        return int(tfl.AddOptionsEnd(b))

    return build


def _head_metadata(head: Head, latent: tuple[float, int]) -> bytes:
    entry = {
        "format": HEAD_FORMAT,
        "version": HEAD_VERSION,
        "centers": [int(c) for c in np.asarray(head.centers)],
        "frac_bits": int(head.frac_bits),
        "power_norm": bool(head.power_norm),
        "gray": bool(head.gray),
        "latent": {"scale": latent[0], "zero_point": latent[1]},
    }
    return json.dumps(entry).encode()


def _serialize(
    g: _Graph, input_id: int, output_id: int, description: str, metadata: dict[str, bytes]
) -> bytes:
    import flatbuffers

    tfl = _tflite()
    b = flatbuffers.Builder(1 << 16)

    def ints(start: Callable[[Any, int], None], values: Sequence[int]) -> int:
        start(b, len(values))
        for v in reversed(values):
            b.PrependInt32(int(v))
        return int(b.EndVector())

    def offsets(start: Callable[[Any, int], None], values: Sequence[int]) -> int:
        start(b, len(values))
        for v in reversed(values):
            b.PrependUOffsetTRelative(v)
        return int(b.EndVector())

    # Buffer 0 is the empty buffer every TFLite file starts with; then one per
    # constant tensor, then the metadata's.
    blobs: list[bytes] = [b""]
    buffer_of = []
    for t in g.tensors:
        if t.data is None:
            buffer_of.append(0)
        else:
            blobs.append(t.data)
            buffer_of.append(len(blobs) - 1)
    meta_buffers = {}
    for name, data in metadata.items():
        blobs.append(data)
        meta_buffers[name] = len(blobs) - 1

    buffers = []
    for data in blobs:
        vec = None
        if data:
            b.StartVector(1, len(data), 16)  # 16-byte aligned: int32 biases read in place
            b.head = b.head - len(data)
            b.Bytes[b.head : b.head + len(data)] = data
            vec = b.EndVector()
        tfl.BufferStart(b)
        if vec is not None:
            tfl.BufferAddData(b, vec)
        buffers.append(tfl.BufferEnd(b))

    tensors = []
    for t, buf in zip(g.tensors, buffer_of, strict=True):
        name = b.CreateString(t.name)
        shape = ints(tfl.TensorStartShapeVector, t.shape)
        q = None
        if t.scales is not None and t.zero_points is not None:
            scales = b.CreateNumpyVector(t.scales.astype(np.float32))
            zps = b.CreateNumpyVector(t.zero_points.astype(np.int64))
            tfl.QuantizationParametersStart(b)
            tfl.QuantizationParametersAddScale(b, scales)
            tfl.QuantizationParametersAddZeroPoint(b, zps)
            tfl.QuantizationParametersAddQuantizedDimension(b, t.axis)
            q = tfl.QuantizationParametersEnd(b)
        tfl.TensorStart(b)
        tfl.TensorAddShape(b, shape)
        tfl.TensorAddType(b, t.dtype)
        tfl.TensorAddBuffer(b, buf)
        tfl.TensorAddName(b, name)
        if q is not None:
            tfl.TensorAddQuantization(b, q)
        tensors.append(tfl.TensorEnd(b))

    codes: list[tuple[int, int]] = []
    ops = []
    for op in g.ops:
        if (op.code, op.version) not in codes:
            codes.append((op.code, op.version))
        options = op.options[1](b) if op.options is not None else None
        inputs = ints(tfl.OperatorStartInputsVector, op.inputs)
        outputs = ints(tfl.OperatorStartOutputsVector, op.outputs)
        tfl.OperatorStart(b)
        tfl.OperatorAddOpcodeIndex(b, codes.index((op.code, op.version)))
        tfl.OperatorAddInputs(b, inputs)
        tfl.OperatorAddOutputs(b, outputs)
        if op.options is not None and options is not None:
            tfl.OperatorAddBuiltinOptionsType(b, op.options[0])
            tfl.OperatorAddBuiltinOptions(b, options)
        ops.append(tfl.OperatorEnd(b))

    code_tables = []
    for code, version in codes:
        tfl.OperatorCodeStart(b)
        tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tfl.OperatorCodeAddBuiltinCode(b, code)
        tfl.OperatorCodeAddVersion(b, version)
        code_tables.append(tfl.OperatorCodeEnd(b))

    tensor_vec = offsets(tfl.SubGraphStartTensorsVector, tensors)
    op_vec = offsets(tfl.SubGraphStartOperatorsVector, ops)
    in_vec = ints(tfl.SubGraphStartInputsVector, [input_id])
    out_vec = ints(tfl.SubGraphStartOutputsVector, [output_id])
    sg_name = b.CreateString("encoder")
    tfl.SubGraphStart(b)
    tfl.SubGraphAddTensors(b, tensor_vec)
    tfl.SubGraphAddOperators(b, op_vec)
    tfl.SubGraphAddInputs(b, in_vec)
    tfl.SubGraphAddOutputs(b, out_vec)
    tfl.SubGraphAddName(b, sg_name)
    subgraph = tfl.SubGraphEnd(b)

    metas = []
    for name, buf in meta_buffers.items():
        n = b.CreateString(name)
        tfl.MetadataStart(b)
        tfl.MetadataAddName(b, n)
        tfl.MetadataAddBuffer(b, buf)
        metas.append(tfl.MetadataEnd(b))

    code_vec = offsets(tfl.ModelStartOperatorCodesVector, code_tables)
    sg_vec = offsets(tfl.ModelStartSubgraphsVector, [subgraph])
    buf_vec = offsets(tfl.ModelStartBuffersVector, buffers)
    meta_vec = offsets(tfl.ModelStartMetadataVector, metas)
    desc = b.CreateString(description)
    tfl.ModelStart(b)
    tfl.ModelAddVersion(b, 3)
    tfl.ModelAddOperatorCodes(b, code_vec)
    tfl.ModelAddSubgraphs(b, sg_vec)
    tfl.ModelAddDescription(b, desc)
    tfl.ModelAddBuffers(b, buf_vec)
    tfl.ModelAddMetadata(b, meta_vec)
    b.Finish(tfl.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# ------------------------------------------------------------------------ in


@dataclass(frozen=True)
class Imported:
    """A TFLite encoder as model-file records; `head` is None when the file carries no
    `semanticnn.head` metadata (the caller then gives the centers)."""

    input: Input
    layers: list[Layer]
    head: Head | None
    latent_scale: float


class _Reader:
    """Walks one subgraph, turning ops into layers."""

    def __init__(self, data: bytes) -> None:
        tfl = _tflite()
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelError("not a TFLite flatbuffer (no 'TFL3' identifier)")
        self.model = tfl.Model.GetRootAs(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ModelError(
                f"the file has {self.model.SubgraphsLength()} subgraphs; an encoder has one"
            )
        self.sg = self.model.Subgraphs(0)
        self.tfl = tfl

    def name(self, t: int) -> str:
        raw = self.sg.Tensors(t).Name()
        return f"'{raw.decode(errors='replace')}'" if raw else f"#{t}"

    def quant(self, t: int, what: str) -> tuple[np.ndarray, np.ndarray, int]:
        """(scales, zero points, axis) of tensor `t`, or the error naming it."""
        q = self.sg.Tensors(t).Quantization()
        if q is None or q.ScaleLength() == 0:
            raise ModelError(f"{what} tensor {self.name(t)} has no quantization parameters")
        scales = q.ScaleAsNumpy().astype(np.float32)
        zps = (
            q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(1, np.int64)
        )
        if not np.all(np.isfinite(scales)) or (np.any(scales <= 0) and what != "filter"):
            raise ModelError(f"{what} tensor {self.name(t)} has a scale that is not > 0")
        return scales, zps, int(q.QuantizedDimension())

    def activation(self, t: int, what: str) -> tuple[tuple[int, ...], float, int]:
        """(shape, scale, zero point) of an int8 activation tensor."""
        tensor = self.sg.Tensors(t)
        kind = tensor.Type()
        if kind != self.tfl.TensorType.INT8:
            names = {v: k for k, v in vars(self.tfl.TensorType).items() if not k.startswith("_")}
            raise ModelError(
                f"{what} tensor {self.name(t)} is {names.get(kind, kind)}: the encoder is int8 "
                "throughout (convert with int8 input and output, "
                "inference_input_type=tf.int8)"
            )
        scales, zps, _ = self.quant(t, what)
        if len(scales) != 1 or len(zps) != 1:
            raise ModelError(f"{what} tensor {self.name(t)} must be quantized per tensor")
        return tuple(int(d) for d in tensor.ShapeAsNumpy()), float(scales[0]), int(zps[0])

    def constant(self, t: int, dtype: npt.DTypeLike, what: str) -> np.ndarray:
        tensor = self.sg.Tensors(t)
        buf = self.model.Buffers(tensor.Buffer())
        if buf is None or buf.DataLength() == 0:
            raise ModelError(f"{what} tensor {self.name(t)} holds no constant data")
        shape = tuple(int(d) for d in tensor.ShapeAsNumpy())
        raw = buf.DataAsNumpy().tobytes()
        data: np.ndarray = np.frombuffer(raw, dtype)
        if data.size != math.prod(shape):
            raise ModelError(f"{what} tensor {self.name(t)}: {data.size} values for shape {shape}")
        return data.reshape(shape)

    def op_code(self, op: Any) -> int:
        """The builtin operator of `op` (files keep it in one of two fields)."""
        code = self.model.OperatorCodes(op.OpcodeIndex())
        return int(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))

    def op_name(self, op: Any) -> str:
        c = self.op_code(op)
        names = {v: k for k, v in vars(self.tfl.BuiltinOperator).items() if not k.startswith("_")}
        return str(names.get(c, f"builtin {c}"))

    def options(self, op: Any, cls: Any, name: str) -> Any:
        table = op.BuiltinOptions()
        if table is None:
            raise ModelError(f"{name}: its options are missing")
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return opts


def from_tflite(data: bytes) -> Imported:
    """An int8 TFLite encoder as model-file layers (and its head, from the metadata
    `to_tflite` writes); an op, tensor or quantization the format cannot hold is a
    ModelError naming it."""
    try:
        return _Importer(_Reader(data)).run()
    except ModelError:
        raise
    except (
        IndexError,
        TypeError,
        ValueError,
        AttributeError,  # a vector the file leaves out reads as None
        ArithmeticError,  # a field out of any sane range (a zero stride, a 1e-40 scale)
        struct.error,
    ) as e:
        # A flatbuffer's offsets point anywhere: a damaged file fails in the accessors.
        raise ModelError(f"damaged TFLite flatbuffer ({type(e).__name__}: {e})") from None


class _Importer:
    """The ops of one subgraph in order, each turned into a layer (a PAD into the pads of
    the layer it feeds)."""

    def __init__(self, r: _Reader) -> None:
        self.r = r
        self.ours: dict[int, int] = {}  # TFLite tensor -> our tensor index
        self.quant: list[tuple[float, int]] = []
        self.shapes: list[tuple[int, int, int]] = []
        self.padded: dict[int, tuple[int, Sides, int]] = {}  # PAD output -> (src, sides, value)
        self.layers: list[Layer] = []
        self.out_hw = (0, 0)  # the declared output height and width of the op at hand

    def run(self) -> Imported:
        r, sg = self.r, self.r.sg
        if sg.InputsLength() != 1 or sg.OutputsLength() != 1:
            raise ModelError(
                f"the encoder must have one input and one output, has {sg.InputsLength()} "
                f"and {sg.OutputsLength()}"
            )
        t_in = int(sg.Inputs(0))
        shape, scale, zp = r.activation(t_in, "input")
        if len(shape) != 4 or shape[0] != 1:
            raise ModelError(f"input tensor {r.name(t_in)} must be (1, H, W, C), got {shape}")
        inp = Input((shape[1], shape[2], shape[3]), zp, scale)
        self.ours[t_in] = 0
        self.quant.append((scale, zp))
        self.shapes.append(inp.shape)
        for k in range(sg.OperatorsLength()):
            self.op(k, sg.Operators(k))
        t_out = int(sg.Outputs(0))
        if not self.layers or self.ours.get(t_out) != len(self.layers):
            raise ModelError(
                f"the output tensor {r.name(t_out)} must be the last op's output (the latent)"
            )
        return Imported(inp, self.layers, _read_head(r), self.quant[-1][0])

    def source(self, t: int, op: str) -> int:
        """Our index of the activation tensor `t` that `op` reads."""
        if t in self.padded:
            raise ModelError(
                f"{op}: reads the PAD output {self.r.name(t)}; only a conv, depthwise conv or "
                "max pool can take a PAD in"
            )
        if t not in self.ours:
            raise ModelError(f"{op}: its input {self.r.name(t)} is not produced before it")
        return self.ours[t]

    def op(self, k: int, op: Any) -> None:
        r, ops = self.r, self.r.tfl.BuiltinOperator
        code = r.op_code(op)
        name = f"op {k} ({r.op_name(op)})"
        ins = [int(t) for t in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if len(outs) != 1 or not ins:
            raise ModelError(f"{name}: {len(ins)} inputs and {len(outs)} outputs")
        y = outs[0]
        shape, scale, zp = r.activation(y, "output")
        if len(shape) != 4 or shape[0] != 1:
            raise ModelError(f"{name}: output tensor {r.name(y)} must be (1, H, W, C), got {shape}")
        out = (scale, zp)
        self.out_hw = (shape[1], shape[2])
        if code in (ops.PAD, ops.PADV2):
            self.padded[y] = self.pad(name, ins, out)
            return
        if code == ops.ADD:
            layer: Layer = self.add(name, op, ins, out)
        elif code in (ops.AVERAGE_POOL_2D, ops.MAX_POOL_2D):
            layer = self.pool(name, op, ins[0], code == ops.MAX_POOL_2D, out)
        elif code in (ops.CONV_2D, ops.DEPTHWISE_CONV_2D):
            layer = self.conv(name, op, ins, code == ops.DEPTHWISE_CONV_2D, out)
        else:
            raise ModelError(f"{name}: not an op of the model format (tensor {r.name(y)})")
        self.layers.append(layer)
        self.ours[y] = len(self.layers)
        self.quant.append(out)
        self.shapes.append((shape[1], shape[2], shape[3]))

    def pad(self, name: str, ins: list[int], out: tuple[float, int]) -> tuple[int, Sides, int]:
        r = self.r
        x = ins[0]
        self.source(x, name)
        _, scale, zp = r.activation(x, "input")
        if out != (scale, zp):
            raise ModelError(
                f"{name}: output quantization {out} differs from its input's {(scale, zp)}"
            )
        amounts = r.constant(ins[1], np.int32, "paddings") if len(ins) > 1 else np.zeros(0)
        if amounts.shape != (4, 2) or amounts[0].any() or amounts[3].any() or (amounts < 0).any():
            raise ModelError(f"{name}: only height and width may be padded, got {amounts.tolist()}")
        value = zp
        if len(ins) > 2:
            value = int(r.constant(ins[2], np.int8, "pad value").reshape(-1)[0])
        (top, bottom), (left, right) = amounts[1], amounts[2]
        return x, (int(top), int(bottom), int(left), int(right)), value

    def window_input(
        self,
        name: str,
        x: int,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        padding: int,
        fill: str,
    ) -> tuple[int, Sides]:
        """(our input tensor, the pads) of a windowed op reading `x`: its SAME pads, plus
        those of a PAD it reads, which must fill with `fill`: "zero_point" (a conv: the
        padded positions then add nothing), "min" (-128, a max pool: they never win) or
        "none" (an average pool would count them: no PAD)."""
        extra: Sides = (0, 0, 0, 0)
        if x in self.padded:
            x, extra, value = self.padded[x]
            want = {"zero_point": self.quant[self.source(x, name)][1], "min": -128}.get(fill)
            if value != want:
                raise ModelError(
                    f"{name}: reads a PAD filled with {value}, which it cannot fold "
                    f"({'no PAD' if want is None else f'a fill of {want}'} is needed)"
                )
        if min(*kernel, *stride) < 1:
            raise ModelError(f"{name}: kernel {kernel} and stride {stride} must be >= 1")
        src = self.source(x, name)
        h0, w0, _ = self.shapes[src]
        h, w = h0 + extra[0] + extra[1], w0 + extra[2] + extra[3]
        same: Sides = (0, 0, 0, 0)
        if padding == _SAME:
            same = (*same_padding(h, kernel[0], stride[0]), *same_padding(w, kernel[1], stride[1]))
        sides: Sides = (
            extra[0] + same[0],
            extra[1] + same[1],
            extra[2] + same[2],
            extra[3] + same[3],
        )
        computed = (
            out_dim(h0, kernel[0], stride[0], (sides[0], sides[1])),
            out_dim(w0, kernel[1], stride[1], (sides[2], sides[3])),
        )
        if computed != self.out_hw:
            raise ModelError(
                f"{name}: its output is {self.out_hw[0]}x{self.out_hw[1]}, where its window "
                f"gives {computed[0]}x{computed[1]}"
            )
        return src, sides

    def add(self, name: str, op: Any, ins: list[int], out: tuple[float, int]) -> Add:
        if len(ins) != 2:
            raise ModelError(f"{name}: two inputs expected, got {len(ins)}")
        a, b = self.source(ins[0], name), self.source(ins[1], name)
        if self.shapes[a] != self.shapes[b] or self.shapes[a][:2] != self.out_hw:
            raise ModelError(
                f"{name}: inputs of shapes {self.shapes[a]} and {self.shapes[b]} into "
                f"{self.out_hw} (no broadcast)"
            )
        opts = self.r.options(op, self.r.tfl.AddOptions, name)
        act = _activation(name, opts.FusedActivationFunction(), out)
        try:
            m_in, s_in, m, s = add_multipliers(
                (self.quant[a][0], self.quant[b][0]), out[0], ADD_LEFT_SHIFT
            )
        except ValueError as e:  # a real multiplier of 2^31 or more
            raise ModelError(f"{name}: {e}") from None
        return Add((a, b), m_in, s_in, m, s, Activation(out[1], out[0]), ADD_LEFT_SHIFT, *act)

    def pool(self, name: str, op: Any, x: int, is_max: bool, out: tuple[float, int]) -> Pool2d:
        o = self.r.options(op, self.r.tfl.Pool2DOptions, name)
        kernel = (int(o.FilterHeight()), int(o.FilterWidth()))
        stride = (int(o.StrideH()), int(o.StrideW()))
        fill = "min" if is_max else "none"
        src, sides = self.window_input(name, x, kernel, stride, o.Padding(), fill)
        if out != self.quant[src]:
            raise ModelError(
                f"{name}: output quantization {out} differs from its input's {self.quant[src]}"
            )
        act = _activation(name, o.FusedActivationFunction(), out)
        kind = "max" if is_max else "avg"
        return Pool2d(kind, kernel, stride, sides, out[0], *act, inputs=(src,))

    def conv(
        self, name: str, op: Any, ins: list[int], depthwise: bool, out: tuple[float, int]
    ) -> Conv2d | DepthwiseConv2d:
        r, tfl = self.r, self.r.tfl
        if len(ins) not in (2, 3):
            raise ModelError(f"{name}: inputs (input, filter[, bias]) expected, got {len(ins)}")
        if r.sg.Tensors(ins[1]).Type() != tfl.TensorType.INT8:
            raise ModelError(f"{name}: filter {r.name(ins[1])} must be int8")
        filt = r.constant(ins[1], np.int8, "filter")
        scales, zps, axis = r.quant(ins[1], "filter")
        cout = filt.shape[3] if depthwise else filt.shape[0]
        if filt.ndim != 4 or (depthwise and filt.shape[0] != 1):
            raise ModelError(f"{name}: filter {r.name(ins[1])} of shape {filt.shape}")
        if np.any(zps != 0):
            raise ModelError(f"{name}: filter {r.name(ins[1])} has nonzero zero points")
        if len(scales) == 1:
            scales = np.full(cout, scales[0], np.float32)
        elif len(scales) != cout or axis != (3 if depthwise else 0):
            raise ModelError(
                f"{name}: filter {r.name(ins[1])} has {len(scales)} scales on axis {axis}; "
                f"per-channel scales go on the {cout} output channels"
            )
        if np.any(scales < 0):
            raise ModelError(f"{name}: filter {r.name(ins[1])} has a negative scale")
        bias = np.zeros(cout, np.int32)
        if len(ins) == 3 and ins[2] >= 0:
            if r.sg.Tensors(ins[2]).Type() != tfl.TensorType.INT32:
                raise ModelError(f"{name}: bias {r.name(ins[2])} must be int32")
            bias = r.constant(ins[2], np.dtype("<i4"), "bias").reshape(-1).astype(np.int32)
            if len(bias) != cout:
                raise ModelError(
                    f"{name}: bias {r.name(ins[2])} has {len(bias)} values, not {cout}"
                )
        cls = tfl.DepthwiseConv2DOptions if depthwise else tfl.Conv2DOptions
        o = r.options(op, cls, name)
        if (o.DilationHFactor(), o.DilationWFactor()) not in ((1, 1), (0, 0)):
            raise ModelError(f"{name}: dilated convolutions are not in the model format")
        kernel = (filt.shape[1], filt.shape[2])
        stride = (int(o.StrideH()), int(o.StrideW()))
        src, sides = self.window_input(name, ins[0], kernel, stride, o.Padding(), "zero_point")
        try:
            mult, shift = conv_multipliers(self.quant[src][0], scales, out[0])
        except ValueError as e:  # a real multiplier of 2^31 or more
            raise ModelError(f"{name}: {e}") from None
        act = _activation(name, o.FusedActivationFunction(), out)
        common: dict[str, Any] = dict(
            output=Activation(out[1], out[0]),
            stride=stride,
            padding=sides,
            act_min=act[0],
            act_max=act[1],
            inputs=(src,),
        )
        if not depthwise:
            return Conv2d(np.ascontiguousarray(filt), bias, mult, shift, **common)
        cin = self.shapes[src][2]
        dm = int(o.DepthMultiplier()) or cout // max(cin, 1)
        if cin * dm != cout:
            raise ModelError(f"{name}: {cout} output channels from {cin} with multiplier {dm}")
        weight = np.ascontiguousarray(filt[0])
        return DepthwiseConv2d(weight, bias, mult, shift, depth_multiplier=dm, **common)


def _activation(name: str, code: int, out: tuple[float, int]) -> tuple[int, int]:
    if code not in _ACTIVATION_NAMES:
        raise ModelError(f"{name}: fused activation {code} (only none, relu and relu6 map)")
    return activation_range(_ACTIVATION_NAMES[code], out[0], out[1])


def _read_head(r: _Reader) -> Head | None:
    for k in range(r.model.MetadataLength()):
        meta = r.model.Metadata(k)
        if meta.Name() != HEAD_METADATA.encode():
            continue
        buf = r.model.Buffers(meta.Buffer())
        try:
            entry = json.loads(buf.DataAsNumpy().tobytes())
            if entry.get("format") != HEAD_FORMAT or entry.get("version") != HEAD_VERSION:
                raise ModelError(
                    f"metadata {HEAD_METADATA}: format {entry.get('format')!r} version "
                    f"{entry.get('version')!r}, expected {HEAD_FORMAT!r} {HEAD_VERSION}"
                )
            return Head(
                np.asarray(entry["centers"], np.int32),
                int(entry["frac_bits"]),
                bool(entry["power_norm"]),
                bool(entry["gray"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
            raise ModelError(f"metadata {HEAD_METADATA}: unreadable ({e})") from None
    return None
