"""The integer-only encoder: model files, the Rust runner, and a numpy reference.

The file format and every formula are specified in `docs/model-format.md`.

* `write_model(path, input, layers, head)` writes a model file from numpy arrays
  (used by the tests and by the training exporter);
* `Encoder.load(path).encode(images)` runs it in Rust (threads, GIL released);
* `reference_encode(path, images)` runs the same integer math in plain numpy,
  only to check the Rust path bit for bit.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semanticnn import _core

FORMAT = "semanticnn-int8"
FORMAT_VERSION = 1
MAX_LAYERS = 64


# --------------------------------------------------------------------------- architecture


@dataclass(frozen=True)
class ConvSpec:
    """One float conv layer of the encoder architecture (what training builds)."""

    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    relu: bool


def default_architecture() -> list[ConvSpec]:
    """The encoder every part of the project uses (training, export, bench).

    Input 28x28x1; the second conv is the split point (14x14x32); the last
    1x1 conv makes the 7x7x3 latent that the head quantizes (3 bits each: 441
    bits, 56 bytes, 448x less than the float32 split features). Edit channel
    counts here, and only here.
    """
    return [
        ConvSpec(1, 16, 3, 1, 1, relu=True),
        ConvSpec(16, 32, 3, 2, 1, relu=True),
        ConvSpec(32, 32, 3, 2, 1, relu=True),
        ConvSpec(32, 3, 1, 1, 0, relu=False),
    ]


DEFAULT_INPUT_SHAPE = (28, 28, 1)
DEFAULT_LEVELS = 8


# --------------------------------------------------------------------------- file contents


@dataclass(frozen=True)
class Activation:
    """An int8 tensor's quantization: real = scale * (q - zero_point)."""

    zero_point: int = 0
    scale: float = 1.0


@dataclass(frozen=True)
class Input:
    """The model input: uint8 HWC pixels enter as int8 q = pixel - 128."""

    shape: tuple[int, int, int]
    zero_point: int = -128
    scale: float = 1.0 / 255.0


@dataclass(frozen=True)
class Conv2d:
    """conv2d; `weight` int8 (Cout, kh, kw, Cin); a 1x1 kernel is a pointwise conv."""

    weight: np.ndarray
    bias: np.ndarray  # int32 (Cout,)
    multiplier: np.ndarray  # int32 (Cout,), Q31 in [0, 2**31 - 1]
    shift: np.ndarray  # int32 (Cout,), in [-31, 30]; positive = left
    output: Activation
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    act_min: int = -128
    act_max: int = 127
    inputs: tuple[int, ...] | None = None  # tensor indices; None = the previous tensor


@dataclass(frozen=True)
class DepthwiseConv2d:
    """Depthwise conv; `weight` int8 (kh, kw, Cin * depth_multiplier)."""

    weight: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    output: Activation
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    depth_multiplier: int = 1
    act_min: int = -128
    act_max: int = 127
    inputs: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Pool2d:
    """Average (`kind="avg"`) or max (`kind="max"`) pooling; keeps the input's zero point."""

    kind: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    scale: float = 1.0  # informational, as the input's
    act_min: int = -128
    act_max: int = 127
    inputs: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Add:
    """TFLite int8 element-wise add of two tensors (`inputs` = their indices)."""

    inputs: tuple[int, int]
    input_multipliers: tuple[int, int]
    input_shifts: tuple[int, int]
    multiplier: int
    shift: int
    output: Activation
    left_shift: int = 20
    act_min: int = -128
    act_max: int = 127


Layer = Conv2d | DepthwiseConv2d | Pool2d | Add


@dataclass(frozen=True)
class Head:
    """Optional power normalization, then nearest of `len(centers)` centers.

    `centers` int32, strictly increasing, in fixed point with `frac_bits`
    fraction bits (see docs/model-format.md, "The head").
    """

    centers: np.ndarray
    frac_bits: int = 12
    power_norm: bool = True
    gray: bool = False


@dataclass
class Model:
    """A parsed model file (what `read_model` returns)."""

    input: Input
    layers: list[Layer]
    head: Head
    shapes: list[tuple[int, int, int]] = field(default_factory=list)  # per tensor

    @property
    def num_symbols(self) -> int:
        h, w, c = self.shapes[-1]
        return h * w * c


# A model file or description that breaks docs/model-format.md (a ValueError);
# the same class whether the Rust loader or the Python writer finds the fault.
ModelError = _core.ModelError


# --------------------------------------------------------------------------- helpers


