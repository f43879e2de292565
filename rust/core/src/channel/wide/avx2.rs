//! [`Vector`] on AVX2: four chunks at once.
use core::arch::x86_64::*;

use super::{NibbleAlias, Vector};
use crate::channel::rng::ChannelRng;

/// Whether this CPU runs the AVX2 path.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// The kernel on four chunks (see [`super::flip_chunks`]).
#[target_feature(enable = "avx2")]
pub(super) fn flip_chunks(alias: &NibbleAlias, chunks: [&mut [u8]; 4], rngs: &mut [ChannelRng; 4]) {
    super::flip_chunks::<Avx2, 4>(alias, chunks, rngs);
}

#[derive(Clone, Copy)]
struct Avx2(__m256i);

// SAFETY (every `unsafe` below): the type is private to this file and used
// only inside `flip_chunks`, which requires AVX2 and runs only after
// `available` (via `super::flip_whole_chunks`); loads and stores are unaligned
// and within the arrays or slices named.
impl Vector<4> for Avx2 {
    #[inline(always)]
    fn from_lanes(words: [u64; 4]) -> Self {
        Avx2(unsafe { _mm256_loadu_si256(words.as_ptr().cast()) })
    }
    #[inline(always)]
    fn to_lanes(self) -> [u64; 4] {
        let mut words = [0u64; 4];
        unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), self.0) };
        words
    }
    #[inline(always)]
    fn splat(word: u64) -> Self {
        Avx2(unsafe { _mm256_set1_epi64x(word as i64) })
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Avx2(unsafe { _mm256_add_epi64(self.0, other.0) })
    }
    #[inline(always)]
    fn xor(self, other: Self) -> Self {
        Avx2(unsafe { _mm256_xor_si256(self.0, other.0) })
    }
    #[inline(always)]
    fn and(self, other: Self) -> Self {
        Avx2(unsafe { _mm256_and_si256(self.0, other.0) })
    }
    #[inline(always)]
    fn or(self, other: Self) -> Self {
        Avx2(unsafe { _mm256_or_si256(self.0, other.0) })
    }
    #[inline(always)]
    fn shl(self, bits: u32) -> Self {
        Avx2(unsafe { _mm256_sll_epi64(self.0, _mm_cvtsi32_si128(bits as i32)) })
    }
    #[inline(always)]
    fn shr(self, bits: u32) -> Self {
        Avx2(unsafe { _mm256_srl_epi64(self.0, _mm_cvtsi32_si128(bits as i32)) })
    }
    #[inline(always)]
    fn table(bytes: &[u8; 16]) -> Self {
        Avx2(unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(bytes.as_ptr().cast())) })
    }
    #[inline(always)]
    fn lookup(table: Self, index: Self) -> Self {
        Avx2(unsafe { _mm256_shuffle_epi8(table.0, index.0) })
    }
    #[inline(always)]
    fn select_lanes(self, new: Self, active: u32) -> Self {
        let lanes: [i64; 4] = core::array::from_fn(|l| -i64::from(active >> l & 1));
        let active = Self::from_lanes(lanes.map(|a| a as u64));
        Avx2(unsafe { _mm256_blendv_epi8(self.0, new.0, active.0) })
    }
    #[inline(always)]
    fn choose(own: Self, alias: Self, u: Self, first: Self, v: Self, second: Self) -> (Self, u64) {
        unsafe {
            let ge_u = _mm256_cmpeq_epi8(_mm256_max_epu8(u.0, first.0), u.0);
            let eq_u = _mm256_cmpeq_epi8(u.0, first.0);
            let ge_v = _mm256_cmpeq_epi8(_mm256_max_epu8(v.0, second.0), v.0);
            let eq_v = _mm256_cmpeq_epi8(v.0, second.0);
            // u > f, or u = f and v >= g: u >= f and not (u = f and v < g).
            let ge = _mm256_andnot_si256(_mm256_andnot_si256(ge_v, eq_u), ge_u);
            let tie = _mm256_movemask_epi8(_mm256_and_si256(eq_u, eq_v)) as u32;
            (Avx2(_mm256_blendv_epi8(own.0, alias.0, ge)), u64::from(tie))
        }
    }
    #[inline(always)]
    fn xor_into(chunks: &mut [&mut [u8]; 4], at: usize, [m0, m1, m2, m3]: [Self; 4]) {
        // A 4x4 transpose of 64-bit words: chunk l gets lane l of m0..m3.
        unsafe {
            let t0 = _mm256_unpacklo_epi64(m0.0, m1.0);
            let t1 = _mm256_unpackhi_epi64(m0.0, m1.0);
            let t2 = _mm256_unpacklo_epi64(m2.0, m3.0);
            let t3 = _mm256_unpackhi_epi64(m2.0, m3.0);
            let rows = [
                _mm256_permute2x128_si256::<0x20>(t0, t2),
                _mm256_permute2x128_si256::<0x20>(t1, t3),
                _mm256_permute2x128_si256::<0x31>(t0, t2),
                _mm256_permute2x128_si256::<0x31>(t1, t3),
            ];
            // `at` + the row fit in every chunk (`flip_chunks_with`'s `len`).
            for (chunk, row) in chunks.iter_mut().zip(rows) {
                if let Some(bytes) = chunk.get_mut(at..at + 32) {
                    let v = _mm256_loadu_si256(bytes.as_ptr().cast());
                    _mm256_storeu_si256(bytes.as_mut_ptr().cast(), _mm256_xor_si256(v, row));
                }
            }
        }
    }
}
