//! The wire frame: a protected header, an optional pilot field, and the
//! packed symbols, deliberately unprotected (format in docs/wire-format.md).
//!
//! ```text
//! | header: 21 bytes       | pilot: pilot_bits/8 bytes | payload: packed_len(count, nbits) |
//! | 7 Golay(24,12) words,  | known pseudo-random bits  | symbols packed MSB-first,        |
//! | bit-interleaved        | (BER estimate)            | optionally Gray-mapped           |
//! ```
//!
//! The header's 84 information bits are the fields (68 bits) and a CRC-16
//! of them, cut into seven 12-bit words, each Golay-encoded (corrects 3
//! errors per word) and interleaved bit by bit, so a burst of up to 7 bits
//! costs each word at most one error. No function here allocates or panics
//! on input data.
use core::fmt;

use rand_core::Rng;

use crate::bits::{self, BitsError};
use crate::channel::rng::{stream, Purpose};

pub mod golay;

/// Format version written in every header.
pub const VERSION: u8 = 1;
/// Bytes of the protected header.
pub const HEADER_BYTES: usize = WORDS * 3;
/// Largest model id (12 bits).
pub const MAX_MODEL_ID: u16 = 0xFFF;
/// Largest symbol count (20 bits).
pub const MAX_COUNT: usize = 0xF_FFFF;
/// Largest pilot field in bits (255 bytes).
pub const MAX_PILOT_BITS: usize = 255 * 8;

const WORDS: usize = 7;
const FLAG_GRAY: u8 = 0b0001;
const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// The fields of a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which model (and so which decoder) produced the symbols, 0..=4095.
    pub model_id: u16,
    /// Sequence number of the frame (wraps at 2^16); also seeds the pilot.
    pub seq: u16,
    /// Bits per symbol, 1..=8.
    pub nbits: u8,
    /// Number of symbols in the payload, 0..=[`MAX_COUNT`].
    pub count: u32,
    /// Whether symbol indices are Gray-mapped before packing.
    pub gray: bool,
    /// Length of the pilot field in bits (a multiple of 8, ≤ [`MAX_PILOT_BITS`]).
    pub pilot_bits: u16,
}

/// A decoded frame's header and what the receiver learned about the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub header: Header,
    /// Bit errors the Golay code corrected in the header.
    pub header_corrections: u32,
    /// Pilot bits received wrong (0 when there is no pilot).
    pub pilot_errors: u32,
}

impl Decoded {
    /// The frame's BER estimated from its pilot, `None` without a pilot.
    pub fn ber_estimate(&self) -> Option<f64> {
        let bits = self.header.pilot_bits;
        (bits > 0).then(|| f64::from(self.pilot_errors) / f64::from(bits))
    }
}

/// Why a frame could not be built or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Packing refused the symbols (bad nbits, a symbol too large).
    Bits(BitsError),
    /// A header field (named) is out of its range.
    FieldOutOfRange {
        field: &'static str,
        value: usize,
        max: usize,
    },
    /// `pilot_bits` is not a multiple of 8.
    PilotNotWholeBytes(usize),
    /// An output buffer holds `got` bytes or symbols where `needed` are required.
    BufferTooSmall { needed: usize, got: usize },
    /// The frame is `got` bytes long where its header announces `needed`.
    Truncated { needed: usize, got: usize },
    /// More bytes than the header announces.
    TrailingBytes { expected: usize, got: usize },
    /// Header word `word` holds 4 or more bit errors.
    HeaderUncorrectable { word: usize },
    /// The header's CRC does not match (errors beyond the code's radius).
    HeaderCrc,
    /// The header is from a format version this code does not read.
    UnsupportedVersion(u8),
    /// A decoded header field holds an impossible value.
    InvalidField { field: &'static str, value: u32 },
}

