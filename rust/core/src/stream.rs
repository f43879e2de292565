//! The header of an image stream sent to the device over a serial link (the
//! firmware's UART input): 12 bytes, little-endian, then `count` images of
//! `h * w * c` uint8 bytes each (HWC).
//!
//! | bytes | field                          |
//! |-------|--------------------------------|
//! | 0..4  | magic `SNNI`                   |
//! | 4     | version (1)                    |
//! | 5     | channels `c`                   |
//! | 6..8  | height `h` (u16)               |
//! | 8..10 | width `w` (u16)                |
//! | 10..12| image count (u16; 0 = the end) |
//!
//! The device parses every header it receives; bad input is a typed error,
//! never a panic.

use core::fmt;

/// The stream's magic bytes.
pub const MAGIC: [u8; 4] = *b"SNNI";
/// The version this parser reads.
pub const VERSION: u8 = 1;
/// Bytes of a header.
pub const HEADER_LEN: usize = 12;

/// A parsed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    pub h: u16,
    pub w: u16,
    pub c: u8,
    /// Images that follow; 0 ends the stream.
    pub count: u16,
}

/// Why a header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Truncated { got: usize },
    /// The first four bytes are not [`MAGIC`].
    BadMagic([u8; 4]),
    /// A version this parser does not read.
    BadVersion(u8),
    /// The images are not the shape the model takes (`want` is H, W, C).
    WrongShape { got: [usize; 3], want: [usize; 3] },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { got } => {
                write!(f, "header truncated: {got} bytes of {HEADER_LEN}")
            }
            Self::BadMagic(m) => write!(f, "bad magic {m:02x?}, expected \"SNNI\""),
            Self::BadVersion(v) => write!(f, "stream version {v}, this device reads {VERSION}"),
            Self::WrongShape { got, want } => write!(
                f,
                "images are {}x{}x{}, the model takes {}x{}x{}",
                got[0], got[1], got[2], want[0], want[1], want[2]
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for StreamError {}

/// Parse a header and check that its images are `want` = (H, W, C); an end
/// header (count 0) is accepted whatever its shape.
pub fn parse_header(bytes: &[u8], want: [usize; 3]) -> Result<ImageHeader, StreamError> {
    let b: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(StreamError::Truncated { got: bytes.len() })?;
    let magic = [b[0], b[1], b[2], b[3]];
    if magic != MAGIC {
        return Err(StreamError::BadMagic(magic));
    }
    if b[4] != VERSION {
        return Err(StreamError::BadVersion(b[4]));
    }
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let header = ImageHeader {
        c: b[5],
        h: u16_at(6),
        w: u16_at(8),
        count: u16_at(10),
    };
    let got = [
        usize::from(header.h),
        usize::from(header.w),
        usize::from(header.c),
    ];
    if header.count != 0 && got != want {
        return Err(StreamError::WrongShape { got, want });
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(c: u8, h: u16, w: u16, count: u16) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4] = VERSION;
        b[5] = c;
        b[6..8].copy_from_slice(&h.to_le_bytes());
        b[8..10].copy_from_slice(&w.to_le_bytes());
        b[10..12].copy_from_slice(&count.to_le_bytes());
        b
    }

    #[test]
    fn errors() {
        let want = [28, 28, 1];
        assert_eq!(
            parse_header(&header(1, 28, 28, 3)[..11], want),
            Err(StreamError::Truncated { got: 11 })
        );
        let mut bad = header(1, 28, 28, 3);
        bad[0] = b'X';
        assert!(matches!(
            parse_header(&bad, want),
            Err(StreamError::BadMagic(_))
        ));
        bad = header(1, 28, 28, 3);
        bad[4] = 2;
        assert_eq!(parse_header(&bad, want), Err(StreamError::BadVersion(2)));
        assert_eq!(
            parse_header(&header(3, 28, 28, 3), want),
            Err(StreamError::WrongShape {
                got: [28, 28, 3],
                want
            })
        );
        assert_eq!(
            parse_header(&header(3, 1, 1, 0), want).map(|h| h.count),
            Ok(0)
        );
    }

    proptest! {
        #[test]
        fn round_trip(c: u8, h: u16, w: u16, count: u16, tail in prop::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = header(c, h, w, count).to_vec();
            bytes.extend(tail);
            let want = [usize::from(h), usize::from(w), usize::from(c)];
            prop_assert_eq!(parse_header(&bytes, want), Ok(ImageHeader { h, w, c, count }));
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..24), h in 0usize..300, w in 0usize..300, c in 0usize..300) {
            let _ = parse_header(&bytes, [h, w, c]);
        }
    }
}
