//! The one validation of a [`Model`]: every count, shape, span and range that
//! the run relies on. [`validate`] checks a whole model (what
//! [`super::Encoder::new`] calls); the loader calls the same small checks
//! ([`check_layer_count`], [`check_inputs`], [`weight_dims`], [`check_levels`])
//! while it parses, before it reads tensors whose shapes they decide.

use super::conv::{self, ConvParams};
use super::model::{
    Add, Conv, Layer, Model, ModelError, Op, Shape, Span, Window, MAX_ELEMENTS, MAX_LAYERS, MAX_OPS,
};

/// Tensors of the largest model: the input and one per layer.
pub(crate) const T: usize = MAX_LAYERS + 1;

/// What validation learns about a model: the shape and zero point of every
/// tensor (0 = input, `i + 1` = output of layer `i`), the i16 work buffer
/// its conv2d layers need, and the multiply-accumulates of one inference.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checked {
    pub shapes: [Shape; T],
    pub zero_points: [i32; T],
    pub work_len: usize,
    pub macs: u64,
}

/// Check every count, shape, span and range of `model`.
pub(crate) fn validate(model: &Model<'_>) -> Result<Checked, ModelError> {
    check_layer_count(model.layers.len())?;
    check_input(model)?;
    let mut c = Checked {
        shapes: [Shape { h: 0, w: 0, c: 0 }; T],
        zero_points: [0; T],
        work_len: 0,
        macs: 0,
    };
    let mut ops = 0u64;
    c.shapes[0] = model.input;
    c.zero_points[0] = model.input_zero_point;
    for (i, l) in model.layers.iter().enumerate() {
        let (out, work_len) = check_layer(model, &c, i, l)?;
        c.shapes[i + 1] = out;
        c.zero_points[i + 1] = l.output_zero_point;
        c.work_len = c.work_len.max(work_len);
        let (macs, other) = l.ops(c.shapes[l.inputs[0]]);
        c.macs = c.macs.saturating_add(macs);
        ops = ops.saturating_add(macs).saturating_add(other);
        if ops > MAX_OPS {
            return Err(ModelError::TooMuchWork { layer: i, ops });
        }
    }
    check_head(model)?;
    Ok(c)
}

/// A model has 1 to [`MAX_LAYERS`] layers.
pub(crate) fn check_layer_count(n: usize) -> Result<(), ModelError> {
    match n {
        0 => Err(ModelError::NoLayers),
        n if n > MAX_LAYERS => Err(ModelError::TooManyLayers(n)),
        _ => Ok(()),
    }
}

/// Layer `layer` reads only earlier tensors (`<= layer`).
pub(crate) fn check_inputs(layer: usize, inputs: &[usize]) -> Result<(), ModelError> {
    if inputs.iter().any(|&t| t > layer) {
        return Err(ModelError::BadLayer {
            layer,
            reason: "inputs must name earlier tensors",
        });
    }
    Ok(())
}

/// The head has 2, 4, 8 or 16 levels (centers).
pub(crate) fn check_levels(levels: usize) -> Result<(), ModelError> {
    if !matches!(levels, 2 | 4 | 8 | 16) {
        return Err(ModelError::BadHead("levels must be 2, 4, 8 or 16"));
    }
    Ok(())
}

/// The dimensions of a conv weight tensor, at most [`MAX_ELEMENTS`] elements.
/// (Only the loader, host only, reads the dimensions themselves.)
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "std"), allow(dead_code))]
pub(crate) struct WeightDims {
    dims: [usize; 4],
    rank: usize,
    /// Elements of the tensor.
    pub len: usize,
}

#[cfg_attr(not(feature = "std"), allow(dead_code))]
impl WeightDims {
    /// The shape, as the file stores it.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank]
    }
}

/// The weight of layer `layer`: OHWI `[Cout, kh, kw, Cin]` (conv2d) or
/// `[kh, kw, Cout]` (depthwise).
pub(crate) fn weight_dims(
    layer: usize,
    depthwise: bool,
    kernel: [usize; 2],
    cin: usize,
    cout: usize,
) -> Result<WeightDims, ModelError> {
    let [kh, kw] = kernel;
    let (dims, rank) = if depthwise {
        ([kh, kw, cout, 1], 3)
    } else {
        ([cout, kh, kw, cin], 4)
    };
    dims[..rank]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&len| len <= MAX_ELEMENTS)
        .map(|len| WeightDims { dims, rank, len })
        .ok_or(ModelError::BadLayer {
            layer,
            reason: "weight larger than 2^24 elements",
        })
}

