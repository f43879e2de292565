//! The static plan: validation of a [`Model`], the placement of every tensor
//! in one caller-provided arena, and the allocation-free run.

use core::fmt;

use super::conv::{self, ConvParams, OutQuant, Tensor};
use super::head::{self, HeadParams};
use super::model::{
    Conv, Layer, Model, ModelError, Op, Shape, Span, Window, MAX_ELEMENTS, MAX_LAYERS,
};
use super::ops;

const T: usize = MAX_LAYERS + 1;

/// Why a run could not start (the model itself was validated by [`Encoder::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    /// A buffer is shorter than the plan needs.
    BufferTooSmall {
        what: &'static str,
        need: usize,
        got: usize,
    },
    /// Images or symbols whose length is not a whole number of items.
    BadLength {
        what: &'static str,
        len: usize,
        item: usize,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { what, need, got } => {
                write!(f, "{what}: {got} elements, the plan needs {need}")
            }
            Self::BadLength { what, len, item } => {
                write!(f, "{what}: length {len} is not a multiple of {item}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RunError {}

/// A validated model with its static plan: buffer sizes are known before running.
#[derive(Clone, Copy, Debug)]
pub struct Encoder<'a> {
    model: Model<'a>,
    shapes: [Shape; T],
    zero_points: [i32; T],
    offsets: [usize; T],
    arena_len: usize,
    work_len: usize,
}

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

fn check_window(w: &Window, s: Shape, layer: usize) -> Result<(usize, usize), ModelError> {
    let bad = |reason| Err(ModelError::BadLayer { layer, reason });
    for d in 0..2 {
        if !(1..=16).contains(&w.kernel[d]) || !(1..=16).contains(&w.stride[d]) {
            return bad("kernel and stride must be in 1..=16");
        }
        if w.padding[d] >= w.kernel[d] {
            return bad("padding must be smaller than the kernel");
        }
    }
    let dim = |n: usize, d: usize| {
        (n + 2 * w.padding[d])
            .checked_sub(w.kernel[d])
            .map(|r| r / w.stride[d] + 1)
    };
    match (dim(s.h, 0), dim(s.w, 1)) {
        (Some(h), Some(wd)) => Ok((h, wd)),
        _ => bad("kernel larger than the padded input"),
    }
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

impl<'a> Encoder<'a> {
    /// Check every shape, span and range of `model` and lay out its tensors.
    pub fn new(model: Model<'a>) -> Result<Self, ModelError> {
        let n = model.layers.len();
        if n > MAX_LAYERS {
            return Err(ModelError::TooManyLayers(n));
        }
        if n == 0 {
            return Err(ModelError::NoLayers);
        }
        let mut shapes = [Shape { h: 0, w: 0, c: 0 }; T];
        let mut zps = [0i32; T];
        let input = model.input;
        if input.is_empty() || input.len().is_none_or(|l| l > MAX_ELEMENTS) {
            return Err(ModelError::BadInput(
                "every dimension must be >= 1, at most 2^24 elements",
            ));
        }
        if !(-128..=127).contains(&model.input_zero_point) {
            return Err(ModelError::BadInput("zero point must be in [-128, 127]"));
        }
        shapes[0] = input;
        zps[0] = model.input_zero_point;
        let mut work_len = 0;
        for (i, l) in model.layers.iter().enumerate() {
            let uses_two = matches!(l.op, Op::Add(_));
            if l.inputs[0] > i || (uses_two && l.inputs[1] > i) {
                return Err(ModelError::BadLayer {
                    layer: i,
                    reason: "an input is not an earlier tensor",
                });
            }
            check_act(i, l)?;
            let s = shapes[l.inputs[0]];
            let out = match &l.op {
                Op::Conv2d(c) | Op::DepthwiseConv2d(c) => {
                    let depthwise = matches!(l.op, Op::DepthwiseConv2d(_));
                    let (h, w) = check_window(&c.window, s, i)?;
                    let cout = l.output.c;
                    let [kh, kw] = c.window.kernel;
                    let wlen = if depthwise {
                        if c.depth_multiplier == 0
                            || s.c.checked_mul(c.depth_multiplier) != Some(cout)
                        {
                            return Err(ModelError::BadLayer {
                                layer: i,
                                reason: "Cout != Cin * depth_multiplier",
                            });
                        }
                        kh * kw * cout
                    } else {
                        work_len = work_len.max(conv::conv2d_work_len(&c.window, s.c, cout));
                        cout.saturating_mul(kh * kw * s.c)
                    };
                    if wlen > MAX_ELEMENTS {
                        return Err(ModelError::BadLayer {
                            layer: i,
                            reason: "weight larger than 2^24 elements",
                        });
                    }
                    let p = Self::conv_params(&model, c, cout, wlen, i)?;
                    for (j, (&m, &sh)) in p.multiplier.iter().zip(p.shift).enumerate() {
                        check_requant(i, "multiplier", j, m, sh)?;
                    }
                    Shape { h, w, c: cout }
                }
                Op::AvgPool2d(w) | Op::MaxPool2d(w) => {
                    let (h, wd) = check_window(w, s, i)?;
                    if l.output_zero_point != zps[l.inputs[0]] {
                        return Err(ModelError::BadLayer {
                            layer: i,
                            reason: "pooling must keep the input zero point",
                        });
                    }
                    Shape { h, w: wd, c: s.c }
                }
                Op::Add(a) => {
                    if shapes[l.inputs[1]] != s {
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
                    s
                }
            };
            if out != l.output {
                return Err(ModelError::ShapeMismatch {
                    layer: i,
                    expected: out,
                    found: l.output,
                });
            }
            if out.is_empty() || out.len().is_none_or(|v| v > MAX_ELEMENTS) {
                return Err(ModelError::BadLayer {
                    layer: i,
                    reason: "output empty or larger than 2^24 elements",
                });
            }
            shapes[i + 1] = out;
            zps[i + 1] = l.output_zero_point;
        }
        let h = &model.head;
        let centers = Self::centers(&model)?;
        if !matches!(centers.len(), 2 | 4 | 8 | 16) {
            return Err(ModelError::BadHead("levels must be 2, 4, 8 or 16"));
        }
        if centers.windows(2).any(|p| p[0] >= p[1]) {
            return Err(ModelError::BadHead("centers must be strictly increasing"));
        }
        if h.frac_bits > 16 {
            return Err(ModelError::BadHead("frac_bits must be in 0..=16"));
        }
        let (offsets, arena_len) = place(model.layers, &shapes);
        Ok(Self {
            model,
            shapes,
            zero_points: zps,
            offsets,
            arena_len,
            work_len,
        })
    }

    fn conv_params(
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

    fn centers(model: &Model<'a>) -> Result<&'a [i32], ModelError> {
        let s = model.head.centers;
        s.start
            .checked_add(s.len)
            .and_then(|end| model.params.get(s.start..end))
            .ok_or(ModelError::BadHead(
                "centers span outside the parameter pool",
            ))
    }

    pub fn model(&self) -> &Model<'a> {
        &self.model
    }

    /// Bytes of one input image (`H * W * C`).
    pub fn input_len(&self) -> usize {
        self.shapes[0].h * self.shapes[0].w * self.shapes[0].c
    }

    /// Symbols per image (elements of the last tensor).
    pub fn num_symbols(&self) -> usize {
        let s = self.shapes[self.model.layers.len()];
        s.h * s.w * s.c
    }

    /// The int8 arena [`Self::encode`] needs.
    pub fn arena_len(&self) -> usize {
        self.arena_len
    }

    /// The i16 work buffer [`Self::encode`] needs.
    pub fn work_len(&self) -> usize {
        self.work_len
    }

    /// Shape of tensor `t` (0 = input, `i + 1` = output of layer `i`).
    pub fn tensor_shape(&self, t: usize) -> Option<Shape> {
        (t <= self.model.layers.len()).then(|| self.shapes[t])
    }

    /// Encode one uint8 HWC image into `num_symbols` symbols. No allocation.
    pub fn encode(
        &self,
        image: &[u8],
        arena: &mut [i8],
        work: &mut [i16],
        symbols: &mut [u8],
    ) -> Result<(), RunError> {
        let n = self.num_symbols();
        need("symbols", n, symbols.len())?;
        let zp = self.zero_points[self.model.layers.len()];
        let latent = self.forward(image, arena, work)?;
        let hp = HeadParams {
            centers: Self::centers(&self.model).unwrap_or(&[]),
            frac_bits: self.model.head.frac_bits,
            power_norm: self.model.head.power_norm,
            gray: self.model.head.gray,
        };
        head::head(latent, zp, &hp, &mut symbols[..n]);
        Ok(())
    }

    /// Run the layers on one uint8 HWC image and return the int8 latent (the
    /// last tensor, `num_symbols` values, before the head), which lives in
    /// `arena`. No allocation.
    pub fn forward<'x>(
        &self,
        image: &[u8],
        arena: &'x mut [i8],
        work: &mut [i16],
    ) -> Result<&'x [i8], RunError> {
        need("image", self.input_len(), image.len())?;
        need("arena", self.arena_len, arena.len())?;
        need("work", self.work_len, work.len())?;
        let x0 = &mut arena[self.offsets[0]..][..self.input_len()];
        for (d, &p) in x0.iter_mut().zip(image) {
            *d = (p ^ 0x80) as i8;
        }
        for (i, l) in self.model.layers.iter().enumerate() {
            self.run_layer(i, l, arena, work);
        }
        let last = self.model.layers.len();
        Ok(&arena[self.offsets[last]..][..self.num_symbols()])
    }

    fn run_layer(&self, i: usize, l: &Layer, arena: &mut [i8], work: &mut [i16]) {
        let (s, os) = (self.shapes[l.inputs[0]], self.shapes[i + 1]);
        let zp = self.zero_points[l.inputs[0]];
        let q = OutQuant {
            zero_point: l.output_zero_point,
            min: l.act_min,
            max: l.act_max,
        };
        // Only `add` reads a second tensor; other layers pass the first twice.
        let t2 = if matches!(l.op, Op::Add(_)) {
            l.inputs[1]
        } else {
            l.inputs[0]
        };
        let (out, [x, x2]) = regions(
            arena,
            self.offsets[i + 1],
            len(os),
            [
                (self.offsets[l.inputs[0]], len(s)),
                (self.offsets[t2], len(self.shapes[t2])),
            ],
        );
        let t = Tensor {
            data: x,
            shape: s,
            zero_point: zp,
        };
        match &l.op {
            Op::Conv2d(c) | Op::DepthwiseConv2d(c) => {
                let wlen = match l.op {
                    Op::DepthwiseConv2d(_) => c.window.kernel[0] * c.window.kernel[1] * os.c,
                    _ => os.c * c.window.kernel[0] * c.window.kernel[1] * s.c,
                };
                // Validated in `new`, so the spans resolve.
                let Ok(p) = Self::conv_params(&self.model, c, os.c, wlen, i) else {
                    return;
                };
                if matches!(l.op, Op::Conv2d(_)) {
                    conv::conv2d(t, &p, out, os, q, work);
                } else {
                    conv::depthwise(t, &p, c.depth_multiplier, out, os, q);
                }
            }
            Op::AvgPool2d(w) => ops::pool(x, s, w, false, out, os, q),
            Op::MaxPool2d(w) => ops::pool(x, s, w, true, out, os, q),
            Op::Add(a) => ops::add(x, zp, x2, self.zero_points[t2], a, out, q),
        }
    }

    /// Encode a batch of images (`images.len()` a multiple of [`Self::input_len`])
    /// on up to `threads` threads. Each image is independent work, so the
    /// result does not depend on the thread count.
    #[cfg(feature = "std")]
    pub fn encode_batch(
        &self,
        images: &[u8],
        symbols: &mut [u8],
        threads: usize,
    ) -> Result<(), RunError> {
        let (il, sl) = (self.input_len(), self.num_symbols());
        if !images.len().is_multiple_of(il) {
            return Err(RunError::BadLength {
                what: "images",
                len: images.len(),
                item: il,
            });
        }
        let count = images.len() / il;
        if symbols.len() != count * sl {
            return Err(RunError::BufferTooSmall {
                what: "symbols",
                need: count * sl,
                got: symbols.len(),
            });
        }
        crate::par::split2(images, il, symbols, sl, threads, |_, imgs, syms| {
            let mut arena = std::vec![0i8; self.arena_len];
            let mut work = std::vec![0i16; self.work_len];
            for (img, sym) in imgs.chunks(il).zip(syms.chunks_mut(sl)) {
                self.encode(img, &mut arena, &mut work, sym)?;
            }
            Ok(())
        })
    }
}

/// `Err(BufferTooSmall)` when `got < need`.
fn need(what: &'static str, need: usize, got: usize) -> Result<(), RunError> {
    if got < need {
        Err(RunError::BufferTooSmall { what, need, got })
    } else {
        Ok(())
    }
}

fn len(s: Shape) -> usize {
    s.h * s.w * s.c
}

/// The output region and two (possibly equal) input regions of the arena;
/// the plan guarantees the inputs do not overlap the output.
fn regions(
    arena: &mut [i8],
    out: usize,
    out_len: usize,
    ins: [(usize, usize); 2],
) -> (&mut [i8], [&[i8]; 2]) {
    let (lo, rest) = arena.split_at_mut(out);
    let (o, hi) = rest.split_at_mut(out_len);
    let (lo, hi): (&[i8], &[i8]) = (lo, hi);
    let pick = |(off, n): (usize, usize)| {
        if off < out {
            &lo[off..off + n]
        } else {
            &hi[off - out - out_len..][..n]
        }
    };
    (o, [pick(ins[0]), pick(ins[1])])
}

/// First-fit placement of tensors in one arena: a tensor lives from the step
/// that writes it (tensor `t` at step `t`) to the last step that reads it
/// (layer `i` runs at step `i + 1`, the head at step `n + 1`); tensors whose
/// lifetimes overlap get disjoint, 4-byte aligned ranges.
fn place(layers: &[Layer], shapes: &[Shape; T]) -> ([usize; T], usize) {
    let n = layers.len();
    let mut death = [0usize; T];
    for (t, d) in death.iter_mut().enumerate().take(n + 1) {
        *d = t;
    }
    for (i, l) in layers.iter().enumerate() {
        let reads = if matches!(l.op, Op::Add(_)) { 2 } else { 1 };
        for &t in &l.inputs[..reads] {
            death[t] = death[t].max(i + 1);
        }
    }
    death[n] = n + 1;
    let mut offsets = [0usize; T];
    let mut total = 0;
    for t in 0..=n {
        let size = len(shapes[t]).next_multiple_of(4);
        let live = |u: usize| u < t && death[u] >= t;
        let fits = |off: usize| {
            (0..t).filter(|&u| live(u)).all(|u| {
                off + size <= offsets[u] || offsets[u] + len(shapes[u]).next_multiple_of(4) <= off
            })
        };
        let mut best = usize::MAX;
        for cand in core::iter::once(0).chain(
            (0..t)
                .filter(|&u| live(u))
                .map(|u| offsets[u] + len(shapes[u]).next_multiple_of(4)),
        ) {
            if cand < best && fits(cand) {
                best = cand;
            }
        }
        offsets[t] = best;
        total = total.max(best + size);
    }
    (offsets, total)
}
