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
    /// The requested [`Kernel`] cannot run on this CPU.
    KernelUnavailable(&'static str),
    /// The model failed validation (see [`Encoder::new`]).
    Model(ModelError),
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
            Self::KernelUnavailable(name) => {
                write!(f, "kernel {name:?} is not available on this CPU")
            }
            Self::Model(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RunError {}

/// Which conv2d implementation a host batch run uses. Every kernel gives the
/// same results bit for bit; they differ only in speed.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// im2col + [`super::kernel::dot_2x2`] (SSE2 on x86-64): runs everywhere,
    /// and is what the single-image [`Encoder::encode`] uses.
    Portable,
    /// x86-64 AVX2, output channels as lanes, weights packed once per batch.
    Avx2,
}

#[cfg(feature = "std")]
impl Kernel {
    pub const ALL: [Self; 2] = [Self::Portable, Self::Avx2];

    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        if Self::Avx2.available() {
            Self::Avx2
        } else {
            Self::Portable
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx2 => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::Avx2 => "avx2",
        }
    }
}

/// Conv2d weights packed for a faster kernel than the portable one.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use super::avx2::Packed;

/// No faster kernel on this target: nothing is ever packed.
#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
#[derive(Clone, Debug)]
pub(crate) enum Packed {}

#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
impl Packed {
    #[cfg(feature = "std")]
    pub fn new(_: &Encoder<'_>) -> Option<Self> {
        None
    }

    pub fn work_len(&self) -> usize {
        match *self {}
    }
}

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
        self.encode_with(image, arena, work, symbols, None)
    }

    fn encode_with(
        &self,
        image: &[u8],
        arena: &mut [i8],
        work: &mut [i16],
        symbols: &mut [u8],
        packed: Option<&Packed>,
    ) -> Result<(), RunError> {
        let n = self.num_symbols();
        need("symbols", n, symbols.len())?;
        let zp = self.zero_points[self.model.layers.len()];
        let latent = self.forward_with(image, arena, work, packed)?;
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
        self.forward_with(image, arena, work, None)
    }

    /// [`Self::forward`], running the conv2d layers that `packed` holds with
    /// its kernel (`work` then holds at least its `work_len` too).
    pub(crate) fn forward_with<'x>(
        &self,
        image: &[u8],
        arena: &'x mut [i8],
        work: &mut [i16],
        packed: Option<&Packed>,
    ) -> Result<&'x [i8], RunError> {
        need("image", self.input_len(), image.len())?;
        need("arena", self.arena_len, arena.len())?;
        need("work", self.work_len, work.len())?;
        if let Some(p) = packed {
            need("work", p.work_len(), work.len())?;
        }
        let x0 = &mut arena[self.offsets[0]..][..self.input_len()];
        for (d, &p) in x0.iter_mut().zip(image) {
            *d = (p ^ 0x80) as i8;
        }
        for (i, l) in self.model.layers.iter().enumerate() {
            self.run_layer(i, l, arena, work, packed);
        }
        let last = self.model.layers.len();
        Ok(&arena[self.offsets[last]..][..self.num_symbols()])
    }

    /// The parameters and input shape of conv layer `i` (`None` for other ops).
    pub(crate) fn conv_layer(&self, i: usize, l: &Layer) -> Option<(ConvParams<'a>, Shape)> {
        let (Op::Conv2d(c) | Op::DepthwiseConv2d(c)) = &l.op else {
            return None;
        };
        let s = self.shapes[l.inputs[0]];
        let [kh, kw] = c.window.kernel;
        let wlen = match l.op {
            Op::DepthwiseConv2d(_) => kh * kw * l.output.c,
            _ => l.output.c * kh * kw * s.c,
        };
        // Validated in `new`, so the spans resolve.
        let p = Self::conv_params(&self.model, c, l.output.c, wlen, i).ok()?;
        Some((p, s))
    }

    fn run_layer(
        &self,
        i: usize,
        l: &Layer,
        arena: &mut [i8],
        work: &mut [i16],
        packed: Option<&Packed>,
    ) {
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
            Op::Conv2d(_) => {
                #[cfg(all(feature = "std", target_arch = "x86_64"))]
                if let Some(p) = packed {
                    if super::avx2::conv2d(p, i, t, out, os, q, work) {
                        return;
                    }
                }
                if let Some((p, _)) = self.conv_layer(i, l) {
                    conv::conv2d(t, &p, out, os, q, work);
                }
            }
            Op::DepthwiseConv2d(c) => {
                if let Some((p, _)) = self.conv_layer(i, l) {
                    conv::depthwise(t, &p, c.depth_multiplier, out, os, q);
                }
            }
            Op::AvgPool2d(w) => ops::pool(x, s, w, false, out, os, q),
            Op::MaxPool2d(w) => ops::pool(x, s, w, true, out, os, q),
            Op::Add(a) => ops::add(x, zp, x2, self.zero_points[t2], a, out, q),
        }
        let _ = packed;
    }

    /// Encode a batch of images (`images.len()` a multiple of [`Self::input_len`])
    /// on up to `threads` threads with the fastest [`Kernel`] of this CPU,
    /// packing its weights on every call ([`super::OwnedModel`] packs them
    /// once, when it loads). Each image is independent work, so the result
    /// does not depend on the thread count.
    #[cfg(feature = "std")]
    pub fn encode_batch(
        &self,
        images: &[u8],
        symbols: &mut [u8],
        threads: usize,
    ) -> Result<(), RunError> {
        self.run_batch(images, symbols, threads, Packed::new(self).as_ref())
    }

    /// The batch run behind the `encode_batch` methods, with the conv2d layers that
    /// `packed` (made from this encoder's model) holds on its kernel.
    #[cfg(feature = "std")]
    pub(crate) fn run_batch(
        &self,
        images: &[u8],
        symbols: &mut [u8],
        threads: usize,
        packed: Option<&Packed>,
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
        let work_len = self.work_len.max(packed.map_or(0, Packed::work_len));
        // Chunks of a few images: threads claim them as they finish, so a
        // thread slowed by other work on the machine takes fewer.
        const CHUNK: usize = 4;
        crate::par::claim2(
            images,
            CHUNK * il,
            symbols,
            CHUNK * sl,
            threads,
            || (std::vec![0i8; self.arena_len], std::vec![0i16; work_len]),
            |(arena, work), imgs, syms| {
                for (img, sym) in imgs.chunks(il).zip(syms.chunks_mut(sl)) {
                    self.encode_with(img, arena, work, sym, packed)?;
                }
                Ok(())
            },
        )
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
