//! Damaged model files give typed errors, never a panic.

use proptest::prelude::*;
use semanticnn_core::nn::{LoadError, OwnedModel};

fn default_bytes() -> Vec<u8> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/default.safetensors"
    );
    std::fs::read(p).expect("vector file")
}

#[test]
fn truncated_files_are_rejected() {
    let bytes = default_bytes();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = OwnedModel::from_bytes(&bytes[..cut]).expect_err("truncated");
        assert!(matches!(err, LoadError::Safetensors(_)), "cut {cut}: {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn damaged_files_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = default_bytes();
        let n = bytes.len();
        for (i, v) in flips {
            bytes[i.index(n)] ^= v | 1;
        }
        if let Ok(m) = OwnedModel::from_bytes(&bytes) {
            // Only weight/bias bytes changed: still a valid model that runs.
            let enc = m.encoder().expect("validated at load");
            let mut arena = vec![0i8; enc.arena_len()];
            let mut work = vec![0i16; enc.work_len()];
            let mut sym = vec![0u8; enc.num_symbols()];
            enc.encode(&vec![7u8; enc.input_len()], &mut arena, &mut work, &mut sym).expect("runs");
        }
    }
}
