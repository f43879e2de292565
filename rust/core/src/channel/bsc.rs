//! Binary symmetric channel: i.i.d. bit flips with probability p.
//!
//! Two samplers, chosen by p: below [`MASKS_FROM`] the gaps between flips
//! are drawn from a geometric distribution, so the cost grows with the number
//! of flips, not of bits; from there on, 64-bit Bernoulli masks
//! ([`NibbleAlias`]) are XORed word by word, eight whole chunks at once with
//! AVX-512 or four with AVX2 where the CPU has them (the same bits either
//! way).
use super::alias::NibbleAlias;
use super::rng::{ChannelRng, Geometric, Purpose, Streams, CHUNK_BYTES};
use super::{check_probability, ChannelError};

/// BER from which masks replace the gaps, the same on every CPU (the bits
/// must not depend on it). Whole chunks on x86 vectors would gain from
/// masks further down (~1/300 with AVX-512), but the scalar masks of other
/// CPUs, short buffers and frames would lose 4-10x there; `channel_costs`
/// prints both sides.
pub const MASKS_FROM: f64 = 1.0 / 64.0;

/// Runs of a state longer than this, at a BER of [`MASKS_FROM`] or more,
/// take masks in [`Flipper::flip_continued`] (shorter ones are mostly ends
/// that masks would leave to gaps anyway).
const MASK_RUN_BITS: u64 = 256;

/// Flips bit `pos` of a packed buffer (MSB-first, as in the packing contract).
#[inline]
pub(crate) fn flip_bit(buf: &mut [u8], pos: u64) {
    if let Some(b) = buf.get_mut((pos / 8) as usize) {
        *b ^= 0x80 >> (pos % 8);
    }
}

/// Asks for the cache line of `buf[byte]` ahead of a flip (a hint only).
/// Non-temporal: on a 64 MiB buffer it measured 25% faster than into all
/// cache levels (fewer lines to evict from L2/L3 for a single touch).
#[inline(always)]
fn prefetch(buf: &[u8], byte: u64) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = buf.get(byte as usize) {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_NTA};
        // SAFETY: SSE is part of x86_64's baseline, and a prefetch never
        // faults nor changes memory; the pointer is in bounds anyway.
        unsafe { _mm_prefetch::<_MM_HINT_NTA>((b as *const u8).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (buf, byte);
}

/// Flip positions waiting for their cache lines: each is prefetched when
/// pushed and flipped one batch later, so the memory latency of scattered
/// flips hides behind the sampling of the next batch. Flips commute (XOR),
/// so the delay changes nothing but the timing.
pub(crate) struct FlipQueue {
    batch: [u64; FlipQueue::BATCH],
    drawn: usize,
    waiting: [u64; FlipQueue::BATCH],
    ready: usize,
}

impl FlipQueue {
    const BATCH: usize = 32;

    pub(crate) fn new() -> Self {
        FlipQueue {
            batch: [0; Self::BATCH],
            drawn: 0,
            waiting: [0; Self::BATCH],
            ready: 0,
        }
    }

    #[inline]
    fn push(&mut self, buf: &mut [u8], pos: u64) {
        prefetch(buf, pos / 8);
        self.batch[self.drawn] = pos;
        self.drawn += 1;
        if self.drawn == Self::BATCH {
            for &p in &self.waiting[..self.ready] {
                flip_bit(buf, p);
            }
            self.waiting = self.batch;
            self.ready = Self::BATCH;
            self.drawn = 0;
        }
    }

    /// Flips what is still waiting (before `buf` changes).
    pub(crate) fn flush(&mut self, buf: &mut [u8]) {
        for &p in self.waiting[..self.ready]
            .iter()
            .chain(&self.batch[..self.drawn])
        {
            flip_bit(buf, p);
        }
        self.ready = 0;
        self.drawn = 0;
    }
}

/// The flips of one BER, prepared once and applied to bit ranges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flipper {
    ber: f64,
    gaps: Geometric,
    /// The mask table, from [`MASKS_FROM`] on only: below, masks are never
    /// drawn, and the table (~1 µs to build) would cost more than a frame's
    /// flips.
    words: Option<NibbleAlias>,
}

impl Flipper {
    pub(crate) fn new(ber: f64) -> Self {
        Flipper {
            ber,
            gaps: Geometric::new(ber),
            words: (ber >= MASKS_FROM).then(|| NibbleAlias::new(ber)),
        }
    }

    /// Flips each bit of `buf` in `start..end` (bit positions) with
    /// probability `ber`, i.i.d.
    pub(crate) fn flip_range(&self, buf: &mut [u8], start: u64, end: u64, rng: &mut ChannelRng) {
        if self.ber <= 0.0 || start >= end {
            return;
        }
        let first_byte = start.div_ceil(8);
        let last_byte = end / 8;
        let Some(words) = self.words.as_ref().filter(|_| last_byte > first_byte + 8) else {
            self.flip_gaps(buf, start, end, rng);
            return;
        };
        // Partial bytes at both ends by gaps, whole bytes by masks.
        self.flip_gaps(buf, start, first_byte * 8, rng);
        if let Some(bytes) = buf.get_mut(first_byte as usize..last_byte as usize) {
            flip_bytes(words, bytes, rng);
        }
        self.flip_gaps(buf, last_byte * 8, end, rng);
    }

