//! Bindings of `semanticnn_core::frame`: one frame, or a batch of frames
//! (rows of a flat buffer) frame by frame through the same core calls.
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadwriteArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use semanticnn_core::frame::{self, Decoded, FrameError, Header};

use crate::error::{detach, slice, slice_mut, AtRow, ToPyErr};

/// A core frame encoder (`frame::encode_into` or `frame::encode_mapped_into`).
type Encode = fn(&[u8], &Header, &mut [u8]) -> Result<usize, FrameError>;

/// The core encoder of `mapped` (already Gray-mapped) or plain symbols.
fn encoder(mapped: bool) -> Encode {
    if mapped {
        frame::encode_mapped_into
    } else {
        frame::encode_into
    }
}

/// Encodes `symbols` into one wire frame (`mapped`: the symbols are already
/// in their on-air form, see `frame::encode_mapped_into`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn frame_encode<'py>(
    py: Python<'py>,
    symbols: PyReadonlyArray1<'_, u8>,
    nbits: u8,
    model_id: u8,
    seq: u16,
    gray: bool,
    pilot_bits: u16,
    mapped: bool,
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
    detach(py, || encoder(mapped)(symbols, &header, &mut out))?;
    Ok(PyBytes::new(py, &out))
}

/// Encodes row `i` of the flat `symbols` (rows of `count`) into row `i` of
/// the flat `out` (rows of `encoded_len`), with sequence number `seqs[i]`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn frame_encode_batch(
    py: Python<'_>,
    symbols: PyReadonlyArray1<'_, u8>,
    count: usize,
    nbits: u8,
    model_id: u8,
    seqs: PyReadonlyArray1<'_, u16>,
    gray: bool,
    pilot_bits: u16,
    mapped: bool,
    mut out: PyReadwriteArray1<'_, u8>,
) -> PyResult<()> {
    let symbols = slice(&symbols, "symbols")?;
    let seqs = slice(&seqs, "seqs")?;
    let out = slice_mut(&mut out, "out")?;
    let header = Header {
        model_id,
        seq: 0,
        nbits,
        count: u32::try_from(count).unwrap_or(u32::MAX),
        gray,
        pilot_bits,
    };
    let len = header.check().map_err(ToPyErr::to_py)?;
    let rows = seqs.len();
    if symbols.len() != rows.saturating_mul(count) || out.len() != rows.saturating_mul(len) {
        return Err(PyValueError::new_err(format!(
            "{rows} rows need {} symbols and {} output bytes, got {} and {}",
            rows * count,
            rows * len,
            symbols.len(),
            out.len()
        )));
    }
    let encode = encoder(mapped);
    detach(py, || {
        for (i, &seq) in seqs.iter().enumerate() {
            let row = &symbols[i * count..(i + 1) * count];
            let dst = &mut out[i * len..(i + 1) * len];
            encode(row, &Header { seq, ..header }, dst).map_err(|e| AtRow(i, e))?;
        }
        Ok::<_, AtRow<FrameError>>(())
    })
}

/// The decoded header fields of a frame, in the order `frame.py` reads them:
/// version, model_id, seq, nbits, gray, pilot_bits, header_corrections,
/// pilot_errors, ber_estimate, pilot_ber_estimate.
type Fields = (u8, u8, u16, u8, bool, u16, u32, u32, f64, Option<f64>);

fn fields(d: &Decoded) -> Fields {
    let h = d.header;
    (
        frame::VERSION,
        h.model_id,
        h.seq,
        h.nbits,
        h.gray,
        h.pilot_bits,
        d.header_corrections,
        d.pilot_errors,
        d.ber_estimate(),
        d.pilot_ber_estimate(),
    )
}

/// Decodes one wire frame into its symbols and header fields.
#[pyfunction]
fn frame_decode<'py>(py: Python<'py>, buf: &[u8]) -> PyResult<(Bound<'py, PyArray1<u8>>, Fields)> {
    let (header, _) = frame::decode_header(buf).map_err(ToPyErr::to_py)?;
    let symbols = PyArray1::<u8>::zeros(py, header.count as usize, false);
    let mut rw = symbols.readwrite();
    let out = rw.as_slice_mut()?;
    let d = detach(py, || frame::decode_into(buf, out))?;
    drop(rw);
    Ok((symbols, fields(&d)))
}

/// Columns of a batch's integer fields, in the order `frame.py` reads them.
const BATCH_FIELDS: usize = 8;

/// What [`frame_decode_batch`] returns: per row whether it decoded, its
/// error message, its fields (`BATCH_FIELDS` per row, 0 when it failed),
/// its BER estimate (NaN when it failed); the symbols (rows of the largest
/// count, zero-padded) and that count.
type Batch<'py> = (
    Bound<'py, PyArray1<bool>>,
    Vec<Option<String>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u8>>,
    usize,
);

