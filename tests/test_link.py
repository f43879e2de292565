"""The links evaluation sends whole frames through, the training path, the receiver's
BER estimate, the validation hold-out and the study's statistics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from semanticnn import bits
from semanticnn.ber_estimate import HEADER_BITS, batch_evidence, running_ber
from semanticnn.data import ArrayDataset, holdout
from semanticnn.eval.study import mean_ci
from semanticnn.link import BSC, GilbertElliott, Lossy, transmit_symbols
from semanticnn.seeds import derive_rng, derive_seed


def test_per_payload_links_and_gray() -> None:
    rng = np.random.default_rng(0)
    sym = rng.integers(0, 8, (400, 7, 7, 3)).astype(np.uint8)
    links = [BSC(0.0) if i % 2 else BSC(0.05) for i in range(len(sym))]
    rx = transmit_symbols(sym, 3, links, seed=1)
    same = (rx == sym).reshape(len(sym), -1).all(1)
    assert same[1::2].all() and not same[0::2].any()
    # One link for the batch keeps its seed's flips; Gray mapping changes which symbols
    # one flip lands on, never the clean ones.
    a = transmit_symbols(sym, 3, BSC(0.05), seed=1)
    assert (a == transmit_symbols(sym, 3, BSC(0.05), seed=1)).all() and (a != sym).any()
    g = transmit_symbols(sym, 3, BSC(0.05), seed=1, gray=True)
    assert (g != a).any()
    # The same flips: the Gray-mapped symbols on the air differ where the plain ones do.
    sent = bits.gray_encode(sym.reshape(-1)).reshape(sym.shape)
    assert ((bits.gray_encode(g.reshape(-1)).reshape(sym.shape) ^ sent) == (a ^ sym)).all()
    assert (transmit_symbols(sym, 3, BSC(0.0), seed=1, gray=True) == sym).all()
    with pytest.raises(ValueError, match="link"):
        transmit_symbols(sym, 3, links[:3], seed=1)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**62), n=st.integers(1, 50), width=st.integers(1, 80))
def test_bit_links_keep_every_packet_whole(seed: int, n: int, width: int) -> None:
    frames = np.random.default_rng(seed).integers(0, 256, (n, width), dtype=np.uint8)
    for link in (BSC(0.0), BSC(0.1), GilbertElliott()):
        rx, lengths = link.send(frames, seed)
        assert rx.shape == frames.shape and (lengths == width).all()
        again, _ = link.send(frames, seed)
        assert (again == rx).all()
    rx, _ = BSC(0.0).send(frames, seed)
    assert (rx == frames).all()
    cut = np.arange(n) % (width + 1)
    assert (BSC(0.1).send(frames, seed, cut)[1] == cut).all()


def test_lossy_link_loses_and_cuts_packets_at_its_rates() -> None:
    frames = np.zeros((20_000, 40), np.uint8)
    rx, lengths = Lossy(0.0, p_erasure=0.1, p_truncation=0.2).send(frames, 7)
    assert (rx == 0).all()  # no bit flips at BER 0
    lost = lengths == 0
    assert abs(lost.mean() - 0.1 - 0.9 * 0.2 / 40) < 0.01  # erased, or cut to length 0
    short = (lengths > 0) & (lengths < 40)
    assert abs(short.mean() - 0.9 * 0.2 * 39 / 40) < 0.01
    again = Lossy(0.0, p_erasure=0.1, p_truncation=0.2).send(frames, 7)[1]
    assert (again == lengths).all()
    with pytest.raises(ValueError, match="lengths"):
        BSC(0.1).send(frames[:3], 1, np.array([1, 2, 41]))


def test_derive_seed_is_stable_and_distinct() -> None:
    assert derive_seed(1, 2) == derive_seed(1, 2)
    assert len({derive_seed(s, i) for s in range(20) for i in range(20)}) == 400
    assert 0 <= derive_seed(2**40, 5) < 2**63


def test_derive_rng_keeps_the_training_streams() -> None:
    # The shuffles and BER draws of training were `default_rng([keys])`: the same stream.
    keys = (3, 1, 7, 0)
    want = np.random.default_rng(list(keys)).integers(0, 2**32, 8)
    np.testing.assert_array_equal(derive_rng(*keys).integers(0, 2**32, 8), want)


@settings(max_examples=50, deadline=None)
@given(
    errors=st.lists(st.integers(0, 10), min_size=1, max_size=200),
    half_life=st.floats(1, 500),
)
def test_running_ber_stays_within_the_evidence(errors: list[int], half_life: float) -> None:
    e = np.array(errors, np.float64)
    n = np.full(len(e), 120.0)
    est = running_ber(e, n, half_life=half_life)
    assert est.shape == e.shape
    # A convex mix of the prior's rate and per-frame rates: within their range.
    rates = [1e-3, *(e / n)]
    assert (est >= min(rates) - 1e-12).all() and (est <= max(rates) + 1e-12).all()


def test_running_ber_converges_to_the_true_rate() -> None:
    rng = np.random.default_rng(0)
    for ber in (1e-3, 1e-2, 5e-2):
        errors = rng.binomial(HEADER_BITS, ber, 2000).astype(np.float64)
        est = running_ber(errors, np.full(2000, float(HEADER_BITS)))
        assert abs(est[-500:].mean() / ber - 1) < 0.15, ber
    # Lost frames bring no evidence: the estimate holds.
    e, n = batch_evidence(np.array([True, False]), np.array([3, 9]), np.array([0, 0]), 0)
    assert e.tolist() == [3, 0] and n.tolist() == [HEADER_BITS, 0]
    est = running_ber(e, n)
    assert est[1] == pytest.approx(est[0], rel=0.02)
    with pytest.raises(ValueError, match="1-D"):
        running_ber(np.zeros(3), np.zeros(4))


def test_holdout_is_fixed_and_disjoint() -> None:
    x = np.arange(100, dtype=np.float32).reshape(100, 1, 1, 1)
    data = ArrayDataset(x, np.arange(100) % 3)
    fit, val = holdout(data, 0.1)
    assert len(fit) == 90 and len(val) == 10
    assert set(fit.x.ravel()) | set(val.x.ravel()) == set(range(100))
    assert not set(fit.x.ravel()) & set(val.x.ravel())
    again = holdout(data, 0.1)[1]
    assert (again.x == val.x).all()


def test_mean_ci_matches_students_t() -> None:
    values = np.array([[0.90], [0.92], [0.94], [0.96], [0.98]])
    mean, half = mean_ci(values)
    assert mean[0] == pytest.approx(0.94)
    # sd 0.0316, t(0.975, 4) = 2.776: half-width 2.776 * 0.0316 / sqrt(5)
    assert half is not None and half[0] == pytest.approx(2.776 * 0.031623 / 5**0.5, rel=1e-3)
    assert mean_ci(values[:1])[1] is None


def test_long_payloads_go_in_several_frames() -> None:
    """Split features longer than a frame holds (CIFAR's float32 features: 32,768 bytes)
    travel in several frames, each header counted; a lost one loses the inference."""
    from semanticnn import frame
    from semanticnn.eval.systems import _unprotected

    rng = np.random.default_rng(0)
    payload = rng.integers(0, 256, (6, frame.MAX_COUNT + 100), dtype=np.uint8)
    seen: list[np.ndarray] = []

    def predict(rx: np.ndarray) -> np.ndarray:
        seen.append(rx.copy())
        return np.arange(len(rx))

    system = _unprotected("f", "features", payload, predict)
    assert system.frame_bytes == payload.shape[1] + 2 * frame.HEADER_BYTES
    out = system.receive(BSC(0.0), 1)
    assert (seen[-1] == payload).all() and out.pred.tolist() == list(range(6))
    assert (out.bytes_on_air == system.frame_bytes).all()
    out = system.receive(Lossy(0.0, p_erasure=0.5, p_truncation=0.0), 3)
    assert (out.pred == -1).any() and (
        out.pred[out.pred >= 0] == np.flatnonzero(out.pred >= 0)
    ).all()
