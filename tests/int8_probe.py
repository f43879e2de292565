"""The last tensor of an int8 layer stack, as the Rust core and the numpy reference
compute it: what the QAT layers' integer outputs are checked against."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from semanticnn import int8

_HEAD = int8.Head(np.array([-1, 1], np.int32), frac_bits=0, power_norm=False)


def rust_tensor(input: int8.Input, layers: Sequence[int8.Layer], pixels: np.ndarray) -> np.ndarray:
    """The last tensor of the graph (int8 (N, H, W, C)) as the Rust core computes it
    for uint8 (N, H, W, C) `pixels` (`Encoder.latent`, on every kernel this CPU has)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        int8.write_model(path, input, list(layers), _HEAD)
        shape = int8.read_model(path).shapes[-1]
        enc = int8.Encoder.load(path)
        by_kernel = [enc.latent(pixels, kernel=k) for k in int8.Encoder.kernels()]
    for other in by_kernel[1:]:
        np.testing.assert_array_equal(other, by_kernel[0])
    return by_kernel[0].reshape(-1, *shape)


def reference_tensor(
    input: int8.Input, layers: Sequence[int8.Layer], pixels: np.ndarray
) -> np.ndarray:
    """The last tensor by the numpy reference (`int8.reference_tensors`), (N, H, W, C)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        int8.write_model(path, input, list(layers), _HEAD)
        model = int8.read_model(path)
    return np.stack([int8.reference_tensors(model, p)[-1] for p in pixels])
