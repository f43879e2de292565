//! `semanticnn._core`: thin bindings. Convert, release the GIL, call the core,
//! map errors. No logic lives here.
use pyo3::prelude::*;

mod bits;
mod channel;
mod encoder;
mod error;
mod firmware;
mod frame;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    error::register(m)?;
    bits::register(m)?;
    channel::register(m)?;
    frame::register(m)?;
    encoder::register(m)?;
    firmware::register(m)?;
    Ok(())
}
