//! [`Vector`] on AVX-512 (F and BW): eight chunks at once.
use core::arch::x86_64::*;

use super::{NibbleAlias, Vector};
use crate::channel::rng::ChannelRng;

/// Whether this CPU runs the AVX-512 path.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
}

/// The kernel on eight chunks (see [`super::flip_chunks`]).
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) fn flip_chunks(alias: &NibbleAlias, chunks: [&mut [u8]; 8], rngs: &mut [ChannelRng; 8]) {
    super::flip_chunks::<Avx512, 8>(alias, chunks, rngs);
}

#[derive(Clone, Copy)]
struct Avx512(__m512i);

// SAFETY (every `unsafe` below): the type is private to this file and used
// only inside `flip_chunks`, which requires AVX-512 F and BW and runs only
// after `available` (via `super::flip_whole_chunks`); loads and stores are
// unaligned and within the arrays or slices named.
impl Vector<8> for Avx512 {
    #[inline(always)]
    fn from_lanes(words: [u64; 8]) -> Self {
        Avx512(unsafe { _mm512_loadu_si512(words.as_ptr().cast()) })
    }
    #[inline(always)]
    fn to_lanes(self) -> [u64; 8] {
        let mut words = [0u64; 8];
        unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), self.0) };
        words
    }
    #[inline(always)]
    fn splat(word: u64) -> Self {
        Avx512(unsafe { _mm512_set1_epi64(word as i64) })
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Avx512(unsafe { _mm512_add_epi64(self.0, other.0) })
    }
    #[inline(always)]
    fn xor(self, other: Self) -> Self {
        Avx512(unsafe { _mm512_xor_si512(self.0, other.0) })
    }
    #[inline(always)]
    fn and(self, other: Self) -> Self {
        Avx512(unsafe { _mm512_and_si512(self.0, other.0) })
    }
    #[inline(always)]
    fn or(self, other: Self) -> Self {
        Avx512(unsafe { _mm512_or_si512(self.0, other.0) })
    }
    #[inline(always)]
    fn shl(self, bits: u32) -> Self {
        Avx512(unsafe { _mm512_sll_epi64(self.0, _mm_cvtsi32_si128(bits as i32)) })
    }
    #[inline(always)]
    fn shr(self, bits: u32) -> Self {
        Avx512(unsafe { _mm512_srl_epi64(self.0, _mm_cvtsi32_si128(bits as i32)) })
    }
    #[inline(always)]
    fn rotl(self, bits: u32) -> Self {
        Avx512(unsafe { _mm512_rolv_epi64(self.0, _mm512_set1_epi64(i64::from(bits))) })
    }
    #[inline(always)]
    fn table(bytes: &[u8; 16]) -> Self {
        Avx512(unsafe { _mm512_broadcast_i32x4(_mm_loadu_si128(bytes.as_ptr().cast())) })
    }
    #[inline(always)]
    fn lookup(table: Self, index: Self) -> Self {
        Avx512(unsafe { _mm512_shuffle_epi8(table.0, index.0) })
    }
    #[inline(always)]
    fn select_lanes(self, new: Self, active: u32) -> Self {
        Avx512(unsafe { _mm512_mask_blend_epi64(active as u8, self.0, new.0) })
    }
    #[inline(always)]
    fn choose(own: Self, alias: Self, u: Self, first: Self, v: Self, second: Self) -> (Self, u64) {
        unsafe {
            let gt_u = _mm512_cmpgt_epu8_mask(u.0, first.0);
            let eq_u = _mm512_cmpeq_epu8_mask(u.0, first.0);
            let ge_v = _mm512_cmpge_epu8_mask(v.0, second.0);
            let eq_v = _mm512_cmpeq_epu8_mask(v.0, second.0);
            let ge = gt_u | (eq_u & ge_v);
            (
                Avx512(_mm512_mask_blend_epi8(ge, own.0, alias.0)),
                eq_u & eq_v,
            )
        }
    }
    #[inline(always)]
    fn xor_into(chunks: &mut [&mut [u8]; 8], at: usize, m: [Self; 8]) {
        // An 8x8 transpose of 64-bit words: chunk l gets lane l of m[0..8].
        unsafe {
            // Pairs of rows: t[2i] has lanes 0,2,4,6 of rows 2i, 2i+1; t[2i+1] lanes 1,3,5,7.
            let t: [__m512i; 8] = core::array::from_fn(|k| {
                let (a, b) = (m[k / 2 * 2].0, m[k / 2 * 2 + 1].0);
                if k % 2 == 0 {
                    _mm512_unpacklo_epi64(a, b)
                } else {
                    _mm512_unpackhi_epi64(a, b)
                }
            });
            // 128-bit blocks: u[0]/u[1] hold lanes 0,4 / 2,6 of rows 0..4 (from
            // t[0], t[2]), u[2]/u[3] lanes 1,5 / 3,7 (t[1], t[3]); u[4..8] rows 4..8.
            let even = |a, b| _mm512_shuffle_i64x2::<0b10_00_10_00>(a, b);
            let odd = |a, b| _mm512_shuffle_i64x2::<0b11_01_11_01>(a, b);
            let u = [
                even(t[0], t[2]),
                odd(t[0], t[2]),
                even(t[1], t[3]),
                odd(t[1], t[3]),
                even(t[4], t[6]),
                odd(t[4], t[6]),
                even(t[5], t[7]),
                odd(t[5], t[7]),
            ];
            let rows = [
                even(u[0], u[4]),
                even(u[2], u[6]),
                even(u[1], u[5]),
                even(u[3], u[7]),
                odd(u[0], u[4]),
                odd(u[2], u[6]),
                odd(u[1], u[5]),
                odd(u[3], u[7]),
            ];
            // `at` + the row fit in every chunk (`flip_chunks_with`'s `len`).
            for (chunk, row) in chunks.iter_mut().zip(rows) {
                if let Some(bytes) = chunk.get_mut(at..at + 64) {
                    let v = _mm512_loadu_si512(bytes.as_ptr().cast());
                    _mm512_storeu_si512(bytes.as_mut_ptr().cast(), _mm512_xor_si512(v, row));
                }
            }
        }
    }
}
