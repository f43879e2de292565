//! The boundary between Python and the core: exception classes, the mapping
//! of core errors onto them, borrowing numpy buffers as slices, and the one
//! helper that releases the GIL around core work.
//!
//! Every binding goes through [`detach`] (work without the GIL, errors
//! mapped) and [`slice`]/[`slice_mut`] (contiguous buffers, errors that name
//! the argument), so each module only converts and calls.
use numpy::{PyReadonlyArray1, PyReadwriteArray1};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use semanticnn_core::bits::BitsError;
use semanticnn_core::channel::ChannelError as CoreChannelError;
use semanticnn_core::frame::FrameError as CoreFrameError;
use semanticnn_core::nn::{LoadError, RunError};

create_exception!(
    _core,
    CodecError,
    PyValueError,
    "Base class of the errors raised by semanticnn's Rust core (a ValueError)."
);
create_exception!(
    _core,
    PackError,
    CodecError,
    "Bit packing refused its input (bad nbits, symbol too large, short buffer)."
);

create_exception!(
    _core,
    ChannelError,
    CodecError,
    "A channel model refused its parameters (a probability outside [0, 1])."
);

create_exception!(
    _core,
    FrameError,
    CodecError,
    "A wire frame could not be built or read (bad field, damaged or truncated frame)."
);

create_exception!(
    _core,
    ModelError,
    PyValueError,
    "An int8 model file or model breaks docs/model-format.md (a ValueError)."
);

/// A core error that has a Python exception class.
pub trait ToPyErr {
    fn to_py(self) -> PyErr;
}

impl ToPyErr for BitsError {
    fn to_py(self) -> PyErr {
        PackError::new_err(self.to_string())
    }
}

impl ToPyErr for CoreChannelError {
    fn to_py(self) -> PyErr {
        ChannelError::new_err(self.to_string())
    }
}

impl ToPyErr for CoreFrameError {
    fn to_py(self) -> PyErr {
        match self {
            CoreFrameError::Bits(e) => e.to_py(),
            e => FrameError::new_err(e.to_string()),
        }
    }
}

/// A core error about row `.0` of a batch: the same class, the row named.
pub struct AtRow<E>(pub usize, pub E);

impl ToPyErr for AtRow<CoreFrameError> {
    fn to_py(self) -> PyErr {
        let AtRow(row, e) = self;
        let message = format!("row {row}: {e}");
        match e {
            CoreFrameError::Bits(_) => PackError::new_err(message),
            _ => FrameError::new_err(message),
        }
    }
}

impl ToPyErr for LoadError {
    fn to_py(self) -> PyErr {
        match self {
            LoadError::Io(e) => e.into(),
            e => ModelError::new_err(e.to_string()),
        }
    }
}

impl ToPyErr for RunError {
    fn to_py(self) -> PyErr {
        PyValueError::new_err(self.to_string())
    }
}

impl ToPyErr for PyErr {
    fn to_py(self) -> PyErr {
        self
    }
}

/// Runs `f` with the GIL released and maps its error to a Python exception.
pub fn detach<T, E>(py: Python<'_>, f: impl FnOnce() -> Result<T, E> + Send) -> PyResult<T>
where
    T: Send,
    E: ToPyErr + Send,
{
    py.detach(f).map_err(ToPyErr::to_py)
}

fn not_contiguous(name: &str) -> PyErr {
    PyValueError::new_err(format!("{name} must be a C-contiguous 1-D array"))
}

/// The contents of a read-only 1-D array as a slice, or a ValueError naming it.
pub fn slice<'a, T: numpy::Element>(
    arr: &'a PyReadonlyArray1<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    arr.as_slice().map_err(|_| not_contiguous(name))
}

/// The contents of a writable 1-D array as a slice, or a ValueError naming it.
pub fn slice_mut<'a, T: numpy::Element>(
    arr: &'a mut PyReadwriteArray1<'_, T>,
    name: &str,
) -> PyResult<&'a mut [T]> {
    arr.as_slice_mut().map_err(|_| not_contiguous(name))
}

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CodecError", py.get_type::<CodecError>())?;
    m.add("PackError", py.get_type::<PackError>())?;
    m.add("ChannelError", py.get_type::<ChannelError>())?;
    m.add("FrameError", py.get_type::<FrameError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    Ok(())
}
