"""The int8 encoder: requantization, model files, Rust == numpy reference bit for bit."""

from __future__ import annotations

import json
import math
import platform
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from semanticnn import int8
from spec_cases import REQUANTIZE_EDGES

# --------------------------------------------------------------------------- requantization


@pytest.mark.parametrize(("x", "m", "s", "want"), REQUANTIZE_EDGES)
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
    m, s = int8.quantize_multiplier(np.array([0.0, 0.5, 1.0, 2.0**-32, 2.0**-33, 1e-30]))
    # Below 2**-32 (a shift under -31) TFLite flushes the multiplier to (0, 0).
    assert m.tolist() == [0, 1 << 30, 1 << 30, 1 << 30, 0, 0]
    assert s.tolist() == [0, 0, 1, -31, 0, 0]
    with pytest.raises(ValueError):
        int8.quantize_multiplier(-1.0)
    with pytest.raises(ValueError):
        int8.quantize_multiplier(2.0**40)


def test_tflite_tie_rules() -> None:
    # Issue 15's cases, where ties to even (Python's round) and TFLite differ.
    (m,), (s,) = int8.quantize_multiplier(0.015538604337052675)
    assert (int(m), int(s)) == (2135609519, -6)
    assert int8.activation_range("relu6", 0.07453416, -50) == (-50, 31)


@given(
    mantissa=st.integers(1 << 30, (1 << 31) - 2),
    exponent=st.integers(-31, 30),
)
def test_quantize_multiplier_rounds_ties_away_from_zero(mantissa: int, exponent: int) -> None:
    # real = (mantissa + 1/2) * 2**(exponent - 31): exactly halfway between two Q31 values.
    real = (mantissa + 0.5) * 2.0 ** (exponent - 31)
    (m,), (s,) = int8.quantize_multiplier(real)
    assert (int(m), int(s)) == (mantissa + 1, exponent)
    (m,), (s,) = int8.quantize_multiplier(mantissa * 2.0 ** (exponent - 31))
    assert (int(m), int(s)) == (mantissa, exponent)


