//! Fixed-point requantization in the TFLite / CMSIS-NN (gemmlowp) convention.
//! The formulas are specified in `docs/model-format.md`, "Requantization".

/// Saturating rounding doubling high multiply: `round(a * b / 2^31)` with the
/// gemmlowp nudge; the single overflowing case `MIN * MIN` saturates.
///
/// gemmlowp writes it as the truncating division `(p + nudge) / 2^31` with
/// `nudge = 2^30` for `p >= 0` and `1 - 2^30` for `p < 0`. For `p < 0`
/// truncation is `floor((p + 1 - 2^30 + 2^31 - 1) / 2^31)`, so both cases are
/// the single floor `(p + 2^30) >> 31`: a 64-bit multiply, add and shift
/// (`smull`, `adds`/`adc`, two shifts on Cortex-M), no sign branch.
#[inline]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let p = i64::from(a) * i64::from(b);
    // Fits: |p| <= 2^62 - 2^31 outside the saturated case.
    ((p + (1 << 30)) >> 31) as i32
}

/// Rounding divide by `2^exponent` (`0..=31`), ties away from zero.
#[inline]
pub fn rdbpot(x: i32, exponent: u32) -> i32 {
    let exponent = exponent.min(31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `x * multiplier * 2^(shift - 31)`, rounded: a left shift for `shift > 0`
/// that wraps in 32 bits, [`srdhm`] by the Q31 `multiplier`, then [`rdbpot`]
/// for `shift < 0`. The model loader keeps `multiplier >= 0` and `shift` in
/// `-31..=30`.
#[inline]
pub fn requantize(x: i32, multiplier: i32, shift: i32) -> i32 {
    // The wrap is TFLite's and CMSIS-NN's `x * (1 << shift)` in int32, so a
    // layer that overflows there gives the same bits here (docs/model-format.md).
    let x1 = if shift > 0 {
        x.wrapping_mul(1 << shift.min(30))
    } else {
        x
    };
    rdbpot(srdhm(x1, multiplier), (-shift).clamp(0, 31) as u32)
}

/// [`requantize`] for `x` in `[-2^30, 2^30)`, `multiplier >= 0` and a shift
/// of `-e <= 0`, in the short form the kernels' inner loops use: the doubling
/// high multiply is SMMULR of `2x` (one instruction on ARMv7E-M; `2x` cannot
/// overflow in that range) and the rounding shift one add of `2^(e-1)`,
/// minus 1 below zero (the result stays far from overflow).
#[inline(always)]
pub fn requantize_short(x: i32, multiplier: i32, e: u32) -> i32 {
    Short::new(multiplier, e).apply(x)
}

/// The constants of [`requantize_short`] for one channel, computed once.
#[derive(Clone, Copy, Debug)]
pub struct Short {
    multiplier: i32,
    e: u32,
    half: i32,
    /// -1 where `e > 0` (round ties away from zero below zero), else 0.
    sign: i32,
}

impl Short {
    #[inline(always)]
    pub fn new(multiplier: i32, e: u32) -> Self {
        let e = e.min(31);
        Self {
            multiplier,
            e,
            half: ((1u32 << e) >> 1) as i32,
            sign: -i32::from(e > 0),
        }
    }

    /// [`requantize_short`] of `x` (no branch).
    #[inline(always)]
    pub fn apply(self, x: i32) -> i32 {
        let y = smmulr(x << 1, self.multiplier);
        (y + self.half + ((y >> 31) & self.sign)) >> self.e
    }
}

/// [`requantize`] for `x` in `[-2^30, 2^30)`, `multiplier >= 0` and a shift
/// of `-31..=-1`: [`requantize_short`] with its rounding for `e >= 1` in two
/// adds, `(y + 2^(e-1) + (y >> 31)) >> e` (`e - 1 = !shift`), the form the
/// conv kernels inline per output.
#[inline(always)]
pub fn requantize_short_neg(x: i32, multiplier: i32, shift: i32) -> i32 {
    let y = smmulr(x << 1, multiplier);
    (y + (1 << (!shift & 31)) + (y >> 31)) >> (shift.wrapping_neg() & 31)
}

/// `round(a * b / 2^32)`, ties up: `(a * b + 2^31) >> 32` (ARM's SMMULR).
#[inline(always)]
pub fn smmulr(a: i32, b: i32) -> i32 {
    #[cfg(target_arch = "arm")]
    {
        let r: i32;
        // SAFETY: one register-only instruction.
        unsafe {
            core::arch::asm!("smmulr {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a,
                b = in(reg) b, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(target_arch = "arm"))]
    {
        ((i64::from(a) * i64::from(b) + (1 << 31)) >> 32) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        assert_eq!(requantize(5, 1 << 30, 0), 3);
        assert_eq!(requantize(-5, 1 << 30, 0), -2);
        assert_eq!(requantize(5, i32::MAX, -1), 3);
        assert_eq!(requantize(-5, i32::MAX, -1), -3);
        assert_eq!(requantize(i32::MAX, i32::MAX, -31), 1);
        assert_eq!(requantize(i32::MIN, i32::MAX, -31), -1);
        assert_eq!(requantize(1 << 30, i32::MAX, -31), 1);
        assert_eq!(requantize((1 << 30) - 1, i32::MAX, -31), 0);
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(requantize(i32::MAX, i32::MAX, 1), -2);
        assert_eq!(requantize(1 << 29, i32::MAX, 2), i32::MIN + 1);
        assert_eq!(requantize(1 << 29, i32::MAX, 3), 0);
        assert_eq!(requantize(-(1 << 30), 1 << 30, 30), 0);
        assert_eq!(requantize(-1, 1 << 30, 30), -(1 << 29));
        assert_eq!(requantize(7, 0, 0), 0);
    }

    /// The spec's definition, step by step in i64 (docs/model-format.md).
    fn spec_requantize(x: i32, m: i32, shift: i32) -> i32 {
        let left = shift.clamp(0, 30) as u32;
        let x1 = (i64::from(x) << left) as i32; // keeps the low 32 bits: wraps
        rdbpot(srdhm(x1, m), (-shift).clamp(0, 31) as u32)
    }

    proptest! {
        #[test]
        fn matches_the_spec(x: i32, m: i32, shift in -40i32..40) {
            prop_assert_eq!(requantize(x, m, shift), spec_requantize(x, m, shift));
        }

        // Exact rational check: the result is within one half of x*M*2^(s-31),
        // plus the one-ulp nudge of srdhm before the shift.
        #[test]
        fn close_to_exact(x in -(1i32 << 24)..(1 << 24), m in 0i32..=i32::MAX, s in -31i32..=0) {
            let exact = x as f64 * m as f64 * 2f64.powi(s - 31);
            let got = requantize(x, m, s) as f64;
            prop_assert!((got - exact).abs() <= 0.5 + 2f64.powi(s) + 1e-9);
        }

        // The gemmlowp definition, written out: nudge by sign, truncating division.
        #[test]
        fn srdhm_is_gemmlowps(a: i32, b: i32) {
            let p = i128::from(a) * i128::from(b);
            let nudge = if p >= 0 { 1i128 << 30 } else { 1 - (1i128 << 30) };
            let want = ((p + nudge) / (1i128 << 31)).clamp(i32::MIN.into(), i32::MAX.into());
            prop_assert_eq!(i128::from(srdhm(a, b)), want);
        }

        #[test]
        fn short_form_is_requantize(
            x in -(1i32 << 30)..(1 << 30), m in 0i32..=i32::MAX, e in 0u32..=31,
        ) {
            prop_assert_eq!(requantize_short(x, m, e), requantize(x, m, -(e as i32)));
        }

        #[test]
        fn short_neg_form_is_requantize(
            x in -(1i32 << 30)..(1 << 30), m in 0i32..=i32::MAX, shift in -31i32..=-1,
        ) {
            prop_assert_eq!(requantize_short_neg(x, m, shift), requantize(x, m, shift));
        }

        #[test]
        fn short_form_edges(
            x in prop::sample::select(vec![-(1i32 << 30), -(1 << 30) + 1, -1, 0, 1, (1 << 30) - 1]),
            m in prop::sample::select(vec![0i32, 1, 1 << 30, i32::MAX]), e in 0u32..=31,
        ) {
            prop_assert_eq!(requantize_short(x, m, e), requantize(x, m, -(e as i32)));
            if e > 0 {
                prop_assert_eq!(requantize_short_neg(x, m, -(e as i32)), requantize(x, m, -(e as i32)));
            }
        }

        #[test]
        fn rdbpot_is_round_half_away(x: i32, e in 0u32..=31) {
            let q = x as f64 / 2f64.powi(e as i32);
            let want = q.abs().round().copysign(q);
            prop_assert_eq!(rdbpot(x, e) as f64, if want == 0.0 { 0.0 } else { want });
        }
    }
}