def quantize_multiplier(real: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Real multiplier(s) -> (int32 Q31 multiplier, int32 shift), TFLite's QuantizeMultiplier.

    `real = multiplier * 2**(shift - 31)`; zero gives (0, 0). Shifts are clipped
    to the file's range [-31, 30] (a tiny multiplier then rounds to 0).
    """
    r = np.atleast_1d(np.asarray(real, dtype=np.float64))
    if np.any(r < 0) or not np.all(np.isfinite(r)):
        raise ValueError("real multipliers must be finite and >= 0")
    mult = np.zeros(r.shape, np.int64)
    shift = np.zeros(r.shape, np.int64)
    for i, x in np.ndenumerate(r):
        if x == 0.0:
            continue
        q, e = math.frexp(float(x))  # x = q * 2**e, q in [0.5, 1)
        m = round(q * (1 << 31))
        if m == 1 << 31:
            m //= 2
            e += 1
        if e > 30:
            raise ValueError(f"real multiplier {x} too large for the format")
        if e < -31:
            m = round(m * 2.0 ** (e + 31))
            e = -31
        mult[i], shift[i] = m, e
    return mult.astype(np.int32), shift.astype(np.int32)


def activation_range(kind: str, scale: float, zero_point: int) -> tuple[int, int]:
    """(act_min, act_max) of a fused activation: "none", "relu" or "relu6"."""
    if kind == "none":
        return -128, 127
    if kind == "relu":
        return max(-128, zero_point), 127
    if kind == "relu6":
        return max(-128, zero_point), min(127, zero_point + round(6.0 / scale))
    raise ValueError(f"activation must be 'none', 'relu' or 'relu6', got {kind!r}")


def _pair(x: Sequence[int] | int, name: str) -> tuple[int, int]:
    if isinstance(x, int | np.integer):
        return int(x), int(x)
    t = tuple(int(v) for v in x)
    if len(t) != 2:
        raise ModelError(f"{name} must be an int or a pair, got {x!r}")
    return t[0], t[1]


def _out_dim(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


# --------------------------------------------------------------------------- writing


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
        depthwise = isinstance(layer, DepthwiseConv2d)
        wt = np.asarray(layer.weight)
        if wt.dtype != np.int8:
            raise ModelError(f"layers[{i}].weight must be int8, got {wt.dtype}")
        if depthwise:
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
        stride, padding = _pair(layer.stride, "stride"), _pair(layer.padding, "padding")
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
        stride, padding = _pair(layer.stride, "stride"), _pair(layer.padding, "padding")
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
        entry.update(kernel=list(kernel), stride=list(stride), padding=list(padding))
        shape = (
            _out_dim(h, kernel[0], stride[0], padding[0]),
            _out_dim(w, kernel[1], stride[1], padding[1]),
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
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "graph": json.dumps(graph)}
    data = save(tensors, metadata=metadata)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- the Rust encoder


class Encoder:
    """A model file loaded and checked by the Rust core; `encode` runs it on threads."""

    def __init__(self, inner: _core.Int8Encoder) -> None:
        self._inner = inner

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Encoder:
        """Read a model file; a bad file raises `ModelError` (OSError if unreadable)."""
        return cls(_core.Int8Encoder.load(os.fspath(path)))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one uint8 image."""
        return self._inner.input_shape

    @property
    def num_symbols(self) -> int:
        """Symbols per image (S)."""
        return self._inner.num_symbols

    @property
    def levels(self) -> int:
        """Number of centers L; symbols are below L and take log2(L) bits."""
        return self._inner.levels

    @property
    def bits(self) -> int:
        return self.levels.bit_length() - 1

    @property
    def gray(self) -> bool:
        """Whether the symbols are Gray-mapped center indices (the head's `gray`)."""
        return self._inner.gray

    @staticmethod
    def kernels() -> list[str]:
        """Conv kernels this CPU runs, fastest first (e.g. ["avx2", "portable"])."""
        return _core.Int8Encoder.kernels()

    def encode(
        self, images: np.ndarray, *, threads: int | None = None, kernel: str | None = None
    ) -> np.ndarray:
        """uint8 (N, H, W, C) images -> uint8 (N, S) symbols.

        Releases the GIL; the batch is split over `threads` threads (default:
        all cores). `kernel` picks the conv kernel (one of `kernels()`;
        default the fastest). The result depends on neither.
        """
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            raise TypeError(f"images must be a uint8 numpy array, got {_describe(images)}")
        if images.ndim != 4 or images.shape[1:] != self.input_shape:
            raise ValueError(
                f"images must have shape (N, {', '.join(map(str, self.input_shape))})"
                f", got {images.shape}"
            )
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        out = np.empty((images.shape[0], self.num_symbols), np.uint8)
        self._inner.encode_into(
            np.ascontiguousarray(images).reshape(-1), out.reshape(-1), threads or 0, kernel
        )
        return out


def _describe(x: object) -> str:
    return f"{x.dtype} array" if isinstance(x, np.ndarray) else type(x).__name__


# --------------------------------------------------------------------------- reading


def read_model(path: str | os.PathLike[str]) -> Model:
    """Parse a model file into the dataclasses above (no range checks: the reference's input)."""
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="numpy") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT or meta.get("format_version") != str(FORMAT_VERSION):
            raise ModelError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file")
        g = json.loads(meta["graph"])
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    inp = Input(tuple(g["input"]["shape"]), g["input"]["zero_point"], g["input"]["scale"])
    layers: list[Layer] = []
    shapes = [inp.shape]
    for i, e in enumerate(g["layers"]):
        out = Activation(e["output"]["zero_point"], e["output"]["scale"])
        common = dict(act_min=e["act_min"], act_max=e["act_max"], inputs=tuple(e["inputs"]))
        op = e["op"]
        if op in ("conv2d", "depthwise_conv2d"):
            params = {
                n: arrays[f"layers.{i}.{n}"] for n in ("weight", "bias", "multiplier", "shift")
            }
            geo = dict(stride=tuple(e["stride"]), padding=tuple(e["padding"]))
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


