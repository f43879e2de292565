"""Power normalization: scale each sample's latent to unit mean square."""

from __future__ import annotations

import torch
from torch import nn


class PowerNorm(nn.Module):
    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        power = x.pow(2).flatten(1).mean(1).clamp_min(self.eps)
        return x * power.rsqrt().view(-1, *([1] * (x.dim() - 1)))
