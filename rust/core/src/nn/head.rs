//! The head: optional integer power normalization, then the index of the
//! nearest center (ties to the lower index), optionally Gray-coded.

use crate::bits::gray_encode;

/// Floor of the square root.
pub fn isqrt(n: u64) -> u64 {
    // Bit-by-bit (no floats): result bits from the top.
    let mut rem = n;
    let mut root = 0u64;
    let mut bit = 1u64 << 62;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

/// Resolved head parameters.
pub(crate) struct HeadParams<'a> {
    pub centers: &'a [i32],
    pub frac_bits: u32,
    pub power_norm: bool,
    pub gray: bool,
}

/// Symbols of one latent (`x.len() == symbols.len()`, both NHWC order).
pub(crate) fn head(x: &[i8], zp: i32, p: &HeadParams<'_>, symbols: &mut [u8]) {
    let f = p.frac_bits;
    // y = v * 2^(F+8) / norm, with norm == 256 (no normalization) giving v * 2^F.
    let mut norm = 1u64 << 8;
    if p.power_norm {
        let sum: u64 = x
            .iter()
            .map(|&q| (i64::from(q) - i64::from(zp)).unsigned_abs().pow(2))
            .sum();
        norm = isqrt((sum << 16) / x.len().max(1) as u64);
    }
    for (s, &q) in symbols.iter_mut().zip(x) {
        let v = i64::from(q) - i64::from(zp);
        let y = if norm == 0 {
            0
        } else {
            let a = (v.unsigned_abs() << (f + 8)) + norm / 2;
            let m = (a / norm) as i64;
            if v < 0 {
                -m
            } else {
                m
            }
        };
        // Nearest center; strict `<` keeps the lower index on a tie.
        let mut best = 0usize;
        let mut best_d = u64::MAX;
        for (k, &c) in p.centers.iter().enumerate() {
            let d = (y - i64::from(c)).unsigned_abs();
            if d < best_d {
                best = k;
                best_d = d;
            }
        }
        *s = if p.gray {
            gray_encode(best as u8)
        } else {
            best as u8
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn isqrt_is_floor_sqrt(n: u64) {
            let r = isqrt(n);
            prop_assert!(u128::from(r) * u128::from(r) <= u128::from(n));
            prop_assert!(u128::from(r + 1) * u128::from(r + 1) > u128::from(n));
        }
    }

    #[test]
    fn ties_go_to_the_lower_center() {
        let p = HeadParams {
            centers: &[-2, 0, 2],
            frac_bits: 0,
            power_norm: false,
            gray: false,
        };
        let mut s = [9u8; 5];
        head(&[-1, 1, -3, 3, 0], 0, &p, &mut s);
        assert_eq!(s, [0, 1, 0, 2, 1]);
    }
}
