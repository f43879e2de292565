"""The systems compared, each a `System` (what the device sends; what the edge predicts
from it after a real channel).

- original: the unsplit base model, no link;
- float32: the raw float32 split features sent as bytes (the receiver zeroes
  non-finite values the flips make);
- uint8: the split features uniformly quantized to 8 bits (range from the training set);
- semanticnn_blind / semanticnn: the int8 encoder's symbols, the BER-blind or the
  BER-aware decoder, then the tail. The BER-aware decoder is told the link's mean BER
  (what a receiver learns by averaging many frames' pilots);
- semanticnn_pilot: the BER-aware decoder told each frame's own BER estimate from a
  `PILOT_BITS`-bit pilot sent ahead of the symbols (as the firmware's frames carry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from semanticnn.link import Channel, transmit_bytes
from semanticnn.models import BaseClassifier, SemanticNN

SYSTEMS = ("original", "float32", "uint8", "semanticnn_blind", "semanticnn", "semanticnn_pilot")
# Pilot bits per frame, as in the firmware's frames (`semanticnn.firmware.frames`).
PILOT_BITS = 64


@dataclass(frozen=True)
class System:
    """`send(images)` is what the device puts on the air (computed once per batch);
    `receive(sent, link, seed)` sends it through `link` and returns the predicted labels."""

    send: Callable[[torch.Tensor], torch.Tensor]
    receive: Callable[[torch.Tensor, Channel, int], torch.Tensor]


@torch.no_grad()
def split_features(base: BaseClassifier, x: torch.Tensor) -> torch.Tensor:
    return base.head(x)


def float32_payload_bytes(split_shape: tuple[int, int, int]) -> int:
    c, h, w = split_shape
    return 4 * c * h * w


def original(base: BaseClassifier) -> System:
    """No link: `send` already predicts."""

    @torch.no_grad()
    def send(x: torch.Tensor) -> torch.Tensor:
        return base(x).argmax(1)

    return System(send, lambda labels, link, seed: labels)


def float32(base: BaseClassifier) -> System:
    @torch.no_grad()
    def receive(f: torch.Tensor, link: Channel, seed: int) -> torch.Tensor:
        raw = f.numpy().astype("<f4")
        rx = transmit_bytes(raw.reshape(len(raw), -1).view(np.uint8), link, seed)
        g = np.nan_to_num(rx.view("<f4"), nan=0.0, posinf=0.0, neginf=0.0).reshape(raw.shape)
        return base.tail(torch.from_numpy(g.astype(np.float32))).argmax(1)

    return System(lambda x: split_features(base, x), receive)


def uint8(base: BaseClassifier, feature_max: float) -> System:
    """Uniform 8-bit quantization of the (non-negative, post-ReLU) split features."""
    scale = max(feature_max, 1e-12) / 255.0

    def send(x: torch.Tensor) -> torch.Tensor:
        f = split_features(base, x)
        return torch.clamp(torch.round(f / scale), 0, 255).to(torch.uint8)

    @torch.no_grad()
    def receive(q: torch.Tensor, link: Channel, seed: int) -> torch.Tensor:
        rx = transmit_bytes(q.reshape(len(q), -1).numpy(), link, seed).reshape(q.shape)
        return base.tail(torch.from_numpy(rx.astype(np.float32) * scale)).argmax(1)

    return System(send, receive)


def semanticnn(model: SemanticNN, pilot_bits: int = 0) -> System:
    """The int8 encoder's symbols through the link; the decoder is told the link's mean
    BER or, with `pilot_bits`, each frame's pilot estimate (the BER-blind decoder
    ignores either)."""

    @torch.no_grad()
    def send(x: torch.Tensor) -> torch.Tensor:
        return model.encoder(x)[1]

    @torch.no_grad()
    def receive(symbols: torch.Tensor, link: Channel, seed: int) -> torch.Tensor:
        rx, estimate = model.transmit(symbols, link, seed, pilot_bits)
        ber = estimate if pilot_bits else torch.full((len(rx),), link.mean_ber)
        values = model.encoder.quantizer.dequantize(rx)
        return model.tail(model.decode(values, ber)).argmax(1)

    return System(send, receive)
