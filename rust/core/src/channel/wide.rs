//! The BSC's mask path on several whole chunks at once with x86 vectors
//! (`std` only, detected at run time): 8 chunks with AVX-512, else 4 with
//! AVX2.
//!
//! Lane `l` of every vector belongs to chunk `l`: its xoshiro256++ state is
//! that chunk's stream, stepped by the same arithmetic as the scalar
//! generator, and its 64-bit masks are those of
//! [`NibbleAlias::sample`](super::alias::NibbleAlias::sample) (the nibble
//! look-ups are byte shuffles). A slot whose draws tie its threshold draws
//! its extra word from the lane's own generator, the other lanes standing
//! still, so every chunk gets exactly the bits the scalar path gives it.
//!
//! The kernel is written once over [`Vector`]; `avx2` and `avx512` supply
//! the instructions and a `#[target_feature]` entry point into which the
//! whole kernel is inlined (every function here is `#[inline(always)]`).
use rand_core::SeedableRng;

use super::alias::NibbleAlias;
use super::rng::{ChannelRng, Streams, CHUNK_BYTES};

mod avx2;
mod avx512;

/// An x86 vector of `N` 64-bit lanes. Its methods wrap intrinsics the
/// CPU must have: they run only inside the entry points of `avx2` and
/// `avx512`, which [`flip_whole_chunks`] calls after checking the CPU.
trait Vector<const N: usize>: Copy {
    fn from_lanes(words: [u64; N]) -> Self;
    fn to_lanes(self) -> [u64; N];
    fn splat(word: u64) -> Self;
    fn add(self, other: Self) -> Self;
    fn xor(self, other: Self) -> Self;
    fn and(self, other: Self) -> Self;
    fn or(self, other: Self) -> Self;
    /// Each lane shifted left by `bits` (a constant once inlined: the
    /// immediate forms are emitted).
    fn shl(self, bits: u32) -> Self;
    /// Each lane shifted right by `bits`.
    fn shr(self, bits: u32) -> Self;
    /// Each lane rotated left by `bits` (1..64).
    #[inline(always)]
    fn rotl(self, bits: u32) -> Self {
        self.shl(bits).or(self.shr(64 - bits))
    }
    /// A 16-byte table in every 128-bit block.
    fn table(bytes: &[u8; 16]) -> Self;
    /// `table[index]` for each byte (indices below 16).
    fn lookup(table: Self, index: Self) -> Self;
    /// `new` in the lanes set in `active` (bit `l`), `self` in the others.
    fn select_lanes(self, new: Self, active: u32) -> Self;
    /// Byte by byte: `alias` where `(u, v) >= (first, second)`, else
    /// `own`; and the bytes where `(u, v) == (first, second)`, as bit
    /// `8 * lane + byte`.
    fn choose(own: Self, alias: Self, u: Self, first: Self, v: Self, second: Self) -> (Self, u64);
    /// XORs `words` into the chunks at byte `at`: chunk `l` gets lane `l`
    /// of `words[0], words[1], ...` (8·N bytes).
    fn xor_into(chunks: &mut [&mut [u8]; N], at: usize, words: [Self; N]);
}

/// Where the CPU has AVX-512 or AVX2, XORs `alias` masks into the leading
/// groups of whole chunks of `buf` at once (one per lane), taking their
/// streams from `streams`; returns the bytes done (0 on other CPUs). Each
/// chunk gets exactly the bits the scalar path would give it.
pub(super) fn flip_whole_chunks(
    alias: &NibbleAlias,
    buf: &mut [u8],
    streams: &mut Streams,
) -> usize {
    let mut done = 0;
    if avx512::available() {
        // SAFETY: the CPU has AVX-512 F and BW (checked above).
        done += flip_groups::<8>(&mut buf[done..], streams, |chunks, rngs| unsafe {
            avx512::flip_chunks(alias, chunks, rngs)
        });
    }
    if avx2::available() {
        // SAFETY: the CPU has AVX2 (checked above).
        done += flip_groups::<4>(&mut buf[done..], streams, |chunks, rngs| unsafe {
            avx2::flip_chunks(alias, chunks, rngs)
        });
    }
    done
}

