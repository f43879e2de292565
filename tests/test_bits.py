"""The packing contract of DESIGN.md, checked against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from semanticnn import bits


def pack_reference(symbols: np.ndarray, nbits: int) -> np.ndarray:
    """The contract in numpy: MSB-first bits of each symbol, concatenated, zero tail."""
    stream = (symbols[:, None].astype(np.uint16) >> np.arange(nbits - 1, -1, -1)) & 1
    return np.packbits(stream.astype(np.uint8).ravel())


@st.composite
def symbols_and_nbits(draw: st.DrawFn, max_size: int = 300) -> tuple[np.ndarray, int]:
    nbits = draw(st.integers(1, 8))
    symbols = draw(
        hnp.arrays(np.uint8, st.integers(0, max_size), elements=st.integers(0, 2**nbits - 1))
    )
    return symbols, nbits


@given(symbols_and_nbits())
def test_pack_follows_the_contract_and_round_trips(case: tuple[np.ndarray, int]) -> None:
    symbols, nbits = case
    packed = bits.pack(symbols, nbits)
    assert packed.dtype == np.uint8
    assert packed.size == bits.packed_len(symbols.size, nbits) == -(-symbols.size * nbits // 8)
    np.testing.assert_array_equal(packed, pack_reference(symbols, nbits))
    np.testing.assert_array_equal(bits.unpack(packed, nbits, symbols.size), symbols)


def test_contract_example() -> None:
    # 5, 3, 7 in three bits: 101 011 111 -> 10101111 1(0000000)
    assert bits.pack(np.array([5, 3, 7], np.uint8), 3).tolist() == [0b10101111, 0b10000000]


@given(symbols_and_nbits(max_size=5000), st.sampled_from([1, 2, 3, 7]))
def test_thread_count_does_not_change_results(case: tuple[np.ndarray, int], threads: int) -> None:
    symbols, nbits = case
    packed = bits.pack(symbols, nbits, threads=threads)
    np.testing.assert_array_equal(packed, bits.pack(symbols, nbits, threads=1))
    np.testing.assert_array_equal(
        bits.unpack(packed, nbits, symbols.size, threads=threads), symbols
    )


def test_large_array_threads_agree() -> None:
    # Large enough (several MiB) that the work really is split over threads.
    rng = np.random.default_rng(1)
    symbols = rng.integers(0, 8, size=(6 << 20) + 5, dtype=np.uint8)
    one = bits.pack(symbols, 3, threads=1)
    np.testing.assert_array_equal(bits.pack(symbols, 3, threads=4), one)
    np.testing.assert_array_equal(bits.unpack(one, 3, symbols.size, threads=4), symbols)


@given(symbols_and_nbits(), st.data())
def test_symbol_too_large_is_an_error(case: tuple[np.ndarray, int], data: st.DataObject) -> None:
    symbols, nbits = case
    if nbits == 8 or symbols.size == 0:
        return
    i = data.draw(st.integers(0, symbols.size - 1))
    bad = symbols.copy()
    bad[i] = data.draw(st.integers(2**nbits, 255))
    with pytest.raises(bits.PackError, match=rf"symbols\[{i}\] = {bad[i]}"):
        bits.pack(bad, nbits)
    assert issubclass(bits.PackError, ValueError)


def test_other_integer_dtypes_are_accepted_in_range() -> None:
    sym = np.array([0, 1, 2, 3], dtype=np.int64)
    np.testing.assert_array_equal(bits.pack(sym, 2), bits.pack(sym.astype(np.uint8), 2))
    with pytest.raises(ValueError, match="symbols"):
        bits.pack(np.array([-1, 2]), 2)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: bits.pack(np.zeros(3, np.uint8), 0), ValueError, "nbits"),
        (lambda: bits.pack(np.zeros(3, np.uint8), 9), ValueError, "nbits"),
        (lambda: bits.pack(np.zeros(3, np.uint8), 2.0), TypeError, "nbits"),
        (lambda: bits.pack(np.zeros(3, np.float32), 2), TypeError, "symbols"),
        (lambda: bits.pack(np.zeros((2, 2), np.uint8), 2), TypeError, "symbols"),
        (lambda: bits.unpack(np.zeros(1, np.uint8), 3, 3), ValueError, "packed"),
        (lambda: bits.unpack(np.zeros(1, np.uint8), 3, -1), ValueError, "count"),
        (lambda: bits.unpack(np.zeros(1, np.uint8), 1, 8, threads=-1), ValueError, "threads"),
        (
            lambda: bits.unpack(np.zeros(1, np.uint8), 1, 8, out=np.zeros(8, np.int8)),
            TypeError,
            "out",
        ),
    ],
)
def test_bad_arguments_name_the_argument(call, exc: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=match):
        call()


def test_non_contiguous_input_is_accepted_as_a_copy() -> None:
    symbols = np.arange(16, dtype=np.uint8)[::2] % 4
    np.testing.assert_array_equal(bits.pack(symbols, 2), pack_reference(symbols, 2))


@given(hnp.arrays(np.uint8, st.integers(0, 300)))
def test_gray_round_trips(symbols: np.ndarray) -> None:
    np.testing.assert_array_equal(bits.gray_decode(bits.gray_encode(symbols)), symbols)


@pytest.mark.parametrize("nbits", range(1, 9))
def test_gray_neighbours_differ_in_one_bit(nbits: int) -> None:
    idx = np.arange(2**nbits, dtype=np.uint8)
    g = bits.gray_encode(idx)
    assert sorted(g.tolist()) == idx.tolist()  # a permutation of 0..2**n
    diff = np.bitwise_xor(g[1:], g[:-1])
    assert np.all(np.unpackbits(diff[:, None], axis=1).sum(axis=1) == 1)
