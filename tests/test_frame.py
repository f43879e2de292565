"""The wire frame through the Python API: round trips, damage, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from semanticnn import channel, frame


@st.composite
def frames(draw: st.DrawFn) -> tuple[np.ndarray, int, dict[str, object]]:
    nbits = draw(st.integers(1, 8))
    n = draw(st.integers(0, 500))
    seed = draw(st.integers(0, 2**32 - 1))
    symbols = np.random.default_rng(seed).integers(0, 1 << nbits, n, dtype=np.uint8)
    kw = {
        "model_id": draw(st.integers(0, frame.MAX_MODEL_ID)),
        "seq": draw(st.integers(0, 0xFFFF)),
        "gray": draw(st.booleans()),
        "pilot_bits": 8 * draw(st.integers(0, 255)),
    }
    return symbols, nbits, kw


@settings(max_examples=60, deadline=None)
@given(frames())
def test_round_trip(case: tuple[np.ndarray, int, dict[str, object]]) -> None:
    symbols, nbits, kw = case
    buf = frame.encode(symbols, nbits, **kw)  # type: ignore[arg-type]
    assert len(buf) == frame.encoded_len(symbols.size, nbits, kw["pilot_bits"])  # type: ignore[arg-type]
    f = frame.decode(buf)
    np.testing.assert_array_equal(f.symbols, symbols)
    assert (f.model_id, f.seq, f.nbits, f.gray, f.pilot_bits) == (
        kw["model_id"],
        kw["seq"],
        nbits,
        kw["gray"],
        kw["pilot_bits"],
    )
    assert f.header_corrections == 0
    assert f.ber_estimate == (0.0 if kw["pilot_bits"] else None)
    np.testing.assert_array_equal(frame.decode(np.frombuffer(buf, np.uint8)).symbols, symbols)


def test_header_survival_and_pilot_estimate_at_ber_1e2() -> None:
    symbols = np.arange(1000, dtype=np.uint8) % 8
    buf = np.frombuffer(frame.encode(symbols, 3, model_id=1, seq=2, pilot_bits=2040), np.uint8)
    ok, estimates = 0, []
    for seed in range(2000):
        damaged = channel.bsc(buf, 1e-2, seed=seed)
        try:
            f = frame.decode(damaged)
        except frame.FrameError:
            continue
        ok += (f.model_id, f.seq, f.nbits, f.symbols.size) == (1, 2, 3, 1000)
        estimates.append(f.ber_estimate)
    assert ok / 2000 >= 0.99
    # 2000 frames x 2040 pilot bits: the pooled estimate is within a few % of 1e-2.
    assert np.mean(estimates) == pytest.approx(1e-2, rel=0.05)


def test_damaged_frames_raise_typed_errors() -> None:
    buf = frame.encode(np.zeros(40, np.uint8), 2, model_id=3, seq=4, pilot_bits=16)
    with pytest.raises(frame.FrameError, match="truncated"):
        frame.decode(buf[:-1])
    with pytest.raises(frame.FrameError, match="too long"):
        frame.decode(buf + b"\0")
    with pytest.raises(frame.FrameError):
        frame.decode(bytes(len(buf)))  # all zeros: CRC of zero fields is not zero
    with pytest.raises(frame.FrameError):
        frame.decode(b"\xff" * 5)
    assert issubclass(frame.FrameError, ValueError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        frame.decode(data)
    except frame.FrameError:
        pass


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"nbits": 9}, ValueError, "nbits"),
        ({"model_id": 4096}, ValueError, "model_id"),
        ({"seq": -1}, ValueError, "seq"),
        ({"seq": 1.5}, TypeError, "seq"),
        ({"pilot_bits": 12}, ValueError, "pilot_bits"),
        ({"pilot_bits": 4096}, ValueError, "pilot_bits"),
        ({"symbols": np.array([0, 9])}, ValueError, "symbols"),
        ({"symbols": np.zeros((2, 2), np.uint8)}, TypeError, "symbols"),
    ],
)
def test_bad_arguments_name_the_argument(
    kwargs: dict[str, object], exc: type[Exception], match: str
) -> None:
    args: dict[str, object] = {
        "symbols": np.zeros(4, np.uint8),
        "nbits": 3,
        "model_id": 0,
        "seq": 0,
        "pilot_bits": 0,
    }
    args.update(kwargs)
    symbols, nbits = args.pop("symbols"), args.pop("nbits")
    with pytest.raises(exc, match=match):
        frame.encode(symbols, nbits, **args)  # type: ignore[arg-type]
