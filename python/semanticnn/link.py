"""The links the systems are judged on, and symbols over the air for training.

A link takes whole packets: `send(frames, seed)` passes a batch of frames (one packet a
row) through it and returns what arrives (bit flips; with `Lossy`, also packets lost or
cut short). Evaluation sends the exact bytes of `semanticnn.frame` through it.

Training needs only the payload: `transmit_symbols` packs each sample's symbols as its
frame payload (`bits.pack`, MSB first, optionally Gray-mapped as the frame does),
corrupts the payloads of a batch in one channel call (true bit flips on the bits that
would be sent, the zero tail of each payload included) and unpacks them. Given one link
per sample instead, each payload goes through its own link (training mixes BERs in a
batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semanticnn.seeds import derive_seed


def _received_lengths(frames: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    if lengths is None:
        return np.full(len(frames), frames.shape[1], dtype=np.int64)
    n = np.asarray(lengths, dtype=np.int64)
    if n.shape != (len(frames),) or n.min(initial=0) < 0 or n.max(initial=0) > frames.shape[1]:
        raise ValueError(f"lengths: need {len(frames)} values in 0..={frames.shape[1]}")
    return n.copy()


class _BitLink:
    """A link that only flips bits: every packet arrives, whole."""

    def corrupt(self, buf: np.ndarray, seed: int) -> None:
        raise NotImplementedError

    def send(
        self, frames: np.ndarray, seed: int, lengths: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N, L) uint8 frames, row i's packet being its first `lengths[i]` bytes
        (default L), each row its own packet; returns (a corrupted copy, the received
        lengths: 0 = erased, < sent = truncated)."""
        rx = np.array(frames, dtype=np.uint8, order="C", copy=True)
        if rx.ndim != 2:
            raise ValueError(f"frames must be (N, L), got shape {rx.shape}")
        n = _received_lengths(rx, lengths)
        self.corrupt(rx.reshape(-1), seed)
        return rx, n


@dataclass(frozen=True)
class BSC(_BitLink):
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
class GilbertElliott(_BitLink):
    """Two-state burst channel (see DESIGN.md); `mean_ber` is its stationary BER."""

    p_gb: float = 0.002
    p_bg: float = 0.1
    ber_good: float = 1e-4
    ber_bad: float = 0.3

    @property
    def mean_ber(self) -> float:
        from semanticnn.channel import gilbert_elliott_mean_ber

        return gilbert_elliott_mean_ber(self.p_gb, self.p_bg, self.ber_good, self.ber_bad)

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


@dataclass(frozen=True)
class Lossy(BSC):
    """A packet link: bit flips at `ber`, each packet lost with `p_erasure`, and a
    packet that arrives cut short (uniform length below its own) with `p_truncation`."""

    p_erasure: float = 0.05
    p_truncation: float = 0.05

    @property
    def label(self) -> str:
        return f"{self.ber:g}+loss{self.p_erasure:g}+cut{self.p_truncation:g}"

    def send(
        self, frames: np.ndarray, seed: int, lengths: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        from semanticnn import channel

        rx, n = super().send(frames, derive_seed(seed, 0), lengths)
        n = channel.truncations(n, self.p_truncation, seed=derive_seed(seed, 2)).astype(np.int64)
        n[channel.erasure(len(rx), self.p_erasure, seed=derive_seed(seed, 1))] = 0
        return rx, n


Channel = BSC | GilbertElliott | Lossy


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
    """Corrupt a (B, nbytes) uint8 array of payloads by bit flips only; returns a new array.

    `link` is one link for the whole batch, or one per payload (each with its own
    seed drawn from `seed`).
    """
    from semanticnn import channel

    out = np.ascontiguousarray(payloads, dtype=np.uint8).copy()
    if isinstance(link, _BitLink):
        link.corrupt(out.reshape(-1), seed)
        return out
    if len(link) != len(out):
        raise ValueError(f"link: {len(link)} links for {len(out)} payloads")
    seeds = np.array([derive_seed(seed, i) for i in range(len(out))], dtype=np.uint64)
    # One call for the batch where every link is of one kind (what training sends).
    bscs = [one for one in link if type(one) is BSC]
    if len(bscs) == len(out):
        return channel.bsc_rows(out, np.array([b.ber for b in bscs]), seeds, out=out)
    ges = [one for one in link if isinstance(one, GilbertElliott)]
    if len(ges) == len(out):
        return channel.gilbert_elliott_rows(
            out,
            p_gb=np.array([g.p_gb for g in ges]),
            p_bg=np.array([g.p_bg for g in ges]),
            ber_good=np.array([g.ber_good for g in ges]),
            ber_bad=np.array([g.ber_bad for g in ges]),
            seeds=seeds,
            out=out,
        )
    for row, one, row_seed in zip(out, link, seeds, strict=True):
        one.corrupt(row, int(row_seed))
    return out


def transmit_symbols(
    symbols: np.ndarray,
    nbits: int,
    link: Channel | Sequence[Channel],
    seed: int,
    gray: bool = False,
) -> np.ndarray:
    """(B, ...) symbols < 2**nbits through the link as frame payloads (Gray-mapped on
    the air when `gray`, as `frame.encode(..., gray=True)` sends them); returns the
    received symbols, shaped like `symbols`."""
    from semanticnn import bits

    b = symbols.shape[0]
    flat = np.ascontiguousarray(symbols.reshape(b, -1), dtype=np.uint8)
    if gray:
        flat = bits.gray_encode(flat)
    rx = unpack_rows(transmit_bytes(pack_rows(flat, nbits), link, seed), nbits, flat.shape[1])
    if gray:
        rx = bits.gray_decode(rx)
    return rx.reshape(symbols.shape)