# --------------------------------------------------------------------------- numpy reference


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
    x1 = np.clip(x << left, -(1 << 31), (1 << 31) - 1)
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
    padding: tuple[int, int],
    fill: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(Ho, Wo, kh, kw, C) windows of an HWC array padded with `fill`, and a validity mask."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h, w, c = x.shape
    xp = np.full((h + 2 * ph, w + 2 * pw, c), fill, np.int64)
    xp[ph : ph + h, pw : pw + w] = x
    valid = np.zeros((h + 2 * ph, w + 2 * pw), bool)
    valid[ph : ph + h, pw : pw + w] = True
    ho, wo = _out_dim(h, kh, sh, ph), _out_dim(w, kw, sw, pw)
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
        win, _ = _windows(x - zp, kernel, layer.stride, layer.padding, 0)
        if isinstance(layer, Conv2d):
            acc = np.einsum("hwyxc,oyxc->hwo", win, w)
        else:
            win = np.repeat(win, layer.depth_multiplier, axis=-1)
            acc = np.einsum("hwyxc,yxc->hwc", win, w)
        acc = _wrap32(acc + np.asarray(layer.bias, np.int64))
        out = requantize(acc, layer.multiplier, layer.shift) + layer.output.zero_point
        return out, layer.output.zero_point
    if isinstance(layer, Pool2d):
        win, valid = _windows(x, layer.kernel, layer.stride, layer.padding, 0)
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
        out = requantize(_wrap32(a + b), layer.multiplier, layer.shift) + layer.output.zero_point
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
            layer = _with_inputs(layer, (i,))
        out, zp = _run_layer(layer, xs, zps)
        xs.append(np.clip(out, layer.act_min, layer.act_max))
        zps.append(zp)
    return xs


def _with_inputs(layer: Layer, inputs: tuple[int, ...]) -> Layer:
    from dataclasses import replace

    return replace(layer, inputs=inputs)


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


# --------------------------------------------------------------------------- synthetic models


def synthetic_model(
    architecture: Sequence[ConvSpec] | None = None,
    input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE,
    *,
    levels: int = DEFAULT_LEVELS,
    seed: int = 0,
    power_norm: bool = True,
    gray: bool = False,
) -> tuple[Input, list[Layer], Head]:
    """A deterministic int8 model of `architecture` with random weights (tests, vectors, bench).

    Multipliers are chosen so activations spread over the int8 range instead
    of saturating; pass the result to `write_model(path, *synthetic_model())`.
    """
    arch = list(default_architecture() if architecture is None else architecture)
    rng = np.random.default_rng(seed)
    inp = Input(input_shape)
    layers: list[Layer] = []
    for spec in arch:
        k = spec.kernel
        wt = rng.integers(-127, 128, (spec.out_channels, k, k, spec.in_channels), dtype=np.int8)
        bias = rng.integers(-2000, 2000, spec.out_channels).astype(np.int32)
        fan_in = k * k * spec.in_channels
        real = rng.uniform(0.6, 1.4, spec.out_channels) * 70.0 / (np.sqrt(fan_in) * 60.0 * 73.0)
        mult, shift = quantize_multiplier(real)
        zp = -128 if spec.relu else int(rng.integers(-10, 10))
        act_min, act_max = activation_range("relu" if spec.relu else "none", 0.05, zp)
        layers.append(
            Conv2d(
                wt,
                bias,
                mult,
                shift,
                Activation(zp, 0.05),
                stride=(spec.stride, spec.stride),
                padding=(spec.padding, spec.padding),
                act_min=act_min,
                act_max=act_max,
            )
        )
    frac_bits = 12
    span = 1.75 if power_norm else 40.0
    centers = np.round(np.linspace(-span, span, levels) * (1 << frac_bits)).astype(np.int32)
    return inp, layers, Head(centers, frac_bits, power_norm, gray)