/// Runs `flip` on each group of `N` whole chunks at the start of `buf`,
/// with the next `N` streams; returns the bytes done.
fn flip_groups<const N: usize>(
    buf: &mut [u8],
    streams: &mut Streams,
    mut flip: impl FnMut([&mut [u8]; N], &mut [ChannelRng; N]),
) -> usize {
    let mut groups = buf.chunks_exact_mut(N * CHUNK_BYTES);
    let mut done = 0;
    for group in &mut groups {
        let mut rngs: [ChannelRng; N] = core::array::from_fn(|_| streams.next_stream());
        let mut chunks = group.chunks_exact_mut(CHUNK_BYTES);
        let chunks: [&mut [u8]; N] = core::array::from_fn(|_| chunks.next().unwrap_or_default());
        flip(chunks, &mut rngs);
        done += N * CHUNK_BYTES;
    }
    done
}

/// `N` xoshiro256++ generators, one per lane.
struct Lanes<V, const N: usize> {
    s: [V; 4],
}

impl<V: Vector<N>, const N: usize> Lanes<V, N> {
    #[inline(always)]
    fn load(rngs: &[ChannelRng; N]) -> Self {
        let states = rngs.each_ref().map(|rng| rng.state());
        Lanes {
            s: core::array::from_fn(|j| {
                V::from_lanes(states.map(|s| {
                    let word = s.as_chunks::<8>().0[j];
                    u64::from_le_bytes(word)
                }))
            }),
        }
    }

    #[inline(always)]
    fn store(&self, rngs: &mut [ChannelRng; N]) {
        let words = self.s.map(|v| v.to_lanes());
        for (lane, rng) in rngs.iter_mut().enumerate() {
            let mut seed = [0u8; 32];
            for (j, b) in seed.as_chunks_mut::<8>().0.iter_mut().enumerate() {
                *b = words[j][lane].to_le_bytes();
            }
            // A reachable state is never all zero, so this is exact.
            *rng = ChannelRng::from_seed(seed);
        }
    }

    /// `next_u64` of every generator.
    #[inline(always)]
    fn next(&mut self) -> V {
        let (result, s) = step(self.s);
        self.s = s;
        result
    }

    /// `next_u64` of the generators set in `active` (bit `l`); the others
    /// stay where they are.
    #[inline(always)]
    fn next_of(&mut self, active: u32) -> V {
        let (result, s) = step(self.s);
        for (old, new) in self.s.iter_mut().zip(s) {
            *old = old.select_lanes(new, active);
        }
        result
    }
}

/// One xoshiro256++ step of every lane: the outputs and the next states.
#[inline(always)]
fn step<V: Vector<N>, const N: usize>([s0, s1, s2, s3]: [V; 4]) -> (V, [V; 4]) {
    let result = s0.add(s3).rotl(23).add(s0);
    let t = s1.shl(17);
    let s2 = s2.xor(s0);
    let s3 = s3.xor(s1);
    let s1 = s1.xor(s2);
    let s0 = s0.xor(s3);
    let s2 = s2.xor(t);
    let s3 = s3.rotl(45);
    (result, [s0, s1, s2, s3])
}

/// XORs `alias` masks into `N` chunks of equal length (a multiple of 8·N),
/// chunk `l` drawing from `rngs[l]`; the generators end where the scalar
/// ones would.
#[inline(always)]
fn flip_chunks<V: Vector<N>, const N: usize>(
    alias: &NibbleAlias,
    mut chunks: [&mut [u8]; N],
    rngs: &mut [ChannelRng; N],
) {
    if alias.uniform {
        flip_chunks_with::<V, N, true>(alias, &mut chunks, rngs);
    } else {
        flip_chunks_with::<V, N, false>(alias, &mut chunks, rngs);
    }
}

