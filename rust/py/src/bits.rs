//! Bindings of `semanticnn_core::bits`.
use numpy::{PyReadonlyArray1, PyReadwriteArray1};
use pyo3::prelude::*;
use semanticnn_core::{bits, par};

use crate::error::{detach, slice, slice_mut};

/// Packs `symbols` into `out` (at least `packed_len` bytes); returns the bytes written.
#[pyfunction]
#[pyo3(signature = (symbols, nbits, out, threads=0))]
fn pack_into(
    py: Python<'_>,
    symbols: PyReadonlyArray1<'_, u8>,
    nbits: u8,
    mut out: PyReadwriteArray1<'_, u8>,
    threads: usize,
) -> PyResult<usize> {
    let symbols = slice(&symbols, "symbols")?;
    let out = slice_mut(&mut out, "out")?;
    let threads = par::thread_count(threads, symbols.len());
    detach(py, || bits::pack_threads(symbols, nbits, out, threads))
}

/// Unpacks `len(out)` symbols from `packed` into `out`.
#[pyfunction]
#[pyo3(signature = (packed, nbits, out, threads=0))]
fn unpack_into(
    py: Python<'_>,
    packed: PyReadonlyArray1<'_, u8>,
    nbits: u8,
    mut out: PyReadwriteArray1<'_, u8>,
    threads: usize,
) -> PyResult<()> {
    let packed = slice(&packed, "packed")?;
    let out = slice_mut(&mut out, "out")?;
    let threads = par::thread_count(threads, out.len());
    detach(py, || bits::unpack_threads(packed, nbits, out, threads))
}

/// Bytes that `count` symbols of `nbits` bits occupy once packed.
#[pyfunction]
fn packed_len(count: usize, nbits: u32) -> PyResult<usize> {
    let nbits = bits::check_nbits(nbits).map_err(crate::error::ToPyErr::to_py)?;
    Ok(bits::packed_len(count, nbits))
}

/// Gray-encodes `symbols` in place.
#[pyfunction]
fn gray_encode_inplace(py: Python<'_>, mut symbols: PyReadwriteArray1<'_, u8>) -> PyResult<()> {
    let s = slice_mut(&mut symbols, "symbols")?;
    detach(py, || {
        bits::gray_encode_in_place(s);
        Ok::<_, PyErr>(())
    })
}

/// Gray-decodes `symbols` in place.
#[pyfunction]
fn gray_decode_inplace(py: Python<'_>, mut symbols: PyReadwriteArray1<'_, u8>) -> PyResult<()> {
    let s = slice_mut(&mut symbols, "symbols")?;
    detach(py, || {
        bits::gray_decode_in_place(s);
        Ok::<_, PyErr>(())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pack_into, m)?)?;
    m.add_function(wrap_pyfunction!(unpack_into, m)?)?;
    m.add_function(wrap_pyfunction!(packed_len, m)?)?;
    m.add_function(wrap_pyfunction!(gray_encode_inplace, m)?)?;
    m.add_function(wrap_pyfunction!(gray_decode_inplace, m)?)?;
    Ok(())
}
