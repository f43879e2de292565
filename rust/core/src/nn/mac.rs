//! The multiply-accumulate core of the im2col conv2d
//! ([`super::Kernel::Im2col`]), kept in one small place so it can be measured
//! and tuned per target. Both operands are i16: activations with the input zero
//! point already subtracted (im2col rows, `[-255, 255]`) and weights widened
//! from i8. Sums wrap modulo 2^32 (as SMLAD does), so every path and every
//! summation order gives identical results.

/// The conv row length for a window of `k` values on this target: rows are
/// zero-padded to a multiple of the SIMD width (8 `i16` for SSE2), so the x86
/// loop has no scalar tail; zeros add nothing, so results do not change.
/// Never more than [`max_padded`]`(k)`, which sizes the work buffer the same on
/// every target (the firmware's plan is computed on the host).
pub const fn padded(k: usize) -> usize {
    if cfg!(target_arch = "x86_64") {
        k.next_multiple_of(8)
    } else {
        k
    }
}

/// The largest [`padded`] length of any target.
pub const fn max_padded(k: usize) -> usize {
    k.next_multiple_of(8)
}

/// Four dot products of two activation rows with two weight rows:
/// `[a0·w0, a0·w1, a1·w0, a1·w1]` over the length of the shortest slice.
#[inline]
pub fn dot_2x2(a0: &[i16], a1: &[i16], w0: &[i16], w1: &[i16]) -> [i32; 4] {
    #[cfg(target_arch = "arm")]
    {
        arm::dot_2x2(a0, a1, w0, w1)
    }
    #[cfg(target_arch = "x86_64")]
    {
        x86::dot_2x2(a0, a1, w0, w1)
    }
    #[cfg(not(any(target_arch = "arm", target_arch = "x86_64")))]
    {
        portable_dot_2x2(a0, a1, w0, w1)
    }
}

fn common_len(a0: &[i16], a1: &[i16], w0: &[i16], w1: &[i16]) -> usize {
    a0.len().min(a1.len()).min(w0.len()).min(w1.len())
}

/// Adds the products of elements `from..n` to `acc` (the tail of every path).
#[inline(always)]
fn scalar_2x2(
    a0: &[i16],
    a1: &[i16],
    w0: &[i16],
    w1: &[i16],
    from: usize,
    mut acc: [i32; 4],
) -> [i32; 4] {
    let n = common_len(a0, a1, w0, w1);
    for i in from..n {
        let (x0, x1) = (i32::from(a0[i]), i32::from(a1[i]));
        let (v0, v1) = (i32::from(w0[i]), i32::from(w1[i]));
        acc[0] = acc[0].wrapping_add(x0 * v0);
        acc[1] = acc[1].wrapping_add(x0 * v1);
        acc[2] = acc[2].wrapping_add(x1 * v0);
        acc[3] = acc[3].wrapping_add(x1 * v1);
    }
    acc
}

/// The scalar form (any target; the reference the SIMD forms are tested against).
pub fn portable_dot_2x2(a0: &[i16], a1: &[i16], w0: &[i16], w1: &[i16]) -> [i32; 4] {
    scalar_2x2(a0, a1, w0, w1, 0, [0; 4])
}

/// x86-64: SSE2 (part of the x86-64 baseline) `pmaddwd`, 8 pairs per
/// instruction: 4 loads feed 32 MACs.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_loadu_si128, _mm_madd_epi16, _mm_setzero_si128,
        _mm_storeu_si128, _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi32,
        _mm_unpacklo_epi64,
    };

    #[inline]
    pub fn dot_2x2(a0: &[i16], a1: &[i16], w0: &[i16], w1: &[i16]) -> [i32; 4] {
        let n = super::common_len(a0, a1, w0, w1);
        let body = n - n % 8;
        let mut acc = [0i32; 4];
        // SAFETY: SSE2 is always available on x86_64; every load reads 8 i16
        // at `i + 8 <= body <= len` of its slice (unaligned loads).
        unsafe {
            let load = |s: &[i16], i: usize| _mm_loadu_si128(s.as_ptr().add(i).cast::<__m128i>());
            let mut s = [_mm_setzero_si128(); 4];
            let mut i = 0;
            while i < body {
                let (x0, x1, v0, v1) = (load(a0, i), load(a1, i), load(w0, i), load(w1, i));
                s[0] = _mm_add_epi32(s[0], _mm_madd_epi16(x0, v0));
                s[1] = _mm_add_epi32(s[1], _mm_madd_epi16(x0, v1));
                s[2] = _mm_add_epi32(s[2], _mm_madd_epi16(x1, v0));
                s[3] = _mm_add_epi32(s[3], _mm_madd_epi16(x1, v1));
                i += 8;
            }
            // Transpose-add the four accumulators into one [S0, S1, S2, S3].
            let t0 = _mm_add_epi32(
                _mm_unpacklo_epi32(s[0], s[1]),
                _mm_unpackhi_epi32(s[0], s[1]),
            );
            let t1 = _mm_add_epi32(
                _mm_unpacklo_epi32(s[2], s[3]),
                _mm_unpackhi_epi32(s[2], s[3]),
            );
            let sum = _mm_add_epi32(_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1));
            _mm_storeu_si128(acc.as_mut_ptr().cast::<__m128i>(), sum);
        }
        super::scalar_2x2(a0, a1, w0, w1, body, acc)
    }
}

