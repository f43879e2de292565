//! The model: a borrowed, `const`-constructible description of the encoder.
//!
//! All parameters live in two pools that the model borrows (`weights: &[i8]`,
//! `params: &[i32]`); layers point into them with [`Span`]s. The firmware's
//! build script can therefore bake a model into two `static` arrays and a
//! `static [Layer; N]`; the host loader ([`super::load`]) owns the pools and
//! hands out the same borrowed view. [`super::Encoder::new`] checks everything
//! (through `super::validate`, the one place that validates a model).

use core::fmt;

/// Most layers a model may have (the plan is a fixed-size array).
pub const MAX_LAYERS: usize = 64;
/// Most elements of any one tensor (activations and parameters).
pub const MAX_ELEMENTS: usize = 1 << 24;
/// Most operations one inference may take: multiply-accumulates of the convs,
/// window reads of the pools, elements of the adds. A ResNet-18 head on
/// 224 x 224 images takes ~6 x 10^8; the bound keeps a small hostile file
/// (64 wide pools that grow the image) from taking minutes per image.
pub const MAX_OPS: u64 = 1 << 30;

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

/// Zero padding around a window's input, per side. PyTorch pads both sides
/// of a dimension equally; TFLite's SAME padding puts the odd one of an odd
/// total at the bottom and right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Padding {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Padding {
    /// No padding.
    pub const ZERO: Self = Self::symmetric(0, 0);

    /// `ph` rows above and below, `pw` columns left and right.
    pub const fn symmetric(ph: usize, pw: usize) -> Self {
        Self {
            top: ph,
            bottom: ph,
            left: pw,
            right: pw,
        }
    }

    /// `[[top, bottom], [left, right]]`: before and after the input, per
    /// dimension (rows, columns), as [`Window::kernel`] and [`Window::stride`].
    pub const fn sides(&self) -> [[usize; 2]; 2] {
        [[self.top, self.bottom], [self.left, self.right]]
    }
}

/// Window geometry: kernel and stride `[rows, columns]`, zero padding per side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// `[kh, kw]`
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: Padding,
}

/// One output dimension of a conv or pooling window over `size` input values
/// padded by `before` and `after` zeros
/// (`floor((size + before + after - kernel) / stride) + 1`, no dilation).
/// `None` when `kernel` or `stride` is 0, when the kernel is larger than the
/// padded input, or on overflow.
pub const fn padded_output_size(
    size: usize,
    kernel: usize,
    stride: usize,
    [before, after]: [usize; 2],
) -> Option<usize> {
    if kernel == 0 || stride == 0 {
        return None;
    }
    let Some(padding) = before.checked_add(after) else {
        return None;
    };
    let Some(padded) = size.checked_add(padding) else {
        return None;
    };
    match padded.checked_sub(kernel) {
        Some(r) => Some(r / stride + 1),
        None => None,
    }
}

/// [`padded_output_size`] with `padding` on both sides (PyTorch's
/// `floor((size + 2 * padding - kernel) / stride) + 1`).
pub const fn conv_output_size(
    size: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<usize> {
    padded_output_size(size, kernel, stride, [padding, padding])
}

impl Window {
    /// The output `(h, w)` of this window over an input of `h x w`
    /// ([`padded_output_size`] of each dimension).
    pub const fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let [rows, columns] = self.padding.sides();
        match (
            padded_output_size(h, self.kernel[0], self.stride[0], rows),
            padded_output_size(w, self.kernel[1], self.stride[1], columns),
        ) {
            (Some(h), Some(w)) => Some((h, w)),
            _ => None,
        }
    }
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

impl Layer {
    /// The tensors this layer reads: both inputs for `Add`, the first otherwise.
    pub fn used_inputs(&self) -> &[usize] {
        match self.op {
            Op::Add(_) => &self.inputs,
            _ => &self.inputs[..1],
        }
    }

    /// What one inference of this layer costs, from its first input of shape
    /// `input`: `(macs, other)`, the multiply-accumulates of a conv, or the
    /// window reads of a pool and the elements of an add (saturating).
    pub fn ops(&self, input: Shape) -> (u64, u64) {
        let area = |w: &Window| (w.kernel[0] * w.kernel[1]) as u64;
        let outputs = self.output.len().map_or(u64::MAX, |n| n as u64);
        match &self.op {
            Op::Conv2d(cv) => (
                outputs.saturating_mul(area(&cv.window).saturating_mul(input.c as u64)),
                0,
            ),
            Op::DepthwiseConv2d(cv) => (outputs.saturating_mul(area(&cv.window)), 0),
            Op::AvgPool2d(w) | Op::MaxPool2d(w) => (0, outputs.saturating_mul(area(w))),
            Op::Add(_) => (0, outputs),
        }
    }
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
    /// The operations of one inference, up to the layer where they pass [`MAX_OPS`].
    TooMuchWork {
        layer: usize,
        ops: u64,
    },
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
            Self::TooMuchWork { layer, ops } => write!(
                f,
                "layers[{layer}]: {ops} operations per inference so far, at most {MAX_OPS} allowed"
            ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn conv_output_size_refuses_what_has_no_output() {
        assert_eq!(conv_output_size(28, 3, 1, 1), Some(28));
        assert_eq!(conv_output_size(28, 2, 2, 0), Some(14));
        assert_eq!(conv_output_size(2, 5, 1, 1), None);
        assert_eq!(conv_output_size(5, 0, 1, 0), None);
        assert_eq!(conv_output_size(5, 1, 0, 0), None);
        assert_eq!(conv_output_size(usize::MAX, 1, 1, 1), None);
        assert_eq!(conv_output_size(1, 1, 1, usize::MAX), None);
        // TFLite SAME, stride 2 on an even input: one row more at the bottom.
        assert_eq!(padded_output_size(28, 3, 2, [0, 1]), Some(14));
        assert_eq!(padded_output_size(1, 1, 1, [usize::MAX, 1]), None);
    }

    proptest! {
        #[test]
        fn conv_output_size_is_pytorchs_formula(
            size in 0usize..10_000, kernel in 1usize..64, stride in 1usize..64, padding in 0usize..64,
        ) {
            let padded = (size + 2 * padding) as i64;
            let want = (padded >= kernel as i64)
                .then(|| ((padded - kernel as i64) / stride as i64 + 1) as usize);
            prop_assert_eq!(conv_output_size(size, kernel, stride, padding), want);
        }

        /// Only the total padding of a dimension sets its output size.
        #[test]
        fn padded_output_size_takes_the_total(
            size in 0usize..10_000, kernel in 1usize..64, stride in 1usize..64,
            before in 0usize..64, after in 0usize..64,
        ) {
            prop_assert_eq!(
                padded_output_size(size, kernel, stride, [before, after]),
                conv_output_size(size + before + after, kernel, stride, 0)
            );
        }
    }
}
