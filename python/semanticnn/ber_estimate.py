"""What a receiver knows of its link's bit-error rate: the bits of each frame whose
true value it learns for free, and a running estimate over the frames of one link.

A decoded frame tells the receiver the bit errors the Golay code corrected in its
header (`header_corrections`, out of `8 * HEADER_BYTES` bits) and, when the frame has
a pilot, its wrong pilot bits. One frame alone says little at low BER (a 120-bit header
sees an error every ~83 frames at BER 1e-4), so the estimate pools the evidence of the
link's earlier frames, older frames weighted down (half weight after `half_life`
frames) so that it follows a link that changes, plus a weak prior. Lost frames add no
evidence; frames whose header had 4 or more errors in a word are lost, so at high BER
the estimate runs somewhat low (survivors are the luckier frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semanticnn import frame

HEADER_BITS = 8 * frame.HEADER_BYTES
# Prior: one error in 1,000 bits (a BER of 1e-3), as much evidence as ~8 headers.
PRIOR_ERRORS = 1.0
PRIOR_BITS = 1000.0
HALF_LIFE = 64.0


def batch_evidence(
    delivered: np.ndarray,
    header_corrections: np.ndarray,
    pilot_errors: np.ndarray,
    pilot_bits: np.ndarray | int,
) -> tuple[np.ndarray, np.ndarray]:
    """(bit errors seen, bits seen) of each frame of a batch: its header's corrections
    and its pilot's wrong bits over the header's and pilot's bits; (0, 0) where lost."""
    errors = np.where(delivered, header_corrections + pilot_errors, 0).astype(np.float64)
    bits = np.where(delivered, HEADER_BITS + pilot_bits, 0).astype(np.float64)
    return errors, bits


def frame_evidence(parsed: frame.Frame) -> tuple[float, float]:
    """(bit errors seen, bits seen) of one decoded frame, as `batch_evidence`."""
    return (
        float(parsed.header_corrections + parsed.pilot_errors),
        float(HEADER_BITS + parsed.pilot_bits),
    )


@dataclass
class LinkEstimate:
    """The running estimate of one link: feed each frame's evidence in arrival order."""

    half_life: float = HALF_LIFE
    prior_errors: float = PRIOR_ERRORS
    prior_bits: float = PRIOR_BITS
    seen_errors: float = 0.0
    seen_bits: float = 0.0

    def __post_init__(self) -> None:
        if self.half_life <= 0 or self.prior_bits <= 0 or self.prior_errors < 0:
            raise ValueError("need half_life > 0, prior_bits > 0 and prior_errors >= 0")

    def update(self, errors: float, bits: float) -> float:
        """Add one frame's evidence (older evidence decays); the estimate after it."""
        decay = 0.5 ** (1.0 / self.half_life)
        self.seen_errors = decay * self.seen_errors + errors
        self.seen_bits = decay * self.seen_bits + bits
        return self.value

    @property
    def value(self) -> float:
        return (self.prior_errors + self.seen_errors) / (self.prior_bits + self.seen_bits)


def running_ber(errors: np.ndarray, bits: np.ndarray, **estimate: float) -> np.ndarray:
    """The estimate the receiver holds at each frame of one link, in arrival order: the
    frame's own evidence and that of the frames before it (decayed), plus the prior.
    `estimate`: `LinkEstimate` settings."""
    if errors.shape != bits.shape or errors.ndim != 1:
        raise ValueError(f"errors and bits must be 1-D of one shape: {errors.shape}, {bits.shape}")
    link = LinkEstimate(**estimate)
    return np.array(
        [link.update(e, n) for e, n in zip(errors.tolist(), bits.tolist(), strict=True)],
        dtype=np.float64,
    )
