"""Soft quantization with L learned centers.

Forward: hard nearest-center assignment (what the device sends). Backward: the gradient
of the soft assignment sum_l softmax(-sigma * |x - c|)_l * c_l (straight-through), so
both the encoder and the centers learn.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SoftQuantizer(nn.Module):
    def __init__(self, levels: int = 8, sigma: float = 10.0, init_range: float = 1.5) -> None:
        super().__init__()
        if levels < 2 or levels & (levels - 1):
            raise ValueError(f"levels must be a power of two >= 2, got {levels}")
        self.levels = levels
        self.sigma = sigma
        self.centers = nn.Parameter(torch.linspace(-init_range, init_range, levels))

    @property
    def bits(self) -> int:
        """Bits per symbol on the wire."""
        return int(math.log2(self.levels))

    def sorted_centers(self) -> torch.Tensor:
        """The centers in ascending order: symbol s stands for `sorted_centers()[s]`."""
        return torch.sort(self.centers).values

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols (int64): index of the nearest sorted center, the lower one on ties."""
        c = self.sorted_centers().detach()
        return torch.argmin((x.detach().unsqueeze(-1) - c).abs(), dim=-1)

    def dequantize(self, symbols: torch.Tensor) -> torch.Tensor:
        return self.sorted_centers()[symbols.long()]

    def forward(
        self, x: torch.Tensor, symbols: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (hard values with the soft gradient, symbols).

        `symbols` overrides the float assignment (the int8 encoder computes its own).
        """
        c = self.sorted_centers()
        if symbols is None:
            symbols = self.assign(x)
        hard = c[symbols]
        if not self.training:
            return hard, symbols
        weights = torch.softmax(-self.sigma * (x.unsqueeze(-1) - c).abs(), dim=-1)
        soft = (weights * c).sum(-1)
        return soft + (hard - soft).detach(), symbols
