"""The split SemanticNN model.

Device part (`SemanticEncoder`): the base model's head, a compressor (conv3x3 stride 2
with ReLU, then a 1x1 conv to the latent), optional power normalization and the soft
quantizer. Edge part: the BER-aware decoder, which rebuilds the split features from
the received (possibly corrupted) symbols, and the base model's tail.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from semanticnn.layers import BERAttention
from semanticnn.link import BSC, transmit_symbols
from semanticnn.models.base import BaseClassifier
from semanticnn.quant import PowerNorm, SoftQuantizer


class SemanticEncoder(nn.Module):
    def __init__(
        self,
        head: nn.Sequential,
        split_channels: int,
        latent_channels: int = 3,
        levels: int = 8,
        power_norm: bool = False,
        compressor_channels: int = 32,
    ) -> None:
        super().__init__()
        self.head = head
        self.compressor = nn.Sequential(
            nn.Conv2d(split_channels, compressor_channels, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(compressor_channels, latent_channels, 1),
        )
        self.power_norm: nn.Module = PowerNorm() if power_norm else nn.Identity()
        self.quantizer = SoftQuantizer(levels)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The continuous latent before quantization."""
        return self.power_norm(self.compressor(self.head(x)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantized values with the SQ gradient, symbols)."""
        return self.quantizer(self.latent(x))


class BERAwareDecoder(nn.Module):
    """Latent values -> split features, with attention driven by the BER."""

    def __init__(
        self,
        latent_channels: int,
        split_channels: int,
        width: int = 64,
        ber_aware: bool = True,
    ) -> None:
        super().__init__()
        self.inp = nn.Conv2d(latent_channels, width, 3, 1, 1)
        self.att1 = BERAttention(width, ber_aware=ber_aware)
        self.mid = nn.Conv2d(width, width, 3, 1, 1)
        self.att2 = BERAttention(width, ber_aware=ber_aware)
        self.up = nn.ConvTranspose2d(width, width, 4, 2, 1)
        self.att3 = BERAttention(width, ber_aware=ber_aware)
        self.out = nn.Conv2d(width, split_channels, 3, 1, 1)

    def forward(
        self, values: torch.Tensor, ber: torch.Tensor, size: tuple[int, int]
    ) -> torch.Tensor:
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
        latent_channels: int = 3,
        levels: int = 8,
        power_norm: bool = False,
        ber_aware: bool = True,
    ) -> None:
        super().__init__()
        c = split_shape[0]
        self.split_shape = split_shape
        self.encoder = SemanticEncoder(
            copy.deepcopy(base.head), c, latent_channels, levels, power_norm
        )
        self.decoder = BERAwareDecoder(latent_channels, c, ber_aware=ber_aware)
        self.tail = copy.deepcopy(base.tail)

    def decode(self, values: torch.Tensor, ber: torch.Tensor) -> torch.Tensor:
        """Received latent values -> reconstructed split features."""
        return self.decoder(values, ber, self.split_shape[1:])

    def receive(self, sent: torch.Tensor, received: torch.Tensor) -> torch.Tensor:
        """Values of the received symbols, with the gradient of the sent ones (straight-through)."""
        return sent + (self.encoder.quantizer.dequantize(received) - sent).detach()

    def forward(self, x: torch.Tensor, ber: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode, send through a BSC at `ber` (true bit flips), decode with that BER.

        Returns (reconstructed split features, logits).
        """
        sent, symbols = self.encoder(x)
        rx = transmit_symbols(
            symbols.to(torch.uint8).cpu().numpy(), self.encoder.quantizer.bits, BSC(ber), seed
        )
        values = self.receive(sent, torch.from_numpy(rx).to(x.device))
        feats = self.decode(values, torch.full((x.shape[0],), ber, device=x.device))
        return feats, self.tail(feats)
