//! Any bytes as a received frame: a typed error or symbols below 2^nbits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semanticnn_core::frame::{decode_into, MAX_COUNT};

fuzz_target!(|data: &[u8]| {
    let mut symbols = vec![0u8; MAX_COUNT];
    if let Ok(d) = decode_into(data, &mut symbols) {
        let count = d.header.count as usize;
        assert!(count <= MAX_COUNT);
        assert!(symbols[..count]
            .iter()
            .all(|&s| u32::from(s) < 1u32 << d.header.nbits));
    }
});