fn check_input(model: &Model<'_>) -> Result<(), ModelError> {
    let input = model.input;
    if input.is_empty() || input.len().is_none_or(|l| l > MAX_ELEMENTS) {
        return Err(ModelError::BadInput(
            "every dimension must be >= 1, at most 2^24 elements",
        ));
    }
    if !(-128..=127).contains(&model.input_zero_point) {
        return Err(ModelError::BadInput("zero point must be in [-128, 127]"));
    }
    Ok(())
}

/// Checks layer `i` against the tensors before it; returns its output shape
/// and the i16 work it needs.
fn check_layer(
    model: &Model<'_>,
    c: &Checked,
    i: usize,
    l: &Layer,
) -> Result<(Shape, usize), ModelError> {
    check_inputs(i, l.used_inputs())?;
    check_act(i, l)?;
    let s = c.shapes[l.inputs[0]];
    let (out, work_len) = match &l.op {
        Op::Conv2d(cv) => check_conv(model, i, l, cv, s, false)?,
        Op::DepthwiseConv2d(cv) => check_conv(model, i, l, cv, s, true)?,
        Op::AvgPool2d(w) | Op::MaxPool2d(w) => {
            (check_pool(i, l, w, s, c.zero_points[l.inputs[0]])?, 0)
        }
        Op::Add(a) => (check_add(i, a, s, c.shapes[l.inputs[1]])?, 0),
    };
    check_output(i, out, l.output)?;
    Ok((out, work_len))
}

fn check_act(layer: usize, l: &Layer) -> Result<(), ModelError> {
    let r = -128..=127;
    if !r.contains(&l.output_zero_point) || !r.contains(&l.act_min) || !r.contains(&l.act_max) {
        return Err(ModelError::BadLayer {
            layer,
            reason: "zero point and clamps must be in [-128, 127]",
        });
    }
    if l.act_min > l.act_max {
        return Err(ModelError::BadLayer {
            layer,
            reason: "act_min > act_max",
        });
    }
    Ok(())
}

/// The output `(h, w)` of window `w` over `s`.
fn check_window(w: &Window, s: Shape, layer: usize) -> Result<(usize, usize), ModelError> {
    let bad = |reason| Err(ModelError::BadLayer { layer, reason });
    for ((&kernel, &stride), sides) in w.kernel.iter().zip(&w.stride).zip(w.padding.sides()) {
        if !(1..=16).contains(&kernel) || !(1..=16).contains(&stride) {
            return bad("kernel and stride must be in 1..=16");
        }
        if sides.iter().any(|&p| p >= kernel) {
            return bad("padding must be smaller than the kernel on each side");
        }
    }
    match w.output_size(s.h, s.w) {
        Some(hw) => Ok(hw),
        None => bad("kernel larger than the padded input"),
    }
}

fn check_conv(
    model: &Model<'_>,
    i: usize,
    l: &Layer,
    cv: &Conv,
    s: Shape,
    depthwise: bool,
) -> Result<(Shape, usize), ModelError> {
    let (h, w) = check_window(&cv.window, s, i)?;
    let cout = l.output.c;
    if depthwise && (cv.depth_multiplier == 0 || s.c.checked_mul(cv.depth_multiplier) != Some(cout))
    {
        return Err(ModelError::BadLayer {
            layer: i,
            reason: "Cout != Cin * depth_multiplier",
        });
    }
    let wlen = weight_dims(i, depthwise, cv.window.kernel, s.c, cout)?.len;
    let p = conv_params(model, cv, cout, wlen, i)?;
    for (j, (&m, &sh)) in p.multiplier.iter().zip(p.shift).enumerate() {
        check_requant(i, "multiplier", j, m, sh)?;
    }
    let work_len = if depthwise {
        let os = Shape { h, w, c: cout };
        super::dw::work_len(s, &cv.window, os, cv.depth_multiplier)
    } else {
        // The firmware runs 1x1 convs on `pw` (its plan is computed on the host).
        conv::conv2d_work_len(&cv.window, s.c, cout).max(super::pw::work_len(&cv.window, s.c, cout))
    };
    Ok((Shape { h, w, c: cout }, work_len))
}

