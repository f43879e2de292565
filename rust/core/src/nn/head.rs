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
    // The index of the nearest center (the lower one on a tie) of the int8
    // value `q`: with the centers increasing, y is nearer c[k + 1] than c[k]
    // exactly when 2y > c[k] + c[k + 1], so the index counts those pairs.
    let level = |q: i32| -> usize {
        let v = i64::from(q) - i64::from(zp);
        // norm == 0 (an all-zero latent): y = 0.
        let m = ((v.unsigned_abs() << (f + 8)) + norm / 2)
            .checked_div(norm)
            .unwrap_or(0) as i64;
        let y = if v < 0 { -m } else { m };
        p.centers
            .windows(2)
            .map(|c| usize::from(2 * y > i64::from(c[0]) + i64::from(c[1])))
            .sum()
    };
    // `level` is nondecreasing in q (y is, and so the nearest center's index
    // is), so one table of the 256 int8 values, filled level by level from
    // binary searches for where each level ends, gives every symbol: at most
    // 8 divisions per boundary between levels, not one per value.
    let mut table = [0u8; 256];
    let mut start = 0;
    let last = p.centers.len().saturating_sub(1);
    for k in 0..=last {
        // The last level runs to the end of the table: no search.
        let (mut lo, mut hi) = if k == last {
            (table.len(), table.len())
        } else {
            (start, table.len())
        };
        while lo < hi {
            let mid = (lo + hi) / 2;
            if level(mid as i32 - 128) > k {
                hi = mid;
            } else {
                lo = mid + 1;
            }
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

    proptest! {
        #[test]
        fn head_is_its_formulas_value_by_value(
            x in prop::collection::vec(any::<i8>(), 1..300),
            zp in -128i32..=127,
            levels in prop::sample::select(std::vec![2usize, 4, 8, 16]),
            spread in 0u32..=24,
            seed in any::<u64>(),
            frac_bits in 0u32..=16,
            power_norm: bool,
            gray: bool,
        ) {
            // Strictly increasing centers around 0, some far apart, some adjacent.
            let mut centers: std::vec::Vec<i32> = (0..levels)
                .map(|k| ((seed.rotate_left(k as u32 * 7) % (1 << spread)) as i32) - (1 << spread) / 2)
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
