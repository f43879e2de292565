"""int8 quantization-aware training layers, each bit-exact with the Rust core.

A `QTensor` is an int8 tensor during training: its exact int8 values `q`, its
(scale, zero point), and `value`, the dequantized values that carry the gradient.
Every layer computes its output `q` with the core's integer math (docs/model-format.md),
vectorized in torch on the input's device, and its `value` with the straight-through
estimator: the float forward (fake-quantized weights, clamped to the int8 range) plus
`(exact - float).detach()`. Without a gradient to compute, `value` is the exact
dequantized output. `int8_layer` writes the same integer tables as a model-file record
(`semanticnn.int8`), so the exported model computes what training saw.

| layer     | integer forward                    | the core (rust/core/src/nn)     |
|-----------|------------------------------------|---------------------------------|
| `QConv2d` | conv2d / depthwise_conv2d          | `conv.rs` `conv2d`, `depthwise` |
| `QAdd`    | TFLite int8 add                    | `ops.rs` `add`                  |
| `QPool2d` | avg/max pool, input's quantization | `ops.rs` `pool`                 |

Output ranges (conv, add) come from an EMA observer of the float output in training
mode (`momentum`), as torchvision's QAT `skip_add` has its own scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semanticnn import int8
from semanticnn.int8.params import activation_range, add_multipliers, conv_multipliers
from semanticnn.quant.integer import requantize, wrap_int32

INPUT_ZERO_POINT = -128
INPUT_SCALE = 1.0 / 255.0
ACTIVATIONS = ("none", "relu", "relu6")
ADD_LEFT_SHIFT = 20  # TFLite's for int8 add


@dataclass(frozen=True)
class QTensor:
    """An int8 tensor during training (NCHW)."""

    value: torch.Tensor  # dequantized values (float, carries the gradient: STE)
    q: torch.Tensor  # the exact int8 values, as a float tensor (no gradient)
    scale: float
    zero_point: int

    @property
    def quant(self) -> tuple[float, int]:
        """(scale, zero point), what `int8_layer` takes for an input."""
        return self.scale, self.zero_point


def quantize_input(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> int8 values (as float) `round(255 x) - 128`."""
    return torch.round(x * 255.0).clamp(0, 255) + INPUT_ZERO_POINT


def quantize_image(x: torch.Tensor) -> QTensor:
    """Images in [0, 1] -> the model's input tensor (scale 1/255, zero point -128)."""
    q = quantize_input(x)
    return QTensor((q - INPUT_ZERO_POINT) * INPUT_SCALE, q, INPUT_SCALE, INPUT_ZERO_POINT)


def activate(y: torch.Tensor, activation: str) -> torch.Tensor:
    """`y` after a fused activation: "none", "relu" or "relu6"."""
    if activation == "relu":
        return F.relu(y)
    if activation == "relu6":
        return F.relu6(y)
    return y


POOLS = ("avg", "max")


def check_pool(kind: str) -> str:
    if kind not in POOLS:
        raise ValueError(f"pool kind must be one of {POOLS}, got {kind!r}")
    return kind


def check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def check_padding(
    padding: tuple[int, int, int, int], kernel: tuple[int, int]
) -> tuple[int, int, int, int]:
    """`padding` (top, bottom, left, right), each side in 0..kernel in its dimension (the
    format's limit)."""
    sides = tuple(int(p) for p in padding)
    limits = (kernel[0], kernel[0], kernel[1], kernel[1])
    if len(sides) != 4 or not all(0 <= p < k for p, k in zip(sides, limits, strict=True)):
        raise ValueError(
            f"padding must be (top, bottom, left, right), each in 0..kernel {kernel}, "
            f"got {padding!r}"
        )
    return sides[0], sides[1], sides[2], sides[3]


def pad(x: torch.Tensor, padding: tuple[int, int, int, int], value: float = 0.0) -> torch.Tensor:
    """NCHW `x` padded (top, bottom, left, right) with `value`."""
    top, bottom, left, right = padding
    return F.pad(x, (left, right, top, bottom), value=value)


