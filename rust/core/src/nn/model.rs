//! The model: a borrowed, `const`-constructible description of the encoder.
//!
//! All parameters live in two pools that the model borrows (`weights: &[i8]`,
//! `params: &[i32]`); layers point into them with [`Span`]s. The firmware's
//! build script can therefore bake a model into two `static` arrays and a
//! `static [Layer; N]`; the host loader ([`super::load`]) owns the pools and
//! hands out the same borrowed view. [`super::Plan::new`] checks everything.

use core::fmt;

/// Most layers a model may have (the plan is a fixed-size array).
pub const MAX_LAYERS: usize = 64;
/// Most elements of any one tensor (activations and parameters).
pub const MAX_ELEMENTS: usize = 1 << 24;

/// An HWC shape (batch 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    /// Number of elements; `None` on overflow.
    pub fn len(&self) -> Option<usize> {
        self.h.checked_mul(self.w)?.checked_mul(self.c)
    }

    pub fn is_empty(&self) -> bool {
        self.h == 0 || self.w == 0 || self.c == 0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.h, self.w, self.c)
    }
}

/// A range `start..start + len` of a parameter pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

/// Window geometry (PyTorch convention: symmetric zero padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// `[kh, kw]`
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// conv2d (weight OHWI) or depthwise (weight `[kh, kw, Cout]`) parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    pub window: Window,
    /// Depthwise only: output channels per input channel (1 for conv2d).
    pub depth_multiplier: usize,
    /// Into `Model::weights`.
    pub weight: Span,
    /// Into `Model::params`: `Cout` values each.
    pub bias: Span,
    pub multiplier: Span,
    pub shift: Span,
}

/// TFLite int8 add: each input rescaled to a common scale, summed, requantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Add {
    pub left_shift: u32,
    pub input_multiplier: [i32; 2],
    pub input_shift: [i32; 2],
    pub multiplier: i32,
    pub shift: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Conv2d(Conv),
    DepthwiseConv2d(Conv),
    AvgPool2d(Window),
    MaxPool2d(Window),
    Add(Add),
}

/// One layer. Tensor 0 is the model input; layer `i` writes tensor `i + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    pub op: Op,
    /// Tensors read (`<= i`); the second is used by `Add` only.
    pub inputs: [usize; 2],
    pub output: Shape,
    pub output_zero_point: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Power normalization and nearest-center assignment of the last tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Into `Model::params`: `levels` strictly increasing centers.
    pub centers: Span,
    pub frac_bits: u32,
    pub power_norm: bool,
    pub gray: bool,
}

/// A complete encoder; borrows its parameters.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    pub input: Shape,
    pub input_zero_point: i32,
    pub layers: &'a [Layer],
    pub weights: &'a [i8],
    pub params: &'a [i32],
    pub head: Head,
}

/// Why a model is rejected. `layer` is the layer index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelError {
    TooManyLayers(usize),
    NoLayers,
    BadInput(&'static str),
    BadLayer {
        layer: usize,
        reason: &'static str,
    },
    ShapeMismatch {
        layer: usize,
        expected: Shape,
        found: Shape,
    },
    ParamOutOfRange {
        layer: usize,
        what: &'static str,
        index: usize,
        value: i64,
    },
    BadHead(&'static str),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyLayers(n) => write!(f, "{n} layers, at most {MAX_LAYERS} allowed"),
            Self::NoLayers => write!(f, "the model has no layers"),
            Self::BadInput(why) => write!(f, "input: {why}"),
            Self::BadLayer { layer, reason } => write!(f, "layers[{layer}]: {reason}"),
            Self::ShapeMismatch {
                layer,
                expected,
                found,
            } => {
                write!(
                    f,
                    "layers[{layer}]: output shape {found}, the inputs give {expected}"
                )
            }
            Self::ParamOutOfRange {
                layer,
                what,
                index,
                value,
            } => {
                write!(
                    f,
                    "layers[{layer}].{what}[{index}] = {value} is out of range"
                )
            }
            Self::BadHead(why) => write!(f, "head: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ModelError {}
