"""BER-aware channel attention.

The channel weights come from an MLP over the globally pooled features and a scalar
feature of the bit-error rate, so one decoder can behave differently on a clean and on
a noisy link. With `ber_aware=False` the BER feature is held at 0 (the BER-blind
ablation): the same network with the same parameters, so both variants can start from
the same initial weights and differ only in what they are told.
"""

from __future__ import annotations

import torch
from torch import nn

BER_FLOOR = 1e-5


def ber_feature(ber: torch.Tensor) -> torch.Tensor:
    """log10(BER) mapped so that BER <= 1e-5 -> 0 and 1e-1 -> 1 (roughly in [0, 1.25])."""
    return (torch.log10(ber.clamp_min(BER_FLOOR)) - torch.log10(torch.tensor(BER_FLOOR))) / 4.0


def ber_input(ber: torch.Tensor, aware: bool, dtype: torch.dtype) -> torch.Tensor:
    """What a decoder is told: `ber_feature(ber)`, or 0 for the BER-blind one."""
    return ber_feature(ber.to(dtype)) if aware else torch.zeros(ber.shape, dtype=dtype)


class BERAttention(nn.Module):
    def __init__(self, channels: int, hidden: int = 32, ber_aware: bool = True) -> None:
        super().__init__()
        self.ber_aware = ber_aware
        self.mlp = nn.Sequential(
            nn.Linear(2 * channels + 1, hidden),
            nn.ReLU(),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor, ber: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W); ber: (B,) bit-error rates (ignored when BER-blind)."""
        b = ber_input(ber, self.ber_aware, x.dtype).to(x.device).view(-1, 1)
        w = self.mlp(torch.cat([x.mean((2, 3)), x.amax((2, 3)), b], 1))
        return x * w[:, :, None, None]
