//! Any bytes as a model file: a typed error, or a model that encodes an image.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semanticnn_core::nn::OwnedModel;

/// Models larger than this are loaded (and so validated) but not run, to keep
/// the executions per second high; MAX_OPS bounds the rest.
const RUN_MACS: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = OwnedModel::from_bytes(data) else {
        return;
    };
    let enc = model.encoder().expect("a loaded model validates");
    if enc.macs() > RUN_MACS {
        return;
    }
    let image = vec![77u8; enc.input_len()];
    let mut arena = vec![0i8; enc.arena_len()];
    let mut work = vec![0i16; enc.work_len()];
    let mut symbols = vec![0u8; enc.num_symbols()];
    enc.encode(&image, &mut arena, &mut work, &mut symbols)
        .expect("a loaded model runs");
    let levels = model.model().head.centers.len;
    assert!(symbols.iter().all(|&s| usize::from(s) < levels));
});
