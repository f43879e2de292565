//! The BSC's mask path on four chunks at once with AVX2 (x86_64, detected
//! at run time, `std` only).
//!
//! Lane `l` of every vector belongs to chunk `l`: its xoshiro256++ state is
//! that chunk's stream, stepped by the same arithmetic as the scalar
//! generator, and its 64-bit masks are those of
//! [`NibbleAlias::sample`](super::alias::NibbleAlias::sample) (the nibble
//! look-ups are byte shuffles). A word whose draws tie a threshold byte is
//! redone in scalar by the lane's own generator, so every chunk gets exactly
//! the bits the scalar path gives it.
use core::arch::x86_64::*;

use rand_core::SeedableRng;

use super::alias::NibbleAlias;
use super::rng::ChannelRng;

/// Whether this CPU runs the AVX2 path.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// Four xoshiro256++ generators, one per 64-bit lane.
struct Lanes {
    s: [__m256i; 4],
}

#[inline]
#[target_feature(enable = "avx2")]
fn rotl<const K: i32, const R: i32>(x: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_slli_epi64::<K>(x), _mm256_srli_epi64::<R>(x))
}

impl Lanes {
    #[target_feature(enable = "avx2")]
    fn load(rngs: &[ChannelRng; 4]) -> Self {
        let mut words = [[0u64; 4]; 4]; // [state word][lane]
        for (lane, rng) in rngs.iter().enumerate() {
            for (j, w) in rng.state().as_chunks::<8>().0.iter().enumerate() {
                words[j][lane] = u64::from_le_bytes(*w);
            }
        }
        // SAFETY: each `[u64; 4]` is 32 bytes, read unaligned.
        let s = words.map(|w| unsafe { _mm256_loadu_si256(w.as_ptr().cast()) });
        Lanes { s }
    }

    #[target_feature(enable = "avx2")]
    fn store(&self, rngs: &mut [ChannelRng; 4]) {
        let words = self.s.map(|v| to_array(v));
        for (lane, rng) in rngs.iter_mut().enumerate() {
            let mut seed = [0u8; 32];
            for (j, b) in seed.as_chunks_mut::<8>().0.iter_mut().enumerate() {
                *b = words[j][lane].to_le_bytes();
            }
            // A reachable state is never all zero, so this is exact.
            *rng = ChannelRng::from_seed(seed);
        }
    }

    /// `next_u64` of all four generators.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn next(&mut self) -> __m256i {
        let (result, s) = step(self.s);
        self.s = s;
        result
    }

    /// `next_u64` of the lanes set in `active` (all ones or all zeros per
    /// lane); the other generators stay where they are.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn next_masked(&mut self, active: __m256i) -> __m256i {
        let (result, s) = step(self.s);
        for (old, new) in self.s.iter_mut().zip(s) {
            *old = _mm256_blendv_epi8(*old, new, active);
        }
        result
    }
}

/// One xoshiro256++ step of four states: the output and the next states.
#[inline]
#[target_feature(enable = "avx2")]
fn step(s: [__m256i; 4]) -> (__m256i, [__m256i; 4]) {
    {
        let [s0, s1, s2, s3] = s;
        let result = _mm256_add_epi64(rotl::<23, 41>(_mm256_add_epi64(s0, s3)), s0);
        let t = _mm256_slli_epi64::<17>(s1);
        let s2 = _mm256_xor_si256(s2, s0);
        let s3 = _mm256_xor_si256(s3, s1);
        let s1 = _mm256_xor_si256(s1, s2);
        let s0 = _mm256_xor_si256(s0, s3);
        let s2 = _mm256_xor_si256(s2, t);
        let s3 = rotl::<45, 19>(s3);
        (result, [s0, s1, s2, s3])
    }
}

