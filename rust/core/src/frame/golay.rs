//! Extended binary Golay code (24, 12, 8): 12 data bits, 12 parity bits,
//! corrects any 3 bit errors in a 24-bit word and detects 4.
//!
//! Systematic form `c = [m | m·B]` with the classic 12×12 matrix `B`
//! (symmetric, `B·B = I`), decoded by the syndrome algorithm of Wicker,
//! "Error Control Systems" (1995), §5.3: with `s = r1·B + r2`, the error is
//! `(0, s)` if `wt(s) ≤ 3`, `(u_i, s + b_i)` if `wt(s + b_i) ≤ 2`, else the
//! same two tests on `s·B` with the halves swapped.

/// Rows of `B`, most significant bit = column 0.
const B: [u16; 12] = [
    0b1101_1100_0101,
    0b1011_1000_1011,
    0b0111_0001_0111,
    0b1110_0010_1101,
    0b1100_0101_1011,
    0b1000_1011_0111,
    0b0001_0110_1111,
    0b0010_1101_1101,
    0b0101_1011_1001,
    0b1011_0111_0001,
    0b0110_1110_0011,
    0b1111_1111_1110,
];

/// `v·B` over GF(2) for a 12-bit row vector `v` (bit 11 = element 0).
fn times_b(v: u16) -> u16 {
    B.iter()
        .enumerate()
        .filter(|&(i, _)| v & (0x800 >> i) != 0)
        .fold(0, |acc, (_, &row)| acc ^ row)
}

fn weight(v: u16) -> u32 {
    v.count_ones()
}

/// The 24-bit codeword of 12 data bits (`data < 4096`; higher bits ignored).
pub fn encode(data: u16) -> u32 {
    let m = data & 0xFFF;
    (u32::from(m) << 12) | u32::from(times_b(m))
}

/// The 12 data bits of a received 24-bit word and the number of bit errors
/// corrected (0..=3), or `None` when it holds 4 or more errors (detected for
/// exactly 4; 5 or more may also be miscorrected, as for any code).
pub fn decode(word: u32) -> Option<(u16, u32)> {
    let r1 = ((word >> 12) & 0xFFF) as u16;
    let r2 = (word & 0xFFF) as u16;
    let error = find_error(times_b(r1) ^ r2)?;
    let corrected = (word & 0xFF_FFFF) ^ error;
    Some(((corrected >> 12) as u16, error.count_ones()))
}

/// The 24-bit error pattern (`e1 << 12 | e2`) of weight ≤ 3 with syndrome `s`.
fn find_error(s: u16) -> Option<u32> {
    let join = |e1: u16, e2: u16| (u32::from(e1) << 12) | u32::from(e2);
    if weight(s) <= 3 {
        return Some(join(0, s));
    }
    for (i, &row) in B.iter().enumerate() {
        if weight(s ^ row) <= 2 {
            return Some(join(0x800 >> i, s ^ row));
        }
    }
    let q = times_b(s);
    if weight(q) <= 3 {
        return Some(join(q, 0));
    }
    for (i, &row) in B.iter().enumerate() {
        if weight(q ^ row) <= 2 {
            return Some(join(q ^ row, 0x800 >> i));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn b_is_symmetric_and_its_own_inverse() {
        for (i, &row) in B.iter().enumerate() {
            assert_eq!(times_b(row), 0x800 >> i, "B·B row {i}");
            for (j, &other) in B.iter().enumerate() {
                assert_eq!(row & (0x800 >> j) != 0, other & (0x800 >> i) != 0);
            }
        }
    }

    #[test]
    fn minimum_distance_is_8() {
        let min = (1..4096u16).map(|m| encode(m).count_ones()).min();
        assert_eq!(min, Some(8));
    }

    #[test]
    fn every_4_error_pattern_in_a_window_is_detected() {
        // All 4-bit patterns inside bits 0..16 of a few codewords.
        for m in [0u16, 0xABC, 0xFFF] {
            let c = encode(m);
            for e in (0u32..1 << 16).filter(|e| e.count_ones() == 4) {
                assert_eq!(decode(c ^ e), None, "m {m:#x} e {e:#x}");
            }
        }
    }

    fn pattern(max_weight: usize) -> impl Strategy<Value = u32> {
        proptest::collection::btree_set(0u32..24, 0..=max_weight)
            .prop_map(|bits| bits.iter().fold(0, |e, &b| e | (1 << b)))
    }

    proptest! {
        #[test]
        fn corrects_up_to_3_errors(m in 0u16..4096, e in pattern(3)) {
            prop_assert_eq!(decode(encode(m) ^ e), Some((m, e.count_ones())));
        }

        #[test]
        fn detects_4_errors(m in 0u16..4096, e in pattern(4).prop_filter("weight 4", |e| e.count_ones() == 4)) {
            prop_assert_eq!(decode(encode(m) ^ e), None);
        }
    }
}
