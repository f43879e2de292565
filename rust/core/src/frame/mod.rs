//! The wire frame, format version 2: a protected header, an optional pilot
//! field, and the packed symbols, deliberately unprotected (format in
//! docs/wire-format.md).
//!
//! ```text
//! | header: 15 bytes       | pilot: pilot_bits/8 bytes | payload: packed_len(count, nbits) |
//! | 5 Golay(24,12) words,  | known pseudo-random bits  | symbols packed MSB-first,        |
//! | bit-interleaved        | (BER estimate)            | optionally Gray-mapped           |
//! ```
//!
//! The header's 60 information bits are the fields (44 bits) and a CRC-16
//! of them, cut into five 12-bit words, each Golay-encoded (corrects 3
//! errors per word) and interleaved bit by bit, so a burst of up to 5 bits
//! costs each word at most one error (15 bits: three each). No function
//! here allocates or panics on input data.
use core::fmt;

use rand_core::Rng;

use crate::bits::{self, BitsError};
use crate::channel::rng::{stream, Purpose};

pub mod golay;
#[cfg(feature = "std")]
pub mod trials;

/// Format version written in every header.
pub const VERSION: u8 = 2;
/// Bytes of the protected header.
pub const HEADER_BYTES: usize = WORDS * 3;
/// Bits of the protected header.
pub const HEADER_BITS: usize = HEADER_BYTES * 8;
/// Largest model id (8 bits).
pub const MAX_MODEL_ID: u8 = u8::MAX;
/// Largest sequence number (10 bits); senders pass `i % (MAX_SEQ + 1)`.
pub const MAX_SEQ: u16 = (1 << SEQ_BITS) - 1;
/// Largest symbol count (15 bits).
pub const MAX_COUNT: usize = (1 << COUNT_BITS) - 1;
/// Largest pilot field in bits (15 bytes).
pub const MAX_PILOT_BITS: usize = ((1 << PILOT_LEN_BITS) - 1) * 8;
/// Pilot bits of the device's frames (firmware and `semanticnn encode`):
/// none, the edge estimates each frame's BER from the bits the header's
/// Golay code corrected ([`Decoded::ber_estimate`]).
pub const DEVICE_PILOT_BITS: u16 = 0;
/// Model id of the device's frames (firmware and `semanticnn encode`: one
/// model per image).
pub const DEVICE_MODEL_ID: u8 = 0;

const WORDS: usize = 5;
// Field widths, most significant field first (44 bits in all).
const VERSION_BITS: u32 = 3;
const GRAY_BITS: u32 = 1;
const NBITS_BITS: u32 = 3;
const PILOT_LEN_BITS: u32 = 4;
const MODEL_ID_BITS: u32 = 8;
const SEQ_BITS: u32 = 10;
const COUNT_BITS: u32 = 15;
const FIELD_BITS: u32 =
    VERSION_BITS + GRAY_BITS + NBITS_BITS + PILOT_LEN_BITS + MODEL_ID_BITS + SEQ_BITS + COUNT_BITS;
