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
    """The `tiny` model's encoder on 28x28x1 images, as the benches and the synthetic
    test models run it.

    The first two convs are tiny's head (`models.zoo` builds them from here; the
    second is the split point, 14x14x32); the last two are what the compressor
    (`models.encoder.compressor`) makes of those split features: a stride-2 conv and
    the 1x1 conv to the 7x7x3 latent that the head quantizes (3 bits each: 441 bits,
    56 bytes, 448x less than the float32 split features).
    """
    return [
        ConvSpec(1, 16, 3, 1, 1, relu=True),
        ConvSpec(16, 32, 3, 2, 1, relu=True),
        ConvSpec(32, 32, 3, 2, 1, relu=True),
        ConvSpec(32, 3, 1, 1, 0, relu=False),
    ]


# The model zoo's names and split points (`models.zoo` builds them).
SPLITS: dict[str, tuple[str, ...]] = {
    "tiny": ("conv2",),
    "mobilenetv2-0.35": ("block1", "block2", "block3", "block4"),
    "mobilenetv2-0.5": ("block1", "block2", "block3", "block4"),
    "resnet8": ("stem", "stage1"),
    "resnet18": ("stem", "stage1"),
}
DEFAULT_SPLIT = {
    "tiny": "conv2",
    "mobilenetv2-0.35": "block3",
    "mobilenetv2-0.5": "block3",
    "resnet8": "stage1",
    "resnet18": "stage1",
}
MODELS = tuple(SPLITS)
TAILS = ("resnet", "mobilenetv2")  # the edge tails of `tiny`


def check_model(name: str, split: str, tail: str = "resnet") -> str:
    """The split point of zoo model `name` (`split`, or its default when empty); a
    ValueError naming the options for an unknown model, split point or tail."""
    if name not in SPLITS:
        raise ValueError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    split = split or DEFAULT_SPLIT[name]
    if split not in SPLITS[name]:
        raise ValueError(
            f"model {name} has no split point {split!r}; split points: {', '.join(SPLITS[name])}"
        )
    if name == "tiny" and tail not in TAILS:
        raise ValueError(f"unknown tail {tail!r} for tiny; tails: {', '.join(TAILS)}")
    return split


DEFAULT_INPUT_SHAPE = (28, 28, 1)  # (H, W, C) of the images `default_architecture` reads
DEFAULT_LEVELS = 8  # centers of the head's quantizer (3 bits per symbol)
