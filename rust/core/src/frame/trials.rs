//! Monte-Carlo trials of the header over the code's own BSC: how often a
//! damaged header decodes to the fields sent, is refused, or is accepted
//! with wrong fields (`cargo run --release -p semanticnn-core --example
//! header_survival` prints them; the tests hold the format to its promises).
//!
//! Which header is sent does not change any outcome: the Golay code is
//! linear (the correction depends on the error pattern only), the CRC is
//! affine (it passes for `m + d` exactly when it passes for `0 + d`) and the
//! version check sees only whether the errors touched the version bits. So
//! every trial sends [`SENT`].
use super::{decode_header, write_header, FrameError, Header, HEADER_BYTES};
use crate::channel::bsc::bsc_chunks;
use crate::channel::rng::CHUNK_BYTES;
use crate::channel::{check_probability, ChannelError};

/// The header every trial sends (a device frame's fields).
pub const SENT: Header = Header {
    model_id: 0,
    seq: 1,
    nbits: 3,
    count: 147,
    gray: true,
    pilot_bits: 0,
};

/// Headers per block: a block is [`HEADER_BYTES`] whole chunks of the
/// channel, so the blocks together get exactly the bits one [`bsc`] call
/// over all the trials' headers, back to back, would give.
///
/// [`bsc`]: crate::channel::bsc
const BLOCK: usize = CHUNK_BYTES;

/// What became of `trials` damaged headers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeaderTrials {
    pub trials: u64,
    /// Decoded to the fields sent.
    pub correct: u64,
    /// Refused: a word with 4 or more errors (detected by the Golay code).
    pub uncorrectable: u64,
    /// Refused by the CRC: a word was miscorrected to another codeword.
    pub crc: u64,
    /// Refused after the CRC matched (another version).
    pub other: u64,
    /// Accepted with fields other than those sent.
    pub wrong: u64,
}

impl HeaderTrials {
    /// Headers refused, for whatever reason.
    pub fn refused(&self) -> u64 {
        self.uncorrectable + self.crc + self.other
    }
}

/// Sends `trials` headers through a BSC of `ber` (seeded by `seed`) and
/// decodes each one.
pub fn header_trials(ber: f64, trials: u64, seed: u64) -> Result<HeaderTrials, ChannelError> {
    check_probability("ber", ber)?;
    let mut clean = [0u8; HEADER_BYTES];
    write_header(&SENT, &mut clean);
    let mut out = HeaderTrials {
        trials,
        ..HeaderTrials::default()
    };
    let mut buf = Vec::with_capacity(BLOCK.min(trials as usize) * HEADER_BYTES);
    let mut done = 0u64;
    let mut first_chunk = 0;
    while done < trials {
        let n = (trials - done).min(BLOCK as u64) as usize;
        buf.clear();
        (0..n).for_each(|_| buf.extend_from_slice(&clean));
        bsc_chunks(&mut buf, first_chunk, ber, seed)?;
        for h in buf.chunks_exact(HEADER_BYTES) {
            match decode_header(h) {
                Ok((got, _)) if got == SENT => out.correct += 1,
                Ok(_) => out.wrong += 1,
                Err(FrameError::HeaderUncorrectable { .. }) => out.uncorrectable += 1,
                Err(FrameError::HeaderCrc) => out.crc += 1,
                Err(_) => out.other += 1,
            }
        }
        done += n as u64;
        first_chunk += HEADER_BYTES;
    }
    Ok(out)
}

/// `P[at most k of n bits wrong]` at bit error rate `ber`.
pub fn binomial_cdf(n: u32, k: u32, ber: f64) -> f64 {
    if ber >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let mut term = (1.0 - ber).powi(n as i32); // P[0 errors]
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        sum += term;
        term *= f64::from(n - i) / f64::from(i + 1) * ber / (1.0 - ber);
    }
    sum
}

/// The chance a header decodes correctly: every one of its five words
/// holds at most 3 errors.
pub fn theory_correct(ber: f64) -> f64 {
    binomial_cdf(24, 3, ber).powi(super::WORDS as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::bsc;

    #[test]
    fn blocks_are_one_bsc_over_all_headers() {
        let trials = BLOCK + 123;
        let ber = 2e-2;
        let mut all = Vec::new();
        let mut clean = [0u8; HEADER_BYTES];
        write_header(&SENT, &mut clean);
        (0..trials).for_each(|_| all.extend_from_slice(&clean));
        bsc(&mut all, ber, 9).unwrap();
        let mut want = HeaderTrials {
            trials: trials as u64,
            ..HeaderTrials::default()
        };
        for h in all.chunks_exact(HEADER_BYTES) {
            match decode_header(h) {
                Ok((got, _)) if got == SENT => want.correct += 1,
                Ok(_) => want.wrong += 1,
                Err(FrameError::HeaderUncorrectable { .. }) => want.uncorrectable += 1,
                Err(FrameError::HeaderCrc) => want.crc += 1,
                Err(_) => want.other += 1,
            }
        }
        assert_eq!(header_trials(ber, trials as u64, 9), Ok(want));
        assert!(header_trials(1.5, 1, 0).is_err());
    }

    #[test]
    fn theory_matches_the_binomial() {
        assert_eq!(binomial_cdf(24, 3, 0.0), 1.0);
        assert_eq!(
            (binomial_cdf(24, 23, 1.0), binomial_cdf(24, 24, 1.0)),
            (0.0, 1.0)
        );
        assert!((binomial_cdf(24, 24, 0.3) - 1.0).abs() < 1e-12);
        assert!((binomial_cdf(2, 1, 0.5) - 0.75).abs() < 1e-12);
        // 1 - 5·P[>=4 errors in 24 bits] at BER 1e-2, to first order.
        let p4 = 1.0 - binomial_cdf(24, 3, 1e-2);
        assert!((theory_correct(1e-2) - (1.0 - 5.0 * p4)).abs() < 1e-6);
        assert!(theory_correct(1e-2) > 0.9995);
    }

    // The format's promises, 10^6 headers per BER (~7 s each unoptimized,
    // two tests so they run side by side): >= 99% decode at BER 1e-2
    // (theory 99.96%), and no damaged header is ever accepted with wrong
    // fields.

    #[test]
    fn header_survives_ber_1e2_and_never_decodes_to_wrong_fields() {
        let t = header_trials(1e-2, 1_000_000, 1).unwrap();
        assert!(t.correct >= 990_000, "{t:?}");
        assert_eq!(t.wrong, 0, "{t:?}");
    }

    #[test]
    fn header_never_decodes_to_wrong_fields_at_ber_3e2() {
        // Some 3,000 headers have a miscorrected word (every 5-error
        // pattern is one); the CRC must catch every one.
        let t = header_trials(3e-2, 1_000_000, 2).unwrap();
        assert!(t.crc > 1_000, "the trials should miscorrect: {t:?}");
        assert_eq!(t.wrong, 0, "{t:?}");
    }
}
