//! x86-64 AVX-512 VNNI conv2d: [`super::simd`]'s scheme on 16 lanes, where
//! one `vpdpbusd` multiplies 4 unsigned input bytes by 4 signed weights per
//! lane and adds the four products to the lane's sum: 64 multiply-
//! accumulates per instruction, against AVX2's 16 per `vpmaddwd` (plus an
//! add).
//!
//! `vpdpbusd` takes unsigned bytes, and `x - zero_point` spans [-255, 255].
//! So the padded copy holds `u = x + 128` (padded positions: `zero_point +
//! 128`, where `x - zero_point` is 0, as in the im2col path), and
//! `sum (x - zp) * w = sum u * w - (128 + zp) * sum w`: the second term, one
//! constant per output channel, is folded into the bias when packing. i32
//! sums wrap, so the result is exact.

use core::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_add_epi64, _mm512_and_si512, _mm512_castsi512_si128,
    _mm512_cmpgt_epi32_mask, _mm512_cmplt_epi32_mask, _mm512_dpbusd_epi32, _mm512_load_si512,
    _mm512_mask_add_epi32, _mm512_mask_blend_epi32, _mm512_max_epi32, _mm512_max_epi8,
    _mm512_min_epi32, _mm512_min_epi8, _mm512_mul_epi32, _mm512_packs_epi16, _mm512_packs_epi32,
    _mm512_permutexvar_epi32, _mm512_set1_epi32, _mm512_set1_epi64, _mm512_set1_epi8,
    _mm512_set_epi32, _mm512_setzero_si512, _mm512_slli_epi64, _mm512_sllv_epi32,
    _mm512_srav_epi32, _mm512_srli_epi64, _mm512_storeu_si512, _mm_storeu_si128,
};

use super::conv::{ConvParams, Out, OutQuant, Tensor};
use super::model::{Shape, Window};
use super::simd::{self, Lanes, PackedConv, RequantV};

/// Output channels per vector.
pub(super) const LANES: usize = 16;

/// Values per group: 4 bytes.
const GROUP: usize = 4;

/// Whether this CPU runs the kernel.
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vnni")
}

/// i16 work (two bytes each) the layer needs: its padded input.
pub(super) fn work_len(win: &Window, s: Shape, os: Shape) -> usize {
    simd::padded_len(win, s, os, GROUP).div_ceil(2)
}

/// Packs conv layer `p` reading `cin` channels at zero point `zero_point`
/// into `cout` channels: weight quads as the 4 bytes of a lane, and
/// `(128 + zero_point) * sum of the weights` taken off each bias.
pub(super) fn pack(
    p: &ConvParams<'_>,
    cin: usize,
    zero_point: i32,
    cout: usize,
) -> PackedConv<LANES> {
    let [kh, kw] = p.window.kernel;
    let per_channel = kh * kw * cin;
    let offset = 128 + zero_point;
    let bias = |o: usize| {
        let w = &p.weight[o * per_channel..][..per_channel];
        let sum: i32 = w.iter().map(|&x| i32::from(x)).sum();
        p.bias[o].wrapping_sub(offset.wrapping_mul(sum))
    };
    let quad =
        |g: &[i8]| i32::from_le_bytes(core::array::from_fn(|k| g.get(k).map_or(0, |&x| x as u8)));
    simd::pack(p, cin, cout, GROUP, quad, bias)
}