@given(
    scale=st.floats(float(np.float32(1e-3)), 1.0, width=32),
    zero_point=st.integers(-128, 127),
)
def test_relu6_range_divides_in_float32(scale: float, zero_point: int) -> None:
    lo, hi = int8.activation_range("relu6", scale, zero_point)
    six = float(np.float32(6.0) / np.float32(scale))
    whole = math.floor(six)
    nearest = whole + (six - whole >= 0.5)  # positive: a tie goes up, away from zero
    assert (lo, hi) == (max(-128, zero_point), min(127, zero_point + nearest))


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
    odd = int8.Pool2d("max", (2, 2), (2, 2), (0, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(int8.ModelError, match=r"layers\[0\]\.padding must be \(ph, pw\) or"):
        int8.write_model(tmp_path / "m", inp, [odd], head)
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


# --------------------------------------------------------------------------- Rust == numpy

OPS = ("conv2d", "pointwise", "depthwise", "avg", "max", "add")


def _requant(rng: np.random.Generator, n: int, extreme: bool) -> tuple[np.ndarray, np.ndarray]:
    mult = rng.integers(0, 1 << 31, n).astype(np.int32)
    if extreme:
        shift = rng.integers(-31, 31, n).astype(np.int32)
    else:
        shift = rng.integers(-14, 2, n).astype(np.int32)
    return mult, shift


def _clamp(rng: np.random.Generator) -> tuple[int, int]:
    a, b = sorted(int(v) for v in rng.integers(-128, 128, 2))
    return (a, b) if rng.random() < 0.5 else (-128, 127)


@st.composite
def models(
    draw: st.DrawFn,
    ops: tuple[str, ...] = OPS,
    max_layers: int = 4,
    padding_per_side: bool | None = None,
):
    """A random valid model description (structure from hypothesis, arrays from a drawn seed).

    A layer's padding is (top, bottom, left, right) where `padding_per_side`, else (ph, pw);
    None draws which for each layer."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    extreme = draw(st.booleans())
    h, w, c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 5))
    inp = int8.Input((h, w, c), zero_point=draw(st.integers(-128, 127)))
    shapes, zps = [(h, w, c)], [inp.zero_point]
    layers: list[int8.Layer] = []
    for _ in range(draw(st.integers(1, max_layers))):
        op = draw(st.sampled_from(ops))
        t = draw(st.integers(0, len(shapes) - 1))
        ih, iw, ic = shapes[t]
        zp = int(rng.integers(-128, 128))
        lo, hi = _clamp(rng)
        if op == "add":
            same = [u for u in range(len(shapes)) if shapes[u] == shapes[t]]
            u = draw(st.sampled_from(same))
            m1, s1 = _requant(rng, 2, extreme)
            m, s = _requant(rng, 1, extreme)
            layers.append(
                int8.Add(
                    (t, u),
                    tuple(int(v) for v in m1),
                    tuple(int(v) for v in s1),
                    int(m[0]),
                    int(s[0]),
                    int8.Activation(zp),
                    left_shift=draw(st.integers(0, 20)),
                    act_min=lo,
                    act_max=hi,
                )
            )
            shapes.append(shapes[t])
            zps.append(zp)
            continue
        kh = 1 if op == "pointwise" else draw(st.integers(1, min(4, ih + 2)))
        kw = 1 if op == "pointwise" else draw(st.integers(1, min(4, iw + 2)))
        per_side = draw(st.booleans()) if padding_per_side is None else padding_per_side
        top, left = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
        bottom, right = top, left
        if per_side:
            bottom, right = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
        if ih + top + bottom < kh or iw + left + right < kw:
            top = bottom = kh - 1
            left = right = kw - 1
        padding = (top, bottom, left, right) if per_side else (top, left)
        sh = 1 if op == "pointwise" else draw(st.integers(1, 3))
        sw = 1 if op == "pointwise" else draw(st.integers(1, 3))
        oh, ow = (ih + top + bottom - kh) // sh + 1, (iw + left + right - kw) // sw + 1
        geo = dict(stride=(sh, sw), padding=padding, act_min=lo, act_max=hi, inputs=(t,))
        if op in ("avg", "max"):
            layers.append(int8.Pool2d(op, (kh, kw), **geo))
            shapes.append((oh, ow, ic))
            zps.append(zps[t])
            continue
        dm = draw(st.integers(1, 2)) if op == "depthwise" else 1
        # Up to 40 output channels: more than one 8-lane vector, and more than
        # one pass of the AVX2 kernel's 4 vectors.
        cout = (
            ic * dm
            if op == "depthwise"
            else draw(st.one_of(st.integers(1, 9), st.integers(10, 40)))
        )
        wshape = (kh, kw, cout) if op == "depthwise" else (cout, kh, kw, ic)
        weight = rng.integers(-128, 128, wshape).astype(np.int8)
        bias_span = 1 << 30 if extreme else 5000
        bias = rng.integers(-bias_span, bias_span, cout).astype(np.int32)
        mult, shift = _requant(rng, cout, extreme)
        cls = int8.DepthwiseConv2d if op == "depthwise" else int8.Conv2d
        extra = {"depth_multiplier": dm} if op == "depthwise" else {}
        layers.append(cls(weight, bias, mult, shift, int8.Activation(zp), **geo, **extra))
        shapes.append((oh, ow, cout))
        zps.append(zp)
    levels = draw(st.sampled_from([2, 4, 8, 16]))
    span = 1 << draw(st.integers(4, 24))
    centers = np.sort(rng.choice(np.arange(-span, span), levels, replace=False)).astype(np.int32)
    head = int8.Head(
        centers,
        frac_bits=draw(st.integers(0, 16)),
        power_norm=draw(st.booleans()),
        gray=draw(st.booleans()),
    )
    return inp, layers, head


def _check_equal(spec: tuple[int8.Input, list[int8.Layer], int8.Head], seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        int8.write_model(path, *spec)
        enc = int8.Encoder.load(path)
        images = np.random.default_rng(seed).integers(0, 256, (3, *enc.input_shape), dtype=np.uint8)
        want = int8.reference_encode(path, images)
        np.testing.assert_array_equal(enc.encode(images), want)
        for kernel in int8.Encoder.kernels():
            np.testing.assert_array_equal(enc.encode(images, threads=2, kernel=kernel), want)


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_rust_matches_numpy_per_layer_type(op: str, data: st.DataObject) -> None:
    spec = data.draw(models(ops=(op,), max_layers=1))
    _check_equal(spec, data.draw(st.integers(0, 1000)))


@pytest.mark.parametrize("op", ["conv2d", "depthwise", "avg", "max"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_rust_matches_numpy_with_padding_per_side(op: str, data: st.DataObject) -> None:
    """Each side padded on its own (format version 2), depth multipliers 1 and 2."""
    spec = data.draw(models(ops=(op,), max_layers=1, padding_per_side=True))
    _check_equal(spec, data.draw(st.integers(0, 1000)))


@settings(max_examples=80, deadline=None)
@given(spec=models(), seed=st.integers(0, 1000))
def test_rust_matches_numpy_whole_models(spec, seed: int) -> None:
    _check_equal(spec, seed)


def test_same_padding_is_tflites() -> None:
    assert int8.same_padding(28, 3, 2) == (0, 1)  # stride 2, even input: one more after
    assert int8.same_padding(7, 3, 1) == (1, 1)
    assert int8.same_padding(8, 2, 2) == (0, 0)
    assert int8.same_padding(5, 4, 1) == (1, 2)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 64), k=st.integers(1, 16), s=st.integers(1, 16))
def test_same_padding_gives_ceil_outputs_within_the_format(n: int, k: int, s: int) -> None:
    before, after = int8.same_padding(n, k, s)
    assert 0 <= before <= after <= before + 1 and after < k
    assert int8.layers.out_dim(n, k, s, (before, after)) == -(-n // s)


def test_writer_gives_the_version_the_paddings_need(tmp_path: Path) -> None:
    inp = int8.Input((6, 5, 2))
    head = int8.Head(np.array([-1, 1], np.int32), frac_bits=0, power_norm=False)

    def written(padding: int8.Padding) -> tuple[str, list[int]]:
        path = tmp_path / "m.safetensors"
        int8.write_model(path, inp, [int8.Pool2d("avg", (3, 3), (2, 2), padding)], head)
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata()
        return meta["format_version"], json.loads(meta["graph"])["layers"][0]["padding"]

    assert written((1, 2)) == ("1", [1, 2])
    assert written((1, 1, 2, 2)) == ("1", [1, 2])  # symmetric: older readers read it
    assert written((0, 1, 2, 2)) == ("2", [0, 1, 2, 2])
    assert int8.FORMAT_VERSION_SYMMETRIC == "1" and int8.FORMAT_VERSION == "2"


# --------------------------------------------------------------------------- golden vectors

VECTORS = Path(__file__).parent / "vectors"


@pytest.mark.parametrize("name", ["default", "mixed", "same"])
def test_golden_vectors(name: str) -> None:
    images = np.load(VECTORS / f"{name}_images.npy")
    want = np.load(VECTORS / f"{name}_symbols.npy")
    path = VECTORS / f"{name}.safetensors"
    np.testing.assert_array_equal(int8.reference_encode(path, images), want)
    for kernel in int8.Encoder.kernels():
        np.testing.assert_array_equal(int8.Encoder.load(path).encode(images, kernel=kernel), want)
    # The latent on the way: the numpy reference's last tensor, on every kernel.
    model = int8.read_model(path)
    latent = np.stack([int8.reference_tensors(model, im)[-1].reshape(-1) for im in images])
    for kernel in int8.Encoder.kernels():
        got = int8.Encoder.load(path).latent(images, kernel=kernel)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, latent)


# --------------------------------------------------------------------------- bad files


def _rewrite_header(src: Path, dst: Path, edit) -> None:
    """Copy a safetensors file with `edit(header: dict)` applied to its JSON header."""
    raw = src.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    new = json.dumps(header).encode()
    dst.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def _edit_graph(edit):
    def apply(header: dict) -> None:
        graph = json.loads(header["__metadata__"]["graph"])
        edit(graph)
        header["__metadata__"]["graph"] = json.dumps(graph)

    return apply


def _set(d: dict, key: str, value) -> None:
    d[key] = value


def _version_2_padding(padding: list[int]):
    """Layer 0's padding set to `padding` in a file of format version 2."""
    edit_graph = _edit_graph(lambda g: _set(g["layers"][0], "padding", padding))

    def apply(header: dict) -> None:
        header["__metadata__"]["format_version"] = "2"
        edit_graph(header)

    return apply


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda h: _set(h["layers.0.weight"], "dtype", "U8"), r"layers\.0\.weight: dtype U8"),
        (lambda h: _set(h["layers.1.bias"], "shape", [31]), r"safetensors|layers\.1\.bias"),
        (lambda h: _set(h["layers.0.weight"], "shape", [1 << 40, 3, 3, 1]), r"safetensors"),
        (lambda h: _set(h["__metadata__"], "format_version", "9"), r"format_version"),
        (
            _edit_graph(lambda g: _set(g["layers"][1]["output"], "shape", [13, 14, 32])),
            r"layers\[1\]: output shape 13x14x32",
        ),
        (_edit_graph(lambda g: _set(g["input"], "shape", [1 << 30, 1 << 30, 1])), r"input.*absurd"),
        (_edit_graph(lambda g: _set(g["input"], "shape", [4096, 4096, 3])), r"input|layers"),
        (_edit_graph(lambda g: _set(g["head"], "levels", 5)), r"head"),
        (_edit_graph(lambda g: _set(g["layers"][0], "op", "softmax")), r"unknown op"),
        (_edit_graph(lambda g: _set(g["layers"][2], "inputs", [7])), r"earlier tensors"),
        (
            _edit_graph(lambda g: _set(g["layers"][0], "padding", [1, 1, 1, 1])),
            r'layers\[0\]: "padding" \[top, bottom, left, right\] needs format_version "2", '
            r'the file has "1"$',
        ),
        (
            _edit_graph(lambda g: _set(g["layers"][0], "padding", [3, 1])),
            r"layers\[0\]: padding must be smaller than the kernel on each side$",
        ),
        (
            _version_2_padding([1, 3, 1, 1]),
            r"layers\[0\]: padding must be smaller than the kernel on each side$",
        ),
        (_version_2_padding([1, 1, 1]), r"layers\[0\]: \"padding\" must be \[ph, pw\] or"),
    ],
)
def test_bad_files_raise_model_error(tmp_path: Path, edit, match: str) -> None:
    bad = tmp_path / "bad.safetensors"
    _rewrite_header(VECTORS / "default.safetensors", bad, edit)
    with pytest.raises(int8.ModelError, match=match):
        int8.Encoder.load(bad)


