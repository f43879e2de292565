"""The QAT layers (`semanticnn.quant.layers`) compute exactly what the Rust core and the
numpy reference compute from their exported model-file records, on every element."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from int8_probe import reference_tensor, rust_tensor
from semanticnn import int8
from semanticnn.quant.layers import QAdd, QConv2d, QPool2d, QTensor, quantize_image
from torch import nn

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
EXAMPLES = settings(max_examples=30, deadline=None)

activations = st.sampled_from(["none", "relu", "relu6"])
in_quants = st.tuples(st.floats(0.004, 0.08), st.integers(-128, 127))


def _qtensor(q: torch.Tensor, scale: float, zp: int, device: str) -> QTensor:
    q = q.to(device, torch.float32)
    return QTensor((q - zp) * scale, q, scale, zp)


def _random_input(rng: np.random.Generator, shape: tuple[int, int, int, int]) -> np.ndarray:
    """uint8 NHWC pixels of int8 values q = pixel - 128, some at the extremes."""
    px = rng.integers(0, 256, shape, dtype=np.uint8)
    px.reshape(-1)[::7] = rng.choice([0, 255], px.reshape(-1)[::7].shape)
    return px


def _as_qtensor(px: np.ndarray, quant: tuple[float, int], device: str) -> QTensor:
    q = torch.from_numpy(px.astype(np.float32) - 128).permute(0, 3, 1, 2)
    return _qtensor(q, quant[0], quant[1], device)


def _nhwc(t: QTensor) -> np.ndarray:
    return t.q.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.int64)


def _check(inp: int8.Input, layers: list[int8.Layer], px: np.ndarray, out: QTensor) -> None:
    """Rust, the numpy reference and the torch module agree on every element."""
    got = _nhwc(out)
    np.testing.assert_array_equal(rust_tensor(inp, layers, px), got)
    np.testing.assert_array_equal(reference_tensor(inp, layers, px), got)
    assert out.value.shape == out.q.shape
    np.testing.assert_allclose(
        out.value.detach().cpu().numpy(),
        ((out.q - out.zero_point) * out.scale).cpu().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def _bn(c: int, gen: torch.Generator) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(c, generator=gen) + 0.5)
        bn.bias.copy_(torch.randn(c, generator=gen) * 0.3)
        bn.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
        bn.running_var.copy_(torch.rand(c, generator=gen) * 2 + 0.1)
    return bn.eval()


def _calibrate(run, inputs: list[QTensor], mods: list[nn.Module]) -> None:  # type: ignore[no-untyped-def]
    """A few training-mode forwards (the observers learn ranges), then eval."""
    for m in mods:
        m.train()
    for x in inputs:
        run(x)
    for m in mods:
        m.eval()


def per_side(k: int) -> st.SearchStrategy[tuple[int, int, int, int]]:
    """(top, bottom, left, right) padding of a k x k window, each side in 0..k."""
    side = st.integers(0, k - 1)
    return st.tuples(side, side, side, side)


@st.composite
def conv_cases(draw: st.DrawFn, depthwise: bool) -> dict:
    k = 3 if depthwise else draw(st.sampled_from([1, 3]))
    return {
        "k": k,
        "stride": draw(st.sampled_from([1, 2])),
        # the conv's (symmetric) padding, or each side given to QConv2d
        "padding": draw(st.sampled_from([0, 1]) | per_side(k)) if k > 1 else 0,
        "cin": draw(st.integers(1, 4)),
        "cout_mult": draw(st.sampled_from([1, 2])) if depthwise else draw(st.integers(1, 6)),
        "hw": (draw(st.integers(3, 9)), draw(st.integers(3, 9))),
        "bn": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "activation": draw(activations),
        "relu6_bites": draw(st.booleans()),  # a range past 6, so ReLU6 clamps in int8
        "quant": draw(in_quants),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }


def _run_conv_case(case: dict, depthwise: bool, device: str) -> None:
    gen = torch.Generator().manual_seed(case["seed"])
    rng = np.random.default_rng(case["seed"])
    cin, k, padding = case["cin"], case["k"], case["padding"]
    sides = padding if isinstance(padding, tuple) else None
    cout = cin * case["cout_mult"] if depthwise else case["cout_mult"]
    conv = nn.Conv2d(
        cin,
        cout,
        k,
        case["stride"],
        0 if sides is not None else padding,
        groups=cin if depthwise else 1,
        bias=case["bias"],
    )
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.3)
        if conv.bias is not None:
            conv.bias.copy_(torch.randn(cout, generator=gen) * 0.2)
    bn = _bn(cout, gen) if case["bn"] else None
    mod = QConv2d(conv, bn, case["activation"], padding=sides).to(device)
    quant = case["quant"]
    h, w = case["hw"]
    calib = [_as_qtensor(_random_input(rng, (4, h, w, cin)), quant, device) for _ in range(3)]
    _calibrate(mod, calib, [mod])
    if case["activation"] == "relu6" and case["relu6_bites"]:
        mod.hi.fill_(12.0)
    px = _random_input(rng, (2, h, w, cin))
    with torch.no_grad():
        out = mod(_as_qtensor(px, quant, device))
    inp = int8.Input((h, w, cin), quant[1], quant[0])
    layer = mod.int8_layer(quant, (0,))
    # one input channel: a depthwise conv is the dense conv (groups 1) it equals
    assert isinstance(layer, int8.DepthwiseConv2d if depthwise and cin > 1 else int8.Conv2d)
    _check(inp, [layer], px, out)


@pytest.mark.parametrize("device", DEVICES)
@EXAMPLES
@given(case=conv_cases(depthwise=False))
def test_dense_conv_equals_rust(case: dict, device: str) -> None:
    """Dense conv, kernels 1 (pointwise) and 3, strides 1 and 2, with and without BN,
    symmetric padding or each side's own."""
    _run_conv_case(case, False, device)


