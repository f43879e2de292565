//! Bit error rate of coherent BPSK and Gray-mapped QPSK over AWGN.

/// Modulation of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modulation {
    Bpsk,
    Qpsk,
}

/// BER at a signal-to-noise ratio of `snr_db` dB per symbol (Es/N0).
///
/// BPSK: `Q(sqrt(2·Es/N0)) = erfc(sqrt(Es/N0))/2`. Gray-mapped QPSK carries
/// two bits per symbol, each seeing BPSK at Eb/N0 = Es/N0 / 2:
/// `erfc(sqrt(Es/N0 / 2))/2`.
pub fn ber_awgn(snr_db: f64, modulation: Modulation) -> f64 {
    let es_n0 = libm::pow(10.0, snr_db / 10.0);
    let eb_n0 = match modulation {
        Modulation::Bpsk => es_n0,
        Modulation::Qpsk => es_n0 / 2.0,
    };
    0.5 * libm::erfc(libm::sqrt(eb_n0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        // BPSK at Eb/N0 = 9.6 dB is the classic BER 1e-5 point.
        let ber = ber_awgn(9.6, Modulation::Bpsk);
        assert!((ber / 1e-5 - 1.0).abs() < 0.05, "{ber}");
        // Very low SNR: a coin toss.
        assert!((ber_awgn(-60.0, Modulation::Bpsk) - 0.5).abs() < 1e-3);
        // QPSK needs 3 dB more per symbol for the same BER.
        let q = ber_awgn(9.6 + 10.0 * 2f64.log10(), Modulation::Qpsk);
        assert!((q / ber - 1.0).abs() < 1e-9);
    }
}
