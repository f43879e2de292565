//! Bindings of `semanticnn_core::channel`.
use numpy::{PyReadonlyArray1, PyReadwriteArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use semanticnn_core::channel::{self, bsc, gilbert_elliott, rows, GilbertElliott, Modulation};
use semanticnn_core::par;

use crate::error::{detach, slice, slice_mut, ToPyErr};

/// Binary symmetric channel in place on `buf`.
#[pyfunction]
#[pyo3(signature = (buf, ber, seed, threads=0))]
fn bsc_inplace(
    py: Python<'_>,
    mut buf: PyReadwriteArray1<'_, u8>,
    ber: f64,
    seed: u64,
    threads: usize,
) -> PyResult<()> {
    let buf = slice_mut(&mut buf, "buf")?;
    let threads = par::thread_count(threads, buf.len());
    detach(py, || bsc::bsc_threads(buf, ber, seed, threads))
}

/// Gilbert–Elliott channel in place on `buf`.
#[pyfunction]
#[pyo3(signature = (buf, p_gb, p_bg, ber_good, ber_bad, seed, threads=0))]
#[allow(clippy::too_many_arguments)]
fn gilbert_elliott_inplace(
    py: Python<'_>,
    mut buf: PyReadwriteArray1<'_, u8>,
    p_gb: f64,
    p_bg: f64,
    ber_good: f64,
    ber_bad: f64,
    seed: u64,
    threads: usize,
) -> PyResult<()> {
    let buf = slice_mut(&mut buf, "buf")?;
    let params = GilbertElliott {
        p_gb,
        p_bg,
        ber_good,
        ber_bad,
    };
    let threads = par::thread_count(threads, buf.len());
    detach(py, || {
        gilbert_elliott::gilbert_elliott_threads(buf, &params, seed, threads)
    })
}

/// [`bsc_inplace`] on each row of `buf` (rows of `row_len` bytes): row `i`
/// at `bers[i]` from `seeds[i]`.
#[pyfunction]
#[pyo3(signature = (buf, row_len, bers, seeds, threads=0))]
fn bsc_rows_inplace(
    py: Python<'_>,
    mut buf: PyReadwriteArray1<'_, u8>,
    row_len: usize,
    bers: PyReadonlyArray1<'_, f64>,
    seeds: PyReadonlyArray1<'_, u64>,
    threads: usize,
) -> PyResult<()> {
    let buf = slice_mut(&mut buf, "buf")?;
    let (bers, seeds) = (slice(&bers, "bers")?, slice(&seeds, "seeds")?);
    let threads = par::thread_count(threads, buf.len());
    detach(py, || rows::bsc_rows(buf, row_len, bers, seeds, threads))
}

/// [`gilbert_elliott_inplace`] on each row of `buf`: row `i` with the `i`-th
/// of each parameter, from `seeds[i]`.
#[pyfunction]
#[pyo3(signature = (buf, row_len, p_gb, p_bg, ber_good, ber_bad, seeds, threads=0))]
#[allow(clippy::too_many_arguments)]
fn gilbert_elliott_rows_inplace(
    py: Python<'_>,
    mut buf: PyReadwriteArray1<'_, u8>,
    row_len: usize,
    p_gb: PyReadonlyArray1<'_, f64>,
    p_bg: PyReadonlyArray1<'_, f64>,
    ber_good: PyReadonlyArray1<'_, f64>,
    ber_bad: PyReadonlyArray1<'_, f64>,
    seeds: PyReadonlyArray1<'_, u64>,
    threads: usize,
) -> PyResult<()> {
    let buf = slice_mut(&mut buf, "buf")?;
    let columns = [
        slice(&p_gb, "p_gb")?,
        slice(&p_bg, "p_bg")?,
        slice(&ber_good, "ber_good")?,
        slice(&ber_bad, "ber_bad")?,
    ];
    let seeds = slice(&seeds, "seeds")?;
    let rows = seeds.len();
    if let Some(short) = columns.iter().position(|c| c.len() != rows) {
        let name = ["p_gb", "p_bg", "ber_good", "ber_bad"][short];
        let got = columns[short].len();
        return Err(PyValueError::new_err(format!(
            "{name}: {got} values for {rows} rows, one per row"
        )));
    }
    let params: Vec<GilbertElliott> = (0..rows)
        .map(|i| GilbertElliott {
            p_gb: columns[0][i],
            p_bg: columns[1][i],
            ber_good: columns[2][i],
            ber_bad: columns[3][i],
        })
        .collect();
    let threads = par::thread_count(threads, buf.len());
    detach(py, || {
        rows::gilbert_elliott_rows(buf, row_len, &params, seeds, threads)
    })
}

/// Mean BER of the Gilbert–Elliott channel (`ber_good` when
/// `p_gb = p_bg = 0`: the chain then stays in its first, good, state).
#[pyfunction]
fn gilbert_elliott_mean_ber(p_gb: f64, p_bg: f64, ber_good: f64, ber_bad: f64) -> f64 {
    gilbert_elliott::mean_ber(p_gb, p_bg, ber_good, ber_bad)
}

/// BER of `modulation` ("bpsk" or "qpsk") over AWGN at `snr_db` (Es/N0).
#[pyfunction]
fn ber_awgn(snr_db: f64, modulation: &str) -> PyResult<f64> {
    let m = match modulation.to_ascii_lowercase().as_str() {
        "bpsk" => Modulation::Bpsk,
        "qpsk" => Modulation::Qpsk,
        _ => {
            return Err(PyValueError::new_err(format!(
                "modulation must be 'bpsk' or 'qpsk', got {modulation:?}"
            )))
        }
    };
    Ok(channel::ber_awgn(snr_db, m))
}

/// Marks in `out` which of packets `0..len(out)` of stream `seed` are lost.
#[pyfunction]
fn erasures_into(
    py: Python<'_>,
    mut out: PyReadwriteArray1<'_, bool>,
    p_loss: f64,
    seed: u64,
) -> PyResult<()> {
    let out = slice_mut(&mut out, "out")?;
    detach(py, || channel::erasures(out, p_loss, seed, 0))
}

/// Received length of packet `index` of `length` bytes under truncation.
#[pyfunction]
fn truncated_len(length: usize, p_cut: f64, seed: u64, index: u64) -> PyResult<usize> {
    channel::truncated_len(length, p_cut, seed, index).map_err(ToPyErr::to_py)
}

/// Cuts packets `0..len(lens)` of stream `seed` in place (`lens`: their lengths).
#[pyfunction]
fn truncations_into(
    py: Python<'_>,
    mut lens: PyReadwriteArray1<'_, u64>,
    p_cut: f64,
    seed: u64,
) -> PyResult<()> {
    let lens = slice_mut(&mut lens, "lengths")?;
    detach(py, || channel::truncations(lens, p_cut, seed, 0))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bsc_inplace, m)?)?;
    m.add_function(wrap_pyfunction!(gilbert_elliott_inplace, m)?)?;
    m.add_function(wrap_pyfunction!(bsc_rows_inplace, m)?)?;
    m.add_function(wrap_pyfunction!(gilbert_elliott_rows_inplace, m)?)?;
    m.add_function(wrap_pyfunction!(gilbert_elliott_mean_ber, m)?)?;
    m.add_function(wrap_pyfunction!(ber_awgn, m)?)?;
    m.add_function(wrap_pyfunction!(erasures_into, m)?)?;
    m.add_function(wrap_pyfunction!(truncated_len, m)?)?;
    m.add_function(wrap_pyfunction!(truncations_into, m)?)?;
    Ok(())
}