/// A 16-byte table in both halves.
#[inline]
#[target_feature(enable = "avx2")]
fn table(t: &[u8; 16]) -> __m256i {
    // SAFETY: the table is 16 bytes, read unaligned.
    unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(t.as_ptr().cast())) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn to_array(v: __m256i) -> [u64; 4] {
    let mut a = [0u64; 4];
    // SAFETY: `a` is 32 bytes, written unaligned.
    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), v) };
    a
}

/// XORs `alias` masks into four chunks of equal length (a multiple of 32),
/// chunk `l` drawing from `rngs[l]`, exactly as `NibbleAlias::sample` word
/// by word would; the generators end where the scalar ones would.
#[target_feature(enable = "avx2")]
pub(super) fn flip_chunks(alias: &NibbleAlias, chunks: [&mut [u8]; 4], rngs: &mut [ChannelRng; 4]) {
    if alias.uniform {
        flip_chunks_with::<true>(alias, chunks, rngs);
    } else {
        flip_chunks_with::<false>(alias, chunks, rngs);
    }
}

#[target_feature(enable = "avx2")]
fn flip_chunks_with<const UNIFORM: bool>(
    alias: &NibbleAlias,
    chunks: [&mut [u8]; 4],
    rngs: &mut [ChannelRng; 4],
) {
    let mut lanes = Lanes::load(rngs);
    let masker = Masker::new(alias);
    let [c0, c1, c2, c3] = chunks;
    let len = c0.len().min(c1.len()).min(c2.len()).min(c3.len()) / 32 * 32;
    for at in (0..len).step_by(32) {
        // Four words of each lane, then transposed: chunk l gets 32 bytes.
        let m0 = masker.word::<UNIFORM>(&mut lanes);
        let m1 = masker.word::<UNIFORM>(&mut lanes);
        let m2 = masker.word::<UNIFORM>(&mut lanes);
        let m3 = masker.word::<UNIFORM>(&mut lanes);
        let t0 = _mm256_unpacklo_epi64(m0, m1);
        let t1 = _mm256_unpackhi_epi64(m0, m1);
        let t2 = _mm256_unpacklo_epi64(m2, m3);
        let t3 = _mm256_unpackhi_epi64(m2, m3);
        xor32(
            &mut c0[at..at + 32],
            _mm256_permute2x128_si256::<0x20>(t0, t2),
        );
        xor32(
            &mut c1[at..at + 32],
            _mm256_permute2x128_si256::<0x20>(t1, t3),
        );
        xor32(
            &mut c2[at..at + 32],
            _mm256_permute2x128_si256::<0x31>(t0, t2),
        );
        xor32(
            &mut c3[at..at + 32],
            _mm256_permute2x128_si256::<0x31>(t1, t3),
        );
    }
    lanes.store(rngs);
}

/// `bytes ^= mask` for 32 bytes.
#[inline]
#[target_feature(enable = "avx2")]
fn xor32(bytes: &mut [u8], mask: __m256i) {
    if bytes.len() == 32 {
        // SAFETY: `bytes` is 32 bytes, read and written unaligned.
        unsafe {
            let v = _mm256_loadu_si256(bytes.as_ptr().cast());
            _mm256_storeu_si256(bytes.as_mut_ptr().cast(), _mm256_xor_si256(v, mask));
        }
    }
}

/// Low nibble of each byte.
#[inline]
#[target_feature(enable = "avx2")]
fn low(v: __m256i) -> __m256i {
    _mm256_and_si256(v, _mm256_set1_epi8(0x0f))
}

/// High nibble of each byte.
#[inline]
#[target_feature(enable = "avx2")]
fn high(v: __m256i) -> __m256i {
    low(_mm256_srli_epi16::<4>(v))
}

/// The alias table as byte-shuffle tables.
struct Masker<'a> {
    alias: &'a NibbleAlias,
    first: __m256i,
    second: __m256i,
    other: __m256i,
}

