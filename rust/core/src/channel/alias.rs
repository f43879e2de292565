//! Bernoulli(p) masks four bits at a time, by Walker's alias method over the
//! 16 patterns of a nibble.
//!
//! A nibble pattern with `k` ones has probability `p^k (1-p)^(4-k)`. Walker's
//! method draws it as: a uniform column `i` (4 random bits), then pattern `i`
//! if a uniform `U < F_i`, else the column's alias `A_i`. `F_i` is kept as a
//! 64-bit binary fraction and `U` is compared 12 bits first: only when those
//! tie with `F_i`'s (probability 1/4096) are 52 more bits of `U` drawn, so
//! the comparison is exact for the stored `F_i`, at ~16 random bits per four
//! output bits (the bit-sliced sampler it replaces used ~7 per bit).
//!
//! The table is built in `f64` from `p`: the patterns' probabilities are
//! exact up to `f64` rounding (relative error ~1e-15) and 2^-64 per column.
//!
//! At p = 1/2 every column keeps its pattern and a mask is one draw `x`
//! (byte `k` of the mask is byte `k` of `x` with its nibbles swapped).
//! Otherwise a 64-bit mask takes four draws `x, y, z, w`, then one per tie: byte `k`
//! of the mask (little-endian) is `(P(lo) << 4) | P(hi)`, where `lo`/`hi`
//! are the low/high nibble of byte `k` of `x` (the columns); the first 12
//! bits of `lo`'s `U` are byte `k` of `y` then the low nibble of byte `k` of
//! `w`, and `hi`'s are byte `k` of `z` then the high nibble of byte `k` of
//! `w`; ties draw in the order of the low nibbles' bytes 0..8, then the high
//! nibbles'. This layout is what the vector kernels compute for eight
//! (AVX-512) or four (AVX2) chunks at once (`channel/wide.rs`); all give
//! the same bits.
use super::rng::ChannelRng;
use rand_core::Rng;

/// The alias table of the 16 nibble patterns for one p.
#[derive(Debug, Clone, Copy)]
pub struct NibbleAlias {
    /// First 8 bits of `F_i` (column `i` keeps its own pattern when `U < F_i`).
    pub(crate) first: [u8; 16],
    /// The next 4 bits of `F_i`.
    pub(crate) second: [u8; 16],
    /// The last 52 bits of `F_i`.
    pub(crate) rest: [u64; 16],
    /// The alias pattern of each column.
    pub(crate) alias: [u8; 16],
    /// Every column keeps its own pattern (p = 1/2): only `x` is drawn.
    pub(crate) uniform: bool,
}

impl NibbleAlias {
    /// `p` must lie in [0, 1] (checked by the callers).
    pub fn new(p: f64) -> Self {
        let q = 1.0 - p;
        // Column weights scaled so that a fair column has weight 1.
        // One weight per number of ones (the same operations for every
        // pattern with it, so computed once: a table per frame is cheap).
        let by_ones: [f64; 5] = core::array::from_fn(|k| {
            let k = k as i32;
            16.0 * libm::pow(p, f64::from(k)) * libm::pow(q, f64::from(4 - k))
        });
        let mut w: [f64; 16] = core::array::from_fn(|i| by_ones[(i as u32).count_ones() as usize]);
        let mut keep = [1.0f64; 16];
        let mut alias: [u8; 16] = core::array::from_fn(|i| i as u8);
        // Vose's construction: pair each light column with a heavy one.
        let mut small = [0usize; 16];
        let mut large = [0usize; 16];
        let (mut ns, mut nl) = (0, 0);
        for (i, &wi) in w.iter().enumerate() {
            if wi < 1.0 {
                small[ns] = i;
                ns += 1;
            } else {
                large[nl] = i;
                nl += 1;
            }
        }
        while ns > 0 && nl > 0 {
            ns -= 1;
            let s = small[ns];
            let l = large[nl - 1];
            keep[s] = w[s];
            alias[s] = l as u8;
            w[l] -= 1.0 - w[s];
            if w[l] < 1.0 {
                nl -= 1;
                small[ns] = l;
                ns += 1;
            }
        }
        // Columns left over (rounding) keep their own pattern: keep = 1.
        let mut first = [0u8; 16];
        let mut second = [0u8; 16];
        let mut rest = [0u64; 16];
        for i in 0..16 {
            if keep[i] >= 1.0 {
                // Always pattern i: aliasing it to itself makes U irrelevant.
                alias[i] = i as u8;
                continue;
            }
            // keep < 1, so the fraction fits in 64 bits.
            let f = (keep[i] * 18_446_744_073_709_551_616.0) as u64;
            first[i] = (f >> 56) as u8;
            second[i] = (f >> 52) as u8 & 15;
            rest[i] = f & ((1 << 52) - 1);
        }
        let uniform = keep.iter().all(|&k| k >= 1.0);
        NibbleAlias {
            first,
            second,
            rest,
            alias,
            uniform,
        }
    }

