"""Symbols over the air: pack to bits, corrupt with the Rust channel models, unpack.

Every sample is packed as its own frame payload (`bits.pack`, MSB first), the payloads
of a batch are corrupted in one channel call (true bit flips on the bits that would be
sent, the zero tail of each payload included), then unpacked. Given one link per
sample instead, each payload goes through its own link (training mixes BERs in a batch).
"""

from __future__ import annotations

from collections.abc import Sequence
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


def transmit_bytes(
    payloads: np.ndarray, link: Channel | Sequence[Channel], seed: int
) -> np.ndarray:
    """Corrupt a (B, nbytes) uint8 array of payloads; returns a new array.

    `link` is one link for the whole batch, or one per payload (each with its own
    seed drawn from `seed`).
    """
    out = np.ascontiguousarray(payloads, dtype=np.uint8).copy()
    if isinstance(link, BSC | GilbertElliott):
        link.corrupt(out.reshape(-1), seed)
        return out
    if len(link) != len(out):
        raise ValueError(f"link: {len(link)} links for {len(out)} payloads")
    seeds = np.random.SeedSequence(seed).generate_state(len(out), np.uint64) >> np.uint64(1)
    for row, one, s in zip(out, link, seeds, strict=True):
        one.corrupt(row, int(s))
    return out


def transmit_with_pilot(
    symbols: np.ndarray,
    nbits: int,
    link: Channel | Sequence[Channel],
    seed: int,
    pilot_bits: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(B, ...) symbols < 2**nbits through the link, each payload preceded in the same
    buffer by a pilot of `pilot_bits` known bits (the wire frame's layout, without its
    protected header; 0: no pilot).

    Returns (received symbols, each frame's BER estimate: wrong pilot bits / pilot_bits,
    0 without a pilot). The pilot's bit values do not matter to the channel (flips are
    independent of the data), so it is sent as zeros and its wrong bits are its ones.
    """
    if pilot_bits < 0 or pilot_bits % 8:
        raise ValueError(f"pilot_bits must be a multiple of 8 >= 0, got {pilot_bits}")
    b = symbols.shape[0]
    flat = np.ascontiguousarray(symbols.reshape(b, -1), dtype=np.uint8)
    pilot = np.zeros((b, pilot_bits // 8), np.uint8)
    rx = transmit_bytes(np.concatenate([pilot, pack_rows(flat, nbits)], 1), link, seed)
    wrong = np.unpackbits(rx[:, : pilot.shape[1]], axis=1).sum(1)
    estimate = wrong / pilot_bits if pilot_bits else np.zeros(b)
    received = unpack_rows(rx[:, pilot.shape[1] :], nbits, flat.shape[1])
    return received.reshape(symbols.shape), estimate
