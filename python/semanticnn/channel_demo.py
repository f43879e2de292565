"""`semanticnn channel-demo`: frames of packed symbols through every channel model.

Packs random 3-bit symbols (the size of one encoded image) into wire frames
with a 64-bit pilot, sends them through each channel model of
`semanticnn.channel`, and prints how many headers survive, the BER the
receivers estimate (from the pilot alone, and from the header's Golay
corrections and the pilot together) against the BER actually applied, and
the symbol error rate of the (deliberately unprotected) payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from semanticnn import channel, frame
from semanticnn.link import GilbertElliott

NBITS = 3
COUNT = 147  # a 7x7x3 latent
PILOT_BITS = 64  # 8 bytes: the format's pilot field holds at most 15


@dataclass
class Row:
    name: str
    true_ber: float
    survived: int = 0
    lost: int = 0
    pilot_estimates: float = 0.0
    estimates: float = 0.0
    symbol_errors: int = 0
    symbols: int = 0


# A frame's damage on its way: (sent bytes, frame index) -> received bytes, or None if lost.
Damage = Callable[[np.ndarray, int], "np.ndarray | None"]


def _models(frames: int, seed: int) -> list[tuple[str, float, Damage]]:
    """(name, mean BER, damage) of every channel model."""
    ge = GilbertElliott(p_gb=2e-3, p_bg=0.1, ber_good=1e-3, ber_bad=0.3)
    awgn = channel.ber_awgn(4.0, "bpsk")

    def bsc(ber: float) -> Damage:
        return lambda buf, i: channel.bsc(buf, ber, seed=seed + i)

    def bursts(buf: np.ndarray, i: int) -> np.ndarray:
        out = buf.copy()
        ge.corrupt(out, seed + i)
        return out

    erased = channel.erasure(frames, 0.05, seed=seed)

    def lossy(buf: np.ndarray, i: int) -> np.ndarray | None:
        if erased[i]:
            return None
        return channel.truncate(channel.bsc(buf, 1e-2, seed=seed + i), 0.05, seed=seed, index=i)

    return [
        ("bsc 1e-3", 1e-3, bsc(1e-3)),
        ("bsc 1e-2", 1e-2, bsc(1e-2)),
        ("bsc 5e-2", 5e-2, bsc(5e-2)),
        ("awgn bpsk 4 dB", awgn, bsc(awgn)),
        ("gilbert-elliott", ge.mean_ber, bursts),
        ("bsc 1e-2 + 5% loss + 5% cut", 1e-2, lossy),
    ]


def run_demo(frames: int = 1000, seed: int = 0) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows = []
    for name, ber, damage in _models(frames, seed):
        row = Row(name, ber)
        for i in tqdm(range(frames), desc=name, leave=False, unit="frame"):
            symbols = rng.integers(0, 1 << NBITS, COUNT, dtype=np.uint8)
            seq = i % (frame.MAX_SEQ + 1)
            sent = frame.encode(
                symbols, NBITS, model_id=1, seq=seq, gray=True, pilot_bits=PILOT_BITS
            )
            got = damage(np.frombuffer(sent, np.uint8), i)
            if got is None:
                row.lost += 1
                continue
            try:
                f = frame.decode(got)
            except frame.FrameError:
                continue
            if (f.model_id, f.seq, f.nbits, f.symbols.size) != (1, seq, NBITS, COUNT):
                continue
            row.survived += 1
            row.pilot_estimates += f.pilot_ber_estimate or 0.0
            row.estimates += f.ber_estimate
            row.symbol_errors += int((f.symbols != symbols).sum())
            row.symbols += COUNT
        rows.append(row)
    return rows
