//! Damaged model files give typed errors, never a panic.

use proptest::prelude::*;
use semanticnn_core::nn::load::MAX_FILE_BYTES;
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

#[test]
fn files_that_are_not_model_sized_are_refused_before_reading() {
    let too_big = vec![0u8; usize::try_from(MAX_FILE_BYTES).expect("fits") + 1];
    assert!(matches!(
        OwnedModel::from_bytes(&too_big),
        Err(LoadError::TooLarge(n)) if n == MAX_FILE_BYTES + 1
    ));
    let dir = std::env::temp_dir();
    let err = OwnedModel::from_file(&dir).expect_err("a folder");
    assert!(matches!(err, LoadError::Io(_)), "{err}");
    #[cfg(unix)]
    {
        // A device never ends: without the size check this read would not return.
        let err = OwnedModel::from_file("/dev/zero").expect_err("a device");
        assert!(err.to_string().contains("not a regular file"), "{err}");
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
