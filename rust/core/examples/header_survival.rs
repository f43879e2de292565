//! The wire header (format version 2) over the code's own BSC: for each BER,
//! how many of `trials` damaged headers decode to the fields sent, how many
//! are refused (a word with 4+ errors, or a miscorrected word the CRC
//! catches), and how many are accepted with wrong fields, beside the theory.
//!
//! `cargo run --release -p semanticnn-core --example header_survival [-- TRIALS]`
//!
//! Theory: a header decodes when each of its five words holds at most 3
//! errors. A word is miscorrected (decoded to another codeword) with the
//! probability found by decoding all 2^24 error patterns; one miscorrected
//! word is always caught by the CRC-16 (a burst of <= 16 bits, see the
//! frame tests), so a wrong header needs two or more miscorrected words
//! and a CRC collision (~2^-16).
use semanticnn_core::frame::golay;
use semanticnn_core::frame::trials::{header_trials, theory_correct};

const WORDS: i32 = 5;

/// Error patterns of each weight that the Golay decoder miscorrects.
fn miscorrected_by_weight() -> [u64; 25] {
    let mut n = [0u64; 25];
    for e in 0u32..1 << 24 {
        // Sent the zero codeword (the code is linear): any nonzero data is wrong.
        if matches!(golay::decode(e), Some((data, _)) if data != 0) {
            n[e.count_ones() as usize] += 1;
        }
    }
    n
}

/// P[a word is miscorrected] at `ber`.
fn word_miscorrected(n: &[u64; 25], ber: f64) -> f64 {
    n.iter()
        .enumerate()
        .map(|(k, &c)| c as f64 * ber.powi(k as i32) * (1.0 - ber).powi(24 - k as i32))
        .sum()
}

/// Expected wrong headers per header: two or more miscorrected words, the
/// others decodable, and a CRC-16 collision.
fn theory_wrong(n: &[u64; 25], ber: f64) -> f64 {
    let mis = word_miscorrected(n, ber);
    let ok = theory_correct(ber).powf(1.0 / f64::from(WORDS));
    let choose = [1.0, 5.0, 10.0, 10.0, 5.0, 1.0];
    (2..=WORDS)
        .map(|m| choose[m as usize] * mis.powi(m) * ok.powi(WORDS - m))
        .sum::<f64>()
        / 65536.0
}

fn main() {
    let trials: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("TRIALS must be a whole number"))
        .unwrap_or(1_000_000);
    let n = miscorrected_by_weight();
    println!("{trials} headers per BER (15-byte header, 5 Golay(24,12) words + CRC-16)");
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>6} {:>9} {:>10}",
        "BER",
        "trials",
        "correct",
        "theory",
        "refused",
        "CRC caught",
        "wrong",
        "exp. CRC",
        "exp. wrong"
    );
    for (i, ber) in [1e-3, 1e-2, 3e-2, 5e-2].into_iter().enumerate() {
        let t = header_trials(ber, trials, i as u64 + 1).expect("a valid BER");
        let pct = |x: u64| 100.0 * x as f64 / trials as f64;
        // CRC-caught: some word miscorrected, none detected as uncorrectable.
        let ok = theory_correct(ber).powf(1.0 / f64::from(WORDS));
        let caught = (ok + word_miscorrected(&n, ber)).powi(WORDS) - ok.powi(WORDS);
        println!(
            "{:>6.0e} {:>10} {:>9.4}% {:>9.4}% {:>9.4}% {:>10} {:>6} {:>9.0} {:>10.1e}",
            ber,
            trials,
            pct(t.correct),
            100.0 * theory_correct(ber),
            pct(t.refused()),
            t.crc,
            t.wrong,
            caught * trials as f64,
            theory_wrong(&n, ber) * trials as f64,
        );
    }
}
