//! What the firmware build (`firmware-rs/build.rs`, on the host) and the host
//! tools agree on: how many test images are baked into the firmware, where
//! they are found beside a model, and the lengths of a board's memory regions
//! read from its `memory.x` linker script; and each board's clock tree
//! ([`clock`]).

use core::fmt;

pub mod clock;

/// RTT buffer sizes of the boards with a debug probe (`firmware-rs/src/rtt.rs`):
/// defmt log lines, and the frames channel, which holds the baked images'
/// records until a probe attaches. The build counts them in the RAM a model
/// needs ([`RTT_RAM`]).
pub const RTT_LOG_BUFFER: usize = 1024;
pub const RTT_FRAMES_BUFFER: usize = 8192;
/// RAM the RTT section takes: both buffers and the control block (24 bytes
/// per channel plus a 24-byte header), rounded up.
pub const RTT_RAM: usize = RTT_LOG_BUFFER + RTT_FRAMES_BUFFER + 128;

/// Most test images baked into the firmware: the first `BAKED_IMAGES` of the
/// images file are written, and the export writes no more than these.
pub const BAKED_IMAGES: usize = 16;

/// The test images of model `<stem>.safetensors` are `<stem>` + this suffix,
/// beside it (a uint8 `.npy`, N x H x W x C).
pub const IMAGES_SUFFIX: &str = "_images.npy";

/// The images file beside `model`: `<stem>_images.npy` ([`IMAGES_SUFFIX`];
/// stem `model` when the path has none).
#[cfg(feature = "std")]
pub fn images_file(model: &std::path::Path) -> std::path::PathBuf {
    let stem = model
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    model.with_file_name(std::format!("{stem}{IMAGES_SUFFIX}"))
}

/// The golden test model, relative to the repository root: what the firmware
/// bakes when no run has been exported yet.
pub const FALLBACK_MODEL: &str = "tests/vectors/default.safetensors";

/// The model the firmware bakes when none is given: the default run's export
/// ([`crate::DEFAULT_RUN`]/[`crate::ENCODER_FILE`]) when it exists, else
/// [`FALLBACK_MODEL`].
#[cfg(feature = "std")]
pub fn default_model(repo: &std::path::Path) -> std::path::PathBuf {
    let trained = repo.join(crate::DEFAULT_RUN).join(crate::ENCODER_FILE);
    if trained.is_file() {
        trained
    } else {
        repo.join(FALLBACK_MODEL)
    }
}

/// A region of a linker script's `MEMORY` block, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub origin: u32,
    pub length: u32,
}

/// Why a region could not be read from a `memory.x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// No line defines a region of that name.
    NoRegion,
    /// The region's line does not read `ORIGIN = <n>, LENGTH = <n>[K|M]`.
    Malformed,
    /// A number does not fit 32 bits.
    TooLarge,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoRegion => "no such region",
            Self::Malformed => "the region does not read `ORIGIN = <n>, LENGTH = <n>[K|M]`",
            Self::TooLarge => "a number does not fit 32 bits",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for MemoryError {}

/// The region called `name` in the text of a `memory.x`: the first line
/// `name [(attributes)] : ORIGIN = <n>, LENGTH = <n>[K|M]`, numbers decimal
/// or `0x` hexadecimal, `K` = 1024 and `M` = 1024 * 1024. No allocation.
pub fn region(memory_x: &str, name: &str) -> Result<Region, MemoryError> {
    let rest = memory_x
        .lines()
        .find_map(|line| region_line(line, name))
        .ok_or(MemoryError::NoRegion)?;
    let (origin, rest) = number(key(rest, "ORIGIN")?)?;
    let rest = rest
        .trim_start()
        .strip_prefix(',')
        .ok_or(MemoryError::Malformed)?;
    let (length, _) = number(key(rest, "LENGTH")?)?;
    Ok(Region { origin, length })
}

/// `LENGTH` of the region called `name` in a `memory.x`, in bytes ([`region`]).
pub fn region_length(memory_x: &str, name: &str) -> Result<u32, MemoryError> {
    region(memory_x, name).map(|r| r.length)
}

/// What follows the `:` of `line` when it defines region `name`.
fn region_line<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.trim_start().strip_prefix(name)?.trim_start();
    let rest = match rest.strip_prefix('(') {
        Some(attributes) => attributes.split_once(')')?.1.trim_start(),
        None => rest,
    };
    rest.strip_prefix(':')
}

