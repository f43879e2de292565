"""The encoder architecture: what training builds, export writes and the benches run.

Plain data, no torch: `semanticnn.int8.synthetic_model` and the benches import it
without loading the models.
"""

from __future__ import annotations

from dataclasses import dataclass


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


DEFAULT_INPUT_SHAPE = (28, 28, 1)  # (H, W, C) of the images `default_architecture` reads
DEFAULT_LEVELS = 8  # centers of the head's quantizer (3 bits per symbol)
