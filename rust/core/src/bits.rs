//! Bit packing of n-bit symbols (n = 1..=8) and Gray mapping of symbol indices.
//!
//! Packing is MSB-first: symbol `i` occupies stream bits `i*n .. i*n+n-1`, its
//! most significant bit first; stream bit `j` is bit `7 - j % 8` of byte
//! `j / 8`; the tail of the last byte is zero. Eight symbols always fill exactly
//! `n` bytes, so the work goes eight symbols (one `u64`) at a time: the symbol
//! bytes are merged pairwise in three lane steps (8→16→32→64-bit lanes) instead
//! of bit by bit. On x86_64 CPUs with AVX2 (detected at run time, `std`
//! only) the same steps run on 32 symbols at once (`bits/avx2.rs`); the portable
//! path does the rest and everything on other targets, with the same bytes.

use core::fmt;

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;

/// Why packing or unpacking refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitsError {
    /// `nbits` is outside 1..=8.
    InvalidNbits(u32),
    /// `symbols[index] = value` does not fit in `nbits` bits.
    SymbolTooLarge { index: usize, value: u8, nbits: u8 },
    /// A buffer holds `got` bytes where `needed` are required.
    BufferTooSmall { needed: usize, got: usize },
}

impl fmt::Display for BitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BitsError::InvalidNbits(n) => write!(f, "nbits must be in 1..=8, got {n}"),
            BitsError::SymbolTooLarge {
                index,
                value,
                nbits,
            } => write!(
                f,
                "symbols[{index}] = {value} does not fit in nbits={nbits} (max {})",
                (1u16 << nbits) - 1
            ),
            BitsError::BufferTooSmall { needed, got } => {
                write!(f, "buffer too small: {needed} bytes needed, {got} given")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BitsError {}

/// Number of bytes that `count` symbols of `nbits` bits occupy once packed.
///
/// `const`, so firmware can size its buffers at compile time. Saturates
/// instead of overflowing for absurd counts.
pub const fn packed_len(count: usize, nbits: u8) -> usize {
    let n = nbits as usize;
    // Eight symbols fill exactly n bytes; only the last partial group rounds up.
    (count / 8)
        .saturating_mul(n)
        .saturating_add(((count % 8) * n).div_ceil(8))
}

/// Checks `nbits` and returns it as a `u8` in 1..=8.
pub const fn check_nbits(nbits: u32) -> Result<u8, BitsError> {
    if nbits >= 1 && nbits <= 8 {
        Ok(nbits as u8)
    } else {
        Err(BitsError::InvalidNbits(nbits))
    }
}

/// `b` repeated in every byte of a `u64`.
const fn rep8(b: u8) -> u64 {
    (b as u64) * 0x0101_0101_0101_0101
}

/// `v` repeated in every 16-bit lane of a `u64`.
const fn rep16(v: u16) -> u64 {
    (v as u64) * 0x0001_0001_0001_0001
}

/// `v` repeated in both 32-bit lanes of a `u64`.
const fn rep32(v: u32) -> u64 {
    (v as u64) * 0x0000_0001_0000_0001
}

/// Low `k` bits set (k <= 32).
const fn low_mask(k: usize) -> u64 {
    (1u64 << k) - 1
}

/// Merges eight symbols (big-endian bytes of `w`, each < 2^N) into the low
/// `8N` bits of the result, first symbol most significant.
#[inline(always)]
fn merge8<const N: usize>(w: u64) -> u64 {
    let w = ((w >> 8) & rep16(0x00ff)) << N | (w & rep16(0x00ff));
    let w = ((w >> 16) & rep32(0xffff)) << (2 * N) | (w & rep32(0xffff));
    (w >> 32) << (4 * N) | (w & 0xffff_ffff)
}

/// Inverse of [`merge8`]: spreads the low `8N` bits into eight symbol bytes.
#[inline(always)]
fn split8<const N: usize>(w: u64) -> u64 {
    let w = (w >> (4 * N)) << 32 | (w & low_mask(4 * N));
    let w = ((w >> (2 * N)) & rep32(low_mask(2 * N) as u32)) << 16
        | (w & rep32(low_mask(2 * N) as u32));
    ((w >> N) & rep16(low_mask(N) as u16)) << 8 | (w & rep16(low_mask(N) as u16))
}

/// Packs one group of eight symbols into `N` bytes; `None` if a symbol is too large.
#[inline(always)]
fn pack_group<const N: usize>(group: [u8; 8]) -> Option<[u8; N]> {
    let w = u64::from_be_bytes(group);
    if w & rep8(!(low_mask(N) as u8)) != 0 {
        return None;
    }
    let bytes = (merge8::<N>(w) << (64 - 8 * N)).to_be_bytes();
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    Some(out)
}

#[inline(always)]
fn unpack_group<const N: usize>(group: [u8; N]) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[..N].copy_from_slice(&group);
    split8::<N>(u64::from_be_bytes(bytes) >> (64 - 8 * N)).to_be_bytes()
}

