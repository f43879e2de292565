"""The runtime's integer math in torch, on the tensor's own device.

The same formulas as the Rust core (`rust/core/src/nn/requant.rs`, `head.rs`) and
docs/model-format.md, written as vectorized int64 tensor ops (no numpy, no loop over
elements, no copy to the host), so the fake-quantized training forward computes
exactly what the device will. `tests/test_integer_torch.py` checks them bit for bit
against the numpy reference (`semanticnn.int8.reference`) and the Rust encoder.
"""

from __future__ import annotations

import torch

I32_MIN = -(1 << 31)
I32_MAX = (1 << 31) - 1


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """int64 values wrapped to int32 two's complement (kept as int64)."""
    return (x + (1 << 31)).bitwise_and_(0xFFFFFFFF).add_(I32_MIN)


def srdhm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Saturating rounding doubling high multiply of int32 values held in int64.

    `floor((a * b + 2**30) / 2**31)` (gemmlowp's nudged truncating division, as one
    floor); the only result outside int32, `MIN * MIN`, saturates to `MAX`.
    """
    return (a * b).add_(1 << 30).bitwise_right_shift_(31).clamp_(max=I32_MAX)


def rounding_right_shift(x: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """`x / 2**exponent` (`exponent` in 0..=31), rounded half away from zero.

    The core's `rdbpot` (remainder against a threshold) as one floor:
    `(x + 2**(e-1) - 1 + [x >= 0]) >> e` for `e > 0`, which rounds ties up for
    `x >= 0` and down for `x < 0`; `e = 0` adds nothing.
    """
    half = ((torch.ones_like(exponent) << exponent) - 1) >> 1  # 2**(e-1) - 1, or 0
    up = (x >= 0) & (exponent > 0)
    return (x + half).add_(up).bitwise_right_shift_(exponent)


def requantize(x: torch.Tensor, multiplier: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """TFLite/CMSIS-NN requantization `x * multiplier * 2**(shift - 31)`, rounded (int64).

    `x`: int32 values as int64; `multiplier` (Q31, >= 0) and `shift` (in [-31, 30],
    positive = left) int64, broadcast against `x` (per channel: shape (1, C, 1, 1)).
    A left shift that wraps in int32 (as TFLite's), `srdhm` by the multiplier, then the
    rounding right shift.
    """
    left = shift.clamp(0, 30)
    right = (-shift).clamp(0, 31)
    x1 = wrap_int32(x << left)
    return rounding_right_shift(srdhm(x1, multiplier), right)


def _isqrt(n: torch.Tensor) -> torch.Tensor:
    """Floor of the square root of int64 values in [0, 2**52).

    The float64 root is within one of the answer there (the argument converts exactly
    and the root is correctly rounded); one integer step each way makes it exact.
    """
    r = n.double().sqrt().floor().long()
    r = r - (r * r > n).long()
    return r + ((r + 1) * (r + 1) <= n).long()


def head_symbols(
    q: torch.Tensor,
    zero_point: int,
    centers: torch.Tensor,
    frac_bits: int,
    power_norm: bool,
    gray: bool = False,
) -> torch.Tensor:
    """The integer head on a batch of int8 latents: symbols (int64, `q`'s shape).

    `q` (B, ...): int8 values (any integer or integral float dtype), one latent per
    row; `centers`: strictly increasing int64 fixed-point centers with `frac_bits`
    fraction bits. With `power_norm` each latent is scaled to unit mean power:
    `norm = isqrt((sum v**2 << 16) // n)` and `y = round(v * 2**(F + 8) / norm)`
    (half away from zero, 0 when `norm == 0`); otherwise `y = v * 2**F`. The symbol
    is the index of the nearest center, ties to the lower one: the number of
    midpoints strictly below `y`. With `gray` it is Gray-coded.
    """
    v = q.to(torch.int64) - zero_point
    f = int(frac_bits)
    if power_norm:
        rows = v.reshape(v.shape[0], -1)
        n = max(rows.shape[1], 1)
        norm = _isqrt(((rows * rows).sum(1) << 16) // n).view(-1, *[1] * (v.dim() - 1))
        a = v.abs() << (f + 8)
        m = (a + norm // 2) // norm.clamp(min=1)
        y = torch.where(norm == 0, torch.zeros_like(v), torch.where(v < 0, -m, m))
    else:
        y = v << f
    c = centers.to(device=y.device, dtype=torch.int64)
    k = torch.bucketize((2 * y).contiguous(), c[:-1] + c[1:], right=False)
    return k ^ (k >> 1) if gray else k
