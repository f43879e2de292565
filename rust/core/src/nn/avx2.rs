//! x86-64 AVX2 conv2d: [`super::simd`]'s scheme on 8 lanes, `vpmaddwd`
//! multiplying a pair of i16 window values (`x - zero_point`, read from a
//! zero-padded copy of the input) by the weight pairs of 8 channels.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_add_epi64, _mm256_and_si256, _mm256_blend_epi32,
    _mm256_castsi256_si128, _mm256_cmpgt_epi32, _mm256_extracti128_si256, _mm256_load_si256,
    _mm256_madd_epi16, _mm256_max_epi32, _mm256_max_epi8, _mm256_min_epi32, _mm256_min_epi8,
    _mm256_mul_epi32, _mm256_packs_epi16, _mm256_packs_epi32, _mm256_permutevar8x32_epi32,
    _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_set1_epi8, _mm256_setr_epi32,
    _mm256_setzero_si256, _mm256_slli_epi64, _mm256_sllv_epi32, _mm256_srav_epi32,
    _mm256_srli_epi64, _mm256_storeu_si256, _mm256_sub_epi32, _mm_packs_epi16, _mm_packs_epi32,
    _mm_storel_epi64,
};

use super::conv::{ConvParams, Out, OutQuant, Tensor};
use super::model::{Shape, Window};
use super::simd::{self, Lanes, PackedConv, RequantV};

/// Output channels per vector.
pub(super) const LANES: usize = 8;

/// Values per group: a pair of i16.
const GROUP: usize = 2;

/// i16 work the layer needs: its padded input.
pub(super) fn work_len(win: &Window, s: Shape, os: Shape) -> usize {
    simd::padded_len(win, s, os, GROUP)
}

/// Packs conv layer `p` (`cin` input, `cout` output channels): weight pairs
/// as two i16 in a lane.
pub(super) fn pack(p: &ConvParams<'_>, cin: usize, cout: usize) -> PackedConv<LANES> {
    let pair = |g: &[i8]| {
        let half = |k: usize| g.get(k).map_or(0, |&x| u32::from(i32::from(x) as u16));
        (half(0) | (half(1) << 16)) as i32
    };
    simd::pack(p, cin, cout, GROUP, pair, |o| p.bias[o])
}

/// conv2d of the packed layer `pc`; `work` holds at least [`work_len`] i16.
pub(super) fn conv2d(pc: &PackedConv<LANES>, t: Tensor<'_>, out: Out<'_>, work: &mut [i16]) {
    let (os, q, out) = (out.shape, out.q, out.data);
    let xp = &mut work[..work_len(&pc.window, t.shape, os)];
    let zero_point = t.zero_point;
    simd::pad_input(t, &pc.window, os, xp, 0, |x| {
        (i32::from(x) - zero_point) as i16
    });
    // Blocks of P pixels x G channel vectors: as many accumulators as the
    // registers hold.
    // SAFETY: `PackedConv<LANES>` is made only where AVX2 was detected
    // (`simd::Packed::new`).
    unsafe {
        match pc.vectors {
            1 => conv_blocks::<4, 1>(pc, t.shape.c, xp, out, os, q),
            2 => conv_blocks::<4, 2>(pc, t.shape.c, xp, out, os, q),
            3 => conv_blocks::<2, 3>(pc, t.shape.c, xp, out, os, q),
            _ => conv_blocks::<2, 4>(pc, t.shape.c, xp, out, os, q),
        }
    }
}

#[inline]
#[target_feature(enable = "avx2")]
fn conv_blocks<const P: usize, const G: usize>(
    pc: &PackedConv<LANES>,
    cin: usize,
    xp: &[i16],
    out: &mut [i8],
    os: Shape,
    q: OutQuant,
) {
    let (_, wp) = simd::padded_dims(&pc.window, os);
    let (lo, hi) = (_mm256_set1_epi32(q.min), _mm256_set1_epi32(q.max));
    let zp = _mm256_set1_epi32(q.zero_point);
    let dot = |base, v0| {
        simd::dot_block::<LANES, P, G, i16, __m256i>(
            pc,
            xp,
            base,
            wp * cin,
            v0,
            _mm256_setzero_si256(),
            |w| load(w),
            // SAFETY: `dot_block` passes a pointer to a pair inside `xp`.
            |at| _mm256_set1_epi32(unsafe { at.cast::<i32>().read_unaligned() }),
            |s, a, w| _mm256_add_epi32(s, _mm256_madd_epi16(a, w)),
        )
    };
    let finish = |a, r: &RequantV<LANES>, d: &mut [i8]| {
        let y = requantize(a, r, pc.left_shift);
        // The zero point wraps, as in finish_full.
        store(
            _mm256_max_epi32(_mm256_min_epi32(_mm256_add_epi32(y, zp), hi), lo),
            d,
        );
    };
    // A whole block in groups of 4 vectors (32 bytes): two saturating packs
    // (the clamp to [act_min, act_max] then on bytes), one permute, one store.
    let (lo8, hi8) = (_mm256_set1_epi8(q.min as i8), _mm256_set1_epi8(q.max as i8));
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let finish_block = |acc: &[[__m256i; G]; P], d: &mut [i8]| {
        if !(P * G).is_multiple_of(4) {
            return false; // 2 x 3 vectors: one at a time
        }
        // A whole block is one pass: its vectors are 0..G.
        let ys: [[__m256i; G]; P] = core::array::from_fn(|k| {
            core::array::from_fn(|g| {
                _mm256_add_epi32(requantize(acc[k][g], &pc.requant[g], pc.left_shift), zp)
            })
        });
        for (i, four) in ys.as_flattened().chunks_exact(4).enumerate() {
            let ab = _mm256_packs_epi32(four[0], four[1]);
            let cd = _mm256_packs_epi32(four[2], four[3]);
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
            let bytes = _mm256_min_epi8(_mm256_max_epi8(bytes, lo8), hi8);
            let chunk = &mut d[32 * i..][..32];
            // SAFETY: 32 bytes into `chunk`, which holds 32; unaligned store.
            unsafe { _mm256_storeu_si256(chunk.as_mut_ptr().cast(), bytes) };
        }
        true
    };
    simd::blocks::<LANES, P, G, __m256i>(pc, cin, out, os, dot, finish, finish_block);
}

