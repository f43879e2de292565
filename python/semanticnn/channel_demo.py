"""`semanticnn channel-demo`: frames of packed symbols through every channel model.

Packs random 3-bit symbols (the size of one encoded image) into wire frames
with a 64-bit pilot, sends them through each channel model of
`semanticnn.channel`, and prints how many headers survive, the BER the
receivers estimate (from the pilot alone, and from the header's Golay
corrections and the pilot together) against the BER actually applied, and
the symbol error rate of the (deliberately unprotected) payload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from semanticnn import channel, frame
from semanticnn.link import BSC, Channel, GilbertElliott, Lossy
from semanticnn.seeds import derive_rng, derive_seed

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


def _links() -> list[tuple[str, Channel]]:
    awgn = channel.ber_awgn(4.0, "bpsk")
    return [
        ("bsc 1e-3", BSC(1e-3)),
        ("bsc 1e-2", BSC(1e-2)),
        ("bsc 5e-2", BSC(5e-2)),
        ("awgn bpsk 4 dB", BSC(awgn)),
        ("gilbert-elliott", GilbertElliott(p_gb=2e-3, p_bg=0.1, ber_good=1e-3, ber_bad=0.3)),
        ("bsc 1e-2 + 5% loss + 5% cut", Lossy(1e-2, p_erasure=0.05, p_truncation=0.05)),
    ]


def run_demo(frames: int = 1000, seed: int = 0) -> list[Row]:
    """The same `frames` random frames through every link, each link its own stream."""
    symbols = derive_rng(seed).integers(0, 1 << NBITS, (frames, COUNT), dtype=np.uint8)
    seqs = np.arange(frames) % (frame.MAX_SEQ + 1)
    sent = frame.encode_batch(
        symbols, NBITS, model_id=1, seqs=seqs, gray=True, pilot_bits=PILOT_BITS
    )
    rows = []
    for k, (name, link) in enumerate(tqdm(_links(), desc="channel demo", unit="link")):
        received, lengths = link.send(sent, derive_seed(seed, k))
        got = frame.decode_batch(received, lengths)
        ok = got.ok & (got.model_id == 1) & (got.seq == seqs) & (got.count == COUNT)
        wrong = got.symbols[ok, :COUNT] != symbols[ok]
        rows.append(
            Row(
                name,
                link.mean_ber,
                survived=int(ok.sum()),
                lost=int((lengths == 0).sum()),
                pilot_estimates=float(got.pilot_errors[ok].sum() / PILOT_BITS),
                estimates=float(got.ber_estimate[ok].sum()),
                symbol_errors=int(wrong.sum()),
                symbols=int(wrong.size),
            )
        )
    return rows
