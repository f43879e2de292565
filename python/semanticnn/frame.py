"""The wire frame: a protected header, an optional pilot, the packed symbols.

Format (docs/wire-format.md): a 21-byte header (version, flags, nbits,
model id, sequence number, symbol count, pilot length, CRC-16) protected by
seven bit-interleaved extended Golay (24,12) words, then `pilot_bits` known
pseudo-random bits, then the symbols packed MSB-first (optionally Gray-mapped),
without protection. The receiver estimates the frame's BER from the pilot.

Everything runs in the Rust core (`semanticnn_core::frame`), the same code
the firmware uses; a damaged or truncated frame raises `FrameError` (a
ValueError), never crashes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semanticnn import _core
from semanticnn._arrays import U8Array, as_u8, check_nbits

FrameError = _core.FrameError
HEADER_BYTES: int = _core.FRAME_HEADER_BYTES
MAX_MODEL_ID = 0xFFF
MAX_PILOT_BITS = 255 * 8

__all__ = ["HEADER_BYTES", "Frame", "FrameError", "decode", "encode", "encoded_len"]


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

    @property
    def ber_estimate(self) -> float | None:
        """The frame's BER estimated from its pilot (`None` without a pilot)."""
        return self.pilot_errors / self.pilot_bits if self.pilot_bits else None


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
    count = _check_int("count", count, 0, 2**20 - 1)
    return int(_core.frame_encoded_len(count, check_nbits(nbits), _check_pilot(pilot_bits)))


def encode(
    symbols: np.ndarray,
    nbits: int,
    *,
    model_id: int,
    seq: int,
    gray: bool = False,
    pilot_bits: int = 0,
) -> bytes:
    """One wire frame carrying `symbols` (each < 2**nbits, at most 2**20 - 1 of them).

    `seq` wraps at 2**16 (pass `seq % 65536`); it also seeds the pilot bits.
    """
    nbits = check_nbits(nbits)
    arr = as_u8("symbols", symbols)
    _check_int("len(symbols)", arr.size, 0, 2**20 - 1)
    return bytes(
        _core.frame_encode(
            arr,
            nbits,
            _check_int("model_id", model_id, 0, MAX_MODEL_ID),
            _check_int("seq", seq, 0, 0xFFFF),
            bool(gray),
            _check_pilot(pilot_bits),
        )
    )


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
    version, model_id, seq, nbits, gray, pilot_bits, corrections, pilot_errors = fields
    return Frame(
        symbols, version, model_id, seq, nbits, gray, pilot_bits, corrections, pilot_errors
    )