/// Stores the low `min(8, d.len())` lanes of `y` (values in `[-128, 127]`) as i8.
#[inline]
#[target_feature(enable = "avx2")]
fn store(y: __m256i, d: &mut [i8]) {
    let w16 = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y));
    let b = _mm_packs_epi16(w16, w16);
    if d.len() >= LANES {
        // SAFETY: 8 bytes into `d`, which holds at least 8; unaligned store.
        unsafe { _mm_storel_epi64(d.as_mut_ptr().cast(), b) };
    } else {
        let mut tmp = [0i8; 16];
        // SAFETY: 8 bytes into a 16-byte array.
        unsafe { _mm_storel_epi64(tmp.as_mut_ptr().cast(), b) };
        for (d, &v) in d.iter_mut().zip(&tmp) {
            *d = v;
        }
    }
}

#[inline]
#[target_feature(enable = "avx2")]
fn load(v: &Lanes<LANES>) -> __m256i {
    // SAFETY: `Lanes<8>` holds 32 bytes, 64-byte aligned.
    unsafe { _mm256_load_si256(core::ptr::from_ref(v).cast()) }
}

/// [`super::requant::requantize`]`(acc + bias, multiplier, shift)` on 8 lanes;
/// `left_shift == false` promises that no lane has a left shift. Relies on
/// the plan's ranges: `multiplier >= 0` (so the one saturating case of srdhm,
/// `MIN * MIN`, cannot occur), `left` in `0..=30`, `right` in `0..=31`, and
/// `left == 0 || right == 0`.
#[inline]
#[target_feature(enable = "avx2")]
fn requantize(acc: __m256i, r: &RequantV<LANES>, left_shift: bool) -> __m256i {
    let mut x = _mm256_add_epi32(acc, load(&r.bias));
    if left_shift {
        x = _mm256_sllv_epi32(x, load(&r.left));
    }
    // srdhm: bits 31..=62 of x * m + 2^30, for even and odd lanes. The low 32
    // bits of a logical and an arithmetic 64-bit shift by 31 are the same.
    let nudge = _mm256_set1_epi64x(1 << 30);
    let even = _mm256_mul_epi32(x, load(&r.multiplier));
    let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(even, nudge));
    let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), load(&r.multiplier_odd));
    let odd = _mm256_slli_epi64::<1>(_mm256_add_epi64(odd, nudge));
    let y = _mm256_blend_epi32::<0b1010_1010>(even, odd);
    // rdbpot: (y >> e) + (remainder > (mask >> 1) + (y < 0)).
    let rem = _mm256_and_si256(y, load(&r.mask));
    let negy = _mm256_cmpgt_epi32(_mm256_setzero_si256(), y);
    let threshold = _mm256_sub_epi32(load(&r.half), negy);
    let up = _mm256_cmpgt_epi32(rem, threshold);
    _mm256_sub_epi32(_mm256_srav_epi32(y, load(&r.right)), up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::simd::tests::{check_requantize, check_requantize_edges};
    use proptest::prelude::*;

    fn lanes(x: &[i32; 8], m: &[i32; 8], shift: &[i32; 8]) -> [i32; 8] {
        let r = RequantV::new([0; 8], *m, *shift);
        let mut out = Lanes([0; 8]);
        // The fast form, where it applies, must agree with the full one.
        let left_shift = shift.iter().any(|&s| s > 0);
        // SAFETY: only called after AVX2 was detected.
        unsafe {
            let y = requantize(load(&Lanes(*x)), &r, left_shift);
            core::arch::x86_64::_mm256_store_si256(core::ptr::from_mut(&mut out).cast(), y);
        }
        out.0
    }

    proptest! {
        #[test]
        fn vector_requantize_is_scalar(
            x in prop::array::uniform8(any::<i32>()),
            m in prop::array::uniform8(0i32..=i32::MAX),
            shift in prop::array::uniform8(-31i32..=30),
        ) {
            prop_assume!(std::is_x86_feature_detected!("avx2"));
            check_requantize(lanes, &x, &m, &shift);
        }
    }

    #[test]
    fn vector_requantize_edges() {
        if std::is_x86_feature_detected!("avx2") {
            check_requantize_edges(lanes);
        }
    }
}
