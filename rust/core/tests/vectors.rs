//! The golden vectors in `tests/vectors/` (made by `tests/vectors/make_vectors.py`
//! from the numpy reference): the Rust encoder must give the same symbols.

use std::path::PathBuf;

use semanticnn_core::nn::{Kernel, OwnedModel};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

/// A minimal `.npy` reader for uint8 arrays: returns (shape, data).
fn read_npy_u8(name: &str) -> (Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(vectors().join(name)).expect("vector file");
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{name}: not an npy file");
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).expect("ascii header");
    assert!(
        header.contains("'descr': '|u1'"),
        "{name}: not uint8: {header}"
    );
    assert!(
        header.contains("'fortran_order': False"),
        "{name}: not C order"
    );
    let inside = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape");
    let shape = inside
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("dim"))
        .collect();
    (shape, bytes[start + hlen..].to_vec())
}

fn check(name: &str) {
    let owned =
        OwnedModel::from_file(vectors().join(format!("{name}.safetensors"))).expect("model loads");
    let enc = owned.encoder().expect("valid");
    let (ishape, images) = read_npy_u8(&format!("{name}_images.npy"));
    let (sshape, want) = read_npy_u8(&format!("{name}_symbols.npy"));
    assert_eq!(ishape[1..].iter().product::<usize>(), enc.input_len());
    assert_eq!(sshape, vec![ishape[0], enc.num_symbols()]);
    let mut arena = vec![0i8; enc.arena_len()];
    let mut work = vec![0i16; enc.work_len()];
    let mut got = vec![0u8; want.len()];
    for (img, sym) in images
        .chunks(enc.input_len())
        .zip(got.chunks_mut(enc.num_symbols()))
    {
        enc.encode(img, &mut arena, &mut work, sym).expect("encode");
    }
    assert_eq!(got, want, "{name}: single-image path");
    for threads in [1, 3] {
        let mut batch = vec![0u8; want.len()];
        enc.encode_batch(&images, &mut batch, threads)
            .expect("batch");
        assert_eq!(batch, want, "{name}: batch on {threads} threads");
    }
    // Every kernel this CPU runs.
    for kernel in Kernel::ALL.into_iter().filter(|k| k.available()) {
        let mut batch = vec![0u8; want.len()];
        owned
            .encode_batch_with(&images, &mut batch, 2, kernel)
            .expect("batch");
        assert_eq!(batch, want, "{name}: {kernel:?} kernel");
    }
}

#[test]
fn default_architecture() {
    check("default");
}

#[test]
fn every_layer_type() {
    check("mixed");
}

#[test]
fn padding_per_side() {
    check("same");
}
