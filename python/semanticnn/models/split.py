"""The split SemanticNN model.

Device part (`SemanticEncoder`): the base model's head, a compressor (conv3x3 stride 2
with ReLU, then a 1x1 conv to the latent), optional power normalization and the soft
quantizer. Edge part: the BER-aware decoder, which rebuilds the split features from
the received (possibly corrupted) symbols, and the base model's tail.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semanticnn import _core
from semanticnn.int8.layers import Head
from semanticnn.layers import BERAttention, SoftDemapper, ber_input
from semanticnn.link import BSC, Channel, transmit_symbols
from semanticnn.models.base import SPLIT_LAYERS, BaseClassifier, encoder_architecture
from semanticnn.quant import PowerNorm, SoftQuantizer
from semanticnn.quant.fakequant import INPUT_SCALE, INPUT_ZERO_POINT, QConv2d, quantize_input
from semanticnn.quant.integer import head_symbols


class SemanticEncoder(nn.Module):
    """The int8 device part: `encoder_architecture()` convs, power norm, soft quantizer.

    The first `SPLIT_LAYERS` convs are the base model's head (frozen). With `qat` on,
    every conv runs as `QConv2d` (exact integer forward, straight-through gradient) and
    the symbols come from the integer head of docs/model-format.md, so they equal what
    the exported model computes.
    """

    FRAC_BITS = 12

    def __init__(
        self,
        in_channels: int,
        latent_channels: int | None = None,
        levels: int = 8,
        power_norm: bool = False,
        qat: bool = True,
    ) -> None:
        super().__init__()
        arch = encoder_architecture(in_channels)
        if latent_channels is not None and latent_channels != arch[-1].out_channels:
            arch[-1] = dataclasses.replace(arch[-1], out_channels=latent_channels)
        self.arch = arch
        self.convs = nn.ModuleList(
            QConv2d(nn.Conv2d(s.in_channels, s.out_channels, s.kernel, s.stride, s.padding), s.relu)
            for s in arch
        )
        self.use_power_norm = power_norm
        self.power_norm: nn.Module = PowerNorm() if power_norm else nn.Identity()
        self.quantizer = SoftQuantizer(levels)
        self.qat = qat

    @property
    def qconvs(self) -> list[QConv2d]:
        """The device convs in order (`convs`, typed: an nn.ModuleList yields Modules)."""
        return [q for q in self.convs if isinstance(q, QConv2d)]

    @property
    def latent_channels(self) -> int:
        return self.arch[-1].out_channels

    def load_head(self, head: nn.Sequential) -> None:
        """Copy the base model's head convs into the first layers."""
        convs = [m for m in head if isinstance(m, nn.Conv2d)]
        for q, conv in zip(self.qconvs, convs, strict=False):
            q.conv.load_state_dict(conv.state_dict())

    def head_parameters(self) -> list[nn.Parameter]:
        return [p for q in self.convs[:SPLIT_LAYERS] for p in q.parameters()]

    def compressor_parameters(self) -> list[nn.Parameter]:
        return [p for q in self.convs[SPLIT_LAYERS:] for p in q.parameters()]

    def int_centers(self, latent_scale: float) -> torch.Tensor:
        """The centers (int64, strictly increasing) in the fixed-point domain of the
        integer head, on the quantizer's device."""
        c = self.quantizer.sorted_centers().detach().double()
        unit = 1.0 if self.use_power_norm else 1.0 / latent_scale
        ints = torch.round(c * unit * 2**self.FRAC_BITS).to(torch.int64)
        # Keep them strictly increasing after rounding: c[i] = max(c[i], c[i - 1] + 1).
        steps = torch.arange(len(ints), device=ints.device)
        return torch.cummax(ints - steps, 0).values + steps

    def int_head(self, latent_scale: float) -> Head:
        """The integer head of the model file (what `int_symbols` computes)."""
        centers = self.int_centers(latent_scale).cpu().numpy().astype(np.int32)
        return Head(centers, self.FRAC_BITS, self.use_power_norm, False)

    def latent_int(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float, int]:
        """The int8 path: (dequantized latent, int8 latent values, scale, zero point)."""
        q = quantize_input(x)
        h, scale, zp = (q - INPUT_ZERO_POINT) * INPUT_SCALE, INPUT_SCALE, INPUT_ZERO_POINT
        for conv in self.convs:
            h, q, scale, zp = conv(h, q, scale, zp)
        return h, q, scale, zp

    def int_symbols(self, q: torch.Tensor, zp: int, scale: float) -> torch.Tensor:
        """Symbols (B, C, H, W) of int8 latents by the integer head, on `q`'s device."""
        centers = self.int_centers(scale).to(q.device)
        return head_symbols(q.detach(), zp, centers, self.FRAC_BITS, self.use_power_norm)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantized latent values with the SQ gradient, symbols (B, C, H, W))."""
        if not self.qat:
            h = x
            for conv in self.qconvs:
                h = conv.conv(h)
                h = F.relu(h) if conv.relu else h
            return self.quantizer(self.power_norm(h))
        h, q, scale, zp = self.latent_int(x)
        return self.quantizer(self.power_norm(h), symbols=self.int_symbols(q, zp, scale))


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
        in_channels = next(m for m in base.head if isinstance(m, nn.Conv2d)).in_channels
        self.encoder = SemanticEncoder(in_channels, latent_channels, levels, power_norm, qat)
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
        _, h, w = self.split_shape
        for spec in self.encoder.arch[SPLIT_LAYERS:]:
            h = _core.conv_output_size(h, spec.kernel, spec.stride, spec.padding)
            w = _core.conv_output_size(w, spec.kernel, spec.stride, spec.padding)
        return self.encoder.latent_channels, h, w

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