/// Cortex-M4/M7 (ARMv7E-M DSP extension): SMLAD does two 16x16 MACs per
/// instruction on packed halfword pairs; 4 word loads feed 8 MACs.
#[cfg(target_arch = "arm")]
mod arm {
    use crate::nn::asm::dsp_asm;
    #[inline]
    pub fn dot_2x2(a0: &[i16], a1: &[i16], w0: &[i16], w1: &[i16]) -> [i32; 4] {
        let n = super::common_len(a0, a1, w0, w1);
        let body = n - n % 4;
        let mut acc = [0i32; 4];
        if body > 0 {
            // SAFETY: reads `body` values (4 per step, `body % 4 == 0`,
            // `body > 0`) from each of the four slices, which hold at least
            // `n >= body`; word loads from halfword-aligned addresses are
            // allowed on ARMv7E-M (`ldr`). Only the named registers and the
            // flags change. Hand-scheduled because LLVM spills the
            // accumulators of this loop.
            unsafe {
                let end = a0.as_ptr().add(body);
                // One pair of elements of every row: 4 word loads, 8 MACs.
                macro_rules! pair_step {
                    () => {
                        concat!(
                            "ldr {x0}, [{p0}], #4\n",
                            "ldr {x1}, [{p1}], #4\n",
                            "ldr {v}, [{q0}], #4\n",
                            "smlad {s00}, {x0}, {v}, {s00}\n",
                            "smlad {s10}, {x1}, {v}, {s10}\n",
                            "ldr {v}, [{q1}], #4\n",
                            "smlad {s01}, {x0}, {v}, {s01}\n",
                            "smlad {s11}, {x1}, {v}, {s11}\n",
                        )
                    };
                }
                dsp_asm!(
                    [
                        "2:",
                        pair_step!(),
                        pair_step!(),
                        "cmp {p0}, {end}",
                        "bne 2b",
                    ],
                    [
                        p0 = inout(reg) a0.as_ptr() => _,
                        p1 = inout(reg) a1.as_ptr() => _,
                        q0 = inout(reg) w0.as_ptr() => _,
                        q1 = inout(reg) w1.as_ptr() => _,
                        end = in(reg) end,
                        s00 = inout(reg) acc[0],
                        s01 = inout(reg) acc[1],
                        s10 = inout(reg) acc[2],
                        s11 = inout(reg) acc[3],
                    ],
                    scratch(x0, x1, v), readonly,
                );
            }
        }
        super::scalar_2x2(a0, a1, w0, w1, body, acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn dispatch_matches_scalar(
            rows in (0usize..80).prop_flat_map(|n| prop::collection::vec(
                (-255i16..=255, -255i16..=255, -128i16..=127, -128i16..=127), n)),
        ) {
            let a0: Vec<i16> = rows.iter().map(|r| r.0).collect();
            let a1: Vec<i16> = rows.iter().map(|r| r.1).collect();
            let w0: Vec<i16> = rows.iter().map(|r| r.2).collect();
            let w1: Vec<i16> = rows.iter().map(|r| r.3).collect();
            let want = |a: &[i16], w: &[i16]| {
                a.iter().zip(w).map(|(&x, &v)| i64::from(x) * i64::from(v)).sum::<i64>() as i32
            };
            let got = dot_2x2(&a0, &a1, &w0, &w1);
            prop_assert_eq!(got, portable_dot_2x2(&a0, &a1, &w0, &w1));
            prop_assert_eq!(got, [want(&a0, &w0), want(&a0, &w1), want(&a1, &w0), want(&a1, &w1)]);
        }
    }
}