const CRC_BITS: u32 = 16;
const _: () = assert!(FIELD_BITS + CRC_BITS == 12 * WORDS as u32);
const _: () = assert!(VERSION < 1 << VERSION_BITS);
const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// The fields of a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which model (and so which decoder) produced the symbols, 0..=255.
    pub model_id: u8,
    /// Sequence number of the frame, 0..=[`MAX_SEQ`] (senders wrap it:
    /// `i % 1024`); also seeds the pilot.
    pub seq: u16,
    /// Bits per symbol, 1..=8.
    pub nbits: u8,
    /// Number of symbols in the payload, 0..=[`MAX_COUNT`] (the encoders
    /// take it from the symbols they are given).
    pub count: u32,
    /// Whether the payload's symbol indices are Gray-mapped.
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
    /// The frame's BER estimated from every bit the receiver knows: the
    /// header bits the Golay code corrected and the pilot bits received
    /// wrong, over the header's [`HEADER_BITS`] and the pilot's bits.
    pub fn ber_estimate(&self) -> f64 {
        let wrong = f64::from(self.header_corrections) + f64::from(self.pilot_errors);
        wrong / (HEADER_BITS as f64 + f64::from(self.header.pilot_bits))
    }

    /// The frame's BER estimated from its pilot alone, `None` without a pilot.
    pub fn pilot_ber_estimate(&self) -> Option<f64> {
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
    /// A decoded header field holds an impossible value (every value of
    /// every version-2 field is valid, so version 2 never gives this).
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
        range("seq", usize::from(self.seq), usize::from(MAX_SEQ))?;
        range("count", self.count as usize, MAX_COUNT)?;
        let pilot = usize::from(self.pilot_bits);
        range("pilot_bits", pilot, MAX_PILOT_BITS)?;
        if pilot % 8 != 0 {
            return Err(FrameError::PilotNotWholeBytes(pilot));
        }
        Ok(encoded_len(self.count as usize, nbits, pilot))
    }

    /// The 44 field bits, most significant first (fields already checked).
    fn fields(&self) -> u64 {
        let mut v = 0u64;
        let mut put = |width: u32, x: u32| v = (v << width) | u64::from(x & ((1 << width) - 1));
        put(VERSION_BITS, u32::from(VERSION));
        put(GRAY_BITS, u32::from(self.gray));
        put(NBITS_BITS, u32::from(self.nbits).saturating_sub(1));
        put(PILOT_LEN_BITS, u32::from(self.pilot_bits / 8));
        put(MODEL_ID_BITS, u32::from(self.model_id));
        put(SEQ_BITS, u32::from(self.seq));
        put(COUNT_BITS, self.count);
        v
    }

    fn from_fields(v: u64) -> Result<Self, FrameError> {
        // Read the fields back from the most significant one.
        let mut shift = FIELD_BITS;
        let mut get = |width: u32| {
            shift -= width;
            ((v >> shift) & ((1 << width) - 1)) as u32
        };
        let version = get(VERSION_BITS) as u8;
        if version != VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        Ok(Header {
            gray: get(GRAY_BITS) != 0,
            nbits: get(NBITS_BITS) as u8 + 1,
            pilot_bits: get(PILOT_LEN_BITS) as u16 * 8,
            model_id: get(MODEL_ID_BITS) as u8,
            seq: get(SEQ_BITS) as u16,
            count: get(COUNT_BITS),
        })
    }
}

/// CRC-16 of the 44 field bits, left-aligned in 6 bytes (the last 4 bits zero).
fn crc_of(fields: u64) -> u16 {
    let bytes = (fields << 4).to_be_bytes();
    CRC16.checksum(&bytes[2..])
}

/// Stream bit of header bit `j` (MSB-first) of word `w`: bit-interleaved.
const fn header_bit(w: usize, j: usize) -> usize {
    j * WORDS + w
}

