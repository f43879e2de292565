"""The wire frame through the Python API: round trips, damage, bad input, batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from semanticnn import _core, bits, channel, frame


@st.composite
def frames(draw: st.DrawFn) -> tuple[np.ndarray, int, dict[str, object]]:
    nbits = draw(st.integers(1, 8))
    n = draw(st.integers(0, 500))
    seed = draw(st.integers(0, 2**32 - 1))
    symbols = np.random.default_rng(seed).integers(0, 1 << nbits, n, dtype=np.uint8)
    kw: dict[str, object] = {
        "model_id": draw(st.integers(0, frame.MAX_MODEL_ID)),
        "seq": draw(st.integers(0, frame.MAX_SEQ)),
        "gray": draw(st.booleans()),
        "pilot_bits": 8 * draw(st.integers(0, frame.MAX_PILOT_BITS // 8)),
    }
    return symbols, nbits, kw


def test_limits_come_from_the_core() -> None:
    assert (frame.VERSION, frame.HEADER_BYTES) == (_core.FRAME_VERSION, 15) == (2, 15)
    assert (frame.MAX_MODEL_ID, frame.MAX_SEQ, frame.MAX_COUNT, frame.MAX_PILOT_BITS) == (
        255,
        1023,
        32767,
        120,
    )
    assert frame.DEVICE_PILOT_BITS == _core.FRAME_DEVICE_PILOT_BITS == 0
    # The default model's device frame: 147 3-bit symbols, 25,088 bytes of
    # float32 split features otherwise: >= 344x on the air.
    size = frame.encoded_len(147, 3, frame.DEVICE_PILOT_BITS)
    assert size == 15 + 56
    assert 25_088 / size >= 344


@settings(max_examples=60, deadline=None)
@given(frames())
def test_round_trip(case: tuple[np.ndarray, int, dict[str, object]]) -> None:
    symbols, nbits, kw = case
    buf = frame.encode(symbols, nbits, **kw)  # type: ignore[arg-type]
    assert len(buf) == frame.encoded_len(symbols.size, nbits, kw["pilot_bits"])  # type: ignore[arg-type]
    f = frame.decode(buf)
    np.testing.assert_array_equal(f.symbols, symbols)
    assert (f.version, f.model_id, f.seq, f.nbits, f.gray, f.pilot_bits) == (
        2,
        kw["model_id"],
        kw["seq"],
        nbits,
        kw["gray"],
        kw["pilot_bits"],
    )
    assert f.header_corrections == 0
    assert f.ber_estimate == 0.0
    assert f.pilot_ber_estimate == (0.0 if kw["pilot_bits"] else None)
    np.testing.assert_array_equal(frame.decode(np.frombuffer(buf, np.uint8)).symbols, symbols)
    # Symbols a model head already Gray-mapped give the same frame.
    mapped = symbols.copy()
    if kw["gray"]:
        mapped = bits.gray_encode(mapped)
    assert frame.encode(mapped, nbits, mapped=True, **kw) == buf  # type: ignore[arg-type]


def test_header_survival_and_ber_estimates_at_ber_1e2() -> None:
    symbols = np.arange(1000, dtype=np.uint8) % 8
    buf = np.frombuffer(frame.encode(symbols, 3, model_id=1, seq=2, pilot_bits=120), np.uint8)
    ok, pilot, both = 0, [], []
    for seed in range(2000):
        damaged = channel.bsc(buf, 1e-2, seed=seed)
        try:
            f = frame.decode(damaged)
        except frame.FrameError:
            continue
        ok += (f.model_id, f.seq, f.nbits, f.symbols.size) == (1, 2, 3, 1000)
        pilot.append(f.pilot_ber_estimate or 0.0)
        both.append(f.ber_estimate)
    assert ok / 2000 >= 0.99
    # 2000 frames x 120 pilot bits (x 240 with the header's): the pooled
    # estimates are within a few % of 1e-2.
    assert np.mean(pilot) == pytest.approx(1e-2, rel=0.06)
    assert np.mean(both) == pytest.approx(1e-2, rel=0.05)


def test_the_header_alone_estimates_the_ber() -> None:
    buf = np.frombuffer(frame.encode(np.zeros(147, np.uint8), 3, model_id=0, seq=5), np.uint8)
    rx = channel.bsc(np.tile(buf, (4000, 1)).reshape(-1), 1e-2, seed=3).reshape(4000, -1)
    batch = frame.decode_batch(rx)
    assert batch.ok.mean() >= 0.99
    assert np.all(batch.header_corrections[batch.ok] == batch.ber_estimate[batch.ok] * 120)
    assert batch.ber_estimate[batch.ok].mean() == pytest.approx(1e-2, rel=0.05)


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
        ({"model_id": 256}, ValueError, "model_id"),
        ({"seq": -1}, ValueError, "seq"),
        ({"seq": 1024}, ValueError, "seq"),
        ({"seq": 1.5}, TypeError, "seq"),
        ({"pilot_bits": 12}, ValueError, "pilot_bits"),
        ({"pilot_bits": 128}, ValueError, "pilot_bits"),
        ({"symbols": np.array([0, 9])}, ValueError, "symbols"),
        ({"symbols": np.zeros(32768, np.uint8)}, ValueError, "len"),
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


# --------------------------------------------------------------------------- batches


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray, dict[str, object]]:
    nbits = draw(st.integers(1, 8))
    rows, count = draw(st.integers(0, 12)), draw(st.integers(0, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    symbols = rng.integers(0, 1 << nbits, (rows, count), dtype=np.uint8)
    seqs = rng.integers(0, frame.MAX_SEQ + 1, rows)
    kw: dict[str, object] = {
        "model_id": draw(st.integers(0, frame.MAX_MODEL_ID)),
        "gray": draw(st.booleans()),
        "pilot_bits": 8 * draw(st.integers(0, frame.MAX_PILOT_BITS // 8)),
        "mapped": draw(st.booleans()),
    }
    return symbols, nbits, seqs, kw


@settings(max_examples=60, deadline=None)
@given(batches())
def test_encode_batch_is_encode_row_by_row(
    case: tuple[np.ndarray, int, np.ndarray, dict[str, object]],
) -> None:
    symbols, nbits, seqs, kw = case
    got = frame.encode_batch(symbols, nbits, seqs=seqs, **kw)  # type: ignore[arg-type]
    assert got.dtype == np.uint8
    assert got.shape == (len(symbols), frame.encoded_len(symbols.shape[1], nbits, kw["pilot_bits"]))  # type: ignore[arg-type]
    for row, s, seq in zip(got, symbols, seqs, strict=True):
        assert row.tobytes() == frame.encode(s, nbits, seq=int(seq), **kw)  # type: ignore[arg-type]


def _same_as_decode(batch: frame.Batch, frames: np.ndarray, lengths: np.ndarray) -> None:
    """Row i of `batch` is what `decode(frames[i, :lengths[i]])` gives."""
    n = len(frames)
    assert len(batch.ok) == len(batch.error) == n
    width = batch.symbols.shape[1]
    counts = []
    for i in range(n):
        try:
            f = frame.decode(frames[i, : lengths[i]])
        except frame.FrameError as e:
            assert not batch.ok[i] and batch.error[i] == str(e)
            fields = [batch.model_id, batch.seq, batch.count, batch.nbits, batch.pilot_bits]
            assert all(a[i] == 0 for a in fields) and not batch.gray[i]
            assert batch.header_corrections[i] == batch.pilot_errors[i] == 0
            assert math.isnan(batch.ber_estimate[i])
            assert not batch.symbols[i].any()
            continue
        assert batch.ok[i] and batch.error[i] is None
        got = (
            batch.model_id[i],
            batch.seq[i],
            batch.count[i],
            batch.nbits[i],
            batch.gray[i],
            batch.pilot_bits[i],
            batch.header_corrections[i],
            batch.pilot_errors[i],
            batch.ber_estimate[i],
        )
        assert got == (
            f.model_id,
            f.seq,
            f.symbols.size,
            f.nbits,
            f.gray,
            f.pilot_bits,
            f.header_corrections,
            f.pilot_errors,
            f.ber_estimate,
        )
        np.testing.assert_array_equal(batch.symbols[i, : f.symbols.size], f.symbols)
        assert not batch.symbols[i, f.symbols.size :].any()
        counts.append(f.symbols.size)
    assert width == max(counts, default=0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(frames(), min_size=0, max_size=10),
    st.sampled_from([0.0, 1e-2, 5e-2]),
    st.integers(0, 2**32 - 1),
)
def test_decode_batch_is_decode_row_by_row(
    cases: list[tuple[np.ndarray, int, dict[str, object]]], ber: float, seed: int
) -> None:
    """Frames of different sizes, zero-padded to one width, damaged, some cut
    short or read with their padding (trailing bytes)."""
    sent = [frame.encode(s, n, **kw) for s, n, kw in cases]  # type: ignore[arg-type]
    width = max(map(len, sent), default=0) + 2
    rows = np.zeros((len(sent), width), np.uint8)
    for row, f in zip(rows, sent, strict=True):
        row[: len(f)] = np.frombuffer(f, np.uint8)
    rng = np.random.default_rng(seed)
    # Most rows whole, the others cut short or read with padding.
    cut = rng.integers(0, width + 1, len(sent))
    lengths = np.where(rng.random(len(sent)) < 2 / 3, [len(f) for f in sent], cut).astype(int)
    if ber and rows.size:
        rows = channel.bsc(rows.reshape(-1), ber, seed=seed).reshape(rows.shape)
    batch = frame.decode_batch(rows, lengths)
    _same_as_decode(batch, rows, lengths)
    if len(sent) and ber == 0.0:
        assert batch.ok[lengths == np.array([len(f) for f in sent])].all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=20, max_size=20), max_size=8))
def test_decode_batch_of_arbitrary_bytes(data: list[bytes]) -> None:
    rows = np.frombuffer(b"".join(data), np.uint8).reshape(len(data), 20)
    lengths = np.full(len(data), 20)
    _same_as_decode(frame.decode_batch(rows), rows, lengths)


def test_batches_refuse_bad_arguments() -> None:
    good = np.zeros((2, 30), np.uint8)
    with pytest.raises(TypeError, match="frames"):
        frame.decode_batch(good.reshape(-1))
    with pytest.raises(TypeError, match="frames"):
        frame.decode_batch(good.astype(np.int16))
    with pytest.raises(TypeError, match="lengths"):
        frame.decode_batch(good, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="lengths"):
        frame.decode_batch(good, np.array([1, 31]))
    with pytest.raises(ValueError, match="lengths"):
        frame.decode_batch(good, np.array([-1, 3]))
    empty = frame.decode_batch(np.zeros((0, 7), np.uint8))
    assert empty.symbols.shape == (0, 0) and empty.error == []
    symbols = np.zeros((2, 5), np.uint8)
    with pytest.raises(TypeError, match="seqs"):
        frame.encode_batch(symbols, 3, model_id=0, seqs=np.arange(3))
    with pytest.raises(ValueError, match="seqs"):
        frame.encode_batch(symbols, 3, model_id=0, seqs=np.array([0, 1024]))
    with pytest.raises(TypeError, match="symbols"):
        frame.encode_batch(symbols[0], 3, model_id=0, seqs=np.arange(2))
    with pytest.raises(ValueError, match="model_id"):
        frame.encode_batch(symbols, 3, model_id=256, seqs=np.arange(2))
    symbols[1, 3] = 8
    with pytest.raises(ValueError, match=r"row 1: .*8"):
        frame.encode_batch(symbols, 3, model_id=0, seqs=np.arange(2))
    assert frame.encode_batch(symbols[:0], 3, model_id=0, seqs=np.arange(0)).shape == (0, 17)
