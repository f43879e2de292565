//! Integer-only encoder inference (int8 activations, TFLite/CMSIS-NN
//! requantization), bit-exact with `semanticnn.int8.reference_encode`.
//! Format and formulas: `docs/model-format.md`.

#[cfg(target_arch = "arm")]
mod asm;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;
mod conv;
mod dw;
mod head;
#[cfg(feature = "std")]
pub mod load;
pub mod mac;
mod model;
mod ops;
mod plan;
// The firmware's 1x1 kernel (tested on every target).
#[cfg_attr(not(target_arch = "arm"), allow(dead_code))]
mod pw;
pub mod requant;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod simd;
#[cfg(test)]
mod testing;
mod validate;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod vnni;

pub use head::isqrt;
#[cfg(feature = "std")]
pub use load::{LoadError, OwnedModel};
pub use model::{
    conv_output_size, padded_output_size, Add, Conv, Head, Layer, Model, ModelError, Op, Padding,
    Shape, Span, Window, MAX_ELEMENTS, MAX_LAYERS, MAX_OPS,
};
#[cfg(feature = "std")]
pub use plan::Kernel;
pub use plan::{Encoder, RunError};
