"""Golden vectors for the int8 encoder, checked by `cargo test` and pytest.

For each model NAME: NAME.safetensors (the model), NAME_images.npy (uint8 NHWC)
and NAME_symbols.npy (uint8, the numpy reference's output). Without arguments
this script rebuilds everything in memory and fails if the stored files differ;
it rewrites them only with `--write` (never silently).

    .venv/bin/python tests/vectors/make_vectors.py [--write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from semanticnn import int8

HERE = Path(__file__).resolve().parent


def _conv_params(rng: np.random.Generator, cout: int, fan_in: int) -> dict[str, np.ndarray]:
    real = rng.uniform(0.5, 1.5, cout) * 70.0 / (np.sqrt(fan_in) * 60.0 * 73.0)
    mult, shift = int8.quantize_multiplier(real)
    return {
        "bias": rng.integers(-3000, 3000, cout).astype(np.int32),
        "multiplier": mult,
        "shift": shift,
    }


def mixed_model() -> tuple[int8.Input, list[int8.Layer], int8.Head]:
    """Every layer type once: conv, depthwise (multiplier 2), both pools, a residual add."""
    rng = np.random.default_rng(20251125)
    w = lambda *shape: rng.integers(-127, 128, shape, dtype=np.int8)  # noqa: E731
    act = int8.Activation
    layers: list[int8.Layer] = [
        # 0: 12x10x3 -> 6x5x8, ReLU6-style clamp
        int8.Conv2d(
            w(8, 3, 3, 3),
            **_conv_params(rng, 8, 27),
            output=act(-5, 0.05),
            stride=(2, 2),
            padding=(1, 1),
            act_min=-5,
            act_max=115,
        ),
        # 1: depthwise 3x3, multiplier 2 -> 6x5x16
        int8.DepthwiseConv2d(
            w(3, 3, 16),
            **_conv_params(rng, 16, 9),
            output=act(3, 0.05),
            padding=(1, 1),
            depth_multiplier=2,
        ),
        # 2: pointwise 16 -> 8
        int8.Conv2d(w(8, 1, 1, 16), **_conv_params(rng, 8, 16), output=act(-2, 0.05), act_min=-2),
        # 3: residual add of tensors 1 (layer 0's output, 8 ch) and 3
        int8.Add((1, 3), (1 << 30, 1 << 30), (0, -1), 1_500_000_000, -19, act(0, 0.1)),
        # 4: max pool 2x2 stride 1 pad 1 -> 7x6x8; 5: avg pool 3x2 stride 2 -> 3x3x8
        int8.Pool2d("max", (2, 2), (1, 1), (1, 1)),
        int8.Pool2d("avg", (3, 2), (2, 2), (1, 0), act_min=-100, act_max=100),
    ]
    head = int8.Head(
        np.arange(-8, 120, 8, dtype=np.int32) * 16, frac_bits=4, power_norm=False, gray=True
    )
    return int8.Input((12, 10, 3), zero_point=-3, scale=1 / 255), layers, head


def same_model() -> tuple[int8.Input, list[int8.Layer], int8.Head]:
    """Padding that differs between sides on every padded op (format version 2): TFLite's
    SAME with an odd total (one more at the bottom and right) and others."""
    rng = np.random.default_rng(20260301)
    w = lambda *shape: rng.integers(-127, 128, shape, dtype=np.int8)  # noqa: E731
    act = int8.Activation

    def same(shape: tuple[int, int], kernel: int, stride: int) -> tuple[int, int, int, int]:
        """TFLite's SAME (top, bottom, left, right) over an (H, W) input."""
        h, w = shape
        return (*int8.same_padding(h, kernel, stride), *int8.same_padding(w, kernel, stride))

    layers: list[int8.Layer] = [
        # 0: 16x14x3 -> 8x7x8, conv 3x3 stride 2 SAME: (0, 1, 0, 1)
        int8.Conv2d(
            w(8, 3, 3, 3),
            **_conv_params(rng, 8, 27),
            output=act(-6, 0.05),
            stride=(2, 2),
            padding=same((16, 14), 3, 2),
        ),
        # 1: depthwise 3x3 stride 2 SAME, the firmware's plane kernel: (0, 1, 1, 1) -> 4x4x8
        int8.DepthwiseConv2d(
            w(3, 3, 8),
            **_conv_params(rng, 8, 9),
            output=act(2, 0.05),
            stride=(2, 2),
            padding=same((8, 7), 3, 2),
        ),
        # 2: depthwise 3x2, multiplier 2, padding (2, 0, 0, 1) -> 4x4x16
        int8.DepthwiseConv2d(
            w(3, 2, 16),
            **_conv_params(rng, 16, 6),
            output=act(-1, 0.05),
            padding=(2, 0, 0, 1),
            depth_multiplier=2,
        ),
        # 3: max pool 3x3 stride 2 SAME: (0, 1, 0, 1) -> 2x2x16
        int8.Pool2d("max", (3, 3), (2, 2), same((4, 4), 3, 2)),
        # 4: avg pool 2x2 stride 1, padding (1, 0, 0, 1): not counted -> 2x2x16
        int8.Pool2d("avg", (2, 2), (1, 1), (1, 0, 0, 1)),
    ]
    head = int8.Head(
        np.arange(-8, 120, 8, dtype=np.int32) * 16, frac_bits=4, power_norm=False, gray=False
    )
    return int8.Input((16, 14, 3), zero_point=-5, scale=1 / 255), layers, head


def models() -> dict[str, tuple[int8.Input, list[int8.Layer], int8.Head]]:
    return {"default": int8.synthetic_model(seed=7), "mixed": mixed_model(), "same": same_model()}


def build(name: str, out: Path) -> None:
    spec = models()[name]
    path = out / f"{name}.safetensors"
    int8.write_model(path, *spec)
    rng = np.random.default_rng(sum(name.encode()))
    images = rng.integers(0, 256, (8, *spec[0].shape), dtype=np.uint8)
    images[0] = 0  # all-zero input: the power-norm guard
    images[1] = 255
    np.save(out / f"{name}_images.npy", images)
    np.save(out / f"{name}_symbols.npy", int8.reference_encode(path, images))


def _contents(path: Path) -> object:
    """What a file means (safetensors metadata order is not stable, so not raw bytes)."""
    if path.suffix == ".npy":
        a = np.load(path)
        return (a.dtype.str, a.shape, a.tobytes())
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        tensors = {
            k: (lambda a: (a.dtype.str, a.shape, a.tobytes()))(f.get_tensor(k)) for k in f.keys()
        }
        return f.metadata(), tensors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the stored vectors")
    args = ap.parse_args()
    if args.write:
        for name in models():
            build(name, HERE)
        return 0
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models():
            build(name, Path(tmp))
            for suffix in (".safetensors", "_images.npy", "_symbols.npy"):
                f = f"{name}{suffix}"
                if not (HERE / f).exists() or _contents(Path(tmp) / f) != _contents(HERE / f):
                    bad.append(f)
    if bad:
        print(f"stored vectors differ: {', '.join(bad)} (rerun with --write on purpose)")
        return 1
    print("golden vectors up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