@pytest.mark.parametrize("device", DEVICES)
@EXAMPLES
@given(case=conv_cases(depthwise=True))
def test_depthwise_conv_equals_rust(case: dict, device: str) -> None:
    """Depthwise 3x3, depth multipliers 1 and 2, symmetric padding or each side's own."""
    _run_conv_case(case, True, device)


def test_relu6_clamps_at_six() -> None:
    """With an observed range past 6, the int8 output stops at zp + round(6 / scale)."""
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    mod = QConv2d(conv, activation="relu6").eval()
    mod.hi.fill_(12.0)
    mod.observed.fill_(True)
    x = _qtensor(torch.linspace(-128, 127, 256).view(1, 1, 16, 16), 0.05, -128, "cpu")
    out = mod(x)
    scale, zp = mod.output_quant()
    assert out.q.max().item() == zp + round(6 / scale)
    assert out.value.max().item() == pytest.approx(6.0, abs=scale)


@st.composite
def add_cases(draw: st.DrawFn) -> dict:
    return {
        "c": draw(st.integers(1, 4)),
        "hw": (draw(st.integers(2, 6)), draw(st.integers(2, 6))),
        "two_convs": draw(st.booleans()),  # conv + conv, or input + conv
        "swap": draw(st.booleans()),
        "activation": draw(st.sampled_from(["none", "relu"])),
        "quant": draw(in_quants),
        "gain": draw(st.floats(0.1, 3.0)),  # the conv's output scale against the input's
        "seed": draw(st.integers(0, 2**31 - 1)),
    }


@pytest.mark.parametrize("device", DEVICES)
@EXAMPLES
@given(case=add_cases())
def test_add_equals_rust(case: dict, device: str) -> None:
    """A residual add of two tensors of different scales and zero points."""
    gen = torch.Generator().manual_seed(case["seed"])
    rng = np.random.default_rng(case["seed"])
    c, (h, w), quant = case["c"], case["hw"], case["quant"]

    def conv(k: int) -> QConv2d:
        m = nn.Conv2d(c, c, k, 1, k // 2)
        with torch.no_grad():
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * case["gain"] / k)
        return QConv2d(m, activation="relu" if k == 1 else "none").to(device)

    a_conv = conv(3)
    b_conv = conv(1) if case["two_convs"] else None
    add = QAdd(case["activation"]).to(device)

    def run(x: QTensor) -> QTensor:
        a = a_conv(x)
        b = b_conv(x) if b_conv is not None else x
        return add(b, a) if case["swap"] else add(a, b)

    mods = [m for m in (a_conv, b_conv, add) if m is not None]
    calib = [_as_qtensor(_random_input(rng, (4, h, w, c)), quant, device) for _ in range(3)]
    _calibrate(run, calib, mods)
    px = _random_input(rng, (2, h, w, c))
    x = _as_qtensor(px, quant, device)
    with torch.no_grad():
        a = a_conv(x)
        b = b_conv(x) if b_conv is not None else x
        out = run(x)
    layers: list[int8.Layer] = [a_conv.int8_layer(quant, (0,))]
    b_index = 0
    if b_conv is not None:
        layers.append(b_conv.int8_layer(quant, (0,)))
        b_index = 2
    pair = (
        ((b.quant, b_index), (a.quant, 1)) if case["swap"] else ((a.quant, 1), (b.quant, b_index))
    )
    layers.append(add.int8_layer(pair[0][0], pair[1][0], (pair[0][1], pair[1][1])))
    assert (a.scale, a.zero_point) != (b.scale, b.zero_point)
    _check(int8.Input((h, w, c), quant[1], quant[0]), layers, px, out)


@st.composite
def pool_cases(draw: st.DrawFn) -> dict:
    k, s, p = draw(
        st.one_of(
            st.sampled_from([(2, 2, 0), (3, 1, 1), (3, 2, (0, 1, 0, 1))]),
            st.integers(1, 3).flatmap(
                lambda k: st.tuples(
                    st.just(k), st.integers(1, 2), st.integers(0, k - 1) | per_side(k)
                )
            ),
        )
    )
    return {
        "kind": draw(st.sampled_from(["avg", "max"])),
        "kps": (k, s, p),
        "c": draw(st.integers(1, 4)),
        "hw": (draw(st.integers(k, 7)), draw(st.integers(k, 7))),
        "quant": draw(in_quants),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=30, deadline=None)
