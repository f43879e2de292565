//! `semanticnn-core`: everything that must be bit-identical on the device and
//! on the host. No allocation on the device path: callers pass the buffers.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod bits;
#[cfg(feature = "std")]
pub mod par;
