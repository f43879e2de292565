"""The fake-quantized encoder computes exactly what its exported int8 model file computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from semanticnn import int8
from semanticnn.export import export_encoder, to_uint8_nhwc
from semanticnn.models.split import SemanticEncoder


def _calibrated(power_norm: bool, seed: int = 0) -> tuple[SemanticEncoder, torch.Tensor]:
    torch.manual_seed(seed)
    enc = SemanticEncoder(1, levels=8, power_norm=power_norm, qat=True)
    x = torch.rand(16, 1, 28, 28)
    x[:4] = (x[:4] > 0.7).float()  # some saturated, MNIST-like images
    enc.train()
    for _ in range(3):  # the observers learn the activation ranges
        enc(x)
    enc.eval()
    with torch.no_grad():  # spread the centers over the latent's range
        if power_norm:
            enc.quantizer.centers.copy_(torch.linspace(-1.5, 1.5, 8))
        else:
            last = enc.convs[-1]
            enc.quantizer.centers.copy_(torch.linspace(float(last.lo), float(last.hi), 8) * 0.8)
    return enc, x


@pytest.mark.parametrize("power_norm", [False, True])
def test_fake_quant_symbols_equal_the_numpy_reference(tmp_path: Path, power_norm: bool) -> None:
    enc, x = _calibrated(power_norm)
    path = tmp_path / "enc.safetensors"
    export_encoder(enc, (1, 28, 28), path)
    with torch.no_grad():
        _, sym = enc(x)
    torch_sym = sym.permute(0, 2, 3, 1).reshape(len(x), -1).numpy().astype(np.uint8)
    ref = int8.reference_encode(path, to_uint8_nhwc(x))
    assert ref.shape == (16, 147)
    assert len(np.unique(ref)) > 2  # not a degenerate all-one-symbol encoder
    np.testing.assert_array_equal(torch_sym, ref)


def test_fake_quant_gradient_reaches_the_compressor() -> None:
    enc, x = _calibrated(False)
    enc.train()
    for p in enc.head_parameters():
        p.requires_grad_(False)
    values, _ = enc(x)
    values.square().sum().backward()
    grads = [p.grad for p in enc.compressor_parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert enc.quantizer.centers.grad is not None
    assert all(p.grad is None for p in enc.head_parameters())


def test_export_needs_qat(tmp_path: Path) -> None:
    enc = SemanticEncoder(1, qat=False)
    with pytest.raises(ValueError, match="QAT"):
        export_encoder(enc, (1, 28, 28), tmp_path / "x.safetensors")
