"""The torch integer math (`semanticnn.quant.integer`) equals the numpy reference and
the Rust encoder bit for bit: requantization, the int32 wrap, and the head."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from semanticnn import int8
from semanticnn.quant.integer import head_symbols, requantize, wrap_int32
from spec_cases import I32_MAX, I32_MIN, REQUANTIZE_EDGES

int32s = st.one_of(
    st.sampled_from([I32_MIN, I32_MIN + 1, -1, 0, 1, I32_MAX - 1, I32_MAX]),
    st.integers(I32_MIN, I32_MAX),
)
# Q31 multipliers as QuantizeMultiplier makes them, [2**30, 2**31), with the rounding
# edges (a half: 2**30; almost one: MAX) and, rarely, the small or zero ones a
# clipped shift leaves.
multipliers = st.one_of(
    st.sampled_from([1 << 30, I32_MAX]),
    st.integers(1 << 30, I32_MAX),
    st.integers(0, I32_MAX),
)
shifts = st.integers(-31, 30)


def _torch_requantize(x: list[int], m: list[int], s: list[int]) -> np.ndarray:
    t = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    return requantize(t(x), t(m), t(s)).numpy()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(int32s, multipliers, shifts), min_size=1, max_size=64))
def test_requantize_equals_the_numpy_reference(cases: list[tuple[int, int, int]]) -> None:
    x, m, s = (list(c) for c in zip(*cases, strict=True))
    want = int8.requantize(np.array(x), np.array(m), np.array(s))
    np.testing.assert_array_equal(_torch_requantize(x, m, s), want)


def test_requantize_edges_of_the_spec() -> None:
    """The spec's worked cases, including the saturating and wrapping ones."""
    x, m, s, want = (list(c) for c in zip(*REQUANTIZE_EDGES, strict=True))
    assert _torch_requantize(x, m, s).tolist() == want


def test_requantize_broadcasts_per_channel() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(I32_MIN, I32_MAX, (2, 5, 3, 4), endpoint=True)
    m = rng.integers(1 << 30, I32_MAX, (1, 5, 1, 1), endpoint=True)
    s = rng.integers(-31, 31, (1, 5, 1, 1))
    got = requantize(torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(s))
    np.testing.assert_array_equal(got.numpy(), int8.requantize(x, m, s))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(1 << 62), 1 << 62), min_size=1, max_size=32))
def test_wrap_int32_is_the_twos_complement_cast(values: list[int]) -> None:
    x = np.array(values, np.int64)
    got = wrap_int32(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, x.astype(np.int32).astype(np.int64))


# --------------------------------------------------------------------------- against Rust

LO, HI = -8, 7  # the head's window: centers LO..HI, symbol = clamp(output, LO, HI) - LO


