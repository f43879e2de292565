"""The systems compared, each as `predict(x, link, seed) -> labels` over a real channel.

- original: the unsplit base model, no link;
- float32: the raw float32 split features sent as bytes (the receiver zeroes
  non-finite values the flips make);
- uint8: the split features uniformly quantized to 8 bits (range from the training set);
- semanticnn_blind / semanticnn: the int8 encoder's symbols, the BER-blind or the
  BER-aware decoder, then the tail. The BER-aware decoder gets the BER as the
  receiver estimates it (`ber_source`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from semanticnn.link import Channel, transmit_bytes
from semanticnn.models import BaseClassifier, SemanticNN

SYSTEMS = ("original", "float32", "uint8", "semanticnn_blind", "semanticnn")
Predict = Callable[[torch.Tensor, Channel, int], torch.Tensor]


@torch.no_grad()
def split_features(base: BaseClassifier, x: torch.Tensor) -> torch.Tensor:
    return base.head(x)


def float32_payload_bytes(split_shape: tuple[int, int, int]) -> int:
    c, h, w = split_shape
    return 4 * c * h * w


def original(base: BaseClassifier) -> Predict:
    @torch.no_grad()
    def predict(x: torch.Tensor, link: Channel, seed: int) -> torch.Tensor:
        return base(x).argmax(1)

    return predict


def float32(base: BaseClassifier) -> Predict:
    @torch.no_grad()
    def predict(x: torch.Tensor, link: Channel, seed: int) -> torch.Tensor:
        f = split_features(base, x).numpy().astype("<f4")
        rx = transmit_bytes(f.reshape(len(f), -1).view(np.uint8), link, seed)
        g = np.nan_to_num(rx.view("<f4"), nan=0.0, posinf=0.0, neginf=0.0).reshape(f.shape)
        return base.tail(torch.from_numpy(g.astype(np.float32))).argmax(1)

    return predict


def uint8(base: BaseClassifier, feature_max: float) -> Predict:
    """Uniform 8-bit quantization of the (non-negative, post-ReLU) split features."""
    scale = max(feature_max, 1e-12) / 255.0

    @torch.no_grad()
    def predict(x: torch.Tensor, link: Channel, seed: int) -> torch.Tensor:
        f = split_features(base, x)
        q = torch.clamp(torch.round(f / scale), 0, 255).to(torch.uint8).numpy()
        rx = transmit_bytes(q.reshape(len(q), -1), link, seed).reshape(q.shape)
        return base.tail(torch.from_numpy(rx.astype(np.float32) * scale)).argmax(1)

    return predict


def semanticnn(model: SemanticNN) -> Predict:
    """The int8 encoder's symbols through the link; the decoder is told the link's mean
    BER (the BER-blind decoder ignores it)."""

    @torch.no_grad()
    def predict(x: torch.Tensor, link: Channel, seed: int) -> torch.Tensor:
        _, symbols = model.encoder(x)
        rx = model.transmit(symbols, link, seed)
        ber = torch.full((len(x),), link.mean_ber)
        values = model.encoder.quantizer.dequantize(rx)
        return model.tail(model.decode(values, ber)).argmax(1)

    return predict