fn check_pool(
    i: usize,
    l: &Layer,
    w: &Window,
    s: Shape,
    input_zero_point: i32,
) -> Result<Shape, ModelError> {
    let (h, wd) = check_window(w, s, i)?;
    if l.output_zero_point != input_zero_point {
        return Err(ModelError::BadLayer {
            layer: i,
            reason: "pooling must keep the input zero point",
        });
    }
    Ok(Shape { h, w: wd, c: s.c })
}

fn check_add(i: usize, a: &Add, s: Shape, s2: Shape) -> Result<Shape, ModelError> {
    if s2 != s {
        return Err(ModelError::BadLayer {
            layer: i,
            reason: "add inputs differ in shape",
        });
    }
    if a.left_shift > 20 {
        return Err(ModelError::BadLayer {
            layer: i,
            reason: "left_shift must be in 0..=20",
        });
    }
    for k in 0..2 {
        check_requant(
            i,
            "input_multipliers",
            k,
            a.input_multiplier[k],
            a.input_shift[k],
        )?;
    }
    check_requant(i, "multiplier", 0, a.multiplier, a.shift)?;
    Ok(s)
}

fn check_requant(
    layer: usize,
    what: &'static str,
    index: usize,
    multiplier: i32,
    shift: i32,
) -> Result<(), ModelError> {
    if multiplier < 0 {
        return Err(ModelError::ParamOutOfRange {
            layer,
            what,
            index,
            value: multiplier.into(),
        });
    }
    if !(-31..=30).contains(&shift) {
        return Err(ModelError::ParamOutOfRange {
            layer,
            what: "shift",
            index,
            value: shift.into(),
        });
    }
    Ok(())
}

/// The layer's declared output is the one its inputs give, and not empty or huge.
fn check_output(layer: usize, out: Shape, declared: Shape) -> Result<(), ModelError> {
    if out != declared {
        return Err(ModelError::ShapeMismatch {
            layer,
            expected: out,
            found: declared,
        });
    }
    if out.is_empty() || out.len().is_none_or(|v| v > MAX_ELEMENTS) {
        return Err(ModelError::BadLayer {
            layer,
            reason: "output empty or larger than 2^24 elements",
        });
    }
    Ok(())
}

fn check_head(model: &Model<'_>) -> Result<(), ModelError> {
    let centers = centers(model)?;
    check_levels(centers.len())?;
    if centers.windows(2).any(|p| p[0] >= p[1]) {
        return Err(ModelError::BadHead("centers must be strictly increasing"));
    }
    if model.head.frac_bits > 16 {
        return Err(ModelError::BadHead("frac_bits must be in 0..=16"));
    }
    Ok(())
}

/// `want` values of `pool` at `s`.
fn span<'p, P>(
    pool: &'p [P],
    s: Span,
    want: usize,
    layer: usize,
    what: &'static str,
) -> Result<&'p [P], ModelError> {
    if s.len != want {
        return Err(ModelError::BadLayer {
            layer,
            reason: what,
        });
    }
    s.start
        .checked_add(s.len)
        .and_then(|end| pool.get(s.start..end))
        .ok_or(ModelError::BadLayer {
            layer,
            reason: "parameter span outside its pool",
        })
}

/// The parameters of conv layer `i` (`wlen` weights, `cout` of the rest),
/// resolved from the model's pools.
pub(crate) fn conv_params<'a>(
    model: &Model<'a>,
    c: &Conv,
    cout: usize,
    wlen: usize,
    i: usize,
) -> Result<ConvParams<'a>, ModelError> {
    Ok(ConvParams {
        window: c.window,
        weight: span(
            model.weights,
            c.weight,
            wlen,
            i,
            "weight length does not match its shape",
        )?,
        bias: span(model.params, c.bias, cout, i, "bias length != Cout")?,
        multiplier: span(
            model.params,
            c.multiplier,
            cout,
            i,
            "multiplier length != Cout",
        )?,
        shift: span(model.params, c.shift, cout, i, "shift length != Cout")?,
    })
}

