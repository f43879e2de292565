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


def _f32(x: float | np.ndarray) -> np.ndarray:
    """Scales as a TFLite file holds them (float32), widened back to float64."""
    return np.asarray(x, np.float32).astype(np.float64)


def conv_multipliers(
    input_scale: float, filter_scales: np.ndarray, output_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) of a conv, as TFLite's
    PopulateConvolutionQuantizationParams derives them: the float32 scales multiplied
    and divided in float64, then `quantize_multiplier`."""
    real = _f32(input_scale) * _f32(filter_scales) / _f32(output_scale)
    return quantize_multiplier(np.atleast_1d(real))


def add_multipliers(
    scales: tuple[float, float], output_scale: float, left_shift: int
) -> tuple[tuple[int, int], tuple[int, int], int, int]:
    """((m1, m2), (s1, s2), m, s) of an int8 add of inputs of `scales`, as TFLite's add
    Prepare: each input rescaled to twice the larger input scale, the sum to the output
    (float32 scales, float64 quotients)."""
    s1, s2 = (float(_f32(s)) for s in scales)
    twice_max = 2.0 * max(s1, s2)
    m_in, e_in = quantize_multiplier(np.array([s1, s2]) / twice_max)
    (m,), (e,) = quantize_multiplier(twice_max / ((1 << left_shift) * float(_f32(output_scale))))
    return (int(m_in[0]), int(m_in[1])), (int(e_in[0]), int(e_in[1])), int(m), int(e)


def fixed_point_centers(
    centers: np.ndarray, frac_bits: int, power_norm: bool, latent_scale: float
) -> np.ndarray:
    """Real SQ centers -> the head's centers (int64; docs/model-format.md, "The head"):
    `round(r * 2**F)` with power normalization, `round(r / latent_scale * 2**F)`
    without; sorted, then kept strictly increasing (`c[i] = max(c[i], c[i-1] + 1)`).
    A model file holds them as int32: `write_model` refuses any outside it."""
    real = np.sort(np.asarray(centers, np.float64).reshape(-1))
    if len(real) == 0 or not np.all(np.isfinite(real)):
        raise ValueError("centers must be finite, and at least one")
    unit = 1.0 if power_norm else 1.0 / latent_scale
    ints = np.round(real * unit * 2.0**frac_bits).astype(np.int64)
    steps = np.arange(len(ints))
    return np.maximum.accumulate(ints - steps) + steps
