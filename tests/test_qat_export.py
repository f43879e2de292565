"""The fake-quantized encoder of every zoo model computes exactly what its exported int8
model file computes, in the numpy reference and in the Rust core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from semanticnn import int8
from semanticnn.export import export_encoder, to_uint8_nhwc
from semanticnn.models.encoder import SemanticEncoder
from semanticnn.models.graph import Graph
from semanticnn.models.zoo import build_head, model_spec, split_shape

TINY = ("tiny", "", (1, 28, 28))


def _calibrated(
    model: tuple[str, str, tuple[int, int, int]], power_norm: bool
) -> tuple[SemanticEncoder, torch.Tensor]:
    name, split, shape = model
    torch.manual_seed(0)
    spec = model_spec(name, split, shape, 10)
    head = build_head(spec)
    _randomize_batch_norm(head)
    enc = SemanticEncoder(spec, split_shape(head, shape), levels=8, power_norm=power_norm)
    enc.load_head(head)
    x = torch.rand(12, *shape)
    x[:4] = (x[:4] > 0.7).float()  # some saturated, MNIST-like images
    enc.train()
    for _ in range(3):  # the observers learn the activation ranges
        enc(x)
    enc.eval()
    with torch.no_grad():  # spread the centers over the latent's range
        if power_norm:
            enc.quantizer.centers.copy_(torch.linspace(-1.5, 1.5, 8))
        else:
            latent = enc.latent_int(x).value
            lo, hi = float(latent.min()), float(latent.max())
            enc.quantizer.centers.copy_(torch.linspace(lo, hi, 8) * 0.8)
    return enc, x


def _randomize_batch_norm(head: Graph) -> None:
    """Batch-norm statistics and affine parameters as a trained model has them."""
    with torch.no_grad():
        for m in head.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


MODELS = [
    TINY,
    ("mobilenetv2-0.35", "block3", (1, 28, 28)),
    ("mobilenetv2-0.5", "block4", (3, 16, 16)),
    ("resnet8", "stage1", (1, 28, 28)),
    ("resnet8", "stem", (3, 64, 64)),  # the stem's max pool
    ("resnet18", "stage1", (1, 8, 8)),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m[0]}-{m[1] or 'default'}")
@pytest.mark.parametrize("power_norm", [False, True])
def test_fake_quant_symbols_equal_the_reference_and_rust(
    tmp_path: Path, model: tuple[str, str, tuple[int, int, int]], power_norm: bool
) -> None:
    enc, x = _calibrated(model, power_norm)
    path = tmp_path / "enc.safetensors"
    export_encoder(enc, model[2], path)
    with torch.no_grad():
        _, sym = enc(x)
    torch_sym = sym.permute(0, 2, 3, 1).reshape(len(x), -1).numpy().astype(np.uint8)
    images = to_uint8_nhwc(x)
    ref = int8.reference_encode(path, images)
    assert ref.shape == (len(x), int(np.prod(enc.latent_shape)))
    assert len(np.unique(ref)) > 2  # not a degenerate all-one-symbol encoder
    np.testing.assert_array_equal(torch_sym, ref)
    rust = int8.Encoder.load(path)
    for kernel in int8.Encoder.kernels():
        np.testing.assert_array_equal(rust.encode(images, kernel=kernel), ref)
    written = int8.read_model(path)
    assert len(written.layers) == len(enc.nodes)


def test_fake_quant_gradient_reaches_the_compressor() -> None:
    enc, x = _calibrated(TINY, False)
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
    enc = SemanticEncoder(model_spec(*TINY, 10), (32, 14, 14), qat=False)
    _sent, symbols = enc(torch.rand(2, 1, 28, 28))  # the float path
    assert symbols.shape == (2, 3, 7, 7)
    with pytest.raises(ValueError, match="QAT"):
        export_encoder(enc, (1, 28, 28), tmp_path / "x.safetensors")
