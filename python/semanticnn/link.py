"""Symbols over the air: pack to bits, corrupt with the Rust channel models, unpack.

Every sample is packed as its own frame payload (`bits.pack`, MSB first), the payloads
of a batch are corrupted in one channel call (true bit flips on the bits that would be
sent, the zero tail of each payload included), then unpacked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BSC:
    """Binary symmetric channel: i.i.d. bit flips with probability `ber`."""

    ber: float

    @property
    def mean_ber(self) -> float:
        return self.ber

    @property
    def label(self) -> str:
        return f"{self.ber:g}"

    def corrupt(self, buf: np.ndarray, seed: int) -> None:
        from semanticnn import channel

        if self.ber > 0:
            channel.bsc(buf, self.ber, seed=seed, out=buf)


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state burst channel (see DESIGN.md); `mean_ber` is its stationary BER."""

    p_gb: float = 0.002
    p_bg: float = 0.1
    ber_good: float = 1e-4
    ber_bad: float = 0.3

    @property
    def mean_ber(self) -> float:
        return (self.p_bg * self.ber_good + self.p_gb * self.ber_bad) / (self.p_gb + self.p_bg)

    @property
    def label(self) -> str:
        return "gilbert_elliott"

    def corrupt(self, buf: np.ndarray, seed: int) -> None:
        from semanticnn import channel

        channel.gilbert_elliott(
            buf,
            p_gb=self.p_gb,
            p_bg=self.p_bg,
            ber_good=self.ber_good,
            ber_bad=self.ber_bad,
            seed=seed,
            out=buf,
        )


Channel = BSC | GilbertElliott


def pack_rows(symbols: np.ndarray, nbits: int) -> np.ndarray:
    """(B, n) uint8 symbols -> (B, ceil(n * nbits / 8)) packed payloads."""
    from semanticnn import bits

    return np.stack([bits.pack(np.ascontiguousarray(row), nbits) for row in symbols])


def unpack_rows(packed: np.ndarray, nbits: int, count: int) -> np.ndarray:
    from semanticnn import bits

    return np.stack([bits.unpack(np.ascontiguousarray(row), nbits, count) for row in packed])


def transmit_bytes(payloads: np.ndarray, link: Channel, seed: int) -> np.ndarray:
    """Corrupt a (B, nbytes) uint8 array of payloads; returns a new array."""
    out = np.ascontiguousarray(payloads, dtype=np.uint8).copy()
    link.corrupt(out.reshape(-1), seed)
    return out


def transmit_symbols(symbols: np.ndarray, nbits: int, link: Channel, seed: int) -> np.ndarray:
    """(B, ...) symbols < 2**nbits through the link; returns the received symbols, same shape."""
    b = symbols.shape[0]
    flat = np.ascontiguousarray(symbols.reshape(b, -1), dtype=np.uint8)
    received = transmit_bytes(pack_rows(flat, nbits), link, seed)
    return unpack_rows(received, nbits, flat.shape[1]).reshape(symbols.shape)
