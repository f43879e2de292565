"""int8 fake quantization of the encoder that reproduces the integer math exactly.

The forward value of every `QConv2d` is the integer result of docs/model-format.md
(symmetric per-channel int8 weights, int32 bias, `semanticnn.quant.integer.requantize`,
fused ReLU clamp), dequantized; its gradient is that of the float conv on the
fake-quantized weights (straight-through). The integer conv runs on the input's device.
The exporter reads the same integer tables (`QConv2d.integer_params`), so the exported
model computes what training saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semanticnn.int8.params import activation_range, quantize_multiplier
from semanticnn.quant.integer import requantize, wrap_int32

INPUT_ZERO_POINT = -128
INPUT_SCALE = 1.0 / 255.0


@dataclass(frozen=True)
class IntParams:
    """A conv's integer tables, as `semanticnn.int8.Conv2d` takes them (weights OIHW here)."""

    weight: np.ndarray  # int8 (Cout, Cin, kh, kw)
    bias: np.ndarray  # int32 (Cout,)
    multiplier: np.ndarray  # int32 (Cout,)
    shift: np.ndarray  # int32 (Cout,)
    zero_point: int
    scale: float
    act_min: int
    act_max: int


def quantize_input(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> int8 values (as float) `round(255 x) - 128`."""
    return torch.round(x * 255.0).clamp(0, 255) + INPUT_ZERO_POINT


class QConv2d(nn.Module):
    """A conv (+ optional ReLU) with an int8 output whose range an EMA observer learns."""

    lo: torch.Tensor  # the observed output range (buffers)
    hi: torch.Tensor
    observed: torch.Tensor

    def __init__(self, conv: nn.Conv2d, relu: bool, momentum: float = 0.1) -> None:
        super().__init__()
        self.conv = conv
        self.relu = relu
        self.momentum = momentum
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("observed", torch.tensor(False))

    # ---------------------------------------------------------------- quantization tables
    def weight_scale(self) -> torch.Tensor:
        w = self.conv.weight.detach()
        return w.abs().flatten(1).amax(1).clamp_min(1e-8) / 127.0

    def fake_weight(self) -> torch.Tensor:
        """Weights rounded to the int8 grid, with the identity gradient."""
        w = self.conv.weight
        s = self.weight_scale().view(-1, 1, 1, 1)
        wq = torch.clamp(torch.round(w.detach() / s), -127, 127) * s
        return w + (wq - w).detach()

    def output_quant(self) -> tuple[float, int]:
        """(scale, zero point) of the int8 output from the observed range."""
        lo = 0.0 if self.relu else min(float(self.lo), 0.0)
        hi = max(float(self.hi), lo + 1e-6, 0.0)
        scale = (hi - lo) / 255.0
        zp = int(np.clip(round(-128 - lo / scale), -128, 127))
        return scale, zp

    def integer_params(self, in_scale: float) -> IntParams:
        s_w = self.weight_scale().double().cpu()
        w_q = torch.clamp(
            torch.round(self.conv.weight.detach().double().cpu() / s_w.view(-1, 1, 1, 1)),
            -127,
            127,
        )
        b = (
            self.conv.bias.detach().double().cpu()
            if self.conv.bias is not None
            else torch.zeros_like(s_w)
        )
        b_q = torch.round(b / (in_scale * s_w)).clamp(-(2**31), 2**31 - 1)
        scale, zp = self.output_quant()
        mult, shift = quantize_multiplier((in_scale * s_w / scale).numpy())
        act_min, act_max = activation_range("relu" if self.relu else "none", scale, zp)
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

    # ---------------------------------------------------------------- forward
    def _observe(self, y: torch.Tensor) -> None:
        lo, hi = y.detach().amin(), y.detach().amax()
        if not bool(self.observed):
            self.lo.copy_(lo)
            self.hi.copy_(hi)
            self.observed.fill_(True)
        else:
            self.lo.lerp_(lo, self.momentum)
            self.hi.lerp_(hi, self.momentum)

    def forward(
        self, x: torch.Tensor, q_in: torch.Tensor, in_scale: float, in_zp: int
    ) -> tuple[torch.Tensor, torch.Tensor, float, int]:
        """x: dequantized input (with gradient); q_in: its int8 values (float tensor).

        Returns (dequantized output with the STE gradient, int8 output values, scale, zp).
        """
        frozen = not torch.is_grad_enabled() or not (
            x.requires_grad or any(p.requires_grad for p in self.conv.parameters())
        )
        y = None
        if not frozen or self.training:
            y = F.conv2d(x, self.fake_weight(), self.conv.bias, self.conv.stride, self.conv.padding)
            if self.relu:
                y = F.relu(y)
            if self.training:
                self._observe(y)
        p = self.integer_params(in_scale)
        q_out = self._integer_forward(q_in.detach() - in_zp, p)
        exact = (q_out - p.zero_point) * p.scale
        if frozen or y is None:
            return exact, q_out, p.scale, p.zero_point
        lo, hi = (p.act_min - p.zero_point) * p.scale, (p.act_max - p.zero_point) * p.scale
        y = torch.clamp(y, lo, hi)
        return y + (exact - y).detach(), q_out, p.scale, p.zero_point

    def _integer_forward(self, v: torch.Tensor, p: IntParams) -> torch.Tensor:
        """int8 output values (as float32, on `v`'s device) of the integer conv on
        `v = q_in - zp_in`.

        The accumulator is computed exactly in floating point: float32 when no partial
        sum can reach 2**24 (|v| <= 255), float64 otherwise. cuDNN stays out of it (its
        FFT and Winograd algorithms are not exact); the other backends sum products.
        """
        dev = v.device
        bound = float(np.abs(p.weight.astype(np.int64)).reshape(len(p.weight), -1).sum(1).max())
        bound = bound * 255 + float(np.abs(p.bias.astype(np.int64)).max())
        dtype = torch.float32 if bound < 2**24 else torch.float64
        w = torch.from_numpy(p.weight).to(dev, dtype)
        with torch.backends.cudnn.flags(enabled=False):
            acc = F.conv2d(v.to(dtype), w, None, self.conv.stride, self.conv.padding)
        acc = acc + torch.from_numpy(p.bias).to(dev, dtype).view(1, -1, 1, 1)
        acc_int = wrap_int32(acc.round().to(torch.int64))  # int32 wrap, as the format says
        mult = torch.from_numpy(p.multiplier).to(dev, torch.int64).view(1, -1, 1, 1)
        shift = torch.from_numpy(p.shift).to(dev, torch.int64).view(1, -1, 1, 1)
        q = (requantize(acc_int, mult, shift) + p.zero_point).clamp_(p.act_min, p.act_max)
        return q.to(torch.float32)