/// conv2d of the packed layer `pc`; `work` holds at least [`work_len`] i16.
pub(super) fn conv2d(pc: &PackedConv<LANES>, t: Tensor<'_>, out: Out<'_>, work: &mut [i16]) {
    let (os, q, out) = (out.shape, out.q, out.data);
    let len = simd::padded_len(&pc.window, t.shape, os, GROUP);
    // SAFETY: the bytes of `work` (u8 has no alignment or validity
    // requirement); the slice below checks there are `len` of them.
    let bytes =
        unsafe { core::slice::from_raw_parts_mut(work.as_mut_ptr().cast::<u8>(), 2 * work.len()) };
    let xp = &mut bytes[..len];
    // `zero_point` is in [-128, 127] (validated), so this is a u8.
    let fill = (t.zero_point + 128) as u8;
    simd::pad_input(t, &pc.window, os, xp, fill, |x| (x as u8) ^ 0x80);
    // Blocks of P pixels x G channel vectors, sized by measurement on a Zen 5
    // (one vector: 4 pixels beat 2, 3, 5, 6, 8 and 12; two: 6 beat 3, 4, 8).
    // SAFETY: `PackedConv<LANES>` is made only after `available()`
    // (`simd::Packed::new`).
    unsafe {
        match pc.vectors {
            1 => conv_blocks::<4, 1>(pc, t.shape.c, xp, out, os, q),
            2 => conv_blocks::<6, 2>(pc, t.shape.c, xp, out, os, q),
            3 => conv_blocks::<4, 3>(pc, t.shape.c, xp, out, os, q),
            _ => conv_blocks::<4, 4>(pc, t.shape.c, xp, out, os, q),
        }
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn conv_blocks<const P: usize, const G: usize>(
    pc: &PackedConv<LANES>,
    cin: usize,
    xp: &[u8],
    out: &mut [i8],
    os: Shape,
    q: OutQuant,
) {
    let (_, wp) = simd::padded_dims(&pc.window, os);
    let (lo, hi) = (_mm512_set1_epi32(q.min), _mm512_set1_epi32(q.max));
    let zp = _mm512_set1_epi32(q.zero_point);
    let dot = |base, v0| {
        simd::dot_block::<LANES, P, G, u8, __m512i>(
            pc,
            xp,
            base,
            wp * cin,
            v0,
            _mm512_setzero_si512(),
            |w| load(w),
            // SAFETY: `dot_block` passes a pointer to a quad inside `xp`.
            |at| _mm512_set1_epi32(unsafe { at.cast::<i32>().read_unaligned() }),
            |s, a, w| _mm512_dpbusd_epi32(s, a, w),
        )
    };
    let finish = |a, r: &RequantV<LANES>, d: &mut [i8]| {
        let y = requantize(a, r, pc.left_shift);
        // The zero point wraps, as in finish_full.
        store(
            _mm512_max_epi32(_mm512_min_epi32(_mm512_add_epi32(y, zp), hi), lo),
            d,
        );
    };
    // A whole block in groups of 4 vectors (64 bytes): two packs narrow them
    // with saturation (so the clamp to [act_min, act_max] happens once, on
    // bytes), one permute puts them in order, one store writes them.
    let (lo8, hi8) = (_mm512_set1_epi8(q.min as i8), _mm512_set1_epi8(q.max as i8));
    let order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    let finish_block = |acc: &[[__m512i; G]; P], d: &mut [i8]| {
        const {
            assert!(
                (P * G).is_multiple_of(4),
                "whole blocks go in groups of 4 vectors"
            )
        };
        // A whole block is one pass: its vectors are 0..G.
        let ys: [[__m512i; G]; P] = core::array::from_fn(|k| {
            core::array::from_fn(|g| {
                _mm512_add_epi32(requantize(acc[k][g], &pc.requant[g], pc.left_shift), zp)
            })
        });
        let flat = ys.as_flattened();
        for (i, four) in flat.chunks_exact(4).enumerate() {
            let ab = _mm512_packs_epi32(four[0], four[1]);
            let cd = _mm512_packs_epi32(four[2], four[3]);
            let bytes = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(ab, cd));
            let bytes = _mm512_min_epi8(_mm512_max_epi8(bytes, lo8), hi8);
            let chunk = &mut d[64 * i..][..64];
            // SAFETY: 64 bytes into `chunk`, which holds 64; unaligned store.
            unsafe { _mm512_storeu_si512(chunk.as_mut_ptr().cast(), bytes) };
        }
        true
    };
    simd::blocks::<LANES, P, G, __m512i>(pc, cin, out, os, dot, finish, finish_block);
}

/// Stores the low `min(16, d.len())` lanes of `y` (values in `[-128, 127]`)
/// as i8.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn store(y: __m512i, d: &mut [i8]) {
    // Narrow with packs and one permute: the values fit, and a narrowing
    // store (`vpmovdb` to memory) is slow on AMD's cores.
    let w = _mm512_packs_epi32(y, y);
    let b = _mm512_packs_epi16(w, w);
    let b = _mm512_castsi512_si128(_mm512_permutexvar_epi32(
        _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0),
        b,
    ));
    if d.len() >= LANES {
        // SAFETY: 16 bytes into `d`, which holds at least 16; unaligned store.
        unsafe { _mm_storeu_si128(d.as_mut_ptr().cast(), b) };
    } else {
        // A short last vector (masked stores are slow on AMD's cores too).
        let mut tmp = [0i8; LANES];
        // SAFETY: 16 bytes into a 16-byte array.
        unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), b) };
        d.copy_from_slice(&tmp[..d.len()]);
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn load(v: &Lanes<LANES>) -> __m512i {
    // SAFETY: `Lanes<16>` is 64 bytes, 64-byte aligned.
    unsafe { _mm512_load_si512(core::ptr::from_ref(v).cast()) }
}

