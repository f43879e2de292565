"""Integer parameters from real ones, as the exporter and the synthetic models need them:
TFLite's rules exactly (quantization_util.cc and kernel_util.cc), ties included, so that
a model exported here and the same model in TFLite carry the same integers."""

from __future__ import annotations

import math

import numpy as np


def round_half_away(x: float) -> int:
    """`x` rounded to the nearest integer, ties away from zero (C's `round`, which
    TFLite's `TfLiteRound` is; Python's `round` takes ties to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Real multiplier(s) -> (int32 Q31 multiplier, int32 shift), TFLite's QuantizeMultiplier.

    `real = multiplier * 2**(shift - 31)`, the Q31 mantissa rounded half away from
    zero; zero gives (0, 0), and so does a multiplier below 2**-32 (a shift under -31:
    TFLite flushes it to zero rather than shift every bit out).
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
        m = round_half_away(q * (1 << 31))  # q * 2**31 is exact: so is the tie test
        if m == 1 << 31:
            m //= 2
            e += 1
        if e > 30:
            raise ValueError(f"real multiplier {x} too large for the format")
        if e < -31:
            m, e = 0, 0
        mult[i], shift[i] = m, e
    return mult.astype(np.int32), shift.astype(np.int32)


def activation_range(kind: str, scale: float, zero_point: int) -> tuple[int, int]:
    """(act_min, act_max) of a fused activation: "none", "relu" or "relu6", as TFLite's
    CalculateActivationRangeQuantized: 6 / scale divided in float32, rounded half
    away from zero."""
    if kind == "none":
        return -128, 127
    if kind == "relu":
        return max(-128, zero_point), 127
    if kind == "relu6":
        six = float(np.float32(6.0) / np.float32(scale))
        return max(-128, zero_point), min(127, zero_point + round_half_away(six))
    raise ValueError(f"activation must be 'none', 'relu' or 'relu6', got {kind!r}")
