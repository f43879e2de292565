"""Argument checks shared by the modules over the Rust extension.

Every error names the argument it is about, so a caller deep inside a
training loop can see at once which array was wrong.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

U8Array = npt.NDArray[np.uint8]


def as_u8(name: str, arr: object, *, max_value: int = 255) -> U8Array:
    """`arr` as a contiguous 1-D uint8 array (a view where possible).

    Any integer dtype is accepted when every value lies in 0..=max_value;
    anything else is a TypeError (not integers, not 1-D) or a ValueError
    (values out of range), each naming `name`.
    """
    a = np.asarray(arr)
    if a.ndim != 1:
        raise TypeError(f"{name} must be a 1-D array, got shape {a.shape}")
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must be an integer (uint8) array, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() > max_value):
            raise ValueError(
                f"{name} values must lie in 0..={max_value}, got {a.min()}..={a.max()}"
            )
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def out_u8(name: str, out: object, size: int) -> U8Array:
    """`out` checked as a writable contiguous uint8 array of `size` elements."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {out.dtype}")
    if out.ndim != 1 or out.size != size:
        raise ValueError(f"{name} must be 1-D with {size} elements, got shape {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be a writable C-contiguous array")
    return out


def check_nbits(nbits: object) -> int:
    """`nbits` as an int in 1..=8, or a ValueError/TypeError naming it."""
    if isinstance(nbits, bool) or not isinstance(nbits, int | np.integer):
        raise TypeError(f"nbits must be an int, got {type(nbits).__name__}")
    if not 1 <= int(nbits) <= 8:
        raise ValueError(f"nbits must be in 1..=8, got {nbits}")
    return int(nbits)


def check_threads(threads: object) -> int:
    """`threads` as a non-negative int (0 = all cores)."""
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 0:
        raise ValueError(f"threads must be an int >= 0 (0 = all cores), got {threads!r}")
    return int(threads)


def check_seed(seed: object, name: str = "seed") -> int:
    """`seed` as an int in 0..2**64, or an error naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"{name} must be in 0..2**64, got {seed}")
    return int(seed)


def as_counts(name: str, values: object) -> npt.NDArray[np.integer]:
    """`values` as a 1-D array of integers >= 0 (any integer dtype), or an error naming it."""
    a = np.asarray(values).reshape(-1)
    if a.size == 0:
        return a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        raise TypeError(f"{name} must be integers, got dtype {a.dtype}")
    if a.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {a.min()}")
    return a


def check_count(name: str, value: object) -> int:
    """`value` as an int >= 0 (not a bool, a float or a string), or an error naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def check_real(name: str, value: object) -> float:
    """`value` as a finite float (ints accepted; not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    return v


def check_probability(name: str, value: object) -> float:
    """`value` as a float in [0, 1], or an error naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also refuses NaN
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return v


def packed_buffer(name: str, buf: object) -> U8Array:
    """`buf` as a contiguous 1-D uint8 array of packed bits (no value casts)."""
    a = np.asarray(buf)
    if a.dtype != np.uint8:
        raise TypeError(f"{name} must be a uint8 array of packed bits, got dtype {a.dtype}")
    if a.ndim != 1:
        raise TypeError(f"{name} must be a 1-D array, got shape {a.shape}")
    return np.ascontiguousarray(a)


def target(buf: U8Array, out: np.ndarray | None) -> U8Array:
    """Where an in-place model writes: a fresh copy of `buf`, `buf` itself
    (`out is buf`), or `out` after copying `buf` into it."""
    if out is None:
        return buf.copy()
    res = out_u8("out", out, buf.size)
    if res is not buf:
        np.copyto(res, buf)
    return res