fn write_header(h: &Header, out: &mut [u8; HEADER_BYTES]) {
    let fields = h.fields();
    let info = (fields << CRC_BITS) | u64::from(crc_of(fields));
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
    let mut info = 0u64;
    let mut corrected = 0;
    for w in 0..WORDS {
        let mut word = 0u32;
        for j in 0..24 {
            let pos = header_bit(w, j);
            word = (word << 1) | u32::from((raw[pos / 8] >> (7 - pos % 8)) & 1);
        }
        let (data, fixed) =
            golay::decode(word).ok_or(FrameError::HeaderUncorrectable { word: w })?;
        info = (info << 12) | u64::from(data);
        corrected += fixed;
    }
    let fields = info >> CRC_BITS;
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
/// number of bytes written ([`encoded_len`]). With `header.gray` the
/// symbols are Gray-mapped on the way. Never allocates.
pub fn encode_into(symbols: &[u8], header: &Header, out: &mut [u8]) -> Result<usize, FrameError> {
    write_frame(symbols, header, header.gray, out)
}

/// [`encode_into`] for symbols already in their on-air form: they are
/// packed as they are, and `header.gray` only says whether they are
/// Gray-mapped (as a model head with `gray` emits them,
/// docs/model-format.md). So `encode_mapped_into(gray(s), h)` with
/// `h.gray` gives the bytes of `encode_into(s, h)`.
pub fn encode_mapped_into(
    symbols: &[u8],
    header: &Header,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    write_frame(symbols, header, false, out)
}

fn write_frame(
    symbols: &[u8],
    header: &Header,
    map_gray: bool,
    out: &mut [u8],
) -> Result<usize, FrameError> {
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
    if !map_gray {
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
/// `header.count` elements of `symbols_out` (Gray-decoded when the header
/// says they were mapped). Never allocates or panics.
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
    use proptest::prelude::*;

    fn header() -> impl Strategy<Value = Header> {
        (
            any::<u8>(),
            0..=MAX_SEQ,
            1u8..=8,
            any::<bool>(),
            0u16..=(MAX_PILOT_BITS / 8) as u16,
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

    fn flip(buf: &mut [u8], pos: usize) {
        buf[pos / 8] ^= 0x80 >> (pos % 8);
    }

    #[test]
    #[allow(clippy::unusual_byte_groupings)] // digits grouped by field
    fn fields_are_laid_out_as_documented() {
        let h = Header {
            model_id: 0xA5,
            seq: 0x3FF,
            nbits: 3,
            count: 147,
            gray: true,
            pilot_bits: 64,
        };
        // version 010 | gray 1 | nbits-1 010 | pilot bytes 1000 |
        // model_id 10100101 | seq 1111111111 | count 000000010010011
        let want = 0b010_1_010_1000_1010_0101_11_1111_1111_000_0000_1001_0011u64;
        assert_eq!(h.fields(), want);
        assert_eq!(Header::from_fields(want), Ok(h));
        // The CRC of the 44 bits left-aligned in 6 bytes.
        let bytes = (want << 4).to_be_bytes();
        assert_eq!(CRC16.checksum(b"123456789"), 0x29B1); // CRC-16/IBM-3740
        assert_eq!(crc_of(want), CRC16.checksum(&bytes[2..]));
        assert_eq!((bytes[0], bytes[1], bytes[7] & 0xF), (0, 0, 0));
        assert_eq!(HEADER_BYTES, 15);
        assert_eq!(encoded_len(147, 3, 0), 15 + 56);
    }

    #[test]
    fn other_versions_are_refused() {
        let h = Header {
            model_id: 1,
            seq: 2,
            nbits: 3,
            count: 4,
            gray: false,
            pilot_bits: 0,
        };
        for version in (0..8u64).filter(|&v| v != u64::from(VERSION)) {
            let fields = (h.fields() & !(0b111 << 41)) | (version << 41);
            let info = (fields << CRC_BITS) | u64::from(crc_of(fields));
            let mut buf = [0u8; HEADER_BYTES];
            for w in 0..WORDS {
                let code = golay::encode(((info >> (12 * (WORDS - 1 - w))) & 0xFFF) as u16);
                for j in (0..24).filter(|j| code & (1 << (23 - j)) != 0) {
                    flip(&mut buf, header_bit(w, j));
                }
            }
            assert_eq!(
                decode_header(&buf),
                Err(FrameError::UnsupportedVersion(version as u8))
            );
        }
    }

    #[test]
    fn a_miscorrected_word_never_passes_the_crc() {
        // A word the Golay decoder miscorrects holds another codeword: its
        // 12 data bits are wrong, a burst of <= 12 bits of the CRC's
        // message (<= 16 with the 4 padding bits inside it), which
        // CRC-16 always detects. So a wrong header needs two miscorrected
        // words and a CRC collision. Every such pattern, in every word:
        let h = Header {
            model_id: 200,
            seq: 1000,
            nbits: 8,
            count: 3,
            gray: true,
            pilot_bits: 120,
        };
        let clean = encode(&h, &[1, 2, 3]);
        for w in 0..WORDS {
            for e in 1..4096u16 {
                let mut buf = clean.clone();
                let code = golay::encode(e);
                for j in (0..24).filter(|j| code & (1 << (23 - j)) != 0) {
                    flip(&mut buf, header_bit(w, j));
                }
                assert_eq!(decode_header(&buf), Err(FrameError::HeaderCrc), "{w} {e}");
            }
        }
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
                seq: MAX_SEQ + 1,
                ..h
            },
            Header {
                pilot_bits: 12,
                ..h
            },
            Header {
                pilot_bits: MAX_PILOT_BITS as u16 + 8,
                ..h
            },
        ];
        for b in bad {
            assert!(encode_into(&[], &b, &mut out).is_err(), "{b:?}");
        }
        assert_eq!(
            encode_into(&vec![0; MAX_COUNT + 1], &h, &mut out),
            Err(FrameError::FieldOutOfRange {
                field: "count",
                value: MAX_COUNT + 1,
                max: MAX_COUNT
            })
        );
        let full = vec![15; MAX_COUNT];
        let mut big = vec![0u8; encoded_len(MAX_COUNT, 4, 0)];
        assert_eq!(encode_into(&full, &h, &mut big), Ok(big.len()));
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

    #[test]
    fn ber_estimate_counts_header_and_pilot_errors() {
        let h = Header {
            model_id: 9,
            seq: 5,
            nbits: 2,
            count: 0,
            gray: false,
            pilot_bits: 40,
        };
        let mut buf = encode(&h, &[1, 2, 3]);
        for pos in [0, 7, 60, HEADER_BITS + 3] {
            flip(&mut buf, pos);
        }
        let d = decode_into(&buf, &mut [0u8; 3]).unwrap();
        assert_eq!((d.header_corrections, d.pilot_errors), (3, 1));
        assert_eq!(d.ber_estimate(), 4.0 / 160.0);
        assert_eq!(d.pilot_ber_estimate(), Some(1.0 / 40.0));
        let bare = encode(&Header { pilot_bits: 0, ..h }, &[1]);
        let d = decode_into(&bare, &mut [0u8; 1]).unwrap();
        assert_eq!((d.ber_estimate(), d.pilot_ber_estimate()), (0.0, None));
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
        fn mapped_symbols_give_the_same_frame((h, symbols) in frame()) {
            let buf = encode(&h, &symbols);
            let mut on_air = symbols.clone();
            if h.gray {
                bits::gray_encode_in_place(&mut on_air);
            }
            let mut mapped = vec![0u8; buf.len()];
            prop_assert_eq!(encode_mapped_into(&on_air, &h, &mut mapped), Ok(buf.len()));
            prop_assert_eq!(mapped, buf);
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
                    flip(&mut buf, header_bit(w, j));
                    total += 1;
                }
            }
            prop_assert_eq!(decode_header(&buf), Ok((h, total)));
        }

        #[test]
        fn four_errors_in_a_word_are_refused(
            h in header(),
            w in 0..WORDS,
            bits in proptest::collection::btree_set(0usize..24, 4),
        ) {
            let mut buf = encode(&h, &[]);
            for &j in &bits {
                flip(&mut buf, header_bit(w, j));
            }
            prop_assert_eq!(decode_header(&buf), Err(FrameError::HeaderUncorrectable { word: w }));
        }

        #[test]
        fn bursts_up_to_15_bits_are_corrected(h in header(), start in 0usize..HEADER_BITS, len in 0usize..=15) {
            let mut buf = encode(&h, &[]);
            for pos in (start..start + len).filter(|&p| p < HEADER_BITS) {
                flip(&mut buf, pos);
            }
            prop_assert_eq!(decode_header(&buf).map(|(got, _)| got), Ok(h));
        }

        #[test]
        fn pilot_counts_its_errors((h, symbols) in frame(), flips in proptest::collection::btree_set(0usize..MAX_PILOT_BITS, 0..20)) {
            let mut buf = encode(&h, &symbols);
            let pilot = usize::from(h.pilot_bits);
            let flips: Vec<_> = flips.into_iter().filter(|&b| b < pilot).collect();
            for &b in &flips {
                flip(&mut buf, HEADER_BITS + b);
            }
            let d = decode_into(&buf, &mut vec![0u8; symbols.len()]).unwrap();
            prop_assert_eq!(d.pilot_errors as usize, flips.len());
            prop_assert_eq!(d.pilot_ber_estimate(), (pilot > 0).then(|| flips.len() as f64 / pilot as f64));
            prop_assert_eq!(d.ber_estimate(), flips.len() as f64 / (HEADER_BITS + pilot) as f64);
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
        fn short_output_buffers_are_errors((h, symbols) in frame().prop_filter("symbols", |(_, s)| !s.is_empty())) {
            let buf = encode(&h, &symbols);
            let short = decode_into(&buf, &mut vec![0u8; symbols.len() - 1]);
            prop_assert_eq!(short, Err(FrameError::BufferTooSmall { needed: symbols.len(), got: symbols.len() - 1 }));
            let mut out = vec![0u8; buf.len() - 1];
            let len = buf.len();
            prop_assert_eq!(encode_into(&symbols, &h, &mut out), Err(FrameError::BufferTooSmall { needed: len, got: len - 1 }));
        }

        #[test]
        fn parser_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..400), out_len in 0usize..400) {
            let mut out = vec![0u8; out_len];
            let _ = decode_into(&buf, &mut out);
        }

        #[test]
        fn damaged_frames_never_panic((h, symbols) in frame(), flips in proptest::collection::vec(any::<prop::sample::Index>(), 0..40), cut in any::<prop::sample::Index>()) {
            let mut buf = encode(&h, &symbols);
            let bits = buf.len() * 8;
            for f in &flips {
                flip(&mut buf, f.index(bits));
            }
            let n = cut.index(buf.len() + 1);
            let mut out = vec![0u8; MAX_COUNT];
            let _ = decode_into(&buf[..n], &mut out);
        }
    }
}
