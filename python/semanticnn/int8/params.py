"""Integer parameters from real ones, as the exporter and the synthetic models need them."""

from __future__ import annotations

import math

import numpy as np


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
