"""Bit packing of n-bit symbols (n = 1..8), MSB-first, and Gray mapping.

The contract (DESIGN.md): symbol i occupies stream bits i*n .. i*n+n-1, its
most significant bit first; stream bit j is bit (7 - j % 8) of byte j // 8;
the tail of the last byte is zero. A symbol >= 2**n is a ValueError
(`PackError`), never a silent truncation.

The work happens in the Rust core with the GIL released, split over
`threads` threads (0 = all cores) for large arrays; the result does not
depend on the thread count.
"""

from __future__ import annotations

import numpy as np

from semanticnn import _core
from semanticnn._arrays import U8Array, as_u8, check_count, check_nbits, check_threads, out_u8

PackError = _core.PackError

__all__ = [
    "PackError",
    "gray_decode",
    "gray_encode",
    "pack",
    "packed_len",
    "unpack",
]


def packed_len(count: int, nbits: int) -> int:
    """Bytes that `count` symbols of `nbits` bits occupy once packed."""
    return int(_core.packed_len(check_count("count", count), check_nbits(nbits)))


def pack(symbols: np.ndarray, nbits: int, *, threads: int = 0) -> U8Array:
    """Pack `symbols` (each < 2**nbits) MSB-first into a new uint8 array."""
    nbits = check_nbits(nbits)
    syms = as_u8("symbols", symbols)
    out = np.empty(packed_len(syms.size, nbits), dtype=np.uint8)
    _core.pack_into(syms, nbits, out, check_threads(threads))
    return out


def unpack(
    packed: np.ndarray, nbits: int, count: int, *, threads: int = 0, out: U8Array | None = None
) -> U8Array:
    """Unpack `count` symbols of `nbits` bits from `packed` (MSB-first).

    `packed` must hold at least `packed_len(count, nbits)` bytes; bits past
    the last symbol are ignored. `out`, if given, receives the symbols.
    """
    nbits = check_nbits(nbits)
    count = check_count("count", count)
    buf = as_u8("packed", packed)
    need = packed_len(count, nbits)
    if buf.size < need:
        raise ValueError(
            f"packed holds {buf.size} bytes, {count} symbols of {nbits} bits need {need}"
        )
    res = np.empty(count, dtype=np.uint8) if out is None else out_u8("out", out, count)
    _core.unpack_into(buf, nbits, res, check_threads(threads))
    return res


def gray_encode(symbols: np.ndarray) -> U8Array:
    """Gray code of each symbol index (`s ^ (s >> 1)`), as a new array.

    Neighbouring indices differ in exactly one bit, so one flipped bit of a
    Gray-coded symbol can land on a neighbouring center. Maps 0..2**n onto
    itself for every n, so it composes with `pack` at any `nbits`. Any shape.
    """
    a = np.asarray(symbols)
    res = np.array(as_u8("symbols", a.reshape(-1)), dtype=np.uint8, copy=True)
    _core.gray_encode_inplace(res)
    return res.reshape(a.shape)


def gray_decode(symbols: np.ndarray) -> U8Array:
    """Inverse of `gray_encode`, as a new array of the same shape."""
    a = np.asarray(symbols)
    res = np.array(as_u8("symbols", a.reshape(-1)), dtype=np.uint8, copy=True)
    _core.gray_decode_inplace(res)
    return res.reshape(a.shape)