fn too_large(symbols: &[u8], base: usize, nbits: u8) -> BitsError {
    let (i, &value) = symbols
        .iter()
        .enumerate()
        .find(|(_, &s)| u16::from(s) >> nbits != 0)
        .unwrap_or((0, &0));
    BitsError::SymbolTooLarge {
        index: base + i,
        value,
        nbits,
    }
}

/// Packs whole groups by the fastest path this CPU has, then the rest by
/// [`pack_scalar`]; both give the same bytes.
fn pack_n<const N: usize>(symbols: &[u8], out: &mut [u8]) -> Result<usize, BitsError> {
    let done = fast_prefix(|| {
        // SAFETY: only called where the CPU supports AVX2.
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        return unsafe { avx2::pack::<N>(symbols, out) };
        #[allow(unreachable_code)]
        0
    });
    pack_scalar::<N>(&symbols[done..], &mut out[done / 8 * N..], done)?;
    Ok(packed_len(symbols.len(), N as u8))
}

/// Unpacks by the fastest path this CPU has, then the rest by [`unpack_scalar`].
fn unpack_n<const N: usize>(packed: &[u8], out: &mut [u8]) {
    let done = fast_prefix(|| {
        // SAFETY: only called where the CPU supports AVX2.
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        return unsafe { avx2::unpack::<N>(packed, out) };
        #[allow(unreachable_code)]
        0
    });
    unpack_scalar::<N>(&packed[done / 8 * N..], &mut out[done..]);
}

/// Runs `simd` (which returns the symbols it did) where the CPU has AVX2
/// (known at run time with `std` on x86_64); 0 elsewhere.
#[inline(always)]
fn fast_prefix(simd: impl FnOnce() -> usize) -> usize {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if avx2::available() {
        return simd();
    }
    let _ = simd;
    0
}

/// The portable packer: eight symbols (one `u64`) at a time. `base` is the
/// index of `symbols[0]` in the caller's buffer (for the error).
fn pack_scalar<const N: usize>(
    symbols: &[u8],
    out: &mut [u8],
    base: usize,
) -> Result<(), BitsError> {
    let (groups, rest) = symbols.as_chunks::<8>();
    let (outs, _) = out.as_chunks_mut::<N>();
    for (g, (group, o)) in groups.iter().zip(outs.iter_mut()).enumerate() {
        *o = pack_group::<N>(*group).ok_or_else(|| too_large(group, base + g * 8, N as u8))?;
    }
    if !rest.is_empty() {
        let mut group = [0u8; 8];
        group[..rest.len()].copy_from_slice(rest);
        let start = base + groups.len() * 8;
        let packed = pack_group::<N>(group).ok_or_else(|| too_large(rest, start, N as u8))?;
        let tail = (rest.len() * N).div_ceil(8);
        // `out` was checked to hold packed_len bytes, so the tail fits.
        let o_start = groups.len() * N;
        out[o_start..o_start + tail].copy_from_slice(&packed[..tail]);
    }
    Ok(())
}

/// The portable unpacker, eight symbols at a time.
fn unpack_scalar<const N: usize>(packed: &[u8], out: &mut [u8]) {
    let (outs, rest) = out.as_chunks_mut::<8>();
    let (groups, _) = packed.as_chunks::<N>();
    for (o, group) in outs.iter_mut().zip(groups.iter()) {
        *o = unpack_group::<N>(*group);
    }
    if !rest.is_empty() {
        let start = outs.len() * N;
        let tail = (rest.len() * N).div_ceil(8);
        let mut group = [0u8; N];
        group[..tail].copy_from_slice(&packed[start..start + tail]);
        let symbols = unpack_group::<N>(group);
        rest.copy_from_slice(&symbols[..rest.len()]);
    }
}