    /// Like [`Self::flip_range`], for a run of bits that continues earlier
    /// runs of one Bernoulli process (a Gilbert–Elliott state's sojourns):
    /// `pending` is the gap left to that process's next flip (`None`: not
    /// drawn yet). Geometric gaps are memoryless, so carrying it over instead
    /// of drawing afresh for every run is the same law, and saves the draw
    /// that overshoots each run. A long run at a mask BER takes masks; the
    /// gap it drops (whatever its value) is redrawn, which is again the law.
    /// Gap flips go through `queue` (flush it before `buf` is used).
    pub(crate) fn flip_continued(
        &self,
        buf: &mut [u8],
        start: u64,
        end: u64,
        rng: &mut ChannelRng,
        pending: &mut Option<u64>,
        queue: &mut FlipQueue,
    ) {
        if self.ber <= 0.0 || start >= end {
            return;
        }
        if self.ber >= MASKS_FROM && end - start > MASK_RUN_BITS {
            *pending = None;
            self.flip_range(buf, start, end, rng);
            return;
        }
        let mut pos = start;
        loop {
            let gap = pending.take().unwrap_or_else(|| self.gaps.sample(rng));
            if gap >= end - pos {
                *pending = Some(gap - (end - pos));
                return;
            }
            pos += gap;
            queue.push(buf, pos);
            pos += 1;
        }
    }

    fn flip_gaps(&self, buf: &mut [u8], start: u64, end: u64, rng: &mut ChannelRng) {
        if start >= end {
            return; // an empty range draws nothing
        }
        let mut queue = FlipQueue::new();
        let mut pos = start;
        loop {
            pos = pos.saturating_add(self.gaps.sample(rng));
            if pos >= end {
                break;
            }
            queue.push(buf, pos);
            pos += 1;
        }
        queue.flush(buf);
    }
}

/// XORs a mask from `masks` into every 8 bytes of `bytes` (a partial word
/// at the end takes a whole mask).
fn flip_bytes(masks: &NibbleAlias, bytes: &mut [u8], rng: &mut ChannelRng) {
    let (words, tail) = bytes.as_chunks_mut::<8>();
    for w in words {
        *w = (u64::from_le_bytes(*w) ^ masks.sample(rng)).to_le_bytes();
    }
    if !tail.is_empty() {
        let mask = masks.sample(rng).to_le_bytes();
        tail.iter_mut().zip(mask).for_each(|(b, m)| *b ^= m);
    }
}

/// BSC over `buf`, whose first byte is at chunk `first_chunk` of the whole
/// buffer (`buf` must start on a chunk boundary). Chunk `c` draws from
/// flip stream `c` of `seed`.
pub fn bsc_chunks(
    buf: &mut [u8],
    first_chunk: usize,
    ber: f64,
    seed: u64,
) -> Result<(), ChannelError> {
    check_probability("ber", ber)?;
    let flipper = Flipper::new(ber);
    let mut streams = Streams::new(seed, Purpose::Flips, first_chunk as u64);
    let done = flip_whole_chunks(&flipper, buf, &mut streams);
    for (chunk, mut rng) in buf[done..].chunks_mut(CHUNK_BYTES).zip(streams) {
        flipper.flip_range(chunk, 0, chunk.len() as u64 * 8, &mut rng);
    }
    Ok(())
}

/// What [`bsc_chunks`] computes, one chunk at a time on the scalar path:
/// the reference its vector paths must equal.
#[cfg(test)]
pub(crate) fn bsc_chunk_by_chunk(buf: &mut [u8], ber: f64, seed: u64) {
    for (c, chunk) in buf.chunks_mut(CHUNK_BYTES).enumerate() {
        let mut rng = super::rng::stream(seed, Purpose::Flips, c as u64);
        Flipper::new(ber).flip_range(chunk, 0, chunk.len() as u64 * 8, &mut rng);
    }
}

/// Where masks are drawn and the CPU has AVX-512 or AVX2, flips the leading
/// groups of whole chunks of `buf` several at once (one per vector lane),
/// taking their streams; returns the bytes done (0 elsewhere). Whole chunks
/// are all masks, so each gets exactly what [`Flipper::flip_range`] would
/// give it.
fn flip_whole_chunks(flipper: &Flipper, buf: &mut [u8], streams: &mut Streams) -> usize {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(words) = flipper.words.as_ref() {
        return super::wide::flip_whole_chunks(words, buf, streams);
    }
    let _ = (flipper, buf, streams);
    0
}

/// Binary symmetric channel in place: every bit of `buf` flips with
/// probability `ber`, independently. Reproducible for a given `seed`.
pub fn bsc(buf: &mut [u8], ber: f64, seed: u64) -> Result<(), ChannelError> {
    bsc_chunks(buf, 0, ber, seed)
}

/// [`bsc`] split over `threads` threads, with the same result for any count.
#[cfg(feature = "std")]
pub fn bsc_threads(
    buf: &mut [u8],
    ber: f64,
    seed: u64,
    threads: usize,
) -> Result<(), ChannelError> {
    check_probability("ber", ber)?;
    crate::par::split_mut(buf, CHUNK_BYTES, threads, |first, piece| {
        // The probability was checked above, so this cannot fail.
        let _ = bsc_chunks(piece, first, ber, seed);
    });
    Ok(())
}