@st.composite
def requant_channels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel (bias, multiplier, shift); most biases aim the output at the head's
    window, so the rounding is seen rather than the int8 clamp."""
    n = draw(st.integers(1, 24))
    bias, mult, shift = [], [], []
    for _ in range(n):
        m, s = draw(multipliers), draw(shifts)
        if draw(st.booleans()) and m > 0:
            target = draw(st.floats(LO - 3.0, HI + 3.0))
            b = round(target * 2.0 ** (31 - s) / m) + draw(st.integers(-300, 300))
            b = min(max(b, I32_MIN), I32_MAX)
        else:
            b = draw(int32s)
        bias.append(b)
        mult.append(m)
        shift.append(s)
    return (np.array(bias, np.int32), np.array(mult, np.int32), np.array(shift, np.int32))


@settings(max_examples=60, deadline=None)
@given(channels=requant_channels(), seed=st.integers(0, 2**32 - 1))
def test_requantize_equals_rust(channels: tuple[np.ndarray, np.ndarray, np.ndarray], seed: int):
    """A 1x1 conv of weight 1 on pixels p (input zero point -128, so v = p) makes the
    accumulator p + bias, wrapped to int32; the head with centers LO..HI (no power
    norm, 0 fraction bits) reads the clamped output back as the symbol."""
    bias, mult, shift = channels
    cout, width = len(bias), 32
    layer = int8.Conv2d(
        np.ones((cout, 1, 1, 1), np.int8), bias, mult, shift, int8.Activation(0, 1.0)
    )
    head = int8.Head(np.arange(LO, HI + 1, dtype=np.int32), frac_bits=0, power_norm=False)
    pixels = np.random.default_rng(seed).integers(0, 256, (1, 1, width, 1), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        int8.write_model(path, int8.Input((1, width, 1), zero_point=-128), [layer], head)
        rust = int8.Encoder.load(path).encode(pixels).reshape(width, cout)
    acc = wrap_int32(torch.from_numpy(pixels.reshape(width, 1).astype(np.int64) + bias))
    m = torch.from_numpy(mult.astype(np.int64))
    s = torch.from_numpy(shift.astype(np.int64))
    out = requantize(acc, m, s).clamp(-128, 127).clamp(LO, HI) - LO
    np.testing.assert_array_equal(out.numpy(), rust)


# --------------------------------------------------------------------------- the head


@st.composite
def heads(draw: st.DrawFn) -> int8.Head:
    """Strictly increasing centers around the latent's range in the head's fixed point."""
    levels = draw(st.sampled_from([2, 4, 8, 16]))
    f = draw(st.integers(0, 16))
    power_norm = draw(st.booleans())
    span = 8 if power_norm else 512  # in units of 2**f / 4
    k = sorted(
        draw(st.lists(st.integers(-span, span), min_size=levels, max_size=levels, unique=True))
    )
    centers = np.array([(v << f) // 4 + v for v in k], np.int32)  # k strictly increasing
    return int8.Head(centers, f, power_norm, draw(st.booleans()))


latents = hnp.arrays(
    np.int8,
    st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
    elements=st.integers(-128, 127),
    fill=st.nothing(),  # every element drawn, not one repeated fill value
)


def _reference_batch(q: np.ndarray, zp: int, head: int8.Head) -> np.ndarray:
    """`reference_head` per image of an NCHW batch, back in NCHW."""
    nhwc = q.transpose(0, 2, 3, 1)
    out = [int8.reference_head(v, zp, head).reshape(v.shape) for v in nhwc]
    return np.stack(out).transpose(0, 3, 1, 2)


def _torch_head(q: torch.Tensor, zp: int, head: int8.Head) -> np.ndarray:
    centers = torch.from_numpy(head.centers.astype(np.int64))
    return head_symbols(q, zp, centers, head.frac_bits, head.power_norm, head.gray).numpy()


@settings(max_examples=300, deadline=None)
@given(q=latents, zp=st.integers(-128, 127), head=heads(), as_float=st.booleans())
def test_head_equals_the_numpy_reference(
    q: np.ndarray, zp: int, head: int8.Head, as_float: bool
) -> None:
    """Both with and without power normalization; `q` as the training path holds it
    (float32 values) or as integers."""
    t = torch.from_numpy(q.astype(np.float32) if as_float else q)
    np.testing.assert_array_equal(_torch_head(t, zp, head), _reference_batch(q, zp, head))


@settings(max_examples=50, deadline=None)
@given(zp=st.integers(-128, 127), head=heads())
def test_head_of_a_latent_at_its_zero_point(zp: int, head: int8.Head) -> None:
    """Zero power: the power norm's `norm` is 0 and every value maps to y = 0."""
    q = np.full((2, 3, 2, 2), zp, np.int8)
    q[1, 0, 0, 0] = 127 if zp != 127 else -128  # and one row that is not
    np.testing.assert_array_equal(
        _torch_head(torch.from_numpy(q), zp, head), _reference_batch(q, zp, head)
    )


@settings(max_examples=40, deadline=None)
@given(head=heads(), zp=st.integers(-128, 127), seed=st.integers(0, 2**32 - 1))
def test_head_equals_rust(head: int8.Head, zp: int, seed: int) -> None:
    """A 1x1 max pool passes the input through, so Rust's head runs on latents
    `pixel - 128` with zero point `zp` (the input's)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    pixels[0] = zp + 128  # one image at the zero point: norm 0
    pool = int8.Pool2d("max", (1, 1), (1, 1))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        int8.write_model(path, int8.Input((4, 5, 3), zero_point=zp), [pool], head)
        rust = int8.Encoder.load(path).encode(pixels)
    q = torch.from_numpy(pixels.astype(np.int64) - 128).permute(0, 3, 1, 2)
    got = torch.from_numpy(_torch_head(q, zp, head)).permute(0, 2, 3, 1).reshape(3, -1)
    np.testing.assert_array_equal(got.numpy(), rust)


def test_int8_imports_without_torch() -> None:
    code = "import sys, semanticnn.int8; assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