impl From<BitsError> for FrameError {
    fn from(e: BitsError) -> Self {
        FrameError::Bits(e)
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::Bits(e) => e.fmt(f),
            FrameError::FieldOutOfRange { field, value, max } => {
                write!(f, "{field} must be in 0..={max}, got {value}")
            }
            FrameError::PilotNotWholeBytes(n) => {
                write!(f, "pilot_bits must be a multiple of 8, got {n}")
            }
            FrameError::BufferTooSmall { needed, got } => {
                write!(f, "buffer too small: {needed} needed, {got} given")
            }
            FrameError::Truncated { needed, got } => {
                write!(
                    f,
                    "frame truncated: header announces {needed} bytes, got {got}"
                )
            }
            FrameError::TrailingBytes { expected, got } => {
                write!(
                    f,
                    "frame too long: header announces {expected} bytes, got {got}"
                )
            }
            FrameError::HeaderUncorrectable { word } => {
                write!(f, "header word {word} has 4 or more bit errors")
            }
            FrameError::HeaderCrc => write!(f, "header CRC mismatch (too many bit errors)"),
            FrameError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported frame format version {v} (this code reads {VERSION})"
                )
            }
            FrameError::InvalidField { field, value } => {
                write!(f, "header field {field} holds an invalid value {value}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FrameError {}

/// Bytes of a frame carrying `count` symbols of `nbits` bits with a pilot
/// of `pilot_bits` bits (`const`: firmware sizes its buffers with it).
pub const fn encoded_len(count: usize, nbits: u8, pilot_bits: usize) -> usize {
    HEADER_BYTES
        .saturating_add(pilot_bits / 8)
        .saturating_add(bits::packed_len(count, nbits))
}

impl Header {
    /// Checks every field and returns the frame's length.
    pub fn check(&self) -> Result<usize, FrameError> {
        let nbits = bits::check_nbits(u32::from(self.nbits))?;
        let range = |field, value: usize, max: usize| {
            if value <= max {
                Ok(())
            } else {
                Err(FrameError::FieldOutOfRange { field, value, max })
            }
        };
        range(
            "model_id",
            usize::from(self.model_id),
            usize::from(MAX_MODEL_ID),
        )?;
        range("count", self.count as usize, MAX_COUNT)?;
        let pilot = usize::from(self.pilot_bits);
        range("pilot_bits", pilot, MAX_PILOT_BITS)?;
        if pilot % 8 != 0 {
            return Err(FrameError::PilotNotWholeBytes(pilot));
        }
        Ok(encoded_len(self.count as usize, nbits, pilot))
    }

    /// The 68 field bits, most significant first.
    fn fields(&self) -> u128 {
        let mut v = u128::from(VERSION);
        let mut put = |width: u32, x: u32| v = (v << width) | u128::from(x);
        put(4, if self.gray { u32::from(FLAG_GRAY) } else { 0 });
        put(4, u32::from(self.nbits));
        put(12, u32::from(self.model_id));
        put(16, u32::from(self.seq));
        put(20, self.count);
        put(8, u32::from(self.pilot_bits / 8));
        v
    }

    fn from_fields(v: u128) -> Result<Self, FrameError> {
        let get = |shift: u32, width: u32| ((v >> shift) & ((1u128 << width) - 1)) as u32;
        let version = get(64, 4) as u8;
        if version != VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let flags = get(60, 4);
        if flags & !u32::from(FLAG_GRAY) != 0 {
            return Err(FrameError::InvalidField {
                field: "flags",
                value: flags,
            });
        }
        let nbits = get(56, 4);
        if !(1..=8).contains(&nbits) {
            return Err(FrameError::InvalidField {
                field: "nbits",
                value: nbits,
            });
        }
        Ok(Header {
            gray: flags != 0,
            nbits: nbits as u8,
            model_id: get(44, 12) as u16,
            seq: get(28, 16) as u16,
            count: get(8, 20),
            pilot_bits: get(0, 8) as u16 * 8,
        })
    }
}

/// CRC-16 of the 68 field bits, left-aligned in 9 bytes.
fn crc_of(fields: u128) -> u16 {
    let bytes = (fields << 4).to_be_bytes();
    CRC16.checksum(&bytes[7..])
}

/// Stream bit of header bit `j` (MSB-first) of word `w`: bit-interleaved.
const fn header_bit(w: usize, j: usize) -> usize {
    j * WORDS + w
}

fn write_header(h: &Header, out: &mut [u8; HEADER_BYTES]) {
    let fields = h.fields();
    let info = (fields << 16) | u128::from(crc_of(fields));
    *out = [0; HEADER_BYTES];
    for w in 0..WORDS {
        let data = ((info >> (12 * (WORDS - 1 - w))) & 0xFFF) as u16;
        let code = golay::encode(data);
        for j in 0..24 {
            if code & (1 << (23 - j)) != 0 {
                let pos = header_bit(w, j);
                out[pos / 8] |= 0x80 >> (pos % 8);
            }
        }
    }
}

/// Decodes the header at the start of `buf`: its fields and the number of
/// bit errors corrected.
pub fn decode_header(buf: &[u8]) -> Result<(Header, u32), FrameError> {
    let Some(raw) = buf.get(..HEADER_BYTES) else {
        return Err(FrameError::Truncated {
            needed: HEADER_BYTES,
            got: buf.len(),
        });
    };
    let mut info = 0u128;
    let mut corrected = 0;
    for w in 0..WORDS {
        let mut word = 0u32;
        for j in 0..24 {
            let pos = header_bit(w, j);
            word = (word << 1) | u32::from((raw[pos / 8] >> (7 - pos % 8)) & 1);
        }
        let (data, fixed) =
            golay::decode(word).ok_or(FrameError::HeaderUncorrectable { word: w })?;
        info = (info << 12) | u128::from(data);
        corrected += fixed;
    }
    let fields = info >> 16;
    if crc_of(fields) != (info & 0xFFFF) as u16 {
        return Err(FrameError::HeaderCrc);
    }
    Ok((Header::from_fields(fields)?, corrected))
}

/// The pilot of frame `seq`: pseudo-random bytes both ends can generate.
fn pilot_bytes(seq: u16) -> impl Iterator<Item = u8> {
    let mut rng = stream(u64::from(seq), Purpose::Pilot, 0);
    core::iter::repeat_with(move || rng.next_u64().to_be_bytes()).flatten()
}

/// Writes the frame of `symbols` with the header fields of `header` (its
/// `count` is ignored: it is `symbols.len()`) into `out`, returning the
/// number of bytes written ([`encoded_len`]). Never allocates.
pub fn encode_into(symbols: &[u8], header: &Header, out: &mut [u8]) -> Result<usize, FrameError> {
    let count = u32::try_from(symbols.len()).unwrap_or(u32::MAX);
    let header = Header { count, ..*header };
    let len = header.check()?;
    let Some(out) = out.get_mut(..len) else {
        return Err(FrameError::BufferTooSmall {
            needed: len,
            got: out.len(),
        });
    };
    let (head, rest) = out.split_at_mut(HEADER_BYTES);
    let (pilot, payload) = rest.split_at_mut(usize::from(header.pilot_bits / 8));
    let mut head_bytes = [0u8; HEADER_BYTES];
    write_header(&header, &mut head_bytes);
    head.copy_from_slice(&head_bytes);
    pilot
        .iter_mut()
        .zip(pilot_bytes(header.seq))
        .for_each(|(o, p)| *o = p);
    if !header.gray {
        bits::pack(symbols, header.nbits, payload)?;
        return Ok(len);
    }
    // Gray-map 64 symbols at a time on the stack: 64 symbols fill exactly
    // 8·nbits bytes, so every block starts on a byte boundary.
    let block_bytes = 8 * usize::from(header.nbits);
    for (b, (block, dst)) in symbols
        .chunks(64)
        .zip(payload.chunks_mut(block_bytes))
        .enumerate()
    {
        let mut mapped = [0u8; 64];
        let mapped = &mut mapped[..block.len()];
        mapped.copy_from_slice(block);
        bits::gray_encode_in_place(mapped);
        // Report a bad symbol by its index and value in `symbols`.
        bits::pack(mapped, header.nbits, dst).map_err(|e| match e {
            BitsError::SymbolTooLarge { index, nbits, .. } => BitsError::SymbolTooLarge {
                index: b * 64 + index,
                value: block.get(index).copied().unwrap_or(0),
                nbits,
            },
            e => e,
        })?;
    }
    Ok(len)
}

/// Reads the frame in `buf` (exactly one frame, no trailing bytes): checks
/// the header, counts pilot errors, and unpacks the symbols into the first
/// `header.count` elements of `symbols_out`. Never allocates or panics.
pub fn decode_into(buf: &[u8], symbols_out: &mut [u8]) -> Result<Decoded, FrameError> {
    let (header, header_corrections) = decode_header(buf)?;
    let len = header.check()?;
    if buf.len() < len {
        return Err(FrameError::Truncated {
            needed: len,
            got: buf.len(),
        });
    }
    if buf.len() > len {
        return Err(FrameError::TrailingBytes {
            expected: len,
            got: buf.len(),
        });
    }
    let count = header.count as usize;
    let Some(symbols) = symbols_out.get_mut(..count) else {
        return Err(FrameError::BufferTooSmall {
            needed: count,
            got: symbols_out.len(),
        });
    };
    let (pilot, payload) = buf[HEADER_BYTES..].split_at(usize::from(header.pilot_bits / 8));
    let pilot_errors = pilot
        .iter()
        .zip(pilot_bytes(header.seq))
        .map(|(&r, p)| (r ^ p).count_ones())
        .sum();
    bits::unpack(payload, header.nbits, symbols)?;
    if header.gray {
        bits::gray_decode_in_place(symbols);
    }
    Ok(Decoded {
        header,
        header_corrections,
        pilot_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::bsc;
    use proptest::prelude::*;

    fn header() -> impl Strategy<Value = Header> {
        (
            0..=MAX_MODEL_ID,
            any::<u16>(),
            1u8..=8,
            any::<bool>(),
            0u16..=255,
        )
            .prop_map(|(model_id, seq, nbits, gray, pilot_bytes)| Header {
                model_id,
                seq,
                nbits,
                count: 0,
                gray,
                pilot_bits: pilot_bytes * 8,
            })
    }

    fn frame() -> impl Strategy<Value = (Header, Vec<u8>)> {
        header().prop_flat_map(|h| {
            let max = ((1u16 << h.nbits) - 1) as u8;
            (Just(h), proptest::collection::vec(0..=max, 0..300))
        })
    }

    fn encode(h: &Header, symbols: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; encoded_len(symbols.len(), h.nbits, h.pilot_bits.into())];
        let n = encode_into(symbols, h, &mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn header_survives_ber_1e2() {
        // The issue asks for >= 99% at BER 1e-2; the code gives ~99.94%.
        let h = Header {
            model_id: 7,
            seq: 1,
            nbits: 3,
            count: 0,
            gray: true,
            pilot_bits: 64,
        };
        let clean = encode(&h, &[1, 2, 3]);
        let trials = 20_000;
        let mut ok = 0;
        let mut wrong = 0;
        for seed in 0..trials {
            let mut buf = clean.clone();
            bsc(&mut buf[..HEADER_BYTES], 1e-2, seed).unwrap();
            match decode_header(&buf) {
                Ok((got, _)) if got == Header { count: 3, ..h } => ok += 1,
                Ok(_) => wrong += 1,
                Err(_) => {}
            }
        }
        assert!(ok as f64 / trials as f64 >= 0.995, "{ok} / {trials}");
        assert_eq!(wrong, 0, "a damaged header decoded to wrong fields");
    }

    #[test]
    fn bad_fields_are_refused() {
        let h = Header {
            model_id: 0,
            seq: 0,
            nbits: 4,
            count: 0,
            gray: false,
            pilot_bits: 0,
        };
        let mut out = [0u8; 64];
        let bad = [
            Header { nbits: 0, ..h },
            Header { nbits: 9, ..h },
            Header {
                model_id: 4096,
                ..h
            },
            Header {
                pilot_bits: 12,
                ..h
            },
            Header {
                pilot_bits: 2048,
                ..h
            },
        ];
        for b in bad {
            assert!(encode_into(&[], &b, &mut out).is_err(), "{b:?}");
        }
        assert_eq!(
            encode_into(&[3, 16], &h, &mut out),
            Err(FrameError::Bits(BitsError::SymbolTooLarge {
                index: 1,
                value: 16,
                nbits: 4
            }))
        );
        let gray = Header { gray: true, ..h };
        let mut symbols = [0u8; 100];
        symbols[70] = 200;
        assert_eq!(
            encode_into(&symbols, &gray, &mut [0u8; 100]),
            Err(FrameError::Bits(BitsError::SymbolTooLarge {
                index: 70,
                value: 200,
                nbits: 4
            }))
        );
        assert_eq!(
            encode_into(&[1; 10], &h, &mut out[..HEADER_BYTES]),
            Err(FrameError::BufferTooSmall {
                needed: HEADER_BYTES + 5,
                got: HEADER_BYTES
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip((h, symbols) in frame()) {
            let buf = encode(&h, &symbols);
            let mut got = vec![0u8; symbols.len() + 3];
            let d = decode_into(&buf, &mut got).unwrap();
            prop_assert_eq!(d.header, Header { count: symbols.len() as u32, ..h });
            prop_assert_eq!(d.header_corrections, 0);
            prop_assert_eq!(d.pilot_errors, 0);
            prop_assert_eq!(&got[..symbols.len()], &symbols[..]);
            // Gray mapping changes the bits on the air, not the symbols.
            if h.gray && symbols.iter().any(|&s| s > 1) {
                let plain = encode(&Header { gray: false, ..h }, &symbols);
                prop_assert_ne!(&plain[HEADER_BYTES..], &buf[HEADER_BYTES..]);
            }
        }

        #[test]
        fn up_to_3_errors_per_header_word_are_corrected(
            h in header(),
            errors in proptest::collection::vec(proptest::collection::btree_set(0usize..24, 0..=3), WORDS),
        ) {
            let mut buf = encode(&h, &[]);
            let mut total = 0;
            for (w, bits) in errors.iter().enumerate() {
                for &j in bits {
                    let pos = header_bit(w, j);
                    buf[pos / 8] ^= 0x80 >> (pos % 8);
                    total += 1;
                }
            }
            prop_assert_eq!(decode_header(&buf), Ok((h, total)));
        }

        #[test]
        fn bursts_up_to_21_bits_are_corrected(h in header(), start in 0usize..HEADER_BYTES * 8, len in 0usize..=21) {
            let mut buf = encode(&h, &[]);
            for pos in (start..start + len).filter(|&p| p < HEADER_BYTES * 8) {
                buf[pos / 8] ^= 0x80 >> (pos % 8);
            }
            prop_assert_eq!(decode_header(&buf).map(|(got, _)| got), Ok(h));
        }

        #[test]
        fn pilot_counts_its_errors((h, symbols) in frame(), flips in proptest::collection::btree_set(0usize..2040, 0..20)) {
            let mut buf = encode(&h, &symbols);
            let pilot = usize::from(h.pilot_bits);
            let flips: Vec<_> = flips.into_iter().filter(|&b| b < pilot).collect();
            for &b in &flips {
                buf[HEADER_BYTES + b / 8] ^= 0x80 >> (b % 8);
            }
            let d = decode_into(&buf, &mut vec![0u8; symbols.len()]).unwrap();
            prop_assert_eq!(d.pilot_errors as usize, flips.len());
            prop_assert_eq!(d.ber_estimate(), (pilot > 0).then(|| flips.len() as f64 / pilot as f64));
        }

        #[test]
        fn truncated_and_padded_frames_are_errors((h, symbols) in frame(), cut in any::<prop::sample::Index>()) {
            let buf = encode(&h, &symbols);
            let mut out = vec![0u8; symbols.len()];
            let n = cut.index(buf.len());
            let truncated = matches!(decode_into(&buf[..n], &mut out), Err(FrameError::Truncated { .. }));
            prop_assert!(truncated);
            let mut longer = buf.clone();
            longer.push(0);
            let too_long = matches!(decode_into(&longer, &mut out), Err(FrameError::TrailingBytes { .. }));
            prop_assert!(too_long);
        }

        #[test]
        fn parser_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..400), out_len in 0usize..400) {
            let mut out = vec![0u8; out_len];
            let _ = decode_into(&buf, &mut out);
        }
    }
}