/// Decodes each row of the flat `frames` (rows of `row_len` bytes, row `i`
/// received as its first `lengths[i]` bytes) with the one-frame decoder.
#[pyfunction]
fn frame_decode_batch<'py>(
    py: Python<'py>,
    frames: PyReadonlyArray1<'_, u8>,
    row_len: usize,
    lengths: PyReadonlyArray1<'_, u64>,
) -> PyResult<Batch<'py>> {
    let frames = slice(&frames, "frames")?;
    let lengths = slice(&lengths, "lengths")?;
    let rows = lengths.len();
    if frames.len() != rows.saturating_mul(row_len) {
        return Err(PyValueError::new_err(format!(
            "{rows} frames of {row_len} bytes need {} bytes, got {}",
            rows * row_len,
            frames.len()
        )));
    }
    if let Some(&bad) = lengths.iter().find(|&&n| n > row_len as u64) {
        return Err(PyValueError::new_err(format!(
            "lengths must lie in 0..={row_len}, got {bad}"
        )));
    }
    let (results, flat) = detach(py, || {
        let mut results = Vec::with_capacity(rows);
        // The symbols of every row that decoded, back to back.
        let mut flat = Vec::new();
        for (i, &n) in lengths.iter().enumerate() {
            let row = &frames[i * row_len..i * row_len + n as usize];
            // A frame of `row.len()` bytes holds at most 8 symbols per byte.
            let start = flat.len();
            flat.resize(start + (8 * row.len()).min(frame::MAX_COUNT), 0);
            let r = frame::decode_into(row, &mut flat[start..]);
            flat.truncate(start + r.as_ref().map_or(0, |d| d.header.count as usize));
            results.push(r);
        }
        Ok::<_, PyErr>((results, flat))
    })?;
    let width = results
        .iter()
        .flatten()
        .map(|d| d.header.count as usize)
        .max()
        .unwrap_or(0);
    let mut ok = Vec::with_capacity(rows);
    let mut errors = Vec::with_capacity(rows);
    let mut ints = vec![0i64; rows * BATCH_FIELDS];
    let mut ber = vec![f64::NAN; rows];
    let mut symbols = vec![0u8; rows * width];
    let mut next = 0;
    for (i, r) in results.iter().enumerate() {
        ok.push(r.is_ok());
        errors.push(r.as_ref().err().map(ToString::to_string));
        let Ok(d) = r else { continue };
        let h = d.header;
        let count = h.count as usize;
        ints[i * BATCH_FIELDS..(i + 1) * BATCH_FIELDS].copy_from_slice(&[
            i64::from(h.model_id),
            i64::from(h.seq),
            i64::from(h.count),
            i64::from(h.nbits),
            i64::from(h.gray),
            i64::from(h.pilot_bits),
            i64::from(d.header_corrections),
            i64::from(d.pilot_errors),
        ]);
        ber[i] = d.ber_estimate();
        symbols[i * width..i * width + count].copy_from_slice(&flat[next..next + count]);
        next += count;
    }
    Ok((
        PyArray1::from_vec(py, ok),
        errors,
        PyArray1::from_vec(py, ints),
        PyArray1::from_vec(py, ber),
        PyArray1::from_vec(py, symbols),
        width,
    ))
}

/// Bytes of a frame of `count` symbols of `nbits` bits and `pilot_bits` pilot bits.
#[pyfunction]
fn frame_encoded_len(count: usize, nbits: u8, pilot_bits: usize) -> usize {
    frame::encoded_len(count, nbits, pilot_bits)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FRAME_VERSION", frame::VERSION)?;
    m.add("FRAME_HEADER_BYTES", frame::HEADER_BYTES)?;
    m.add("FRAME_MAX_MODEL_ID", frame::MAX_MODEL_ID)?;
    m.add("FRAME_MAX_SEQ", frame::MAX_SEQ)?;
    m.add("FRAME_MAX_COUNT", frame::MAX_COUNT)?;
    m.add("FRAME_MAX_PILOT_BITS", frame::MAX_PILOT_BITS)?;
    m.add("FRAME_DEVICE_PILOT_BITS", frame::DEVICE_PILOT_BITS)?;
    m.add("FRAME_DEVICE_MODEL_ID", frame::DEVICE_MODEL_ID)?;
    m.add_function(wrap_pyfunction!(frame_encode, m)?)?;
    m.add_function(wrap_pyfunction!(frame_encode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(frame_decode, m)?)?;
    m.add_function(wrap_pyfunction!(frame_decode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(frame_encoded_len, m)?)?;
    Ok(())
}
