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

/// Whether 2y > s for y = round_half_away(v 2^(F+8) / norm) (0 when norm is
/// 0), without dividing: with t = floor(s / 2) + 1, 2y > s means y >= t, and
/// with y = ±floor(x / norm), x = |v| 2^(F+8) + floor(norm / 2), that is
/// x >= t norm, or x < (1 - t) norm for v < 0. For |v| <= 255, F <= 16,
/// norm <= 255 * 256 (a root mean square of such values) and s the sum of two
/// i32, every product fits i64.
fn above(v: i64, s: i64, norm: i64, f: u32) -> bool {
    let t = s.div_euclid(2) + 1;
    let x = (v.abs() << (f + 8)) + norm / 2;
    if norm == 0 {
        t <= 0 // an all-zero latent: y = 0
    } else if v >= 0 {
        x >= t * norm
    } else {
        x < (1 - t) * norm
    }
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
    let norm = norm as i64;
    // The nearest center (the lower one on a tie): with the centers
    // increasing, y is nearer c[k + 1] than c[k] exactly when
    // 2y > c[k] + c[k + 1], and y is nondecreasing in q. So one table of the
    // 256 int8 values, filled level by level from a binary search for where
    // each level ends, gives every symbol: 8 multiplications per boundary
    // between levels instead of a division per value.
    let mut table = [0u8; 256];
    let mut start = 0;
    for (k, &c) in p.centers.iter().enumerate() {
        // The last level runs to the end of the table: no search.
        let (mut lo, mut hi) = (start, table.len());
        if let Some(&next) = p.centers.get(k + 1) {
            let s = i64::from(c) + i64::from(next);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let v = i64::from(mid as i32 - 128) - i64::from(zp);
                if above(v, s, norm, f) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
        } else {
            lo = hi;
        }
        let symbol = if p.gray {
            gray_encode(k as u8)
        } else {
            k as u8
        };
        table[start..lo].fill(symbol);
        start = lo;
    }
    for (s, &q) in symbols.iter_mut().zip(x) {
        *s = table[usize::from(q as u8 ^ 0x80)];
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

    /// The head's formulas value by value (docs/model-format.md, "The head"):
    /// one division and a scan of every center per value.
    fn spec(x: &[i8], zp: i32, p: &HeadParams<'_>) -> std::vec::Vec<u8> {
        let v: std::vec::Vec<i64> = x.iter().map(|&q| i64::from(q) - i64::from(zp)).collect();
        let norm = if p.power_norm {
            let sum: u64 = v.iter().map(|v| v.unsigned_abs().pow(2)).sum();
            isqrt((sum << 16) / v.len() as u64)
        } else {
            256
        };
        v.iter()
            .map(|&v| {
                let a = (v.unsigned_abs() << (p.frac_bits + 8)) + norm / 2;
                let y = a.checked_div(norm).unwrap_or(0) as i64 * v.signum();
                let dist = |k: usize| (y - i64::from(p.centers[k])).unsigned_abs();
                let best =
                    (0..p.centers.len()).fold(0, |b, k| if dist(k) < dist(b) { k } else { b });
                if p.gray {
                    gray_encode(best as u8)
                } else {
                    best as u8
                }
            })
            .collect()
    }

    /// y by its division (the spec's formula).
    fn y(v: i64, norm: i64, f: u32) -> i64 {
        let a = (v.unsigned_abs() << (f + 8)) + norm.unsigned_abs() / 2;
        a.checked_div(norm.unsigned_abs()).unwrap_or(0) as i64 * v.signum()
    }

    proptest! {
        /// Near and at ties (s within 3 of 2y), on any norm.
        #[test]
        fn above_is_the_division_compared(
            v in -255i64..=255,
            f in 0u32..=16,
            norm in 0i64..=255 * 256,
            e in -3i64..=3,
        ) {
            let s = 2 * y(v, norm, f) + e;
            prop_assert_eq!(above(v, s, norm, f), 2 * y(v, norm, f) > s);
        }

        /// The same where the division is exact: with norm = |v| 2^(F+9) - 1,
        /// x = |v| 2^(F+8) + floor(norm / 2) is norm itself.
        #[test]
        fn above_is_the_division_compared_when_exact(
            (f, magnitude) in (0u32..=6).prop_flat_map(|f| (Just(f), 1i64..=65_281 >> (f + 9))),
            negative: bool,
            e in -3i64..=3,
        ) {
            let v = if negative { -magnitude } else { magnitude };
            let norm = (magnitude << (f + 9)) - 1;
            prop_assert_eq!(y(v, norm, f), v.signum());
            let s = 2 * y(v, norm, f) + e;
            prop_assert_eq!(above(v, s, norm, f), 2 * y(v, norm, f) > s);
        }
    }

    proptest! {
        #[test]
        fn head_is_its_formulas_value_by_value(
            x in prop::collection::vec(any::<i8>(), 1..300),
            zp in -128i32..=127,
            levels in prop::sample::select(std::vec![2usize, 4, 8, 16]),
            spread in 0u32..=31,
            seed in any::<u64>(),
            frac_bits in 0u32..=16,
            power_norm: bool,
            gray: bool,
        ) {
            // Strictly increasing centers around 0, some far apart, some adjacent.
            let mut centers: std::vec::Vec<i32> = (0..levels)
                .map(|k| {
                    let r = (seed.rotate_left(k as u32 * 7) % (1u64 << spread)) as i64;
                    (r - (1i64 << spread) / 2) as i32
                })
                .collect();
            centers.sort_unstable();
            for k in 1..levels {
                centers[k] = centers[k].max(centers[k - 1] + 1);
            }
            let p = HeadParams { centers: &centers, frac_bits, power_norm, gray };
            let mut got = std::vec![0u8; x.len()];
            head(&x, zp, &p, &mut got);
            prop_assert_eq!(got, spec(&x, zp, &p));
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
