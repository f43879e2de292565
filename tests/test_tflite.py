"""TFLite conformance: LiteRT's reference kernels are the specification.

Random int8 layers of every op the model format has (conv, pointwise, depthwise with
depth multiplier 1 and 2, average and max pool, add) go out as one-op `.tflite`
flatbuffers built here; every output value of the Rust encoder (each kernel this CPU
has) and of the numpy reference must equal LiteRT's reference kernels'. Then the
`.tflite` files themselves: export, import, round trips, refusals.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from semanticnn import int8
from semanticnn.cli import main
from semanticnn.int8 import litert, tflite_file
from semanticnn.int8.layers import pads
from semanticnn.npy import read_images
from semanticnn.paths import images_for

LAYERS_PER_OP = 150  # x 7 ops: 1,050 random layers


@pytest.mark.parametrize("op", litert.OPS)
def test_rust_and_numpy_equal_litert_reference_kernels(op: str, tmp_path: Path) -> None:
    rng = np.random.default_rng([15, litert.OPS.index(op)])
    for k in range(LAYERS_PER_OP):
        a = litert.compare(litert.random_layer(rng, op), tmp_path, peers=False)
        differing = {name: a.values - n for name, n in a.equal.items() if n != a.values}
        assert not differing, f"{op} layer {k}: values unlike LiteRT's reference: {differing}"


def test_random_layers_reach_the_limits() -> None:
    """The conformance layers include what is hard: odd SAME totals, pads only a PAD op
    says, shifts at both ends, flushed multipliers, outputs clamped by their activation."""
    rng = np.random.default_rng(0)
    shifts: set[int] = set()
    zero, odd, explicit, clamped = 0, 0, 0, 0
    for _ in range(200):
        case = litert.random_layer(rng, "conv2d")
        (layer,) = case.layers
        assert isinstance(layer, int8.Conv2d)
        shifts |= {int(s) for s in layer.shift}
        zero += int(np.sum(layer.multiplier == 0))
        top, bottom, left, right = pads(layer)
        odd += top != bottom or left != right
        kernel = layer.weight.shape[1:3]
        sides = (top, bottom, left, right)
        explicit += (
            tflite_file._tflite_padding(case.input.shape, kernel, layer.stride, sides) is None
        )
        clamped += layer.act_min > -128 or layer.act_max < 127
    assert {-31, 30} <= shifts and zero > 0 and odd > 10 and explicit > 10 and clamped > 50


def test_tflite_optimized_kernels_are_measured_not_required(tmp_path: Path) -> None:
    """LiteRT's optimized and XNNPACK kernels run on the same layers (their agreement
    is what `bench tflite` reports, docs/tflite.md)."""
    case = litert.random_layer(np.random.default_rng(1), "conv2d")
    a = litert.compare(case, tmp_path)
    assert {"optimized", "xnnpack", "numpy"} <= set(a.equal)
    assert a.equal["numpy"] == a.values
    assert a.off_by_one["numpy"] == a.max_diff["numpy"] == 0
    for peer in set(a.off_by_one) - {"numpy"}:
        assert a.off_by_one[peer] <= a.values - a.equal[peer]
        assert (a.max_diff[peer] == 0) == (a.equal[peer] == a.values)


# ------------------------------------------------------------------------ export, import


def _synthetic(tmp_path: Path, **kwargs: object) -> Path:
    path = tmp_path / "model.safetensors"
    int8.write_model(path, *int8.synthetic_model(**kwargs))  # type: ignore[arg-type]
    return path


def test_export_import_round_trip_keeps_every_integer(tmp_path: Path) -> None:
    path = _synthetic(tmp_path, gray=True)
    model = int8.read_model(path)
    data = int8.to_tflite(model)
    back = int8.from_tflite(data)
    assert back.head is not None
    again = tmp_path / "again.safetensors"
    int8.write_model(again, back.input, back.layers, back.head)
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)
    a, b = int8.Encoder.load(path), int8.Encoder.load(again)
    np.testing.assert_array_equal(a.encode(images), b.encode(images))
    for x, y in zip(model.layers, int8.read_model(again).layers, strict=True):
        assert isinstance(x, int8.Conv2d) and isinstance(y, int8.Conv2d)
        for name in ("weight", "bias", "multiplier", "shift"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        assert pads(x) == pads(y) and (x.act_min, x.act_max) == (y.act_min, y.act_max)
    # LiteRT's reference kernels give the Rust latent of the whole model.
    got = litert.run(litert.interpreter(data, "reference"), images)
    np.testing.assert_array_equal(got, a.latent(images))


def test_a_multiplier_no_float32_scale_gives_is_refused_by_name(tmp_path: Path) -> None:
    inp, layers, head = int8.synthetic_model()
    first = layers[0]
    assert isinstance(first, int8.Conv2d)
    mult = first.multiplier.copy()
    mult[3] += 1  # one Q31 step: 2^-31 relative, finer than any float32 scale
    from dataclasses import replace

    layers[0] = replace(first, multiplier=mult)
    path = tmp_path / "m.safetensors"
    int8.write_model(path, inp, layers, head)
    with pytest.raises(int8.ModelError, match=r"layer 0, channel 3: multiplier \d+ shift"):
        int8.to_tflite(int8.read_model(path))


def _graph_with(
    op_code: int, input_type: int | None = None, scales: list[float] | None = None
) -> bytes:
    """A one-op TFLite flatbuffer with `op_code` on an int8 (or `input_type`) input
    quantized per tensor (or with `scales`)."""
    g = tflite_file._Graph()
    x = g.activation((4, 4, 1), (0.1, 0), "input")
    if input_type is not None:
        g.tensors[x].dtype = input_type
    if scales is not None:
        g.tensors[x].scales = np.array(scales, np.float32)
        g.tensors[x].zero_points = np.zeros(len(scales), np.int64)
    y = g.activation((4, 4, 1), (0.1, 0), "output")
    g.ops.append(tflite_file._Op(op_code, 1, [x], [y], None))
    return tflite_file._serialize(g, x, y, "test", {})


def _conv_graph(edit: Callable[[Any], None] | None = None, **filter_quantization: object) -> bytes:
    """The first conv of the default model as a one-op flatbuffer, its filter tensor's
    quantization fields replaced by `filter_quantization`, then `edit(graph)`."""
    model = int8.read_model(_default_model())
    conv = model.layers[0]
    assert isinstance(conv, int8.Conv2d)
    q_in = (float(np.float32(model.input.scale)), model.input.zero_point)
    q_out = (float(np.float32(conv.output.scale)), conv.output.zero_point)
    g = tflite_file._Graph()
    x = g.activation(model.input.shape, q_in, "input")
    y = g.activation(model.shapes[1], q_out, "layers.0")
    tflite_file._conv_op(g, 0, conv, x, y, model.input.shape, q_in, q_out)
    (weight,) = (t for t in g.tensors if t.name == "layers.0.weight")
    for name, value in filter_quantization.items():
        setattr(weight, name, value)
    if edit is not None:
        edit(g)
    return tflite_file._serialize(g, x, y, "test", {})


def _empty_conv_options(t: Any) -> tuple[int, Callable[[Any], int]]:
    """Conv2DOptions with no field set: every one reads as 0 (stride 0)."""

    def build(b: Any) -> int:
        t.Conv2DOptionsStart(b)
        return int(t.Conv2DOptionsEnd(b))

    return t.BuiltinOptions.Conv2DOptions, build


def _tensor(g: Any, name: str) -> Any:
    (tensor,) = (t for t in g.tensors if t.name == name)
    return tensor


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda t: _graph_with(t.BuiltinOperator.TANH), r"op 0 \(TANH\): not an op"),
        (
            lambda t: _graph_with(t.BuiltinOperator.MAX_POOL_2D, t.TensorType.FLOAT32),
            r"input tensor 'input' is FLOAT32",
        ),
        (
            lambda t: _graph_with(t.BuiltinOperator.MAX_POOL_2D, scales=[0.1, 0.2]),
            r"input tensor 'input' must be quantized per tensor",
        ),
        (
            lambda t: _conv_graph(zero_points=np.ones(16, np.int64)),
            r"op 0 \(CONV_2D\): filter 'layers.0.weight' has nonzero zero points",
        ),
        (
            lambda t: _conv_graph(axis=1),
            r"op 0 \(CONV_2D\): filter 'layers.0.weight' has 16 scales on axis 1",
        ),
        (
            lambda t: _conv_graph(lambda g: setattr(g.ops[-1], "options", _empty_conv_options(t))),
            r"op 0 \(CONV_2D\): kernel \(3, 3\) and stride \(0, 0\) must be >= 1",
        ),
        (
            lambda t: _conv_graph(
                lambda g: setattr(_tensor(g, "layers.0"), "shape", (1, 27, 28, 16))
            ),
            r"op 0 \(CONV_2D\): its output is 27x28, where its window gives 28x28",
        ),
        (
            lambda t: _conv_graph(
                lambda g: setattr(_tensor(g, "layers.0"), "scales", np.array([1e-30], np.float32))
            ),
            r"op 0 \(CONV_2D\): real multiplier .* too large",
        ),
        (lambda t: b"\0" * 64, r"not a TFLite flatbuffer"),
    ],
)
def test_unsupported_files_are_refused_naming_op_and_tensor(make: object, match: str) -> None:
    import tflite

    with pytest.raises(int8.ModelError, match=match):
        int8.from_tflite(make(tflite))  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(st.data(), st.booleans())
def test_damaged_flatbuffers_are_a_model_error(data: st.DataObject, whole: bool) -> None:
    """Bytes changed and the file cut anywhere: a ModelError or a model, never another
    exception. The one-conv file is mostly structure (offsets, vectors, options)."""
    raw = bytearray(_whole_model_tflite() if whole else _conv_graph())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(8, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(8, len(raw)))
    try:
        int8.from_tflite(bytes(raw[:cut]))
    except int8.ModelError:
        pass


@functools.cache
def _whole_model_tflite() -> bytes:
    return int8.to_tflite(int8.read_model(_default_model()))


def _default_model() -> Path:
    return Path(__file__).parent / "vectors" / "default.safetensors"


# ------------------------------------------------------------------------ the CLI


def test_export_tflite_of_a_trained_run_equals_rust_in_litert(
    run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "enc.tflite"
    res = CliRunner().invoke(
        main, ["export", str(run_dir), "--format", "tflite", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    m = re.search(r"reproduce (\d+)/(\d+) int8 latent values", res.output)
    assert m is not None and m.group(1) == m.group(2) and int(m.group(2)) > 0, res.output
    assert re.search(
        r"optimized (\d+\.\d+%|refuses it), xnnpack (\d+\.\d+%|refuses it)", res.output
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.tflite"]
    # Back in: the same symbols as the model file export on the baked images.
    model_file = tmp_path / "direct.safetensors"
    assert (
        CliRunner().invoke(main, ["export", str(run_dir), "--out", str(model_file)]).exit_code == 0
    )
    back = tmp_path / "back.safetensors"
    res = CliRunner().invoke(main, ["import-tflite", str(out), "--out", str(back)])
    assert res.exit_code == 0 and "head from its metadata" in res.output, res.output
    images = read_images(images_for(model_file))
    np.testing.assert_array_equal(
        int8.Encoder.load(back).encode(images), int8.Encoder.load(model_file).encode(images)
    )


def test_import_tflite_takes_centers_when_the_file_has_no_head(tmp_path: Path) -> None:
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(_strip_metadata(int8.to_tflite(int8.read_model(_default_model()))))
    out = tmp_path / "m.safetensors"
    args = ["import-tflite", str(bare), "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "give the centers (--centers)" in res.output
    res = CliRunner().invoke(main, [*args, "--centers=-1.5,-0.5,0.5,1.5", "--no-power-norm"])
    assert res.exit_code == 0 and "4 levels" in res.output, res.output
    head = int8.read_model(out).head
    assert not head.power_norm and len(head.centers) == 4
    res = CliRunner().invoke(main, [*args, "--centers", "1,x"])
    assert res.exit_code == 2 and "comma-separated" in res.output
    res = CliRunner().invoke(main, [*args, "--centers=-1e9,1e9", "--no-power-norm"])
    assert res.exit_code == 2 and "does not fit the head's int32" in res.output
    assert not out.with_name("m.safetensors.tmp").exists()


@given(
    st.lists(st.floats(-4, 4), min_size=1, max_size=16),
    st.integers(0, 16),
    st.booleans(),
    st.floats(1e-3, 1.0),
)
def test_fixed_point_centers_round_and_stay_strictly_increasing(
    real: list[float], frac_bits: int, power_norm: bool, scale: float
) -> None:
    ints = int8.fixed_point_centers(np.array(real), frac_bits, power_norm, scale)
    assert ints.dtype == np.int64 and np.all(np.diff(ints) >= 1)
    unit = 1.0 if power_norm else 1.0 / scale
    rounded = np.round(np.sort(real) * unit * 2.0**frac_bits)
    # Each moves up from its rounding only as far as the one below it forces.
    assert np.all(ints >= rounded)
    assert np.all((ints == rounded)[1:] | (ints[1:] == ints[:-1] + 1))


def _strip_metadata(data: bytes) -> bytes:
    """`data` with its metadata entry renamed, so a reader finds no head."""
    name = tflite_file.HEAD_METADATA.encode()
    assert data.count(name) == 1
    return data.replace(name, b"x" * len(name))


def test_bench_tflite_prints_agreement_per_op_and_kernel_set() -> None:
    res = CliRunner().invoke(main, ["bench", "tflite", "--layers", "2", "--seed", "3"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    names = lines[0].split()[2:]
    assert {"numpy", "optimized", "xnnpack"} <= set(names) and len(names) >= 4
    rows = {line.split()[0]: line for line in lines[1:] if line.split()}
    for op in litert.OPS:
        shares = dict(zip(names, re.findall(r"([\d.]+)% \(", rows[op]), strict=True))
        for name in names:
            if name.startswith("rust:") or name == "numpy":
                assert shares[name] == "100.000", rows[op]
    res = CliRunner().invoke(main, ["bench", "tflite", "--layers", "1", "--json"])
    numpy = json.loads(res.stdout)["ops"]["add"]["by"]["numpy"]
    assert numpy["layers_run"] == numpy["layers_equal"] == 1
    assert numpy["equal"] == numpy["values_run"] > 0