def _straight_through(
    y: torch.Tensor | None, q: torch.Tensor, scale: float, zp: int, lo: int, hi: int
) -> QTensor:
    """The output tensor: `y` (the float forward, or None) clamped to the int8 range
    [lo, hi] with the exact values' forward, or the exact values alone."""
    exact = (q - zp) * scale
    if y is None:
        return QTensor(exact, q, scale, zp)
    y = torch.clamp(y, (lo - zp) * scale, (hi - zp) * scale)
    return QTensor(y + (exact - y).detach(), q, scale, zp)


@contextmanager
def _exact_float() -> Iterator[None]:
    """Convolutions and matmuls that sum exact products exactly: no cuDNN (its FFT and
    Winograd algorithms are not exact) and no TF32/bf16 reduced precision."""
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        with torch.backends.cudnn.flags(enabled=False):
            yield
    finally:
        torch.set_float32_matmul_precision(precision)


class _Observed(nn.Module):
    """A layer whose int8 output range an EMA observer of its float output learns."""

    lo: torch.Tensor  # the observed output range (buffers)
    hi: torch.Tensor
    observed: torch.Tensor

    def __init__(self, activation: str, momentum: float) -> None:
        super().__init__()
        self.activation = check_activation(activation)
        self.momentum = momentum
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("observed", torch.tensor(False))

    def _observe(self, y: torch.Tensor) -> None:
        lo, hi = y.detach().amin(), y.detach().amax()
        if not bool(self.observed):
            self.lo.copy_(lo)
            self.hi.copy_(hi)
            self.observed.fill_(True)
        else:
            self.lo.lerp_(lo, self.momentum)
            self.hi.lerp_(hi, self.momentum)

    def output_quant(self) -> tuple[float, int]:
        """(scale, zero point) of the int8 output from the observed range (which always
        holds 0; after ReLU/ReLU6 it starts at 0)."""
        lo = 0.0 if self.activation != "none" else min(float(self.lo), 0.0)
        hi = max(float(self.hi), lo + 1e-6, 0.0)
        scale = (hi - lo) / 255.0
        zp = int(np.clip(round(-128 - lo / scale), -128, 127))
        return scale, zp

    def _float_path(self, *xs: QTensor) -> bool:
        """Whether the float forward runs: to observe (training) or for a gradient."""
        return self.training or self._needs_grad(*xs)

    def _needs_grad(self, *xs: QTensor) -> bool:
        return torch.is_grad_enabled() and (
            any(x.value.requires_grad for x in xs)
            or any(p.requires_grad for p in self.parameters())
        )


@dataclass(frozen=True)
class IntParams:
    """A conv's integer tables (weights OIHW, as torch holds them)."""

    weight: np.ndarray  # int8 (Cout, Cin / groups, kh, kw)
    bias: np.ndarray  # int32 (Cout,)
    multiplier: np.ndarray  # int32 (Cout,)
    shift: np.ndarray  # int32 (Cout,)
    zero_point: int
    scale: float
    act_min: int
    act_max: int


