"""Soft quantizer, power norm, BER-aware attention and the model shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from semanticnn.layers import BERAttention
from semanticnn.models import SemanticNN, build_base
from semanticnn.quant import PowerNorm, SoftQuantizer

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


@pytest.mark.parametrize("arch", ["resnet", "mobilenetv2"])
@pytest.mark.parametrize(
    ("shape", "split"), [((1, 28, 28), (32, 14, 14)), ((3, 32, 32), (32, 16, 16))]
)
def test_shapes(arch: str, shape: tuple[int, int, int], split: tuple[int, int, int]) -> None:
    base = build_base(arch, shape[0], 10)
    x = torch.rand(2, *shape)
    assert base(x).shape == (2, 10)
    assert tuple(base.head(x).shape[1:]) == split
    snn = SemanticNN(base, split, latent_channels=3)
    sent, symbols = snn.encoder(x)
    assert symbols.shape == (2, 3, split[1] // 2, split[2] // 2)
    feats = snn.decode(sent, torch.zeros(2))
    assert tuple(feats.shape[1:]) == split
    assert snn.tail(feats).shape == (2, 10)


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="unknown base architecture"):
        build_base("vgg", 1, 10)
