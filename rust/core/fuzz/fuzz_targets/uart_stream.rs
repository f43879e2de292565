//! Any bytes as the firmware's UART input, read as the firmware reads it: a
//! header, then `count` images of the model's shape, then the next header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semanticnn_core::stream::{parse_header, HEADER_LEN};

/// The default model's input (H, W, C).
const SHAPE: [usize; 3] = [28, 28, 1];

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while rest.len() >= HEADER_LEN {
        let (header, tail) = rest.split_at(HEADER_LEN);
        let Ok(h) = parse_header(header, SHAPE) else {
            return;
        };
        if h.count == 0 {
            return;
        }
        assert_eq!(
            [usize::from(h.h), usize::from(h.w), usize::from(h.c)],
            SHAPE
        );
        let images = usize::from(h.count) * SHAPE.iter().product::<usize>();
        rest = tail.get(images..).unwrap_or_default();
    }
    assert!(matches!(
        parse_header(rest, SHAPE),
        Err(semanticnn_core::stream::StreamError::Truncated { .. })
    ));
});
