//! Gilbert–Elliott burst channel (contract in DESIGN.md).
//!
//! A two-state Markov chain advanced once per bit: `p_gb` = P(good→bad),
//! `p_bg` = P(bad→good); bits flip with `ber_good`/`ber_bad` in each state;
//! the first state is drawn from the stationary distribution, so the mean
//! BER is [`mean_ber`]. (With `p_gb = p_bg = 0` the chain never moves and
//! starts in the good state.)
//!
//! The chain is simulated by its sojourns (geometric lengths), on one
//! sequential stream for the whole buffer; the flips inside each chunk use
//! that chunk's own flip stream. On threads, each replays the sojourns up to
//! its piece (without flips) and runs on from there, so the result is the
//! same for any count.
use super::bsc::{FlipQueue, Flipper};
use super::rng::{stream, uniform_open0, ChannelRng, Geometric, Purpose, Streams, CHUNK_BYTES};
use super::{check_probability, ChannelError};

/// Parameters of the Gilbert–Elliott channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    pub p_gb: f64,
    pub p_bg: f64,
    pub ber_good: f64,
    pub ber_bad: f64,
}

impl GilbertElliott {
    /// Checks every parameter is a probability.
    pub fn check(&self) -> Result<(), ChannelError> {
        check_probability("p_gb", self.p_gb)?;
        check_probability("p_bg", self.p_bg)?;
        check_probability("ber_good", self.ber_good)?;
        check_probability("ber_bad", self.ber_bad)?;
        Ok(())
    }

    /// Long-run fraction of bits in the bad state.
    pub fn stationary_bad(&self) -> f64 {
        let total = self.p_gb + self.p_bg;
        if total > 0.0 {
            self.p_gb / total
        } else {
            0.0
        }
    }

    /// Mean BER of the channel ([`mean_ber`]).
    pub fn mean_ber(&self) -> f64 {
        mean_ber(self.p_gb, self.p_bg, self.ber_good, self.ber_bad)
    }
}

/// Mean BER of the Gilbert–Elliott channel:
/// `(p_bg·ber_good + p_gb·ber_bad) / (p_gb + p_bg)`, the stationary mix of
/// the two states' BERs. With `p_gb = p_bg = 0` the chain never leaves the
/// state it starts in, which is then the good one (its stationary draw has
/// P(bad) = 0, see [`GilbertElliott::stationary_bad`]): the mean BER is
/// `ber_good`, not a division by zero.
pub fn mean_ber(p_gb: f64, p_bg: f64, ber_good: f64, ber_bad: f64) -> f64 {
    let total = p_gb + p_bg;
    if total == 0.0 {
        return ber_good;
    }
    (p_bg * ber_good + p_gb * ber_bad) / total
}

/// Where the state chain is: its state, the bits left in this sojourn, and
/// its random stream. Cloning it snapshots the chain.
#[derive(Debug, Clone)]
struct Chain {
    bad: bool,
    left: u64,
    rng: ChannelRng,
    leave_good: Geometric,
    leave_bad: Geometric,
}

impl Chain {
    fn new(params: &GilbertElliott, seed: u64) -> Self {
        let mut rng = stream(seed, Purpose::States, 0);
        // 1 - U is uniform in [0, 1): bad with probability exactly π_bad.
        let bad = 1.0 - uniform_open0(&mut rng) < params.stationary_bad();
        let mut chain = Chain {
            bad,
            left: 0,
            rng,
            leave_good: Geometric::new(params.p_gb),
            leave_bad: Geometric::new(params.p_bg),
        };
        chain.left = chain.sojourn();
        chain
    }

    /// Length of a sojourn in the current state (≥ 1 bit; memoryless, so the
    /// first one is drawn the same way).
    fn sojourn(&mut self) -> u64 {
        let leave = if self.bad {
            &self.leave_bad
        } else {
            &self.leave_good
        };
        leave.sample(&mut self.rng).saturating_add(1)
    }

    /// Walks `bits` bits, calling `segment(start, end, bad)` for each run of
    /// one state.
    fn walk(&mut self, bits: u64, mut segment: impl FnMut(u64, u64, bool)) {
        let mut pos = 0;
        while pos < bits {
            let len = self.left.min(bits - pos);
            segment(pos, pos + len, self.bad);
            pos += len;
            self.left -= len;
            if self.left == 0 {
                self.bad = !self.bad;
                self.left = self.sojourn();
            }
        }
    }
}