/// The head's centers, resolved from the parameter pool.
pub(crate) fn centers<'a>(model: &Model<'a>) -> Result<&'a [i32], ModelError> {
    let s = model.head.centers;
    s.start
        .checked_add(s.len)
        .and_then(|end| model.params.get(s.start..end))
        .ok_or(ModelError::BadHead(
            "centers span outside the parameter pool",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::model::{padded_output_size, Padding};
    use proptest::prelude::*;

    #[test]
    fn layer_counts() {
        assert_eq!(check_layer_count(0), Err(ModelError::NoLayers));
        assert_eq!(check_layer_count(1), Ok(()));
        assert_eq!(check_layer_count(MAX_LAYERS), Ok(()));
        assert_eq!(
            check_layer_count(MAX_LAYERS + 1),
            Err(ModelError::TooManyLayers(MAX_LAYERS + 1))
        );
    }

    #[test]
    fn levels() {
        for l in 0..40 {
            assert_eq!(check_levels(l).is_ok(), [2, 4, 8, 16].contains(&l), "{l}");
        }
    }

    #[test]
    fn weight_dims_follow_the_format() {
        let w = weight_dims(0, false, [3, 2], 5, 7).expect("small");
        assert_eq!((w.dims(), w.len), (&[7, 3, 2, 5][..], 210));
        let w = weight_dims(0, true, [3, 2], 5, 10).expect("small");
        assert_eq!((w.dims(), w.len), (&[3, 2, 10][..], 60));
        assert!(weight_dims(3, false, [16, 16], 1 << 12, 1 << 12).is_err());
        assert!(weight_dims(3, false, [usize::MAX, 2], 1, 1).is_err());
    }

    #[test]
    fn work_per_inference_is_bounded() {
        // Issue 14's hostile file: 64 wide max pools that grow a 1x1x16 image.
        let window = Window {
            kernel: [16, 16],
            stride: [1, 1],
            padding: Padding::symmetric(15, 15),
        };
        let input = Shape { h: 1, w: 1, c: 16 };
        let mut shape = input;
        let layers: std::vec::Vec<Layer> = (0..MAX_LAYERS)
            .map(|i| {
                let (h, w) = window.output_size(shape.h, shape.w).expect("grows");
                shape = Shape { h, w, c: 16 };
                Layer {
                    op: Op::MaxPool2d(window),
                    inputs: [i, 0],
                    output: shape,
                    output_zero_point: 0,
                    act_min: -128,
                    act_max: 127,
                }
            })
            .collect();
        let model = Model {
            input,
            input_zero_point: 0,
            layers: &layers,
            weights: &[],
            params: &[-1, 1],
            head: crate::nn::Head {
                centers: Span { start: 0, len: 2 },
                frac_bits: 0,
                power_norm: false,
                gray: false,
            },
        };
        match validate(&model) {
            Err(ModelError::TooMuchWork { layer, ops }) => {
                assert!(ops > MAX_OPS && layer < MAX_LAYERS, "{layer} {ops}");
            }
            other => panic!("expected TooMuchWork, got {other:?}"),
        }
        let few = Model {
            layers: &layers[..4],
            ..model
        };
        assert_eq!(validate(&few).map(|c| c.macs).ok(), Some(0));
    }

    proptest! {
        #[test]
        fn inputs_must_be_earlier(layer in 0usize..70, a in 0usize..70, b in 0usize..70) {
            prop_assert_eq!(check_inputs(layer, &[a, b]).is_ok(), a <= layer && b <= layer);
        }

        /// A window takes the padded output size of each dimension, with
        /// every side's padding below the kernel.
        #[test]
        fn window_output_is_padded_output_size(
            h in 1usize..64, w in 1usize..64, k in 1usize..=16, s in 1usize..=16,
            (top, bottom, left, right) in (0usize..20, 0usize..20, 0usize..20, 0usize..20),
        ) {
            let padding = Padding { top, bottom, left, right };
            let win = Window { kernel: [k, k], stride: [s, s], padding };
            let shape = Shape { h, w, c: 1 };
            let got = check_window(&win, shape, 0).ok();
            let below = [top, bottom, left, right].iter().all(|&p| p < k);
            let want = padded_output_size(h, k, s, [top, bottom])
                .zip(padded_output_size(w, k, s, [left, right]))
                .filter(|_| below);
            prop_assert_eq!(got, want);
        }
    }
}
