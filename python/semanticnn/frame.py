"""The wire frame: a protected header, an optional pilot, the packed symbols.

Format version 2 (docs/wire-format.md): a 15-byte header (version, Gray flag,
nbits, pilot length, model id, sequence number, symbol count, CRC-16)
protected by five bit-interleaved extended Golay (24,12) words, then
`pilot_bits` known pseudo-random bits, then the symbols packed MSB-first
(optionally Gray-mapped), without protection. The receiver estimates the
frame's BER from the bits the header's Golay code corrected and the pilot.

Everything runs in the Rust core (`semanticnn_core::frame`), the same code
the firmware uses, and so do the limits below; a damaged or truncated frame
raises `FrameError` (a ValueError), never crashes. `encode_batch` and
`decode_batch` run the one-frame code on every row of an array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from semanticnn import _core
from semanticnn._arrays import U8Array, as_u8, check_nbits

FrameError = _core.FrameError
VERSION: int = _core.FRAME_VERSION
HEADER_BYTES: int = _core.FRAME_HEADER_BYTES
MAX_MODEL_ID: int = _core.FRAME_MAX_MODEL_ID
MAX_SEQ: int = _core.FRAME_MAX_SEQ
"""Sequence numbers wrap: send frame `i` with `seq=i % (MAX_SEQ + 1)`."""
MAX_COUNT: int = _core.FRAME_MAX_COUNT
MAX_PILOT_BITS: int = _core.FRAME_MAX_PILOT_BITS
DEVICE_PILOT_BITS: int = _core.FRAME_DEVICE_PILOT_BITS
DEVICE_MODEL_ID: int = _core.FRAME_DEVICE_MODEL_ID
"""Pilot bits of the device's frames (firmware and `semanticnn encode`)."""

__all__ = [
    "DEVICE_MODEL_ID",
    "DEVICE_PILOT_BITS",
    "HEADER_BYTES",
    "MAX_COUNT",
    "MAX_MODEL_ID",
    "MAX_PILOT_BITS",
    "MAX_SEQ",
    "VERSION",
    "Batch",
    "Frame",
    "FrameError",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "encoded_len",
]

I64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Frame:
    """A decoded frame: its symbols, header fields and link estimates."""

    symbols: U8Array
    version: int
    model_id: int
    seq: int
    nbits: int
    gray: bool
    pilot_bits: int
    header_corrections: int
    """Bit errors the Golay code corrected in the header."""
    pilot_errors: int
    """Pilot bits received wrong."""
    ber_estimate: float
    """The frame's BER estimated from every bit the receiver knows: (header
    corrections + pilot errors) / (header bits + pilot bits)."""
    pilot_ber_estimate: float | None
    """The BER estimated from the pilot alone (`None` without a pilot)."""


@dataclass(frozen=True)
class Batch:
    """Rows of frames decoded one by one (`decode_batch`): per row, whether it
    decoded, why not, and its fields (0 for a row that failed)."""

    ok: npt.NDArray[np.bool_]
    error: list[str | None]
    """The `FrameError` message of each failed row, `None` where `ok`."""
    model_id: I64Array
    seq: I64Array
    count: I64Array
    nbits: I64Array
    gray: npt.NDArray[np.bool_]
    pilot_bits: I64Array
    header_corrections: I64Array
    pilot_errors: I64Array
    ber_estimate: npt.NDArray[np.float64]
    """As `Frame.ber_estimate`; NaN for a row that failed."""
    symbols: U8Array
    """(N, max count over the rows that decoded), each row zero-padded after its count."""


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be in {lo}..={hi}, got {value}")
    return int(value)


def _check_pilot(pilot_bits: object) -> int:
    bits = _check_int("pilot_bits", pilot_bits, 0, MAX_PILOT_BITS)
    if bits % 8:
        raise ValueError(f"pilot_bits must be a multiple of 8, got {bits}")
    return bits


def encoded_len(count: int, nbits: int, pilot_bits: int = 0) -> int:
    """Bytes of a frame of `count` symbols of `nbits` bits with a pilot of `pilot_bits`."""
    count = _check_int("count", count, 0, MAX_COUNT)
    return int(_core.frame_encoded_len(count, check_nbits(nbits), _check_pilot(pilot_bits)))


def encode(
    symbols: np.ndarray,
    nbits: int,
    *,
    model_id: int,
    seq: int,
    gray: bool = False,
    pilot_bits: int = 0,
    mapped: bool = False,
) -> bytes:
    """One wire frame carrying `symbols` (each < 2**nbits, at most `MAX_COUNT`).

    `seq` is in 0..=MAX_SEQ (frame `i` sends `i % (MAX_SEQ + 1)`); it also
    seeds the pilot bits. With `gray` the symbols are Gray-mapped on the way,
    unless `mapped` says they already are (a model head with `gray` emits
    them so): then they are packed as given and `gray` only sets the flag.
    """
    nbits = check_nbits(nbits)
    arr = as_u8("symbols", symbols)
    _check_int("len(symbols)", arr.size, 0, MAX_COUNT)
    return bytes(
        _core.frame_encode(
            arr,
            nbits,
            _check_int("model_id", model_id, 0, MAX_MODEL_ID),
            _check_int("seq", seq, 0, MAX_SEQ),
            bool(gray),
            _check_pilot(pilot_bits),
            bool(mapped),
        )
    )


