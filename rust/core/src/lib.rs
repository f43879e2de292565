//! `semanticnn-core`: everything that must be bit-identical on the device and
//! on the host. No allocation on the device path: callers pass the buffers.
#![cfg_attr(not(any(feature = "std", test)), no_std)]

pub mod bits;
pub mod channel;
pub mod firmware;
pub mod frame;
pub mod nn;
#[cfg(feature = "std")]
pub mod par;
pub mod stream;

/// The run folder the tools (and the firmware build) use when none is given,
/// relative to the repository root.
pub const DEFAULT_RUN: &str = "runs/mnist5k";

/// The file name of a run's exported int8 encoder (docs/model-format.md).
pub const ENCODER_FILE: &str = "encoder.safetensors";
