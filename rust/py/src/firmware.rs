//! Bindings of what the firmware and the host tools share
//! (`semanticnn_core::firmware`, the stream magic, the default run folder).
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;

use semanticnn_core::{firmware, stream, DEFAULT_RUN, ENCODER_FILE};

fn region(memory_x: &str, name: &str) -> PyResult<firmware::Region> {
    firmware::region(memory_x, name)
        .map_err(|e| PyValueError::new_err(format!("memory.x region {name:?}: {e}")))
}

/// (ORIGIN, LENGTH) in bytes of region `name` of the text of a `memory.x`.
#[pyfunction]
fn memory_region(memory_x: &str, name: &str) -> PyResult<(u32, u32)> {
    region(memory_x, name).map(|r| (r.origin, r.length))
}

/// The model the firmware bakes when none is given, under repository root `repo`.
#[pyfunction]
fn default_model(repo: PathBuf) -> PathBuf {
    firmware::default_model(&repo)
}

/// The clock plan of board `name` (`semanticnn_core::firmware::clock`): a
/// dict of `sysclk_hz`, `pll` ((m, n, p, q) or None), `flash_wait_states`,
/// `overdrive`, `apb1_div`, `apb2_div`.
#[pyfunction]
fn clock_plan<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
    let plan = firmware::clock::board_plan(name)
        .ok_or_else(|| PyValueError::new_err(format!("board: no clock plan for {name:?}")))?
        .map_err(|e| PyValueError::new_err(format!("board {name}: {e}")))?;
    let d = PyDict::new(py);
    d.set_item("sysclk_hz", plan.sysclk_hz)?;
    d.set_item("pll", plan.pll.map(|p| (p.m, p.n, p.p, p.q)))?;
    d.set_item("flash_wait_states", plan.flash_wait_states)?;
    d.set_item("overdrive", plan.overdrive)?;
    d.set_item("apb1_div", plan.apb1_div)?;
    d.set_item("apb2_div", plan.apb2_div)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BAKED_IMAGES", firmware::BAKED_IMAGES)?;
    m.add("IMAGES_SUFFIX", firmware::IMAGES_SUFFIX)?;
    m.add("RTT_RAM", firmware::RTT_RAM)?;
    m.add("DEFAULT_RUN", DEFAULT_RUN)?;
    m.add("ENCODER_FILE", ENCODER_FILE)?;
    m.add("STREAM_MAGIC", PyBytes::new(m.py(), &stream::MAGIC))?;
    m.add_function(wrap_pyfunction!(default_model, m)?)?;
    m.add_function(wrap_pyfunction!(memory_region, m)?)?;
    m.add_function(wrap_pyfunction!(clock_plan, m)?)?;
    Ok(())
}
