//! Bindings of `semanticnn_core::frame`.
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use semanticnn_core::frame::{self, Header};

use crate::error::{detach, slice, ToPyErr};

/// Encodes `symbols` into one wire frame.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn frame_encode<'py>(
    py: Python<'py>,
    symbols: PyReadonlyArray1<'_, u8>,
    nbits: u8,
    model_id: u16,
    seq: u16,
    gray: bool,
    pilot_bits: u16,
) -> PyResult<Bound<'py, PyBytes>> {
    let symbols = slice(&symbols, "symbols")?;
    let header = Header {
        model_id,
        seq,
        nbits,
        count: u32::try_from(symbols.len()).unwrap_or(u32::MAX),
        gray,
        pilot_bits,
    };
    let len = header.check().map_err(ToPyErr::to_py)?;
    let mut out = vec![0u8; len];
    detach(py, || frame::encode_into(symbols, &header, &mut out))?;
    Ok(PyBytes::new(py, &out))
}

/// The decoded header fields of a frame, in the order `frame.py` reads them.
type Fields = (u8, u16, u16, u8, bool, u16, u32, u32);

/// Decodes one wire frame into its symbols and header fields.
#[pyfunction]
fn frame_decode<'py>(py: Python<'py>, buf: &[u8]) -> PyResult<(Bound<'py, PyArray1<u8>>, Fields)> {
    let (header, _) = frame::decode_header(buf).map_err(ToPyErr::to_py)?;
    let symbols = PyArray1::<u8>::zeros(py, header.count as usize, false);
    let mut rw = symbols.readwrite();
    let out = rw.as_slice_mut()?;
    let d = detach(py, || frame::decode_into(buf, out))?;
    drop(rw);
    let h = d.header;
    let fields = (
        frame::VERSION,
        h.model_id,
        h.seq,
        h.nbits,
        h.gray,
        h.pilot_bits,
        d.header_corrections,
        d.pilot_errors,
    );
    Ok((symbols, fields))
}

/// Bytes of a frame of `count` symbols of `nbits` bits and `pilot_bits` pilot bits.
#[pyfunction]
fn frame_encoded_len(count: usize, nbits: u8, pilot_bits: usize) -> usize {
    frame::encoded_len(count, nbits, pilot_bits)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FRAME_HEADER_BYTES", frame::HEADER_BYTES)?;
    m.add("FRAME_VERSION", frame::VERSION)?;
    m.add_function(wrap_pyfunction!(frame_encode, m)?)?;
    m.add_function(wrap_pyfunction!(frame_decode, m)?)?;
    m.add_function(wrap_pyfunction!(frame_encoded_len, m)?)?;
    Ok(())
}