def encode_batch(
    symbols: np.ndarray,
    nbits: int,
    *,
    model_id: int,
    seqs: np.ndarray,
    gray: bool = False,
    pilot_bits: int = 0,
    mapped: bool = False,
) -> U8Array:
    """(N, count) symbols -> (N, encoded_len(count, nbits, pilot_bits)) uint8
    frames, row `i` being `encode(symbols[i], nbits, seq=seqs[i], ...)`.
    Runs in Rust without the GIL."""
    nbits = check_nbits(nbits)
    a = np.asarray(symbols)
    if a.ndim != 2:
        raise TypeError(f"symbols must be a 2-D (N, count) array, got shape {a.shape}")
    flat = as_u8("symbols", a.reshape(-1))
    rows, count = a.shape
    _check_int("count (symbols.shape[1])", count, 0, MAX_COUNT)
    s = np.asarray(seqs)
    if s.shape != (rows,) or not np.issubdtype(s.dtype, np.integer):
        raise TypeError(f"seqs must be {rows} integers (one per row), got {s.dtype} {s.shape}")
    if rows and (s.min() < 0 or s.max() > MAX_SEQ):
        raise ValueError(f"seqs must lie in 0..={MAX_SEQ}, got {s.min()}..={s.max()}")
    pilot = _check_pilot(pilot_bits)
    out = np.empty((rows, encoded_len(count, nbits, pilot)), np.uint8)
    _core.frame_encode_batch(
        flat,
        count,
        nbits,
        _check_int("model_id", model_id, 0, MAX_MODEL_ID),
        np.ascontiguousarray(s, dtype=np.uint16),
        bool(gray),
        pilot,
        bool(mapped),
        out.reshape(-1),
    )
    return out


def decode(buf: bytes | bytearray | memoryview | np.ndarray) -> Frame:
    """Parse one received frame (exactly one, no trailing bytes).

    Raises `FrameError` when the header is beyond repair (more than 3 errors
    in one Golay word, or a CRC mismatch) or the frame is truncated or too
    long; the payload itself is never checked: damaged symbols come back as
    received.
    """
    if isinstance(buf, np.ndarray):
        if buf.dtype != np.uint8 or buf.ndim != 1:
            raise TypeError(f"buf must be a 1-D uint8 array, got {buf.dtype} {buf.shape}")
        data = buf.tobytes()
    elif isinstance(buf, bytes | bytearray | memoryview):
        data = bytes(buf)
    else:
        raise TypeError(f"buf must be bytes or a uint8 array, got {type(buf).__name__}")
    symbols, fields = _core.frame_decode(data)
    return Frame(symbols, *fields)


def decode_batch(frames: np.ndarray, lengths: np.ndarray | None = None) -> Batch:
    """Decode every row of uint8 (N, L) `frames`, row `i` received as its first
    `lengths[i]` bytes (each in 0..=L; default all L, e.g. truncated packets).

    Row `i` gives what `decode(frames[i, :lengths[i]])` gives, or its
    `FrameError` message in `error[i]`; it never raises for a damaged row.
    Runs in Rust without the GIL.
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 2:
        shape = getattr(frames, "shape", None)
        raise TypeError(f"frames must be a 2-D uint8 array, got {type(frames).__name__} {shape}")
    rows, width = frames.shape
    if lengths is None:
        n = np.full(rows, width, np.uint64)
    else:
        got = np.asarray(lengths)
        if got.shape != (rows,) or not np.issubdtype(got.dtype, np.integer):
            raise TypeError(f"lengths must be {rows} integers, got {got.dtype} {got.shape}")
        if rows and (got.min() < 0 or got.max() > width):
            raise ValueError(f"lengths must lie in 0..={width}, got {got.min()}..={got.max()}")
        n = got.astype(np.uint64)
    ok, error, ints, ber, symbols, count = _core.frame_decode_batch(
        np.ascontiguousarray(frames).reshape(-1), width, n
    )
    cols = ints.reshape(rows, 8).T.copy()
    return Batch(
        ok=ok,
        error=error,
        model_id=cols[0],
        seq=cols[1],
        count=cols[2],
        nbits=cols[3],
        gray=cols[4].astype(bool),
        pilot_bits=cols[5],
        header_corrections=cols[6],
        pilot_errors=cols[7],
        ber_estimate=ber,
        symbols=symbols.reshape(rows, count),
    )