/// Checks `nbits` and that `packed_bytes` can hold `count` symbols; returns
/// `nbits` and the packed length.
fn check_sizes(nbits: u8, count: usize, packed_bytes: usize) -> Result<(u8, usize), BitsError> {
    let nbits = check_nbits(u32::from(nbits))?;
    let needed = packed_len(count, nbits);
    if packed_bytes < needed {
        return Err(BitsError::BufferTooSmall {
            needed,
            got: packed_bytes,
        });
    }
    Ok((nbits, needed))
}

macro_rules! dispatch_nbits {
    ($nbits:expr, $f:ident, $($arg:expr),*) => {
        match $nbits {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            _ => $f::<8>($($arg),*),
        }
    };
}

/// Packs `symbols` (each `< 2^nbits`) MSB-first into `out`, returning the
/// number of bytes written (`packed_len(symbols.len(), nbits)`).
///
/// `out` may be longer than needed; bytes past the packed length are left
/// untouched. On error, `out` may be partly written.
pub fn pack(symbols: &[u8], nbits: u8, out: &mut [u8]) -> Result<usize, BitsError> {
    let (nbits, needed) = check_sizes(nbits, symbols.len(), out.len())?;
    dispatch_nbits!(nbits, pack_n, symbols, &mut out[..needed])
}

/// Unpacks `out.len()` symbols of `nbits` bits from `packed` (MSB-first).
///
/// `packed` must hold at least `packed_len(out.len(), nbits)` bytes; the
/// tail bits past the last symbol are ignored.
pub fn unpack(packed: &[u8], nbits: u8, out: &mut [u8]) -> Result<(), BitsError> {
    let (nbits, needed) = check_sizes(nbits, out.len(), packed.len())?;
    dispatch_nbits!(nbits, unpack_n, &packed[..needed], out);
    Ok(())
}

/// [`pack`] split over `threads` threads (in whole groups of eight symbols,
/// so the output does not depend on the thread count).
#[cfg(feature = "std")]
pub fn pack_threads(
    symbols: &[u8],
    nbits: u8,
    out: &mut [u8],
    threads: usize,
) -> Result<usize, BitsError> {
    let (nbits, needed) = check_sizes(nbits, symbols.len(), out.len())?;
    let n = usize::from(nbits);
    crate::par::split2(symbols, 8, &mut out[..needed], n, threads, |group, s, o| {
        pack(s, nbits, o).map(drop).map_err(|e| match e {
            BitsError::SymbolTooLarge {
                index,
                value,
                nbits,
            } => BitsError::SymbolTooLarge {
                index: index + group * 8,
                value,
                nbits,
            },
            other => other,
        })
    })?;
    Ok(needed)
}

/// [`unpack`] split over `threads` threads.
#[cfg(feature = "std")]
pub fn unpack_threads(
    packed: &[u8],
    nbits: u8,
    out: &mut [u8],
    threads: usize,
) -> Result<(), BitsError> {
    let (nbits, needed) = check_sizes(nbits, out.len(), packed.len())?;
    let n = usize::from(nbits);
    crate::par::split2(&packed[..needed], n, out, 8, threads, |_, p, o| {
        unpack(p, nbits, o)
    })
}

/// Gray code of a symbol index: neighbouring indices differ in one bit, so a
/// single flipped bit of a Gray-coded symbol often lands on a neighbouring
/// quantization center. Maps `0..2^n` onto itself for every `n`.
pub const fn gray_encode(x: u8) -> u8 {
    x ^ (x >> 1)
}

/// Inverse of [`gray_encode`].
pub const fn gray_decode(g: u8) -> u8 {
    let x = g ^ (g >> 4);
    let x = x ^ (x >> 2);
    x ^ (x >> 1)
}

/// [`gray_encode`] applied to every symbol, in place.
pub fn gray_encode_in_place(symbols: &mut [u8]) {
    symbols.iter_mut().for_each(|s| *s = gray_encode(*s));
}

