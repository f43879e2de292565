"""The one way this package turns (seed, stage, epoch, index, ...) keys into random
streams: numpy's SeedSequence of the keys, as a 63-bit seed for the channel models and
torch, or as a numpy generator."""

from __future__ import annotations

import numpy as np


def _sequence(keys: tuple[int, ...]) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(k) for k in keys])


def derive_seed(*keys: int) -> int:
    """A 63-bit seed from integer keys, independent for different keys."""
    return int(_sequence(keys).generate_state(1, np.uint64)[0] >> np.uint64(1))


def derive_rng(*keys: int) -> np.random.Generator:
    """A numpy generator seeded by integer keys (the stream of `default_rng(list(keys))`)."""
    return np.random.default_rng(_sequence(keys))
