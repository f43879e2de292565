//! Packet-level losses: a frame lost entirely (erasure) or cut short
//! (truncation, as on LoRa when the preamble is caught late or the air time
//! ends). Packet `index` of a stream draws from its own random stream (one per
//! kind of loss), so a decision never depends on which other packets were
//! asked about. Reaching one packet's stream costs up to ~0.5 ms;
//! [`erasures`] walks consecutive packets at one cheap jump each.
use rand_core::Rng;

use super::rng::{stream, uniform_open0, ChannelRng, Purpose, Streams};
use super::{check_probability, ChannelError};

/// Whether packet `index` of the stream `seed` is lost, with probability `p_loss`.
pub fn erased(p_loss: f64, seed: u64, index: u64) -> Result<bool, ChannelError> {
    check_probability("p_loss", p_loss)?;
    Ok(lost(&mut stream(seed, Purpose::Erasures, index), p_loss))
}

/// Marks which of packets `first, first + 1, ...` are lost, one per element
/// of `out`; the same decisions as [`erased`] for each index.
pub fn erasures(out: &mut [bool], p_loss: f64, seed: u64, first: u64) -> Result<(), ChannelError> {
    check_probability("p_loss", p_loss)?;
    let streams = Streams::new(seed, Purpose::Erasures, first);
    for (o, mut rng) in out.iter_mut().zip(streams) {
        *o = lost(&mut rng, p_loss);
    }
    Ok(())
}

/// One Bernoulli(p) decision: U in (0, 1], true iff 1 - U < p, exact at
/// both ends (p = 0 and p = 1).
fn lost(rng: &mut ChannelRng, p: f64) -> bool {
    1.0 - uniform_open0(rng) < p
}

/// The received length of packet `index` of `len` bytes: with probability
/// `p_cut` it is cut at a uniform length in `0..len`, else it arrives whole.
pub fn truncated_len(len: usize, p_cut: f64, seed: u64, index: u64) -> Result<usize, ChannelError> {
    check_probability("p_cut", p_cut)?;
    Ok(cut(&mut stream(seed, Purpose::Cuts, index), len as u64, p_cut) as usize)
}

/// Cuts packets `first, first + 1, ...` in place, `lens` holding their sent
/// lengths: the same received lengths as [`truncated_len`] for each index.
pub fn truncations(
    lens: &mut [u64],
    p_cut: f64,
    seed: u64,
    first: u64,
) -> Result<(), ChannelError> {
    check_probability("p_cut", p_cut)?;
    let streams = Streams::new(seed, Purpose::Cuts, first);
    for (len, mut rng) in lens.iter_mut().zip(streams) {
        *len = cut(&mut rng, *len, p_cut);
    }
    Ok(())
}

fn cut(rng: &mut ChannelRng, len: u64, p_cut: f64) -> u64 {
    if len == 0 || !lost(rng, p_cut) {
        return len;
    }
    // Multiply-shift maps a 64-bit draw onto 0..len without modulo bias worth
    // measuring (len < 2^32 for any real packet).
    ((u128::from(rng.next_u64()) * u128::from(len)) >> 64) as u64
}
