"""The split SemanticNN model.

Device part (`models.encoder.SemanticEncoder`): the base model's head, a compressor
(stride-2 convs with ReLU, then a 1x1 conv to the latent), optional power normalization
and the soft quantizer. Edge part: the BER-aware decoder, which rebuilds the split
features from the received (possibly corrupted) symbols, and the base model's tail.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semanticnn.layers import BERAttention, SoftDemapper, ber_input
from semanticnn.link import BSC, Channel, transmit_symbols
from semanticnn.models.base import BaseClassifier
from semanticnn.models.encoder import SemanticEncoder


class BERAwareDecoder(nn.Module):
    """Latent values -> split features, with attention driven by the BER.

    The BER enters as a constant input plane and in every attention module. The
    BER-blind decoder (`ber_aware=False`) is the same network told a BER feature of 0.
    """

    def __init__(
        self,
        latent_channels: int,
        split_channels: int,
        width: int = 64,
        ber_aware: bool = True,
    ) -> None:
        """`latent_channels`: input channels besides the BER plane."""
        super().__init__()
        self.ber_aware = ber_aware
        self.inp = nn.Conv2d(latent_channels + 1, width, 3, 1, 1)
        self.att1 = BERAttention(width, ber_aware=ber_aware)
        self.mid = nn.Conv2d(width, width, 3, 1, 1)
        self.att2 = BERAttention(width, ber_aware=ber_aware)
        self.up = nn.ConvTranspose2d(width, width, 4, 2, 1)
        self.att3 = BERAttention(width, ber_aware=ber_aware)
        self.out = nn.Conv2d(width, split_channels, 3, 1, 1)

    def forward(
        self, values: torch.Tensor, ber: torch.Tensor, size: tuple[int, int]
    ) -> torch.Tensor:
        plane = ber_input(ber, self.ber_aware, values.dtype).to(values.device).view(-1, 1, 1, 1)
        values = torch.cat([values, plane.expand(-1, 1, *values.shape[2:])], 1)
        h = self.att1(F.relu(self.inp(values)), ber)
        h = h + self.att2(F.relu(self.mid(h)), ber)
        h = self.att3(F.relu(self.up(h)), ber)
        if h.shape[-2:] != size:
            h = F.interpolate(h, size=size, mode="bilinear", align_corners=False)
        return F.relu(self.out(h))


class SemanticNN(nn.Module):
    """Encoder + decoder + the base model's tail; the channel sits between them."""

    def __init__(
        self,
        base: BaseClassifier,
        split_shape: tuple[int, int, int],
        latent_channels: int | None = None,
        levels: int = 8,
        power_norm: bool = False,
        ber_aware: bool = True,
        qat: bool = True,
        soft_demap: bool = True,
        gray: bool = False,
    ) -> None:
        """`gray`: symbol indices go on the air Gray-mapped (the frame's gray flag)."""
        super().__init__()
        c = split_shape[0]
        self.gray = gray
        self.split_shape = split_shape
        self.encoder = SemanticEncoder(
            base.spec, split_shape, latent_channels, levels, power_norm, qat
        )
        self.encoder.load_head(base.head)
        latent_channels = self.encoder.latent_channels
        self.demapper = SoftDemapper(self.encoder.quantizer.bits, gray) if soft_demap else None
        inputs = latent_channels * (2 if soft_demap else 1)
        self.decoder = BERAwareDecoder(inputs, c, ber_aware=ber_aware)
        self.tail = copy.deepcopy(base.tail)

    def decode(self, values: torch.Tensor, ber: torch.Tensor) -> torch.Tensor:
        """Received latent values -> reconstructed split features.

        With soft demapping the decoder also sees each value's posterior mean given the
        BER (`layers.demap`; BER 0 for the BER-blind decoder: the received values).
        """
        if self.demapper is not None:
            q = self.encoder.quantizer
            told = ber if self.decoder.ber_aware else torch.zeros_like(ber)
            mean = self.demapper(q.assign(values), told.to(values.device), q.sorted_centers())
            values = torch.cat([values, mean], 1)
        return self.decoder(values, ber, self.split_shape[1:])

    def latent_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the symbols one image makes."""
        return self.encoder.latent_shape

    def transmit(
        self, symbols: torch.Tensor, link: Channel | Sequence[Channel], seed: int
    ) -> torch.Tensor:
        """(B, C, H, W) symbols through `link` (one for the batch, or one per sample) as
        frame payloads, in NHWC order as the device emits them; the received symbols."""
        nhwc = symbols.permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()
        bits = self.encoder.quantizer.bits
        rx = transmit_symbols(nhwc, bits, link, seed, self.gray)
        received = torch.from_numpy(rx).permute(0, 3, 1, 2).to(torch.int64)
        return received.to(symbols.device)

    def symbols_nchw(self, flat: np.ndarray) -> torch.Tensor:
        """(B, H*W*C) symbols as the device sends them (NHWC order) -> (B, C, H, W)."""
        c, h, w = self.latent_shape()
        nhwc = torch.from_numpy(np.ascontiguousarray(flat)).view(-1, h, w, c)
        return nhwc.permute(0, 3, 1, 2).to(torch.int64)

    def receive(self, sent: torch.Tensor, received: torch.Tensor) -> torch.Tensor:
        """Values of the received symbols, with the gradient of the sent ones (straight-through)."""
        return sent + (self.encoder.quantizer.dequantize(received) - sent).detach()

    def forward(
        self, x: torch.Tensor, ber: float | torch.Tensor, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode, send through a BSC at `ber` (true bit flips), decode with that BER.

        `ber` is one BER for the batch or a (B,) tensor, one per sample.
        Returns (reconstructed split features, logits).
        """
        sent, symbols = self.encoder(x)
        if self.training and self.demapper is not None:
            self.demapper.observe(symbols)
        bers = torch.as_tensor(ber, dtype=torch.float32).expand(x.shape[0]).cpu()
        link = BSC(float(ber)) if isinstance(ber, float) else [BSC(float(b)) for b in bers]
        values = self.receive(sent, self.transmit(symbols, link, seed))
        feats = self.decode(values, bers.to(x.device))
        return feats, self.tail(feats)
