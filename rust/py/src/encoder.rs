//! Bindings of `semanticnn_core::nn`: the int8 encoder.
use std::path::PathBuf;

use numpy::{PyReadonlyArray1, PyReadwriteArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use semanticnn_core::nn::{self, Kernel, LoadError, OwnedModel};

use crate::error::{detach, slice, slice_mut, ToPyErr};

/// A loaded, validated `semanticnn-int8` model (docs/model-format.md).
#[pyclass(frozen, module = "semanticnn._core")]
pub struct Int8Encoder {
    model: OwnedModel,
}

impl Int8Encoder {
    fn encoder(&self) -> PyResult<nn::Encoder<'_>> {
        self.model
            .encoder()
            .map_err(|e| LoadError::Model(e).to_py())
    }
}

#[pymethods]
impl Int8Encoder {
    /// Reads and checks a model file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        detach(py, || OwnedModel::from_file(&path)).map(|model| Self { model })
    }

    /// Checks a model held in memory (the bytes of a model file).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        detach(py, || OwnedModel::from_bytes(data)).map(|model| Self { model })
    }

    /// (H, W, C) of one uint8 input image.
    #[getter]
    fn input_shape(&self) -> (usize, usize, usize) {
        let s = self.model.model().input;
        (s.h, s.w, s.c)
    }

    /// Symbols per image.
    #[getter]
    fn num_symbols(&self) -> PyResult<usize> {
        Ok(self.encoder()?.num_symbols())
    }

    /// Number of centers L (symbols are below L).
    #[getter]
    fn levels(&self) -> usize {
        self.model.model().head.centers.len
    }

    /// Whether the head Gray-maps the center indices it emits (the model
    /// file's `head.gray`).
    #[getter]
    fn gray(&self) -> bool {
        self.model.model().head.gray
    }

    /// Names of the conv kernels this CPU runs, fastest first (all give the
    /// same symbols).
    #[staticmethod]
    fn kernels() -> Vec<&'static str> {
        Kernel::ALL
            .iter()
            .filter(|k| k.available())
            .map(|k| k.name())
            .collect()
    }

    /// Encodes the flat uint8 NHWC `images` into the flat `out` (N * num_symbols)
    /// on `threads` threads (0 = all cores) with `kernel` (None = the fastest),
    /// without the GIL.
    #[pyo3(signature = (images, out, threads=0, kernel=None))]
    fn encode_into(
        &self,
        py: Python<'_>,
        images: PyReadonlyArray1<'_, u8>,
        mut out: PyReadwriteArray1<'_, u8>,
        threads: usize,
        kernel: Option<&str>,
    ) -> PyResult<()> {
        let run = OwnedModel::encode_batch_with;
        self.batch(py, &images, &mut out, threads, kernel, run)
    }

    /// The int8 latents (the last tensor before the head, N * num_symbols values,
    /// NHWC) of the flat uint8 NHWC `images`, into the flat `out`; as `encode_into`.
    #[pyo3(signature = (images, out, threads=0, kernel=None))]
    fn latent_into(
        &self,
        py: Python<'_>,
        images: PyReadonlyArray1<'_, u8>,
        mut out: PyReadwriteArray1<'_, i8>,
        threads: usize,
        kernel: Option<&str>,
    ) -> PyResult<()> {
        let run = OwnedModel::latent_batch_with;
        self.batch(py, &images, &mut out, threads, kernel, run)
    }
}

impl Int8Encoder {
    /// `run(model, images, out, threads, kernel)` on the arrays' contents,
    /// without the GIL.
    fn batch<T: numpy::Element + Send>(
        &self,
        py: Python<'_>,
        images: &PyReadonlyArray1<'_, u8>,
        out: &mut PyReadwriteArray1<'_, T>,
        threads: usize,
        kernel: Option<&str>,
        run: impl FnOnce(&OwnedModel, &[u8], &mut [T], usize, Kernel) -> Result<(), nn::RunError> + Send,
    ) -> PyResult<()> {
        let images = slice(images, "images")?;
        let out = slice_mut(out, "out")?;
        let (threads, kernel) = (all_cores(threads), kernel_named(kernel)?);
        detach(py, || run(&self.model, images, out, threads, kernel))
    }
}

/// The conv kernel called `name` (None: the fastest this CPU runs).
fn kernel_named(name: Option<&str>) -> PyResult<Kernel> {
    let Some(name) = name else {
        return Ok(Kernel::detect());
    };
    Kernel::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| {
            let names: Vec<_> = Kernel::ALL.iter().map(|k| k.name()).collect();
            PyValueError::new_err(format!("kernel must be one of {names:?}, got {name:?}"))
        })
}

/// `threads`, with 0 meaning every core.
fn all_cores(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    }
}

/// Output size of a conv or pooling window along one dimension
/// (`(size + 2 * padding - kernel) // stride + 1`); ValueError where there is
/// no output (kernel or stride 0, kernel larger than the padded input).
#[pyfunction]
fn conv_output_size(size: usize, kernel: usize, stride: usize, padding: usize) -> PyResult<usize> {
    nn::conv_output_size(size, kernel, stride, padding).ok_or_else(|| {
        PyValueError::new_err(format!(
            "no conv output for size {size}, kernel {kernel}, stride {stride}, padding {padding}"
        ))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Int8Encoder>()?;
    m.add("MODEL_FORMAT", nn::load::FORMAT)?;
    m.add("MODEL_FORMAT_VERSION", nn::load::FORMAT_VERSION)?;
    m.add(
        "MODEL_FORMAT_VERSION_SYMMETRIC",
        nn::load::FORMAT_VERSION_SYMMETRIC,
    )?;
    m.add("MODEL_MAX_LAYERS", nn::MAX_LAYERS)?;
    m.add("MODEL_MAX_OPS", nn::MAX_OPS)?;
    m.add("MODEL_MAX_FILE_BYTES", nn::load::MAX_FILE_BYTES)?;
    m.add_function(wrap_pyfunction!(conv_output_size, m)?)?;
    Ok(())
}