    /// On a tie, whether column `i` keeps its pattern, from a fresh draw
    /// whose top 52 bits continue `U`.
    #[inline(always)]
    fn keeps_after_tie(&self, i: usize, draw: u64) -> bool {
        (draw >> 12) < self.rest[i]
    }

    /// The pattern of column `i` if it keeps it, else its alias.
    #[inline(always)]
    fn pattern(&self, i: usize, keep: bool) -> u8 {
        if keep {
            i as u8
        } else {
            self.alias[i]
        }
    }

    /// The mask made from the draws `x, y, z, w`; the ties draw from `rng`,
    /// the low-nibble slots (bytes 0..8) first, then the high ones.
    pub(crate) fn mask_from(&self, [x, y, z, w]: [u64; 4], rng: &mut ChannelRng) -> u64 {
        let (low, low_ties) = self.half(x, y, w, 0);
        let (high, high_ties) = self.half(x, z, w, 4);
        let mut mask = low << 4 | high;
        let mut ties = low_ties | high_ties << 8;
        while ties != 0 {
            mask = self.untie(mask, x, ties.trailing_zeros(), rng.next_u64());
            ties &= ties - 1;
        }
        mask
    }

    /// The patterns of the columns in the nibbles of `x` at `shift` (0: low,
    /// 4: high) in the low nibbles of a word, with `U` starting with the
    /// bytes of `u` and the nibbles of `w` at `shift`; and the tied bytes.
    /// Branch-free: which pattern a column takes is a coin flip the branch
    /// predictor would miss.
    #[inline(always)]
    fn half(&self, x: u64, u: u64, w: u64, shift: u32) -> (u64, u32) {
        let mut patterns = 0u64;
        let mut ties = 0u32;
        for k in 0..8 {
            let col = (x >> (8 * k + shift)) as u8 & 15;
            let u12 =
                u16::from((u >> (8 * k)) as u8) << 4 | u16::from((w >> (8 * k + shift)) as u8 & 15);
            let i = usize::from(col);
            let f12 = u16::from(self.first[i]) << 4 | u16::from(self.second[i]);
            let alias = self.alias[i];
            ties |= u32::from(u12 == f12) << k;
            let keep = 0u8.wrapping_sub(u8::from(u12 < f12));
            let pattern = alias ^ ((alias ^ col) & keep);
            patterns |= u64::from(pattern) << (8 * k);
        }
        (patterns, ties)
    }

    /// `mask` with its tied slot `slot` decided by a fresh `draw`.
    #[inline(always)]
    pub(crate) fn untie(&self, mask: u64, x: u64, slot: u32, draw: u64) -> u64 {
        let (col_at, at) = slot_bits(slot);
        let col = usize::from((x >> col_at) as u8 & 15);
        let pattern = self.pattern(col, self.keeps_after_tie(col, draw));
        mask & !(15 << at) | u64::from(pattern) << at
    }

    /// 64 independent Bernoulli(p) bits.
    #[inline]
    pub fn sample(&self, rng: &mut ChannelRng) -> u64 {
        if self.uniform {
            return columns_only(rng.next_u64());
        }
        let draws = [0; 4].map(|_| rng.next_u64());
        self.mask_from(draws, rng)
    }
}

/// Where slot `slot` of a mask lives: the bit offset of its column in `x`
/// and of its pattern in the mask. Slots 0..8 are the low nibbles of bytes
/// 0..8 of `x` (patterns in the high nibbles of the mask), 8..16 the high
/// ones (patterns in the low nibbles).
#[inline(always)]
fn slot_bits(slot: u32) -> (u32, u32) {
    let byte = 8 * (slot % 8);
    if slot < 8 {
        (byte, byte + 4)
    } else {
        (byte + 4, byte)
    }
}

/// The mask when every column keeps its pattern: the columns of `x` in
/// mask order (each byte's nibbles swapped).
#[inline]
pub(crate) fn columns_only(x: u64) -> u64 {
    const LOW: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    (x & LOW) << 4 | (x >> 4) & LOW
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The probability that the table draws pattern `pat`.
    fn drawn(t: &NibbleAlias, pat: usize) -> f64 {
        (0..16)
            .map(|i| {
                let f = (u64::from(t.first[i]) << 56 | u64::from(t.second[i]) << 52 | t.rest[i])
                    as f64
                    / 18_446_744_073_709_551_616.0;
                let keep = if t.alias[i] as usize == i { 1.0 } else { f };
                (if i == pat { keep } else { 0.0 })
                    + (if t.alias[i] as usize == pat && t.alias[i] as usize != i {
                        1.0 - keep
                    } else {
                        0.0
                    })
            })
            .sum::<f64>()
            / 16.0
    }

    proptest! {
        #[test]
        fn table_draws_each_pattern_with_its_probability(p in 0.0..=1.0f64) {
            let t = NibbleAlias::new(p);
            for pat in 0..16 {
                let k = (pat as u32).count_ones() as i32;
                let want = p.powi(k) * (1.0 - p).powi(4 - k);
                prop_assert!((drawn(&t, pat) - want).abs() < 1e-14, "pattern {pat}");
            }
            prop_assert_eq!(t.uniform, p == 0.5);
        }
    }
}