/// [`super::requant::requantize`]`(acc + bias, multiplier, shift)` on 16
/// lanes, as the AVX2 kernel's (same ranges relied on).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn requantize(acc: __m512i, r: &RequantV<LANES>, left_shift: bool) -> __m512i {
    let mut x = _mm512_add_epi32(acc, load(&r.bias));
    if left_shift {
        x = _mm512_sllv_epi32(x, load(&r.left));
    }
    // srdhm: bits 31..=62 of x * m + 2^30, for even and odd lanes.
    let nudge = _mm512_set1_epi64(1 << 30);
    let even = _mm512_mul_epi32(x, load(&r.multiplier));
    let even = _mm512_srli_epi64::<31>(_mm512_add_epi64(even, nudge));
    let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), load(&r.multiplier_odd));
    let odd = _mm512_slli_epi64::<1>(_mm512_add_epi64(odd, nudge));
    let y = _mm512_mask_blend_epi32(0b1010_1010_1010_1010, even, odd);
    // rdbpot: (y >> e) + (remainder > (mask >> 1) + (y < 0)).
    let one = _mm512_set1_epi32(1);
    let rem = _mm512_and_si512(y, load(&r.mask));
    let half = load(&r.half);
    let threshold = _mm512_mask_add_epi32(
        half,
        _mm512_cmplt_epi32_mask(y, _mm512_setzero_si512()),
        half,
        one,
    );
    let up = _mm512_cmpgt_epi32_mask(rem, threshold);
    let shifted = _mm512_srav_epi32(y, load(&r.right));
    _mm512_mask_add_epi32(shifted, up, shifted, one)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::simd::tests::{check_requantize, check_requantize_edges};
    use proptest::prelude::*;

    fn lanes(x: &[i32; 16], m: &[i32; 16], shift: &[i32; 16]) -> [i32; 16] {
        let r = RequantV::new([0; 16], *m, *shift);
        let mut out = Lanes([0; 16]);
        // The fast form, where it applies, must agree with the full one.
        let left_shift = shift.iter().any(|&s| s > 0);
        // SAFETY: only called after `available()`.
        unsafe {
            let y = requantize(load(&Lanes(*x)), &r, left_shift);
            core::arch::x86_64::_mm512_storeu_si512(core::ptr::from_mut(&mut out).cast(), y);
        }
        out.0
    }

    proptest! {
        #[test]
        fn vector_requantize_is_scalar(
            x in prop::array::uniform16(any::<i32>()),
            m in prop::array::uniform16(0i32..=i32::MAX),
            shift in prop::array::uniform16(-31i32..=30),
        ) {
            prop_assume!(available());
            check_requantize(lanes, &x, &m, &shift);
        }
    }

    #[test]
    fn vector_requantize_edges() {
        if available() {
            check_requantize_edges(lanes);
        }
    }

    /// The padded copy's positions outside the input hold `zero_point + 128`,
    /// and the folded bias makes them contribute nothing.
    #[test]
    fn padded_positions_contribute_nothing() {
        if !available() {
            return;
        }
        let window = Window {
            kernel: [3, 3],
            stride: [1, 1],
            padding: crate::nn::Padding::symmetric(1, 1),
        };
        let weight = [1i8; 9];
        let p = ConvParams {
            window,
            weight: &weight,
            bias: &[0],
            multiplier: &[i32::MAX],
            shift: &[0],
        };
        let s = Shape { h: 1, w: 1, c: 1 };
        let pc = pack(&p, 1, -7, 1);
        let mut work = std::vec![0i16; work_len(&window, s, s)];
        let mut y = [0i8];
        let q = OutQuant {
            zero_point: 0,
            min: -128,
            max: 127,
        };
        conv2d(
            &pc,
            Tensor {
                data: &[-2],
                shape: s,
                zero_point: -7,
            },
            Out {
                data: &mut y,
                shape: s,
                q,
            },
            &mut work,
        );
        // One valid position: (-2 - -7) * 1, times ~1.
        assert_eq!(y, [5]);
    }
}