/// What follows `<key> =` at the start of `s`.
fn key<'a>(s: &'a str, key: &str) -> Result<&'a str, MemoryError> {
    s.trim_start()
        .strip_prefix(key)
        .and_then(|r| r.trim_start().strip_prefix('='))
        .ok_or(MemoryError::Malformed)
}

/// A number at the start of `s` (after spaces) with its `K`/`M` suffix, and the rest.
fn number(s: &str) -> Result<(u32, &str), MemoryError> {
    let s = s.trim_start();
    let (radix, s) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (16, hex),
        None => (10, s),
    };
    let end = s.find(|c: char| !c.is_digit(radix)).unwrap_or(s.len());
    if end == 0 {
        return Err(MemoryError::Malformed);
    }
    let value = u32::from_str_radix(&s[..end], radix).map_err(|_| MemoryError::TooLarge)?;
    let rest = &s[end..];
    let (scale, rest) = match rest.as_bytes().first() {
        Some(b'K') => (1024, &rest[1..]),
        Some(b'M') => (1024 * 1024, &rest[1..]),
        _ => (1, rest),
    };
    let value = value.checked_mul(scale).ok_or(MemoryError::TooLarge)?;
    Ok((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NETDUINO: &str = "/* Netduino Plus 2 */\nMEMORY\n{\n  \
        FLASH : ORIGIN = 0x08000000, LENGTH = 1024K\n  \
        RAM   : ORIGIN = 0x20000000, LENGTH = 128K\n}\n";

    #[test]
    fn reads_the_boards_regions() {
        assert_eq!(
            region(NETDUINO, "FLASH"),
            Ok(Region {
                origin: 0x0800_0000,
                length: 1024 * 1024
            })
        );
        assert_eq!(region_length(NETDUINO, "RAM"), Ok(128 * 1024));
        assert_eq!(region(NETDUINO, "CCMRAM"), Err(MemoryError::NoRegion));
    }

    #[test]
    fn attributes_suffixes_and_bad_lines() {
        let text = "FLASH (rx) : ORIGIN = 0, LENGTH = 2M\nRAM2 : ORIGIN = 1, LENGTH = 1\n";
        assert_eq!(region_length(text, "FLASH"), Ok(2 * 1024 * 1024));
        // `RAM` does not match `RAM2`.
        assert_eq!(region(text, "RAM"), Err(MemoryError::NoRegion));
        assert_eq!(region_length(text, "RAM2"), Ok(1));
        assert_eq!(
            region("RAM : LENGTH = 1K, ORIGIN = 0", "RAM"),
            Err(MemoryError::Malformed)
        );
        assert_eq!(
            region("RAM : ORIGIN = 0, LENGTH = K", "RAM"),
            Err(MemoryError::Malformed)
        );
        assert_eq!(
            region("RAM : ORIGIN = 0, LENGTH = 4096M", "RAM"),
            Err(MemoryError::TooLarge)
        );
        assert_eq!(
            region("RAM : ORIGIN = 0x100000000, LENGTH = 1", "RAM"),
            Err(MemoryError::TooLarge)
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn images_beside_the_model() {
        let p = images_file(std::path::Path::new("runs/x/encoder.safetensors"));
        assert_eq!(p, std::path::Path::new("runs/x/encoder_images.npy"));
    }

    proptest! {
        #[test]
        fn round_trips(
            name in "[A-Z][A-Z0-9_]{0,8}",
            origin in any::<u32>(),
            length in 0u32..=4_194_303,
            unit in 0usize..3,
            hex in any::<bool>(),
            attributes in any::<bool>(),
        ) {
            let (suffix, scale) = [("", 1), ("K", 1024), ("M", 1024 * 1024)][unit];
            prop_assume!(length.checked_mul(scale).is_some());
            let origin_text = if hex { std::format!("{origin:#x}") } else { origin.to_string() };
            let attrs = if attributes { " (rwx)" } else { "" };
            let text = std::format!(
                "MEMORY\n{{\n  {name}{attrs} : ORIGIN = {origin_text}, LENGTH = {length}{suffix}\n}}\n"
            );
            prop_assert_eq!(
                region(&text, &name),
                Ok(Region { origin, length: length * scale })
            );
        }

        #[test]
        fn never_panics(text in "\\PC{0,80}", name in "[A-Z]{1,5}") {
            let _ = region(&text, &name);
        }
    }
}