def test_truncated_and_missing_files(tmp_path: Path) -> None:
    raw = (VECTORS / "default.safetensors").read_bytes()
    for cut in (0, 5, 8, 200, len(raw) - 1):
        (tmp_path / "t.safetensors").write_bytes(raw[:cut])
        with pytest.raises(int8.ModelError, match="not a valid safetensors file"):
            int8.Encoder.load(tmp_path / "t.safetensors")
    with pytest.raises(FileNotFoundError):
        int8.Encoder.load(tmp_path / "missing.safetensors")


def test_encode_names_bad_images() -> None:
    enc = int8.Encoder.load(VECTORS / "default.safetensors")
    with pytest.raises(TypeError, match="images must be a uint8"):
        enc.encode(np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match=r"images must have shape \(N, 28, 28, 1\)"):
        enc.encode(np.zeros((1, 28, 28, 3), np.uint8))
    assert enc.encode(np.zeros((0, 28, 28, 1), np.uint8)).shape == (0, enc.num_symbols)
    with pytest.raises(ValueError, match="kernel must be one of"):
        enc.encode(np.zeros((1, 28, 28, 1), np.uint8), kernel="avx9")


def test_kernels_are_listed_fastest_first() -> None:
    kernels = int8.Encoder.kernels()
    assert kernels[-1] == "im2col"
    if platform.machine() in ("x86_64", "AMD64"):
        flags = _cpu_flags()
        want = [
            name
            for name, needs in [
                ("avx512vnni", {"avx512f", "avx512bw", "avx512_vnni"}),
                ("avx2", {"avx2"}),
            ]
            if needs <= flags
        ]
        assert kernels == [*want, "im2col"]


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}


def test_golden_vectors_match_their_script() -> None:
    """The stored vectors are what `make_vectors.py` makes from today's code (`default`
    follows `semanticnn.models.architecture.default_architecture`: rerun it with --write
    when that changes)."""
    res = subprocess.run(
        [sys.executable, str(VECTORS / "make_vectors.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
