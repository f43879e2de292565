"""Deterministic int8 models with random weights (tests, golden vectors, benches)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semanticnn.int8.layers import Activation, Conv2d, Head, Input, Layer
from semanticnn.int8.params import activation_range, conv_multipliers
from semanticnn.models.architecture import (
    DEFAULT_INPUT_SHAPE,
    DEFAULT_LEVELS,
    ConvSpec,
    default_architecture,
)

OUTPUT_SCALE = 0.05  # of every synthetic layer's output


def spread_multipliers(
    rng: np.random.Generator, channels: int, fan_in: int, in_scale: float, out_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) that spread the outputs of random int8 weights
    and inputs over the int8 range, derived from float32 filter scales as TFLite
    derives them (so the model can leave as a `.tflite`)."""
    real = rng.uniform(0.6, 1.4, channels) * 70.0 / (np.sqrt(fan_in) * 60.0 * 73.0)
    filter_scales = (real * out_scale / in_scale).astype(np.float32)
    return conv_multipliers(in_scale, filter_scales, out_scale)


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
    in_scale = inp.scale
    for spec in arch:
        k = spec.kernel
        wt = rng.integers(-127, 128, (spec.out_channels, k, k, spec.in_channels), dtype=np.int8)
        bias = rng.integers(-2000, 2000, spec.out_channels).astype(np.int32)
        fan_in = k * k * spec.in_channels
        mult, shift = spread_multipliers(rng, spec.out_channels, fan_in, in_scale, OUTPUT_SCALE)
        in_scale = OUTPUT_SCALE
        zp = -128 if spec.relu else int(rng.integers(-10, 10))
        act_min, act_max = activation_range("relu" if spec.relu else "none", OUTPUT_SCALE, zp)
        layers.append(
            Conv2d(
                wt,
                bias,
                mult,
                shift,
                Activation(zp, OUTPUT_SCALE),
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
