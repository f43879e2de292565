//! Bindings of what the firmware and the host tools share
//! (`semanticnn_core::firmware`, the stream magic, the default run folder).
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BAKED_IMAGES", firmware::BAKED_IMAGES)?;
    m.add("IMAGES_SUFFIX", firmware::IMAGES_SUFFIX)?;
    m.add("DEFAULT_RUN", DEFAULT_RUN)?;
    m.add("ENCODER_FILE", ENCODER_FILE)?;
    m.add("STREAM_MAGIC", PyBytes::new(m.py(), &stream::MAGIC))?;
    m.add_function(wrap_pyfunction!(default_model, m)?)?;
    m.add_function(wrap_pyfunction!(memory_region, m)?)?;
    Ok(())
}
