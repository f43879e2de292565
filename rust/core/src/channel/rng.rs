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
use rand_distr::{Distribution, Exp1};
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
    /// Whether `next` was handed out and must jump before the next one: the
    /// jump (~0.5 µs) is taken only when another stream is asked for, which a
    /// one-chunk buffer (a frame) never does.
    handed_out: bool,
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
        Streams {
            next,
            handed_out: false,
        }
    }
}

impl Streams {
    /// The current stream; moves on to the next one (one jump, taken when
    /// that one is asked for).
    pub fn next_stream(&mut self) -> ChannelRng {
        if self.handed_out {
            self.next.jump();
        }
        self.handed_out = true;
        self.next.clone()
    }
}

/// From this stream index on, one `jump_n` is cheaper than single jumps.
const FAR_STREAM: u64 = 1024;

impl Iterator for Streams {
    type Item = ChannelRng;

    /// The current stream; moves on to the next one (one jump).
    fn next(&mut self) -> Option<ChannelRng> {
        Some(self.next_stream())
    }
}

/// The stream `(purpose, index)` of `seed`.
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> ChannelRng {
    Streams::new(seed, purpose, index).next
}

/// A uniform draw in (0, 1], with 53 random bits.
#[inline]
pub fn uniform_open0(rng: &mut ChannelRng) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Geometric sampler: the number of failures before the first success of
/// Bernoulli(p) trials, as `floor(E / -ln(1-p))` with `E ~ Exp(1)`.
///
/// `P(floor(E/λ) >= k) = P(E >= kλ) = e^(-kλ) = (1-p)^k`: exactly the
/// geometric law (the same identity as inversion, `floor(ln U / ln(1-p))`,
/// with `E = -ln U`). `E` comes from `rand_distr`'s ziggurat `Exp1`, one
/// draw and a table look-up in ~99% of samples instead of a logarithm.
///
/// Reproducibility: the ziggurat's rare edge cases evaluate `exp`/`ln`,
/// which `rand_distr` takes from `libm` without `std` (the firmware) and from
/// the platform's C library with it (the host, where `num-traits/std` is
/// enabled by other crates). Two hosts whose `exp`/`ln` differ in the last
/// ulp (another C library, or glibc's FMA and non-FMA variants) could
/// disagree on a draw, with probability ~1e-16 per such evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Geometric {
    /// `1 / -ln(1 - p)` (≥ 0), or `None` when p = 0 (never succeeds).
    scale: Option<f64>,
}

impl Geometric {
    /// `p` must lie in [0, 1] (checked by the callers).
    pub fn new(p: f64) -> Self {
        let scale = (p > 0.0).then(|| -1.0 / libm::log1p(-p));
        Geometric { scale }
    }

    /// Failures before the next success; `u64::MAX` for p = 0.
    #[inline]
    pub fn sample(&self, rng: &mut ChannelRng) -> u64 {
        match self.scale {
            // E ≥ 0 and the scale ≥ 0: the cast saturates for huge gaps
            // (tiny p), and p = 1 (scale 0) gives 0.
            Some(scale) => (Distribution::<f64>::sample(&Exp1, rng) * scale) as u64,
            None => u64::MAX,
        }
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

    #[test]
    fn geometric_law() {
        // Chi-square of P(G = k) = p (1-p)^k over k < 12 and the tail, for a
        // dense and a sparse p; 40 is far in the tail for 12 degrees of freedom.
        for p in [0.3, 1e-3] {
            let q: f64 = 1.0 - p;
            let cut = if p > 0.1 { 1 } else { 100 };
            let g = Geometric::new(p);
            let mut rng = stream(5, Purpose::Flips, 0);
            let n = 200_000;
            let mut counts = [0u32; 13];
            for _ in 0..n {
                counts[(g.sample(&mut rng) / cut).min(12) as usize] += 1;
            }
            let mut chi2 = 0.0;
            for (k, &c) in counts.iter().enumerate() {
                let k = k as f64 * cut as f64;
                let prob = if k < 12.0 * cut as f64 {
                    q.powf(k) - q.powf(k + cut as f64)
                } else {
                    q.powf(k)
                };
                let e = prob * f64::from(n);
                chi2 += (f64::from(c) - e).powi(2) / e;
            }
            assert!(chi2 < 40.0, "p {p}: chi2 {chi2} counts {counts:?}");
        }
        assert_eq!(
            Geometric::new(1.0).sample(&mut stream(1, Purpose::Flips, 0)),
            0
        );
        assert_eq!(
            Geometric::new(0.0).sample(&mut stream(1, Purpose::Flips, 0)),
            u64::MAX
        );
    }
}