class QConv2d(_Observed):
    """A conv (+ folded batch norm) (+ ReLU/ReLU6) with an int8 output.

    `conv.groups` is 1 (dense; a 1x1 kernel is pointwise) or `conv.in_channels`
    (depthwise, depth multiplier `out_channels / in_channels`).

    Batch norm is folded with its running statistics: weight `w * g`, bias
    `beta + (b - mean) * g` with `g = gamma / sqrt(running_var + eps)`, for both the
    fake-quant forward and the export. The statistics are frozen: this module never
    updates them and `train()` keeps `bn` in eval mode (the device-side base layers
    train with frozen BN, as PyTorch's `conv_fused` after `freeze_bn_stats`), while
    `gamma` and `beta` still get gradients through the fold. Weights are symmetric per
    output channel (max-abs / 127) of the folded weight; the bias is int32
    `round(b / (in_scale * w_scale))`.

    `padding` (top, bottom, left, right) pads each side on its own, in place of
    `conv.padding` (which must then be 0); `int8.same_padding` gives TFLite's SAME of a
    dimension.
    """

    def __init__(
        self,
        conv: nn.Conv2d,
        bn: nn.BatchNorm2d | None = None,
        activation: str = "none",
        momentum: float = 0.1,
        padding: tuple[int, int, int, int] | None = None,
    ) -> None:
        super().__init__(activation, momentum)
        if conv.groups not in (1, conv.in_channels) or conv.out_channels % conv.groups:
            raise ValueError("conv.groups must be 1 (dense) or in_channels (depthwise)")
        if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
            raise ValueError("conv padding must be explicit zero padding")
        if tuple(conv.dilation) != (1, 1):
            raise ValueError("dilated convs are not in the model format")
        if bn is not None and bn.num_features != conv.out_channels:
            raise ValueError(f"bn has {bn.num_features} features, conv {conv.out_channels}")
        ph, pw = (int(p) for p in conv.padding)
        if padding is not None and (ph, pw) != (0, 0):
            raise ValueError("give the padding to the conv or to QConv2d, not both")
        kernel = (int(conv.kernel_size[0]), int(conv.kernel_size[1]))
        self.padding = check_padding((ph, ph, pw, pw) if padding is None else padding, kernel)
        self.conv = conv
        self.bn = bn
        self.train(self.training)

    def train(self, mode: bool = True) -> QConv2d:
        """Training mode for the observer; the batch norm stays in eval (frozen)."""
        super().train(mode)
        if self.bn is not None:
            self.bn.eval()
        return self

    # ---------------------------------------------------------------- quantization tables
    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) with the batch norm folded in (with their gradients)."""
        w = self.conv.weight
        b = self.conv.bias if self.conv.bias is not None else torch.zeros_like(w[:, 0, 0, 0])
        bn = self.bn
        if bn is None:
            return w, b
        assert bn.running_mean is not None and bn.running_var is not None
        g = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            g = bn.weight * g
        b = (b - bn.running_mean) * g
        if bn.bias is not None:
            b = b + bn.bias
        return w * g.view(-1, 1, 1, 1), b

    @staticmethod
    def _weight_scale(w: torch.Tensor) -> torch.Tensor:
        return w.detach().abs().flatten(1).amax(1).clamp_min(1e-8) / 127.0

    def weight_scale(self) -> torch.Tensor:
        """Per-output-channel scales of the (folded) int8 weights."""
        return self._weight_scale(self.folded()[0])

    def fake_weight(self, w: torch.Tensor | None = None) -> torch.Tensor:
        """(Folded) weights rounded to the int8 grid, with the identity gradient."""
        w = self.folded()[0] if w is None else w
        s = self._weight_scale(w).view(-1, 1, 1, 1)
        wq = torch.clamp(torch.round(w.detach() / s), -127, 127) * s
        return w + (wq - w).detach()

    def integer_params(self, in_scale: float) -> IntParams:
        """The integer tables for an input of scale `in_scale` (built on the host)."""
        w, b = (t.detach().double().cpu() for t in self.folded())
        s_w = self._weight_scale(w)
        w_q = torch.clamp(torch.round(w / s_w.view(-1, 1, 1, 1)), -127, 127)
        b_q = torch.round(b / (in_scale * s_w)).clamp(-(2**31), 2**31 - 1)
        scale, zp = self.output_quant()
        mult, shift = conv_multipliers(in_scale, s_w.numpy(), scale)
        act_min, act_max = activation_range(self.activation, scale, zp)
        return IntParams(
            w_q.numpy().astype(np.int8),
            b_q.numpy().astype(np.int32),
            mult,
            shift,
            zp,
            scale,
            act_min,
            act_max,
        )

    def int8_layer(
        self, x: tuple[float, int], inputs: tuple[int, ...]
    ) -> int8.Conv2d | int8.DepthwiseConv2d:
        """The model-file record of this layer reading tensor `inputs` of quantization
        `x = (scale, zero point)`."""
        p = self.integer_params(x[0])
        c = self.conv
        dense = int8.Conv2d(
            np.ascontiguousarray(p.weight.transpose(0, 2, 3, 1)),  # OHWI
            p.bias,
            p.multiplier,
            p.shift,
            int8.Activation(p.zero_point, p.scale),
            (int(c.stride[0]), int(c.stride[1])),
            self.padding,
            p.act_min,
            p.act_max,
            tuple(inputs),
        )
        if c.groups == 1:
            return dense
        return int8.DepthwiseConv2d(
            **{
                **vars(dense),
                "weight": np.ascontiguousarray(p.weight[:, 0].transpose(1, 2, 0)),  # kh kw Cout
                "depth_multiplier": c.out_channels // c.in_channels,
            }
        )

    # ---------------------------------------------------------------- forward
    def forward_float(self, x: torch.Tensor) -> torch.Tensor:
        """The unquantized float layer (folded conv + activation)."""
        w, b = self.folded()
        return activate(self._conv(x, w, b), self.activation)

    def _conv(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        c = self.conv
        top, bottom, left, right = self.padding
        if (top, left) == (bottom, right):  # the conv pads it
            return F.conv2d(x, w, b, c.stride, (top, left), 1, c.groups)
        return F.conv2d(pad(x, self.padding), w, b, c.stride, 0, 1, c.groups)

    def forward(self, x: QTensor) -> QTensor:
        y = None
        if self._float_path(x):
            w, b = self.folded()
            y = activate(self._conv(x.value, self.fake_weight(w), b), self.activation)
            if self.training:
                self._observe(y)
        p = self.integer_params(x.scale)
        q = self._integer_forward(x.q.detach() - x.zero_point, p)
        return _straight_through(
            y if self._needs_grad(x) else None, q, p.scale, p.zero_point, p.act_min, p.act_max
        )

    def _integer_forward(self, v: torch.Tensor, p: IntParams) -> torch.Tensor:
        """int8 output values (as float32, on `v`'s device) of the integer conv on
        `v = q_in - zp_in` (the core's `conv2d` / `depthwise`).

        The accumulator is computed exactly in floating point: float32 when no partial
        sum can reach 2**24 (|v| <= 255), float64 otherwise; it then wraps to int32
        as the format says.
        """
        dev = v.device
        w64 = np.abs(p.weight.astype(np.int64)).reshape(len(p.weight), -1)
        bound = float(w64.sum(1).max()) * 255 + float(np.abs(p.bias.astype(np.int64)).max())
        dtype = torch.float32 if bound < 2**24 else torch.float64
        w = torch.from_numpy(p.weight).to(dev, dtype)
        with _exact_float():
            acc = self._conv(v.to(dtype), w, None)
        acc = acc.add_(torch.from_numpy(p.bias).to(dev, dtype).view(1, -1, 1, 1)).round_()
        acc_int = acc.to(torch.int64)
        if bound >= 2**31:  # below, every sum is an int32 already: the wrap changes nothing
            acc_int = wrap_int32(acc_int)
        q = wrap_int32(_requantize(acc_int, p.multiplier, p.shift).add_(p.zero_point))
        return q.clamp_(p.act_min, p.act_max).to(torch.float32)


class QAdd(_Observed):
    """Element-wise add of two int8 tensors (+ ReLU/ReLU6), with its own output scale.

    The integer forward is TFLite's int8 add (the core's `add`): both inputs shifted
    left by 20 and rescaled to twice the larger input scale, summed (int32 wrap),
    requantized to the output scale, clamped.
    """

    def __init__(self, activation: str = "none", momentum: float = 0.1) -> None:
        super().__init__(activation, momentum)

    def int8_layer(
        self, a: tuple[float, int], b: tuple[float, int], inputs: tuple[int, int]
    ) -> int8.Add:
        """The model-file record of `a + b` (each `(scale, zero point)`), reading the
        tensors `inputs`. Multipliers as TFLite's add derives them from the scales."""
        scale, zp = self.output_quant()
        m_in, s_in, m, s = add_multipliers((a[0], b[0]), scale, ADD_LEFT_SHIFT)
        act_min, act_max = activation_range(self.activation, scale, zp)
        return int8.Add(
            (int(inputs[0]), int(inputs[1])),
            m_in,
            s_in,
            m,
            s,
            int8.Activation(zp, scale),
            ADD_LEFT_SHIFT,
            act_min,
            act_max,
        )

    def forward(self, a: QTensor, b: QTensor) -> QTensor:
        if a.q.shape != b.q.shape:
            raise ValueError(f"add needs two tensors of one shape, got {a.q.shape}, {b.q.shape}")
        y = None
        if self._float_path(a, b):
            y = activate(a.value + b.value, self.activation)
            if self.training:
                self._observe(y)
        p = self.int8_layer(a.quant, b.quant, (0, 0))

        def scaled(x: QTensor, k: int) -> torch.Tensor:
            v = (x.q.detach().to(torch.int64) - x.zero_point) << p.left_shift
            return _requantize(v, p.input_multipliers[k], p.input_shifts[k])

        s = wrap_int32(scaled(a, 0) + scaled(b, 1))
        out = wrap_int32(_requantize(s, p.multiplier, p.shift).add_(p.output.zero_point))
        q = out.clamp_(p.act_min, p.act_max).to(torch.float32)
        y = y if self._needs_grad(a, b) else None
        return _straight_through(y, q, p.output.scale, p.output.zero_point, p.act_min, p.act_max)


def _requantize(x: torch.Tensor, multiplier: object, shift: object) -> torch.Tensor:
    """`quant.integer.requantize(x, multiplier, shift)` with tables given on the host (per
    channel, dim 1, or one value), in fewer passes over `x` where no shift is positive.

    With `x` int32 and `m` in [0, 2**31) no value saturates (`MIN * MIN` needs a negative
    `m`), so `srdhm` is `floor((x m + 2**30) / 2**31)`; it is >= 0 exactly where
    `x m >= -2**30`, and the rounding right shift by `e` of it adds an integer `c` and
    floors by `2**e`. Two nested floors by powers of two are one:
    `floor((x m + 2**30 + c 2**31) / 2**(31 + e))`, inside int64 (|x m| < 2**62, c <= 2**30).
    """
    m = np.asarray(multiplier, np.int64).reshape(-1)
    e = np.asarray(shift, np.int64).reshape(-1)
    view = (1, -1, *(1,) * (x.dim() - 2)) if len(m) > 1 else ()

    def table(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(x.device).view(view)

    if np.any(e > 0):
        return requantize(x, table(m), table(e))
    right = -e
    c = (1 << 30) + ((((1 << right) - 1) >> 1) << 31)  # + 2**(e-1) - 1, the rounding
    up = np.where(right > 0, 1 << 31, 0)  # + 1 where the srdhm result is >= 0 (e > 0)
    p = x * table(m)
    p.add_(torch.where(p >= -(1 << 30), table(c + up), table(c)))
    return p.bitwise_right_shift_(table(right + 31))


class QPool2d(nn.Module):
    """Average or max pooling of an int8 tensor; the output keeps the input's scale and
    zero point (the format requires it). Padded positions are not counted.

    `padding` is one value for every side or (top, bottom, left, right).

    Integer forward (the core's `pool`): max of the window, or its sum `s` over the `n`
    valid positions divided with rounding half away from zero.
    """

    def __init__(
        self, kind: str, kernel: int, stride: int, padding: int | tuple[int, int, int, int] = 0
    ) -> None:
        super().__init__()
        check_pool(kind)
        sides = (padding,) * 4 if isinstance(padding, int) else padding
        self.kind, self.kernel, self.stride = kind, kernel, stride
        self.padding = check_padding(sides, (kernel, kernel))

    def int8_layer(self, x: tuple[float, int], inputs: tuple[int, ...]) -> int8.Pool2d:
        k, s = self.kernel, self.stride
        return int8.Pool2d(
            self.kind, (k, k), (s, s), self.padding, float(x[0]), inputs=tuple(inputs)
        )

    def _window_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Window sums of `x`, zero padded (exact for integer values)."""
        return F.avg_pool2d(pad(x, self.padding), self.kernel, self.stride, divisor_override=1)

    def _max(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(pad(x, self.padding, float("-inf")), self.kernel, self.stride)

    def _count(self, x: torch.Tensor) -> torch.Tensor:
        """Valid positions per window, (1, 1, Ho, Wo)."""
        ones = torch.ones((1, 1, *x.shape[-2:]), dtype=x.dtype, device=x.device)
        return self._window_sum(ones)

    def forward(self, x: QTensor) -> QTensor:
        q_in = x.q.detach()
        y = None
        need_grad = torch.is_grad_enabled() and x.value.requires_grad
        if self.kind == "max":
            q = self._max(q_in)
            if need_grad:
                y = self._max(x.value)
        else:
            n = self._count(q_in).to(torch.int64)
            s = self._window_sum(q_in).to(torch.int64)
            a = (s.abs() + n // 2) // n
            q = torch.where(s >= 0, a, -a).to(torch.float32)
            if need_grad:
                y = self._window_sum(x.value) / self._count(x.value)
        return _straight_through(y, q, x.scale, x.zero_point, -128, 127)
