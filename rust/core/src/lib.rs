//! `semanticnn-core`: everything that must be bit-identical on the device and
//! on the host. No allocation on the device path: callers pass the buffers.
#![cfg_attr(not(any(feature = "std", test)), no_std)]

pub mod bits;
pub mod channel;
pub mod frame;
pub mod nn;
#[cfg(feature = "std")]
pub mod par;
pub mod stream;
