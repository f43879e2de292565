//! Seeded random streams for the channel models.
//!
//! One xoshiro256++ sequence per seed, cut into non-overlapping streams with
//! the generator's own jump functions: stream `(purpose, index)` starts
//! `purpose·2^192 + index·2^128` draws into the sequence of `seed` (one
//! `long_jump` per purpose, one `jump` per index). A jump costs about half a
//! microsecond, so consecutive streams are produced by [`Streams`], one jump
//! each, never by jumping from the start again;
//! a far stream is reached in one polynomial jump (`jump_n`).
//!
//! Buffers are processed in fixed chunks of [`CHUNK_BYTES`], chunk `c`
//! drawing from stream `(purpose, c)`, so results never depend on how many
//! threads share the chunks.
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator behind every channel model.
pub type ChannelRng = Xoshiro256PlusPlus;

/// Bytes per independently seeded chunk of a buffer.
pub const CHUNK_BYTES: usize = 1 << 16;

/// What a stream is used for; distinct purposes never share draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Purpose {
    /// Bit flips of a chunk (BSC, and the flips inside Gilbert–Elliott states).
    Flips = 0,
    /// The Gilbert–Elliott state chain (one sequential stream per buffer).
    States = 1,
    /// Packet erasures (stream index = packet index).
    Erasures = 2,
    /// Packet truncations (stream index = packet index).
    Cuts = 3,
    /// Pilot bits of a wire frame.
    Pilot = 4,
}

/// The streams `(purpose, first), (purpose, first + 1), ...` of a seed, in order.
#[derive(Debug, Clone)]
pub struct Streams {
    next: ChannelRng,
}

impl Streams {
    /// Positioned at stream `(purpose, first)` of `seed`.
    ///
    /// Near streams are reached by single jumps (0.5 µs each); far ones by
    /// one polynomial jump (`jump_n`, ~0.5 ms), which lands on the same state.
    pub fn new(seed: u64, purpose: Purpose, first: u64) -> Self {
        let mut next = ChannelRng::seed_from_u64(seed);
        if first < FAR_STREAM {
            for _ in 0..purpose as u8 {
                next.long_jump();
            }
            for _ in 0..first {
                next.jump();
            }
        } else {
            next.jump_n(&[0, 0, first, purpose as u64]);
        }
        Streams { next }
    }
}

/// From this stream index on, one `jump_n` is cheaper than single jumps.
const FAR_STREAM: u64 = 1024;

impl Iterator for Streams {
    type Item = ChannelRng;

    /// The current stream; moves on to the next one (one jump).
    fn next(&mut self) -> Option<ChannelRng> {
        let current = self.next.clone();
        self.next.jump();
        Some(current)
    }
}

/// The stream `(purpose, index)` of `seed`.
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> ChannelRng {
    Streams::new(seed, purpose, index).next.clone()
}

/// A uniform draw in (0, 1], with 53 random bits.
#[inline]
pub fn uniform_open0(rng: &mut ChannelRng) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Geometric sampler: the number of failures before the first success of
/// Bernoulli(p) trials, by inversion (`floor(ln U / ln(1-p))`).
#[derive(Debug, Clone, Copy)]
pub struct Geometric {
    /// `1 / ln(1 - p)` (≤ 0), or `None` when p = 0 (never succeeds).
    inv_log_q: Option<f64>,
}

impl Geometric {
    /// `p` must lie in [0, 1] (checked by the callers).
    pub fn new(p: f64) -> Self {
        let inv_log_q = (p > 0.0).then(|| 1.0 / libm::log1p(-p));
        Geometric { inv_log_q }
    }

    /// Failures before the next success; `u64::MAX` for p = 0.
    #[inline]
    pub fn sample(&self, rng: &mut ChannelRng) -> u64 {
        match self.inv_log_q {
            // ln U ≤ 0 and 1/ln(1-p) ≤ 0: a non-negative product; the cast
            // saturates for huge gaps (tiny p), and p = 1 gives 0.
            Some(inv) => (libm::log(uniform_open0(rng)) * inv) as u64,
            None => u64::MAX,
        }
    }
}

/// 64 independent Bernoulli(p) bits from as few draws as possible.
///
/// Each lane compares a uniform number, generated MSB-first one bit per draw,
/// with the binary expansion of p; a lane is decided at its first bit that
/// differs, so the loop stops once every lane is decided (about 8 draws for
/// any p) or when p's remaining bits are all zero. Exact for the `f64` p.
#[derive(Debug, Clone, Copy)]
pub struct BernoulliWord {
    /// p as a 0.64 fixed-point fraction; `None` for p = 1.
    fraction: Option<u64>,
}

impl BernoulliWord {
    /// `p` must lie in [0, 1] (checked by the callers).
    pub fn new(p: f64) -> Self {
        let fraction = (p < 1.0).then_some((p * 18_446_744_073_709_551_616.0) as u64);
        BernoulliWord { fraction }
    }

    #[inline]
    pub fn sample(&self, rng: &mut ChannelRng) -> u64 {
        let Some(mut rest) = self.fraction else {
            return u64::MAX;
        };
        let mut undecided = u64::MAX;
        let mut ones = 0u64;
        while undecided != 0 && rest != 0 {
            let r = rng.next_u64();
            if rest >> 63 == 1 {
                // p's bit is 1: a 0 bit of U decides U < p.
                ones |= undecided & !r;
                undecided &= r;
            } else {
                // p's bit is 0: a 1 bit of U decides U > p.
                undecided &= !r;
            }
            rest <<= 1;
        }
        ones
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_and_far_jumps_agree() {
        for purpose in [Purpose::Flips, Purpose::Cuts] {
            let mut walked = Streams::new(7, purpose, FAR_STREAM - 2);
            walked.next();
            walked.next();
            let mut far = ChannelRng::seed_from_u64(7);
            far.jump_n(&[0, 0, FAR_STREAM, purpose as u64]);
            assert_eq!(walked.next(), Some(far.clone()));
            assert_eq!(Streams::new(7, purpose, FAR_STREAM).next(), Some(far));
        }
    }
}
