"""The int8 encoder: requantization, model files, Rust == numpy reference bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from semanticnn import int8

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


# --------------------------------------------------------------------------- requantization


@pytest.mark.parametrize(
    ("x", "m", "s", "want"),
    [
        (5, 1 << 30, 0, 3),  # 2.5: SRDHM nudges ties up
        (-5, 1 << 30, 0, -2),  # -2.5: ... which is toward zero for negatives (gemmlowp)
        (5, I32_MAX, -1, 3),  # RDBPOT tie away from zero
        (-5, I32_MAX, -1, -3),
        (3, I32_MAX, -1, 2),
        (-3, I32_MAX, -1, -2),
        (100, I32_MAX, 0, 100),  # shift 0: just the (almost 1) multiplier
        (I32_MAX, I32_MAX, -31, 1),  # right shift 31
        (I32_MIN, I32_MAX, -31, -1),
        (1 << 30, I32_MAX, -31, 1),  # exactly 0.5 after the multiply: away from zero
        ((1 << 30) - 1, I32_MAX, -31, 0),
        (I32_MIN, I32_MIN, 0, I32_MAX),  # the one saturating SRDHM case
        (I32_MAX, I32_MAX, 1, I32_MAX - 1),  # left shift saturates, then x*~1
        (-(1 << 30), 1 << 30, 30, -(1 << 30)),  # left shift 30 of a big negative saturates
        (7, 0, 0, 0),
    ],
)
def test_requantize_edges(x: int, m: int, s: int, want: int) -> None:
    assert int(int8.requantize(np.array([x]), m, s)[0]) == want


def test_requantize_matches_real_multiplier() -> None:
    rng = np.random.default_rng(0)
    real = rng.uniform(1e-6, 4.0, 500)
    mult, shift = int8.quantize_multiplier(real)
    x = rng.integers(-(1 << 20), 1 << 20, 500)
    got = int8.requantize(x, mult, shift)
    assert np.all(np.abs(got - x * real) <= 1.0 + np.abs(x * real) * 2.0**-30)


def test_quantize_multiplier_limits() -> None:
    m, s = int8.quantize_multiplier(np.array([0.0, 0.5, 1.0, 1e-12, 1e-30]))
    assert m.tolist() == [0, 1 << 30, 1 << 30, round(1e-12 * 2.0**62), 0]
    assert s.tolist() == [0, 0, 1, -31, -31]
    with pytest.raises(ValueError):
        int8.quantize_multiplier(-1.0)
    with pytest.raises(ValueError):
        int8.quantize_multiplier(2.0**40)


# --------------------------------------------------------------------------- files


def test_write_read_roundtrip(tmp_path: Path) -> None:
    inp, layers, head = int8.synthetic_model(seed=3)
    path = tmp_path / "m.safetensors"
    int8.write_model(path, inp, layers, head)
    model = int8.read_model(path)
    assert model.input.shape == (28, 28, 1)
    assert model.shapes == [(28, 28, 1), (28, 28, 16), (14, 14, 32), (7, 7, 32), (7, 7, 3)]
    assert model.num_symbols == 147
    for a, b in zip(layers, model.layers, strict=True):
        assert isinstance(a, int8.Conv2d) and isinstance(b, int8.Conv2d)
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.multiplier, b.multiplier)
    assert not list(tmp_path.glob(".*.tmp"))


def test_writer_rejects_bad_descriptions(tmp_path: Path) -> None:
    inp, layers, head = int8.synthetic_model()
    bad = int8.Conv2d(
        layers[1].weight.astype(np.int16),  # type: ignore[union-attr]
        *(getattr(layers[1], n) for n in ("bias", "multiplier", "shift")),
        output=int8.Activation(-128, 0.1),
    )
    with pytest.raises(int8.ModelError, match=r"weight must be int8"):
        int8.write_model(tmp_path / "m", inp, [layers[0], bad], head)
    with pytest.raises(int8.ModelError, match=r"must be \(Cout, kh, kw, 1\)"):
        int8.write_model(tmp_path / "m", inp, [layers[1]], head)
    assert not list(tmp_path.iterdir())


def test_reference_is_deterministic_and_uses_all_levels(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    int8.write_model(path, *int8.synthetic_model(seed=1))
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    a = int8.reference_encode(path, images)
    assert a.shape == (3, 147) and a.dtype == np.uint8
    assert np.array_equal(a, int8.reference_encode(path, images))
    assert a.max() < 8 and len(np.unique(a)) >= 4
    with pytest.raises(ValueError, match="images"):
        int8.reference_encode(path, images.astype(np.float32))