impl<'a> Masker<'a> {
    #[target_feature(enable = "avx2")]
    fn new(alias: &'a NibbleAlias) -> Self {
        Masker {
            alias,
            first: table(&alias.first),
            second: table(&alias.second),
            other: table(&alias.alias),
        }
    }

    /// One mask word per lane, as `NibbleAlias::sample` makes it.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn word<const UNIFORM: bool>(&self, lanes: &mut Lanes) -> __m256i {
        let x = lanes.next();
        if UNIFORM {
            return _mm256_or_si256(_mm256_slli_epi16::<4>(low(x)), high(x));
        }
        let y = lanes.next();
        let z = lanes.next();
        let w = lanes.next();
        let (plo, tie_lo) = self.pick(low(x), y, low(w));
        let (phi, tie_hi) = self.pick(high(x), z, high(w));
        let mask = _mm256_or_si256(_mm256_slli_epi16::<4>(plo), phi);
        if tie_lo | tie_hi == 0 {
            return mask;
        }
        self.untie(lanes, x, mask, tie_lo, tie_hi)
    }

    /// The patterns of columns `col` whose `U` starts with `u` (8 bits) and
    /// `v` (4): column i keeps pattern i unless (u, v) >= (first[i],
    /// second[i]). Also the tied bytes (as a movemask).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pick(&self, col: __m256i, u: __m256i, v: __m256i) -> (__m256i, u32) {
        let f = _mm256_shuffle_epi8(self.first, col);
        let g = _mm256_shuffle_epi8(self.second, col);
        let other = _mm256_shuffle_epi8(self.other, col);
        let ge_u = _mm256_cmpeq_epi8(_mm256_max_epu8(u, f), u);
        let eq_u = _mm256_cmpeq_epi8(u, f);
        let ge_v = _mm256_cmpeq_epi8(_mm256_max_epu8(v, g), v);
        let eq_v = _mm256_cmpeq_epi8(v, g);
        // u > f, or u = f and v >= g: u >= f and not (u = f and v < g).
        let ge = _mm256_andnot_si256(_mm256_andnot_si256(ge_v, eq_u), ge_u);
        let tie = _mm256_movemask_epi8(_mm256_and_si256(eq_u, eq_v)) as u32;
        (_mm256_blendv_epi8(col, other, ge), tie)
    }

    /// Redoes the tied slots: each lane draws one word per tie, low-nibble
    /// slots first, as the scalar `mask_from` does.
    #[cold]
    #[target_feature(enable = "avx2")]
    fn untie(&self, lanes: &mut Lanes, x: __m256i, mask: __m256i, lo: u32, hi: u32) -> __m256i {
        let mut pending: [u32; 4] =
            core::array::from_fn(|l| (lo >> (8 * l)) & 0xff | ((hi >> (8 * l)) & 0xff) << 8);
        let xs = to_array(x);
        let mut masks = to_array(mask);
        while pending.iter().any(|&p| p != 0) {
            let active = pending.map(|p| if p != 0 { -1i64 } else { 0 });
            let v = to_array(lanes.next_masked(_mm256_set_epi64x(
                active[3], active[2], active[1], active[0],
            )));
            for l in 0..4 {
                if pending[l] == 0 {
                    continue;
                }
                let slot = pending[l].trailing_zeros();
                pending[l] &= pending[l] - 1;
                let (k, shift, place) = if slot < 8 {
                    (slot, 0, 4)
                } else {
                    (slot - 8, 4, 0)
                };
                let col = usize::from((xs[l] >> (8 * k + shift)) as u8 & 15);
                let pattern = self
                    .alias
                    .pattern(col, self.alias.keeps_after_tie(col, v[l]));
                let at = 8 * k + place;
                masks[l] = masks[l] & !(15 << at) | u64::from(pattern) << at;
            }
        }
        // SAFETY: `masks` is 32 bytes, read unaligned.
        unsafe { _mm256_loadu_si256(masks.as_ptr().cast()) }
    }
}
