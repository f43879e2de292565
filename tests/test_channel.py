"""Statistical and contract checks of the channel models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from semanticnn import channel

# Tolerances are 5 sigma: a correct model fails one check in ~1.7 million.
SIGMAS = 5.0


def flips(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Positions (stream bit indices) where `a` and `b` differ."""
    return np.flatnonzero(np.unpackbits(np.bitwise_xor(a, b)))


def runs(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the interior runs of ones and of zeros (edge runs dropped)."""
    edges = np.flatnonzero(np.diff(bits.astype(np.int8))) + 1
    lengths = np.diff(edges)
    values = bits[edges[:-1]]
    return lengths[values == 1], lengths[values == 0]


@pytest.mark.parametrize("ber", [1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 12345])
def test_bsc_flip_count_is_binomial(ber: float, seed: int) -> None:
    buf = np.zeros(12 << 16, np.uint8)  # 12 chunks: the AVX-512 and AVX2 paths
    n = buf.size * 8
    k = flips(buf, channel.bsc(buf, ber, seed=seed)).size
    assert abs(k - n * ber) < SIGMAS * math.sqrt(n * ber * (1 - ber))


@pytest.mark.parametrize("ber", [1e-3, 1e-2, 0.1, 0.5])
def test_bsc_positions_are_uniform(ber: float) -> None:
    buf = np.full(12 << 16, 0xA5, np.uint8)  # flips must not depend on the data
    pos = flips(buf, channel.bsc(buf, ber, seed=3))
    # Chi-square over bit-in-byte (8 cells) and over the buffer (64 cells);
    # the thresholds are far in the tail (p < 1e-6).
    for cells, limit in ((pos % 8, 45.0), (pos * 64 // (buf.size * 8), 130.0)):
        k = int(cells.max()) + 1
        counts = np.bincount(cells, minlength=k)
        expected = pos.size / k
        assert ((counts - expected) ** 2 / expected).sum() < limit


def test_bsc_extremes() -> None:
    buf = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(channel.bsc(buf, 0.0, seed=1), buf)
    np.testing.assert_array_equal(channel.bsc(buf, 1.0, seed=1), ~buf)


@settings(max_examples=30, deadline=None)
@given(
    hnp.arrays(np.uint8, st.integers(0, 3000)),
    st.floats(0, 1),
    st.integers(0, 2**64 - 1),
)
def test_bsc_determinism_and_out(buf: np.ndarray, ber: float, seed: int) -> None:
    keep = buf.copy()
    a = channel.bsc(buf, ber, seed=seed)
    np.testing.assert_array_equal(buf, keep)  # out=None leaves the input alone
    np.testing.assert_array_equal(channel.bsc(buf, ber, seed=seed), a)
    other = np.empty_like(buf)
    assert channel.bsc(buf, ber, seed=seed, out=other) is other
    np.testing.assert_array_equal(other, a)
    res = channel.bsc(buf, ber, seed=seed, out=buf)
    assert res is buf
    np.testing.assert_array_equal(buf, a)


def test_seeds_differ() -> None:
    buf = np.zeros(4096, np.uint8)
    assert not np.array_equal(channel.bsc(buf, 0.1, seed=1), channel.bsc(buf, 0.1, seed=2))


@pytest.mark.parametrize("model", ["bsc", "ge"])
def test_thread_count_does_not_change_results(model: str) -> None:
    buf = np.zeros((5 << 20) + 77, np.uint8)  # big enough to really use threads

    def run(threads: int) -> np.ndarray:
        if model == "bsc":
            return channel.bsc(buf, 0.01, seed=9, threads=threads)
        return channel.gilbert_elliott(
            buf, p_gb=1e-3, p_bg=0.1, ber_good=1e-4, ber_bad=0.2, seed=9, threads=threads
        )

    one = run(1)
    for threads in (2, 3, 8):
        np.testing.assert_array_equal(run(threads), one)


GE = {"p_gb": 0.01, "p_bg": 0.1, "ber_good": 1e-3, "ber_bad": 0.5}


def test_gilbert_elliott_mean_ber_matches_theory() -> None:
    buf = np.zeros(1 << 20, np.uint8)
    n = buf.size * 8
    rates = [flips(buf, channel.gilbert_elliott(buf, **GE, seed=s)).size / n for s in range(4)]
    theory = channel.gilbert_elliott_mean_ber(**GE)
    assert theory == pytest.approx((0.1 * 1e-3 + 0.01 * 0.5) / 0.11)
    # Bursts make the rate vary far more than a binomial; 8 Mibit per run
    # hold ~70k bursts, so 3% is many sigma.
    assert np.mean(rates) == pytest.approx(theory, rel=0.03)


@pytest.mark.parametrize(("p_gb", "p_bg"), [(0.01, 0.1), (0.2, 0.5), (1e-3, 0.02)])
def test_gilbert_elliott_sojourns_are_geometric(p_gb: float, p_bg: float) -> None:
    # ber_bad = 1, ber_good = 0: the flipped bits are exactly the bad states.
    buf = np.zeros(1 << 19, np.uint8)
    out = channel.gilbert_elliott(buf, p_gb=p_gb, p_bg=p_bg, ber_good=0.0, ber_bad=1.0, seed=5)
    bad = np.unpackbits(out)
    assert bad.mean() == pytest.approx(p_gb / (p_gb + p_bg), rel=0.1)
    bursts, gaps = runs(bad)
    for lengths, p in ((bursts, p_bg), (gaps, p_gb)):
        # Geometric on {1, 2, ...}: mean 1/p, sd sqrt(1-p)/p.
        sem = math.sqrt(1 - p) / p / math.sqrt(lengths.size)
        assert abs(lengths.mean() - 1 / p) < SIGMAS * sem
        # The shape too: P(L = 1) = p.
        ones = (lengths == 1).mean()
        assert abs(ones - p) < SIGMAS * math.sqrt(p * (1 - p) / lengths.size) + 1e-9


@pytest.mark.parametrize("ber", [2e-3, 0.1])
def test_gilbert_elliott_states_of_one_ber_are_a_bsc(ber: float) -> None:
    # Each state's gap to its next flip carries over from sojourn to sojourn (docs/
    # channel.md): with one BER in both states the flips must be a BSC's, so the gaps
    # between consecutive flips, across state changes, are geometric on {0, 1, ...}.
    buf = np.zeros(1 << 19, np.uint8)
    out = channel.gilbert_elliott(buf, p_gb=0.05, p_bg=0.2, ber_good=ber, ber_bad=ber, seed=9)
    gaps = np.diff(flips(buf, out)) - 1
    assert gaps.size > 5000
    # Chi-square of P(G = k) = ber (1-ber)^k over 10 equiprobable-ish cells.
    edges = np.unique(np.floor(np.log1p(-np.linspace(0, 0.9, 10)) / np.log1p(-ber)).astype(int))
    cells = np.searchsorted(edges, gaps, side="right") - 1
    counts = np.bincount(cells, minlength=edges.size)
    upper = np.r_[edges[1:], np.inf]
    probs = (1 - ber) ** edges - (1 - ber) ** upper
    expected = probs * gaps.size
    assert ((counts - expected) ** 2 / expected).sum() < 45.0  # p < 1e-6 for <= 10 cells


def test_gilbert_elliott_out_in_place() -> None:
    buf = np.zeros(10_000, np.uint8)
    expected = channel.gilbert_elliott(buf, **GE, seed=2)
    assert channel.gilbert_elliott(buf, **GE, seed=2, out=buf) is buf
    np.testing.assert_array_equal(buf, expected)


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 4.0, 9.6, 12.0])
def test_ber_awgn(snr_db: float) -> None:
    es_n0 = 10 ** (snr_db / 10)
    assert channel.ber_awgn(snr_db) == pytest.approx(0.5 * math.erfc(math.sqrt(es_n0)))
    assert channel.ber_awgn(snr_db, "qpsk") == pytest.approx(0.5 * math.erfc(math.sqrt(es_n0 / 2)))
    assert channel.ber_awgn(snr_db + 1) < channel.ber_awgn(snr_db) <= 0.5


def test_ber_awgn_rejects_unknown_modulation() -> None:
    with pytest.raises(ValueError, match="modulation"):
        channel.ber_awgn(3.0, "16qam")


def test_erasure_rate_and_prefix_stability() -> None:
    lost = channel.erasure(100_000, 0.2, seed=4)
    assert abs(lost.mean() - 0.2) < SIGMAS * math.sqrt(0.2 * 0.8 / lost.size)
    np.testing.assert_array_equal(channel.erasure(1000, 0.2, seed=4), lost[:1000])
    assert not channel.erasure(50, 0.0, seed=1).any()
    assert channel.erasure(50, 1.0, seed=1).all()


def test_truncate() -> None:
    packet = np.arange(200, dtype=np.uint8)
    lengths = np.array([channel.truncate(packet, 0.5, seed=8, index=i).size for i in range(4000)])
    cut = lengths < packet.size
    assert abs(cut.mean() - 0.5) < SIGMAS * math.sqrt(0.25 / cut.size)
    # Cut lengths uniform over 0..199: mean 99.5, sd ~57.7.
    assert abs(lengths[cut].mean() - 99.5) < SIGMAS * 57.7 / math.sqrt(cut.sum())
    got = channel.truncate(packet, 1.0, seed=8, index=3)
    np.testing.assert_array_equal(got, packet[: got.size])
    assert channel.truncate(packet, 0.0, seed=8).size == packet.size
    # The batch call gives every packet the length the one-packet call gives it.
    sent = np.arange(300) % 57
    batch = channel.truncations(sent, 0.5, seed=8)
    one = [
        channel.truncate(np.zeros(n, np.uint8), 0.5, seed=8, index=i).size
        for i, n in enumerate(sent)
    ]
    assert batch.tolist() == one


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: channel.bsc(np.zeros(4, np.uint8), 1.5, seed=0), ValueError, "ber"),
        (lambda: channel.bsc(np.zeros(4, np.uint8), -0.1, seed=0), ValueError, "ber"),
        (lambda: channel.bsc(np.zeros(4, np.uint8), float("nan"), seed=0), ValueError, "ber"),
        (lambda: channel.bsc(np.zeros(4, np.int32), 0.1, seed=0), TypeError, "buf"),
        (lambda: channel.bsc(np.zeros(4, np.uint8), 0.1, seed=-1), ValueError, "seed"),
        (lambda: channel.bsc(np.zeros(4, np.uint8), 0.1, seed=1.5), TypeError, "seed"),
        (
            lambda: channel.bsc(np.zeros(4, np.uint8), 0.1, seed=0, out=np.zeros(3, np.uint8)),
            ValueError,
            "out",
        ),
        (
            lambda: channel.bsc(
                np.zeros(8, np.uint8), 0.1, seed=0, out=np.zeros(16, np.uint8)[::2]
            ),
            ValueError,
            "out",
        ),
        (
            lambda: channel.gilbert_elliott(
                np.zeros(4, np.uint8), p_gb=0.1, p_bg=2.0, ber_good=0, ber_bad=0.5, seed=0
            ),
            ValueError,
            "p_bg",
        ),
        (lambda: channel.erasure(10, 1.1, seed=0), ValueError, "p_loss"),
        (lambda: channel.truncate(np.zeros(4, np.uint8), -1, seed=0), ValueError, "p_cut"),
    ],
)
def test_bad_arguments_name_the_argument(call, exc: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=match):
        call()


def test_core_rejects_bad_probabilities_too() -> None:
    # The extension checks on its own (no panic, a ChannelError naming the argument).
    from semanticnn import _core

    with pytest.raises(channel.ChannelError, match="ber"):
        _core.bsc_inplace(np.zeros(4, np.uint8), 2.0, 0, 1)
    assert issubclass(channel.ChannelError, ValueError)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(0, 30),
    row_len=st.integers(1, 90),
    seed=st.integers(0, 2**64 - 1),
    threads=st.integers(0, 3),
)
def test_a_batch_of_frames_is_its_rows_one_by_one(
    rows: int, row_len: int, seed: int, threads: int
) -> None:
    frames = np.random.default_rng(seed % 1000).integers(0, 256, (rows, row_len), np.uint8)
    bers = np.resize([0.0, 1e-3, 0.02, 0.2, 1.0], rows)
    seeds = (np.arange(rows, dtype=np.uint64) * np.uint64(7919)) ^ np.uint64(seed)
    got = channel.bsc_rows(frames, bers, seeds, threads=threads)
    bursts = channel.gilbert_elliott_rows(
        frames, p_gb=0.05, p_bg=0.3, ber_good=bers / 10, ber_bad=bers, seeds=seeds
    )
    for i in range(rows):
        s = int(seeds[i])
        np.testing.assert_array_equal(got[i], channel.bsc(frames[i], float(bers[i]), seed=s))
        one = channel.gilbert_elliott(
            frames[i], p_gb=0.05, p_bg=0.3, ber_good=bers[i] / 10, ber_bad=bers[i], seed=s
        )
        np.testing.assert_array_equal(bursts[i], one)
    in_place = frames.copy()
    assert channel.bsc_rows(in_place, bers, seeds, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, got)


def test_batch_arguments_name_themselves() -> None:
    frames = np.zeros((3, 8), np.uint8)
    with pytest.raises(ValueError, match="bers: 2 values for 3 rows"):
        channel.bsc_rows(frames, np.array([0.1, 0.2]), np.arange(3))
    with pytest.raises(ValueError, match="seeds: 4 values for 3 rows"):
        channel.bsc_rows(frames, 0.1, np.arange(4))
    with pytest.raises(ValueError, match=r"bers\[1\] must be a probability"):
        channel.bsc_rows(frames, np.array([0.1, 1.5, 0.1]), np.arange(3))
    with pytest.raises(ValueError, match=r"ber_bad\[0\] must be a probability"):
        channel.gilbert_elliott_rows(
            frames, p_gb=0.1, p_bg=0.1, ber_good=0.0, ber_bad=np.nan, seeds=np.arange(3)
        )
    with pytest.raises(TypeError, match="frames must be a"):
        channel.bsc_rows(np.zeros(8, np.uint8), 0.1, np.arange(1))
