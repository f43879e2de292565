"""Deterministic int8 models with random weights (tests, golden vectors, benches)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semanticnn.int8.layers import Activation, Conv2d, Head, Input, Layer
from semanticnn.int8.params import activation_range, quantize_multiplier
from semanticnn.models.architecture import (
    DEFAULT_INPUT_SHAPE,
    DEFAULT_LEVELS,
    ConvSpec,
    default_architecture,
)


def spread_multipliers(
    rng: np.random.Generator, channels: int, fan_in: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) that spread the outputs of random int8 weights
    and inputs over the int8 range."""
    real = rng.uniform(0.6, 1.4, channels) * 70.0 / (np.sqrt(fan_in) * 60.0 * 73.0)
    return quantize_multiplier(real)


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
        mult, shift = spread_multipliers(rng, spec.out_channels, k * k * spec.in_channels)
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
