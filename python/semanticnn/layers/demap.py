"""BER-aware soft demapping of received symbols.

On a binary symmetric channel with bit-error rate p, a symbol s of n bits arrives as r
with probability P(r | s) = p^d (1 - p)^(n - d), d the Hamming distance of s and r.
With the prior P(s) of the sent symbols, the posterior mean of the sent value is

    E[c_s | r] = sum_s c_s P(s) P(r | s) / sum_s P(s) P(r | s),

the minimum mean-squared-error estimate of each value on its own. At p = 0 it is the
received center itself, so a decoder told BER 0 (the BER-blind ablation) sees the plain
received values in this input too.
"""

from __future__ import annotations

import torch
from torch import nn


def hamming_table(bits: int, gray: bool = False) -> torch.Tensor:
    """(2^bits, 2^bits) Hamming distances on the air of all symbol-index pairs (of their
    Gray codes `s ^ (s >> 1)` when the link Gray-maps them)."""
    s = torch.arange(2**bits)
    if gray:
        s = s ^ (s >> 1)
    x = s[:, None] ^ s[None, :]
    return torch.stack([(x >> k) & 1 for k in range(bits)]).sum(0).to(torch.float64)


class SoftDemapper(nn.Module):
    """Posterior-mean values of received symbols given the BER of their link.

    The prior is the frequency of the symbols the encoder sent in training (an
    exponential moving average, a buffer saved with the model).
    """

    distance: torch.Tensor
    prior: torch.Tensor

    def __init__(self, bits: int, gray: bool = False, momentum: float = 0.01) -> None:
        super().__init__()
        self.bits = bits
        self.momentum = momentum
        self.register_buffer("distance", hamming_table(bits, gray).float(), persistent=False)
        self.register_buffer("prior", torch.full((2**bits,), 2.0**-bits))

    @torch.no_grad()
    def observe(self, sent: torch.Tensor) -> None:
        """Update the prior from a batch of sent symbols."""
        freq = torch.bincount(sent.flatten().long().cpu(), minlength=2**self.bits).float()
        self.prior.lerp_(freq.to(self.prior.device) / freq.sum(), self.momentum)

    def forward(
        self, received: torch.Tensor, ber: torch.Tensor, centers: torch.Tensor
    ) -> torch.Tensor:
        """received: (B, ...) symbols; ber: (B,) BERs; centers: (2^bits,) sorted centers.

        Returns the posterior-mean values, shaped like `received`.
        """
        p = ber.to(centers.dtype).clamp(0.0, 0.5).view(-1, 1, 1)
        d = self.distance.to(centers.dtype)
        like = p.pow(d) * (1 - p).pow(self.bits - d)  # (B, s, r): P(r | s); 0^0 = 1
        joint = like * self.prior.to(centers.dtype).clamp_min(1e-6).view(1, -1, 1)
        post = joint / joint.sum(1, keepdim=True)
        mean = (post * centers.view(1, -1, 1)).sum(1)  # (B, r)
        flat = received.reshape(len(received), -1).long()
        return torch.gather(mean, 1, flat).view(received.shape)
