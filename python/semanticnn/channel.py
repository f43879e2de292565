"""Channel models on packed uint8 buffers (bits as sent on the air).

All models are seeded and reproducible on every machine and for every
thread count: buffers are processed in fixed 64 KiB chunks, each drawing
from its own xoshiro256++ stream derived from (seed, chunk index).

`out=None` returns a damaged copy; `out=buf` damages `buf` in place; any
other `out` (uint8, same size, C-contiguous) receives the damaged copy.
`threads=0` uses all cores; the result is the same for any value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from semanticnn import _core
from semanticnn._arrays import (
    U8Array,
    as_counts,
    check_count,
    check_probability,
    check_real,
    check_seed,
    check_threads,
    packed_buffer,
    target,
)

ChannelError = _core.ChannelError

__all__ = [
    "ChannelError",
    "ber_awgn",
    "bsc",
    "bsc_rows",
    "erasure",
    "gilbert_elliott",
    "gilbert_elliott_mean_ber",
    "gilbert_elliott_rows",
    "truncate",
    "truncations",
]


def bsc(
    buf: np.ndarray, ber: float, *, seed: int, out: np.ndarray | None = None, threads: int = 0
) -> U8Array:
    """Binary symmetric channel: each bit flips independently with probability `ber`.

    Cost grows with the number of flips at low BER (geometric gaps) and stays
    bounded at high BER (64-bit masks by an alias table of nibble patterns;
    see docs/channel.md).
    """
    src = packed_buffer("buf", buf)
    ber = check_probability("ber", ber)
    seed = check_seed(seed)
    res = target(src, out)
    _core.bsc_inplace(res, ber, seed, check_threads(threads))
    return res


def gilbert_elliott(
    buf: np.ndarray,
    *,
    p_gb: float,
    p_bg: float,
    ber_good: float,
    ber_bad: float,
    seed: int,
    out: np.ndarray | None = None,
    threads: int = 0,
) -> U8Array:
    """Gilbert-Elliott burst channel: a two-state Markov chain advanced once per bit.

    `p_gb` = P(good→bad), `p_bg` = P(bad→good); bits flip with `ber_good` /
    `ber_bad` in each state; the first state is drawn from the stationary
    distribution, so the mean BER is `gilbert_elliott_mean_ber(...)`.
    """
    src = packed_buffer("buf", buf)
    probs = (
        check_probability("p_gb", p_gb),
        check_probability("p_bg", p_bg),
        check_probability("ber_good", ber_good),
        check_probability("ber_bad", ber_bad),
    )
    seed = check_seed(seed)
    res = target(src, out)
    _core.gilbert_elliott_inplace(res, *probs, seed, check_threads(threads))
    return res


def _rows(frames: np.ndarray, out: np.ndarray | None) -> U8Array:
    """Where the damaged (N, L) uint8 rows go: a copy, `frames` itself, or `out`."""
    src = np.asarray(frames)
    if src.dtype != np.uint8 or src.ndim != 2:
        raise TypeError(f"frames must be a (N, L) uint8 array, got {src.dtype} {src.shape}")
    if out is None:
        return np.array(src, order="C", copy=True)
    ok = isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == src.shape
    if not (ok and out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"out must be a writable C-contiguous uint8 array of shape {src.shape}")
    if out is not frames:
        np.copyto(out, src)
    return out


def _per_row(name: str, values: object, rows: int) -> np.ndarray:
    """A probability for every row, or one per row, as `rows` float64 values."""
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a probability or one per row, got a string")
    a = np.asarray(values, dtype=np.float64)
    a = np.broadcast_to(a, (rows,)) if a.ndim == 0 else a
    if a.shape != (rows,):
        raise ValueError(f"{name}: {a.size} values for {rows} rows, one per row")
    bad = np.flatnonzero(~((a >= 0) & (a <= 1)))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] must be a probability in [0, 1], got {a[bad[0]]}")
    return np.ascontiguousarray(a)


def _seeds(seeds: object, rows: int) -> np.ndarray:
    a = as_counts("seeds", seeds)
    if a.shape != (rows,):
        raise ValueError(f"seeds: {a.size} values for {rows} rows, one per row")
    return np.ascontiguousarray(a, dtype=np.uint64)


def bsc_rows(
    frames: np.ndarray,
    bers: float | np.ndarray,
    seeds: np.ndarray,
    *,
    out: np.ndarray | None = None,
    threads: int = 0,
) -> U8Array:
    """`bsc` on each row of an (N, L) uint8 batch of frames in one call: row `i` at
    `bers[i]` (or one BER for all) from `seeds[i]`, exactly what
    `bsc(frames[i], bers[i], seed=seeds[i])` gives it. Rows are split over threads."""
    res = _rows(frames, out)
    n = res.shape[0]
    _core.bsc_rows_inplace(
        res.reshape(-1),
        res.shape[1],
        _per_row("bers", bers, n),
        _seeds(seeds, n),
        check_threads(threads),
    )
    return res


def gilbert_elliott_rows(
    frames: np.ndarray,
    *,
    p_gb: float | np.ndarray,
    p_bg: float | np.ndarray,
    ber_good: float | np.ndarray,
    ber_bad: float | np.ndarray,
    seeds: np.ndarray,
    out: np.ndarray | None = None,
    threads: int = 0,
) -> U8Array:
    """`gilbert_elliott` on each row of an (N, L) uint8 batch: row `i` with the
    `i`-th value of each parameter (a scalar applies to every row), from
    `seeds[i]`; the same bits as one call per row."""
    res = _rows(frames, out)
    n = res.shape[0]
    _core.gilbert_elliott_rows_inplace(
        res.reshape(-1),
        res.shape[1],
        _per_row("p_gb", p_gb, n),
        _per_row("p_bg", p_bg, n),
        _per_row("ber_good", ber_good, n),
        _per_row("ber_bad", ber_bad, n),
        _seeds(seeds, n),
        check_threads(threads),
    )
    return res


def gilbert_elliott_mean_ber(p_gb: float, p_bg: float, ber_good: float, ber_bad: float) -> float:
    """Mean BER of the Gilbert-Elliott channel: `(p_bg*ber_good + p_gb*ber_bad) / (p_gb + p_bg)`."""
    # p_gb = p_bg = 0: ber_good (the chain never leaves its first, good, state).
    return _core.gilbert_elliott_mean_ber(
        check_probability("p_gb", p_gb),
        check_probability("p_bg", p_bg),
        check_probability("ber_good", ber_good),
        check_probability("ber_bad", ber_bad),
    )


def ber_awgn(snr_db: float, modulation: str = "bpsk") -> float:
    """BER of coherent BPSK or Gray-mapped QPSK over AWGN at `snr_db` dB (Es/N0).

    BPSK: erfc(sqrt(Es/N0)) / 2; QPSK: erfc(sqrt(Es/N0 / 2)) / 2.
    """
    if not isinstance(modulation, str):
        raise TypeError(f"modulation must be a str, got {type(modulation).__name__}")
    return float(_core.ber_awgn(check_real("snr_db", snr_db), modulation))


def erasure(count: int, p_loss: float, *, seed: int) -> npt.NDArray[np.bool_]:
    """Which of `count` packets are lost (True), each independently with `p_loss`.

    Packet i's fate depends only on (seed, i), not on `count`.
    """
    lost = np.zeros(check_count("count", count), dtype=np.bool_)
    _core.erasures_into(lost, check_probability("p_loss", p_loss), check_seed(seed))
    return lost


def truncate(packet: np.ndarray, p_cut: float, *, seed: int, index: int = 0) -> U8Array:
    """Packet `index` as received: with probability `p_cut` cut short at a
    uniform length in 0..len-1, else whole. Returns a copy."""
    src = packed_buffer("packet", packet)
    n = _core.truncated_len(
        src.size, check_probability("p_cut", p_cut), check_seed(seed), check_seed(index, "index")
    )
    return src[:n].copy()


def truncations(lengths: np.ndarray, p_cut: float, *, seed: int) -> npt.NDArray[np.uint64]:
    """Received lengths of packets 0..len(lengths)-1 sent with `lengths` bytes: the same
    as `truncate(packet_i, p_cut, seed=seed, index=i)` gives each, in one call."""
    lens = np.array(as_counts("lengths", lengths), dtype=np.uint64, copy=True)
    _core.truncations_into(lens, check_probability("p_cut", p_cut), check_seed(seed))
    return lens
