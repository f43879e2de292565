"""Soft quantizer, power norm, BER-aware attention and the model shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from semanticnn.layers import BERAttention, SoftDemapper
from semanticnn.models import SemanticNN, build_base
from semanticnn.models.architecture import MODELS, SPLITS, default_architecture
from semanticnn.models.zoo import model_spec, split_shape
from semanticnn.quant import PowerNorm, SoftQuantizer
from semanticnn.train.config import TrainConfig

floats = st.floats(-4, 4, allow_nan=False, width=32)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.integers(1, 64), elements=floats), st.sampled_from([2, 4, 8, 16]))
def test_sq_forward_is_nearest_center(x: np.ndarray, levels: int) -> None:
    q = SoftQuantizer(levels)
    with torch.no_grad():
        q.centers.copy_(torch.randn(levels))
    xt = torch.from_numpy(x)
    values, symbols = q(xt)
    c = q.sorted_centers().detach()
    assert int(symbols.max()) < levels
    dist = (xt[:, None] - c).abs()
    np.testing.assert_allclose(
        (xt - values).abs().detach().numpy(), dist.min(1).values.numpy(), atol=1e-6
    )
    torch.testing.assert_close(values.detach(), c[symbols])


def test_sq_soft_gradient_reaches_input_and_centers() -> None:
    q = SoftQuantizer(8, sigma=5.0)
    x = torch.linspace(-2, 2, 50, requires_grad=True)
    values, _ = q(x)
    values.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert q.centers.grad is not None and q.centers.grad.abs().sum() > 0
    assert q.bits == 3


def test_sq_rejects_non_power_of_two() -> None:
    with pytest.raises(ValueError, match="levels"):
        SoftQuantizer(6)


def test_power_norm_unit_power() -> None:
    y = PowerNorm()(torch.randn(5, 3, 7, 7) * 9)
    torch.testing.assert_close(y.pow(2).flatten(1).mean(1), torch.ones(5))


def test_attention_uses_ber_only_when_aware() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 8, 5, 5)
    lo, hi = torch.full((2,), 1e-4), torch.full((2,), 1e-1)
    aware, blind = BERAttention(8), BERAttention(8, ber_aware=False)
    assert not torch.allclose(aware(x, lo), aware(x, hi))
    torch.testing.assert_close(blind(x, lo), blind(x, hi))


@pytest.mark.parametrize("tail", ["resnet", "mobilenetv2"])
@pytest.mark.parametrize(
    ("shape", "split"), [((1, 28, 28), (32, 14, 14)), ((3, 32, 32), (32, 16, 16))]
)
def test_tiny_shapes(tail: str, shape: tuple[int, int, int], split: tuple[int, int, int]) -> None:
    base = build_base(model_spec("tiny", "", shape, 10, tail))
    x = torch.rand(2, *shape)
    assert base(x).shape == (2, 10)
    assert tuple(base.head(x).shape[1:]) == split
    snn = SemanticNN(base, split, latent_channels=3)
    sent, symbols = snn.encoder(x)
    assert symbols.shape == (2, 3, split[1] // 2, split[2] // 2) == (2, *snn.latent_shape())
    feats = snn.decode(sent, torch.zeros(2))
    assert tuple(feats.shape[1:]) == split
    assert snn.tail(feats).shape == (2, 10)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32), (3, 64, 64)])
def test_every_zoo_model_on_every_shape(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    for split in SPLITS[name]:
        base = build_base(model_spec(name, split, shape, 7)).eval()
        x = torch.rand(2, *shape)
        assert base(x).shape == (2, 7)
        feats = split_shape(base.head, shape)
        snn = SemanticNN(base, feats).eval()
        _, symbols = snn.encoder(x)
        c, h, w = snn.latent_shape()
        assert symbols.shape == (2, c, h, w) and h <= 8 and w <= 8
        assert snn.tail(
            snn.decode(snn.encoder.quantizer.dequantize(symbols), torch.zeros(2))
        ).shape == (2, 7)


def test_the_tiny_head_is_the_default_architecture() -> None:
    torch.manual_seed(0)
    snn = SemanticNN(build_base(model_spec("tiny", "", (1, 28, 28), 10)), (32, 14, 14))
    convs = [n.conv for n in snn.encoder.nodes]
    want = default_architecture()
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (s.in_channels, s.out_channels, s.kernel, s.stride) for s in want
    ]
    assert snn.encoder.inputs == [(0,), (1,), (2,), (3,)]


@pytest.mark.parametrize(
    ("name", "split", "message"),
    [
        ("vgg", "", "unknown model 'vgg'; models: tiny, mobilenetv2-0.35"),
        ("resnet8", "block2", "no split point 'block2'; split points: stem, stage1"),
    ],
)
def test_bad_model_names_say_the_options(name: str, split: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_spec(name, split, (1, 28, 28), 10)
    with pytest.raises(ValueError, match=message):
        TrainConfig(model=name, split=split)


def test_too_small_images_are_refused() -> None:
    with pytest.raises(ValueError, match="4 px are too small"):
        model_spec("tiny", "", (1, 4, 4), 10)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.5), st.sampled_from([1, 2, 3]))
def test_soft_demap_is_the_posterior_mean(seed: int, ber: float, bits: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2**bits
    demap = SoftDemapper(bits)
    prior = rng.random(n) + 0.05
    demap.prior.copy_(torch.from_numpy(prior / prior.sum()))
    centers = np.sort(rng.normal(size=n))
    received = rng.integers(0, n, (2, 5))
    got = demap(torch.from_numpy(received), torch.tensor([ber, 0.0]), torch.tensor(centers))
    for r, value in zip(received[0], got[0].numpy(), strict=True):
        d = np.array([bin(s ^ int(r)).count("1") for s in range(n)])
        w = prior / prior.sum() * ber**d * (1 - ber) ** (bits - d)
        want = float((w * centers).sum() / w.sum())
        assert value == pytest.approx(want, rel=1e-5, abs=1e-6)  # the prior is float32
    # Told BER 0, the decoder sees the received centers themselves.
    np.testing.assert_array_equal(got[1].numpy(), centers[received[1]])


def test_soft_demap_prior_follows_the_sent_symbols() -> None:
    demap = SoftDemapper(2, momentum=1.0)
    demap.observe(torch.tensor([[0, 0, 0, 3]]))
    torch.testing.assert_close(demap.prior, torch.tensor([0.75, 0.0, 0.0, 0.25]))
    # At BER 0.5 nothing is learnt from the symbol: every value is the prior mean.
    got = demap(torch.tensor([[0, 1, 2, 3]]), torch.tensor([0.5]), torch.arange(4.0))
    torch.testing.assert_close(got, torch.full((1, 4), 0.75), atol=1e-5, rtol=0)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 3))
def test_shift_images_moves_each_image_by_at_most_max_shift(seed: int, m: int) -> None:
    from semanticnn.train.stages import shift_images

    x = torch.zeros(16, 2, 12, 12)
    x[:, :, 5, 6] = 1.0  # one bright pixel, far enough from the border
    out = shift_images(x, np.random.default_rng(seed), m)
    assert out.shape == x.shape
    torch.testing.assert_close(out.sum((1, 2, 3)), x.sum((1, 2, 3)))
    ys, xs = out[:, 0].flatten(1).argmax(1) // 12, out[:, 0].flatten(1).argmax(1) % 12
    assert (ys - 5).abs().max() <= m and (xs - 6).abs().max() <= m
    torch.testing.assert_close(out[:, 0], out[:, 1])  # channels move together
    if m == 0:
        torch.testing.assert_close(out, x)