#[inline(always)]
fn flip_chunks_with<V: Vector<N>, const N: usize, const UNIFORM: bool>(
    alias: &NibbleAlias,
    chunks: &mut [&mut [u8]; N],
    rngs: &mut [ChannelRng; N],
) {
    let mut lanes = Lanes::<V, N>::load(rngs);
    let masker = Masker::<V, N>::new(alias);
    let len = chunks.iter().map(|c| c.len()).min().unwrap_or(0) / (8 * N) * (8 * N);
    for at in (0..len).step_by(8 * N) {
        // N words of each lane: chunk l gets 8·N bytes.
        let words: [V; N] = core::array::from_fn(|_| masker.word::<UNIFORM>(&mut lanes));
        V::xor_into(chunks, at, words);
    }
    lanes.store(rngs);
}

/// The alias table as byte-shuffle tables.
struct Masker<'a, V, const N: usize> {
    alias: &'a NibbleAlias,
    first: V,
    second: V,
    other: V,
    low_nibbles: V,
}

impl<'a, V: Vector<N>, const N: usize> Masker<'a, V, N> {
    #[inline(always)]
    fn new(alias: &'a NibbleAlias) -> Self {
        Masker {
            alias,
            first: V::table(&alias.first),
            second: V::table(&alias.second),
            other: V::table(&alias.alias),
            low_nibbles: V::splat(0x0f0f_0f0f_0f0f_0f0f),
        }
    }

    /// Low nibble of each byte.
    #[inline(always)]
    fn low(&self, v: V) -> V {
        v.and(self.low_nibbles)
    }

    /// High nibble of each byte.
    #[inline(always)]
    fn high(&self, v: V) -> V {
        v.shr(4).and(self.low_nibbles)
    }

    /// One mask word per lane, as `NibbleAlias::sample` makes it.
    #[inline(always)]
    fn word<const UNIFORM: bool>(&self, lanes: &mut Lanes<V, N>) -> V {
        let x = lanes.next();
        if UNIFORM {
            return self.low(x).shl(4).or(self.high(x));
        }
        let y = lanes.next();
        let z = lanes.next();
        let w = lanes.next();
        let (plo, tie_lo) = self.pick(self.low(x), y, self.low(w));
        let (phi, tie_hi) = self.pick(self.high(x), z, self.high(w));
        let mask = plo.shl(4).or(phi);
        if tie_lo | tie_hi == 0 {
            return mask;
        }
        self.untie(lanes, x, mask, tie_lo, tie_hi)
    }

    /// The patterns of columns `col` whose `U` starts with `u` (8 bits)
    /// and `v` (4), and the tied bytes.
    #[inline(always)]
    fn pick(&self, col: V, u: V, v: V) -> (V, u64) {
        let first = V::lookup(self.first, col);
        let second = V::lookup(self.second, col);
        let other = V::lookup(self.other, col);
        V::choose(col, other, u, first, v, second)
    }

    /// Redoes the tied slots: each lane draws one word per tie, low-nibble
    /// slots first, as the scalar `mask_from` does.
    #[inline(always)]
    fn untie(&self, lanes: &mut Lanes<V, N>, x: V, mask: V, lo: u64, hi: u64) -> V {
        // Bits 0..8 of lane l: its tied low-nibble slots; 8..16: high ones.
        let mut pending: [u32; N] = core::array::from_fn(|l| {
            ((lo >> (8 * l)) & 0xff | ((hi >> (8 * l)) & 0xff) << 8) as u32
        });
        let xs = x.to_lanes();
        let mut masks = mask.to_lanes();
        while pending.iter().any(|&p| p != 0) {
            let active = (0..N).fold(0, |a, l| a | u32::from(pending[l] != 0) << l);
            let draws = lanes.next_of(active).to_lanes();
            for l in 0..N {
                if pending[l] == 0 {
                    continue;
                }
                masks[l] = self
                    .alias
                    .untie(masks[l], xs[l], pending[l].trailing_zeros(), draws[l]);
                pending[l] &= pending[l] - 1;
            }
        }
        V::from_lanes(masks)
    }
}