@given(case=pool_cases())
def test_pool_equals_rust(case: dict, device: str) -> None:
    """avg and max pooling (2x2 s2, 3x3 s1 p1, TFLite's SAME 3x3 s2, and others), the
    padding symmetric or each side's own; padding not counted."""
    rng = np.random.default_rng(case["seed"])
    (k, s, p), c, (h, w), quant = case["kps"], case["c"], case["hw"], case["quant"]
    mod = QPool2d(case["kind"], k, s, p)
    px = _random_input(rng, (2, h, w, c))
    x = _as_qtensor(px, quant, device)
    out = mod(x)
    assert out.quant == quant  # the core keeps the input's quantization
    _check(int8.Input((h, w, c), quant[1], quant[0]), [mod.int8_layer(quant, (0,))], px, out)


def test_same_padding_exports_what_torch_computes(tmp_path: Path) -> None:
    """TFLite's SAME on an even input (stride 2: one more at the bottom and right) for a
    conv and a max pool: the model file keeps each side's padding and Rust computes the
    torch integer forward."""
    torch.manual_seed(0)
    same = int8.same_padding
    h, w, quant = 8, 6, (0.02, -3)
    conv = QConv2d(nn.Conv2d(2, 4, 3, 2), padding=(*same(h, 3, 2), *same(w, 3, 2)))
    pool = QPool2d("max", 3, 2, (*same(4, 3, 2), *same(3, 3, 2)))
    assert (conv.padding, pool.padding) == ((0, 1, 0, 1), (0, 1, 1, 1))
    rng = np.random.default_rng(0)
    _calibrate(conv, [_as_qtensor(_random_input(rng, (4, h, w, 2)), quant, "cpu")], [conv])
    px = _random_input(rng, (2, h, w, 2))
    with torch.no_grad():
        y = conv(_as_qtensor(px, quant, "cpu"))
        out = pool(y)
    assert out.q.shape == (2, 4, 2, 2)  # ceil(n / stride) per dimension
    layers: list[int8.Layer] = [conv.int8_layer(quant, (0,)), pool.int8_layer(y.quant, (1,))]
    inp = int8.Input((h, w, 2), quant[1], quant[0])
    path = tmp_path / "same.safetensors"
    int8.write_model(path, inp, layers, int8.Head(np.array([-1, 1], np.int32)))
    assert [layer.padding for layer in int8.read_model(path).layers] == [(0, 1, 0, 1), (0, 1, 1, 1)]
    _check(inp, layers, px, out)


def test_straight_through_gradients() -> None:
    """In training mode the gradient reaches the input, the conv and BN parameters."""
    torch.manual_seed(0)
    conv = QConv2d(nn.Conv2d(3, 6, 3, 1, 1), _bn(6, torch.Generator()), "relu6")
    dw = QConv2d(nn.Conv2d(6, 6, 3, 2, 1, groups=6), None, "relu")
    pw = QConv2d(nn.Conv2d(6, 6, 1), None, "none")
    add, pool = QAdd("relu"), QPool2d("avg", 2, 2)
    assert conv.bn is not None
    stats = conv.bn.running_mean.clone(), conv.bn.running_var.clone()
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    for m in (conv, dw, pw, add):
        m.train()
    t = quantize_image(x)
    t = QTensor(t.value + (x - x.detach()), t.q, t.scale, t.zero_point)  # identity gradient
    h = dw(conv(t))
    out = pool(add(h, pw(h)))
    assert out.value.shape == (4, 6, 2, 2)
    out.value.square().sum().backward()
    for p in (*conv.parameters(), *dw.parameters(), *pw.parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0
    torch.testing.assert_close((conv.bn.running_mean, conv.bn.running_var), stats)  # frozen
    assert conv.training and not conv.bn.training


def test_quantize_image() -> None:
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    t = quantize_image(x)
    assert t.quant == (1 / 255, -128)
    assert t.q.flatten().tolist() == [-128.0, 0.0, 127.0]
    torch.testing.assert_close(t.value, (t.q + 128) / 255)


def test_rejects_what_the_format_lacks() -> None:
    with pytest.raises(ValueError):
        QConv2d(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError):
        QConv2d(nn.Conv2d(4, 4, 3, dilation=2))
    with pytest.raises(ValueError):
        QConv2d(nn.Conv2d(4, 4, 1), activation="gelu")
    with pytest.raises(ValueError):
        QPool2d("min", 2, 2)
    with pytest.raises(ValueError, match="padding must be"):
        QPool2d("max", 2, 2, (0, 2, 0, 0))
    with pytest.raises(ValueError, match="padding must be"):
        QConv2d(nn.Conv2d(4, 4, 3), padding=(0, 1, 3, 0))
    with pytest.raises(ValueError, match="not both"):
        QConv2d(nn.Conv2d(4, 4, 3, padding=1), padding=(0, 1, 0, 1))