/// Applies the channel to consecutive chunks of `buf` starting at chunk
/// `first_chunk`, advancing `chain` through them.
fn run_chunks(
    buf: &mut [u8],
    first_chunk: usize,
    params: &GilbertElliott,
    seed: u64,
    chain: &mut Chain,
) {
    let flippers = [Flipper::new(params.ber_good), Flipper::new(params.ber_bad)];
    let streams = Streams::new(seed, Purpose::Flips, first_chunk as u64);
    for (chunk, mut rng) in buf.chunks_mut(CHUNK_BYTES).zip(streams) {
        // Each state's gap to its next flip, carried from sojourn to sojourn
        // within the chunk (each chunk starts afresh on its own stream).
        let mut pending = [None, None];
        let mut queue = FlipQueue::new();
        chain.walk(chunk.len() as u64 * 8, |start, end, is_bad| {
            let s = usize::from(is_bad);
            flippers[s].flip_continued(chunk, start, end, &mut rng, &mut pending[s], &mut queue);
        });
        queue.flush(chunk);
    }
}

/// Gilbert–Elliott channel in place on `buf`, reproducible for `seed`.
pub fn gilbert_elliott(
    buf: &mut [u8],
    params: &GilbertElliott,
    seed: u64,
) -> Result<(), ChannelError> {
    params.check()?;
    let mut chain = Chain::new(params, seed);
    run_chunks(buf, 0, params, seed, &mut chain);
    Ok(())
}

/// [`gilbert_elliott`] split over `threads` threads, same result for any count.
#[cfg(feature = "std")]
pub fn gilbert_elliott_threads(
    buf: &mut [u8],
    params: &GilbertElliott,
    seed: u64,
    threads: usize,
) -> Result<(), ChannelError> {
    params.check()?;
    crate::par::split_mut(buf, CHUNK_BYTES, threads, |first, piece| {
        // Each thread walks the state chain (one sequential stream) up to its piece,
        // without flipping (one step per sojourn), while the threads before it flip
        // theirs; then it runs on through its piece as one thread would.
        let mut chain = Chain::new(params, seed);
        chain.walk((first * CHUNK_BYTES) as u64 * 8, |_, _, _| {});
        run_chunks(piece, first, params, seed, &mut chain);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mean_ber_of_a_chain_that_never_moves_is_its_start_state() {
        assert_eq!(mean_ber(0.0, 0.0, 0.01, 0.3), 0.01);
        // The chain does start (and stay) good: no bit flips with ber_good = 0.
        let params = GilbertElliott {
            p_gb: 0.0,
            p_bg: 0.0,
            ber_good: 0.0,
            ber_bad: 1.0,
        };
        assert_eq!(params.mean_ber(), 0.0);
        let mut buf = [0u8; 512];
        gilbert_elliott(&mut buf, &params, 7).expect("valid parameters");
        assert!(buf.iter().all(|&b| b == 0));
    }

    proptest! {
        #[test]
        fn mean_ber_is_the_stationary_mix(
            p_gb in 0.0..=1.0f64, p_bg in 0.0..=1.0f64,
            ber_good in 0.0..=1.0f64, ber_bad in 0.0..=1.0f64,
        ) {
            let m = mean_ber(p_gb, p_bg, ber_good, ber_bad);
            let params = GilbertElliott { p_gb, p_bg, ber_good, ber_bad };
            let bad = params.stationary_bad();
            prop_assert!((m - ((1.0 - bad) * ber_good + bad * ber_bad)).abs() <= 1e-12);
            prop_assert!(m >= ber_good.min(ber_bad) - 1e-12);
            prop_assert!(m <= ber_good.max(ber_bad) + 1e-12);
        }

        #[test]
        fn mean_ber_with_equal_states_is_that_ber(
            p_gb in 0.0..=1.0f64, p_bg in 0.0..=1.0f64, ber in 0.0..=1.0f64,
        ) {
            prop_assert!((mean_ber(p_gb, p_bg, ber, ber) - ber).abs() <= 1e-15);
        }
    }
}
