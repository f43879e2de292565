"""What a model file holds, as dataclasses (docs/model-format.md): the input, the
layers, the head, and `Model`, a parsed file."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from semanticnn import _core

# The model file's identity and limits, from the core crate (`nn::load`, `nn::MAX_LAYERS`,
# `nn::MAX_OPS`: operations per inference). A file whose every padding is symmetric
# has version FORMAT_VERSION_SYMMETRIC, which older readers read; else FORMAT_VERSION.
FORMAT: str = _core.MODEL_FORMAT
FORMAT_VERSION: str = _core.MODEL_FORMAT_VERSION
FORMAT_VERSION_SYMMETRIC: str = _core.MODEL_FORMAT_VERSION_SYMMETRIC
MAX_LAYERS: int = _core.MODEL_MAX_LAYERS
MAX_OPS: int = _core.MODEL_MAX_OPS
MAX_FILE_BYTES: int = _core.MODEL_MAX_FILE_BYTES

# A model file or description that breaks docs/model-format.md (a ValueError);
# the same class whether the Rust loader or the Python writer finds the fault.
ModelError = _core.ModelError


# Zero padding of a window layer: (ph, pw) pads both sides of each dimension equally,
# (top, bottom, left, right) each side on its own (TFLite's SAME puts the odd one of an
# odd total at the bottom and right: `same_padding`).
Padding = tuple[int, int] | tuple[int, int, int, int]


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
    padding: Padding = (0, 0)
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
    padding: Padding = (0, 0)
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
    padding: Padding = (0, 0)
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


def pads(layer: Conv2d | DepthwiseConv2d | Pool2d) -> tuple[int, int, int, int]:
    """The (top, bottom, left, right) zero padding of a window layer (its `padding`
    one int for every side, (ph, pw) or the four sides)."""
    if isinstance(layer.padding, int | np.integer):
        return (int(layer.padding),) * 4
    p = tuple(int(v) for v in layer.padding)
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    if len(p) == 4:
        return p[0], p[1], p[2], p[3]
    raise ModelError(
        f"padding must be (ph, pw) or (top, bottom, left, right), got {layer.padding!r}"
    )


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TFLite's SAME padding (before, after) of one dimension: the output is
    `ceil(size / stride)`, `total = max((output - 1) * stride + kernel - size, 0)`, and
    the odd one of an odd total goes after (at the bottom or right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def out_dim(size: int, kernel: int, stride: int, padding: tuple[int, int]) -> int:
    """Output length of a window sliding over `size` values padded by `padding` (before,
    after): the core's `conv_output_size` of the padded length; 0 where the window has no
    position."""
    try:
        return _core.conv_output_size(size + sum(padding), kernel, stride, 0)
    except (ValueError, OverflowError):
        return 0