/// [`gray_decode`] applied to every symbol, in place.
pub fn gray_decode_in_place(symbols: &mut [u8]) {
    symbols.iter_mut().for_each(|s| *s = gray_decode(*s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference packer, bit at a time, straight from the contract's words.
    fn pack_reference(symbols: &[u8], n: u8) -> Vec<u8> {
        let mut out = vec![0u8; packed_len(symbols.len(), n)];
        for (i, &s) in symbols.iter().enumerate() {
            for b in 0..n as usize {
                let bit = (s >> (n as usize - 1 - b)) & 1;
                let j = i * n as usize + b;
                out[j / 8] |= bit << (7 - j % 8);
            }
        }
        out
    }

    fn symbols_strategy() -> impl Strategy<Value = (u8, Vec<u8>)> {
        (1u8..=8).prop_flat_map(|n| {
            let max = ((1u16 << n) - 1) as u8;
            (Just(n), proptest::collection::vec(0..=max, 0..300))
        })
    }

    proptest! {
        #[test]
        fn pack_matches_reference_and_round_trips((n, symbols) in symbols_strategy()) {
            let mut packed = vec![0xAAu8; packed_len(symbols.len(), n)];
            let written = pack(&symbols, n, &mut packed).unwrap();
            prop_assert_eq!(written, packed.len());
            prop_assert_eq!(&packed, &pack_reference(&symbols, n));
            let mut back = vec![0u8; symbols.len()];
            unpack(&packed, n, &mut back).unwrap();
            prop_assert_eq!(back, symbols);
        }

        #[test]
        fn portable_path_matches_reference((n, symbols) in symbols_strategy()) {
            // `pack`/`unpack` take the AVX2 path where the CPU has it; the
            // portable one (all other CPUs, the firmware) must agree.
            let mut packed = vec![0u8; packed_len(symbols.len(), n)];
            dispatch_nbits!(n, pack_scalar, &symbols, &mut packed, 0).unwrap();
            prop_assert_eq!(&packed, &pack_reference(&symbols, n));
            let mut back = vec![0u8; symbols.len()];
            dispatch_nbits!(n, unpack_scalar, &packed, &mut back);
            prop_assert_eq!(back, symbols);
        }

        #[test]
        fn unpack_then_pack_keeps_symbol_bits(n in 1u8..=8, bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let count = bytes.len() * 8 / n as usize;
            let mut symbols = vec![0u8; count];
            unpack(&bytes, n, &mut symbols).unwrap();
            let mut packed = vec![0u8; packed_len(count, n)];
            pack(&symbols, n, &mut packed).unwrap();
            let full = count * n as usize / 8;
            prop_assert_eq!(&packed[..full], &bytes[..full]);
        }

        #[test]
        fn oversized_symbol_is_an_error((n, mut symbols) in symbols_strategy(), pos in any::<prop::sample::Index>()) {
            prop_assume!(n < 8 && !symbols.is_empty());
            let i = pos.index(symbols.len());
            symbols[i] = 1 << n;
            let mut packed = vec![0u8; packed_len(symbols.len(), n)];
            let err = pack(&symbols, n, &mut packed).unwrap_err();
            prop_assert_eq!(err, BitsError::SymbolTooLarge { index: i, value: 1 << n, nbits: n });
        }

        #[test]
        fn gray_round_trips_and_neighbours_differ_in_one_bit(x in any::<u8>()) {
            prop_assert_eq!(gray_decode(gray_encode(x)), x);
            prop_assert_eq!(gray_encode(gray_decode(x)), x);
            if x < 255 {
                prop_assert_eq!((gray_encode(x) ^ gray_encode(x + 1)).count_ones(), 1);
            }
        }
    }

    #[test]
    fn gray_keeps_every_n_bit_range() {
        for n in 1..=8u32 {
            for x in 0..(1u16 << n) {
                assert!(u16::from(gray_encode(x as u8)) < (1 << n));
            }
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut out = [0u8; 4];
        assert_eq!(pack(&[1], 0, &mut out), Err(BitsError::InvalidNbits(0)));
        assert_eq!(pack(&[1], 9, &mut out), Err(BitsError::InvalidNbits(9)));
        assert_eq!(
            pack(&[1; 16], 3, &mut out),
            Err(BitsError::BufferTooSmall { needed: 6, got: 4 })
        );
        let mut syms = [0u8; 11];
        assert_eq!(
            unpack(&out, 3, &mut syms),
            Err(BitsError::BufferTooSmall { needed: 5, got: 4 })
        );
    }

    #[test]
    fn contract_example() {
        // 3-bit symbols 5, 3, 7 → 101 011 111 → 1010 1111 1000 0000.
        let mut out = [0u8; 2];
        assert_eq!(pack(&[5, 3, 7], 3, &mut out), Ok(2));
        assert_eq!(out, [0b1010_1111, 0b1000_0000]);
    }
}
