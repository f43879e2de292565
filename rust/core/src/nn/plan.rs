//! The static plan of a [`Model`] that `super::validate` has checked: the
//! placement of every tensor in one caller-provided arena, the choice of
//! conv2d [`Kernel`], and the allocation-free run. The kernels (`conv`,
//! `mac`, `avx2`, `ops`, `head`) are leaves: they never see the plan.

use core::fmt;

use super::conv::{self, ConvParams, Out, OutQuant, Tensor};
use super::dw;
use super::head::{self, HeadParams};
use super::model::{Layer, Model, ModelError, Op, Shape};
use super::ops;
use super::validate::{centers, conv_params, validate, weight_dims, Checked, T};

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
    /// im2col rows + [`super::mac::dot_2x2`] (SSE2 on x86-64, SMLAD on
    /// Cortex-M, scalar elsewhere): runs everywhere, and is what the
    /// single-image [`Encoder::encode`] and the firmware use.
    Im2col,
    /// x86-64 AVX2, output channels as lanes, weights packed once per batch.
    Avx2,
    /// x86-64 AVX-512 VNNI: the AVX2 scheme on 16 lanes, 4 byte products
    /// per lane and instruction (`vpdpbusd`).
    Avx512Vnni,
}

#[cfg(feature = "std")]
impl Kernel {
    /// Every kernel, fastest first.
    pub const ALL: [Self; 3] = [Self::Avx512Vnni, Self::Avx2, Self::Im2col];

    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.available())
            .unwrap_or(Self::Im2col)
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            Self::Im2col => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Vnni => super::vnni::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx2 | Self::Avx512Vnni => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Im2col => "im2col",
            Self::Avx2 => "avx2",
            Self::Avx512Vnni => "avx512vnni",
        }
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::simd;

/// Conv2d weights packed for a faster kernel than [`Kernel::Im2col`].
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use super::simd::Packed;

/// No faster kernel on this target: nothing is ever packed.
#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
#[derive(Clone, Debug)]
pub(crate) enum Packed {}

#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
impl Packed {
    pub fn work_len(&self) -> usize {
        match *self {}
    }

    #[cfg(feature = "std")]
    pub fn kernel(&self) -> Kernel {
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
    macs: u64,
}

impl<'a> Encoder<'a> {
    /// Check every shape, span and range of `model` (`validate`) and lay out
    /// its tensors.
    pub fn new(model: Model<'a>) -> Result<Self, ModelError> {
        let Checked {
            shapes,
            zero_points,
            work_len,
            macs,
        } = validate(&model)?;
        let (offsets, arena_len) = place(model.layers, &shapes);
        Ok(Self {
            model,
            shapes,
            zero_points,
            offsets,
            arena_len,
            work_len,
            macs,
        })
    }

    /// Multiply-accumulates of one inference (the convs').
    pub fn macs(&self) -> u64 {
        self.macs
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
            centers: centers(&self.model).unwrap_or(&[]),
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

    /// [`Self::forward`], calling `each(i)` just before layer `i` runs and
    /// `each(n)` after the last of the `n` layers (after the input is copied
    /// in), so a caller can time the layers one by one (the firmware's kernel
    /// benchmark reads its cycle counter there).
    pub fn forward_each<'x>(
        &self,
        image: &[u8],
        arena: &'x mut [i8],
        work: &mut [i16],
        each: &mut dyn FnMut(usize),
    ) -> Result<&'x [i8], RunError> {
        self.forward_inner(image, arena, work, None, Some(each))
    }

    /// [`Self::forward`], running the conv2d layers that `packed` holds with
    /// its kernel (`work` then holds at least its `work_len` too).
    fn forward_with<'x>(
        &self,
        image: &[u8],
        arena: &'x mut [i8],
        work: &mut [i16],
        packed: Option<&Packed>,
    ) -> Result<&'x [i8], RunError> {
        self.forward_inner(image, arena, work, packed, None)
    }

    fn forward_inner<'x>(
        &self,
        image: &[u8],
        arena: &'x mut [i8],
        work: &mut [i16],
        packed: Option<&Packed>,
        mut each: Option<&mut dyn FnMut(usize)>,
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
            if let Some(f) = each.as_mut() {
                f(i);
            }
            self.run_layer(i, l, arena, work, packed);
        }
        let last = self.model.layers.len();
        if let Some(f) = each.as_mut() {
            f(last);
        }
        Ok(&arena[self.offsets[last]..][..self.num_symbols()])
    }

    /// This model's conv2d layers packed for `kernel` (`None` for
    /// [`Kernel::Im2col`], or a kernel this CPU does not run).
    #[cfg(feature = "std")]
    pub(crate) fn pack(&self, kernel: Kernel) -> Option<Packed> {
        #[cfg(target_arch = "x86_64")]
        {
            let layers = self.model.layers.iter().enumerate().map(|(i, l)| {
                let Op::Conv2d(_) = l.op else { return None };
                let (p, s) = self.conv_layer(i, l)?;
                Some((p, s, self.zero_points[l.inputs[0]], l.output))
            });
            Packed::new(layers, kernel)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = kernel;
            None
        }
    }

    /// The parameters and input shape of conv layer `i` (`None` for other ops).
    fn conv_layer(&self, i: usize, l: &Layer) -> Option<(ConvParams<'a>, Shape)> {
        let (Op::Conv2d(c) | Op::DepthwiseConv2d(c)) = &l.op else {
            return None;
        };
        let s = self.shapes[l.inputs[0]];
        let depthwise = matches!(l.op, Op::DepthwiseConv2d(_));
        // Validated in `new`, so the sizes fit and the spans resolve.
        let wlen = weight_dims(i, depthwise, c.window.kernel, s.c, l.output.c)
            .ok()?
            .len;
        let p = conv_params(&self.model, c, l.output.c, wlen, i).ok()?;
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
        let t2 = *l.used_inputs().last().unwrap_or(&l.inputs[0]);
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
        let mut out = Out {
            data: out,
            shape: os,
            q,
        };
        match &l.op {
            Op::Conv2d(_) => {
                #[cfg(all(feature = "std", target_arch = "x86_64"))]
                if let Some(p) = packed {
                    if simd::conv2d(p, i, t, out.reborrow(), work) {
                        return;
                    }
                }
                if let Some((p, _)) = self.conv_layer(i, l) {
                    // The 1x1 kernel: the firmware's (the host's SIMD im2col
                    // kernels are faster there).
                    #[cfg(target_arch = "arm")]
                    if super::pw::pointwise(t, &p, out.reborrow(), work) {
                        return;
                    }
                    conv::conv2d(t, &p, out, work);
                }
            }
            Op::DepthwiseConv2d(c) => {
                if let Some((p, _)) = self.conv_layer(i, l) {
                    if !dw::depthwise3x3(t, &p, c.depth_multiplier, out.reborrow(), work) {
                        conv::depthwise(t, &p, c.depth_multiplier, out);
                    }
                }
            }
            Op::AvgPool2d(w) => ops::pool(t, w, false, out),
            Op::MaxPool2d(w) => ops::pool(t, w, true, out),
            Op::Add(a) => ops::add(x, zp, x2, self.zero_points[t2], a, out.data, q),
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
        self.run_batch(
            images,
            symbols,
            threads,
            self.pack(Kernel::detect()).as_ref(),
        )
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
        self.for_each_image(
            images,
            symbols,
            "symbols",
            threads,
            packed,
            |arena, work, img, sym| self.encode_with(img, arena, work, sym, packed),
        )
    }

    /// The int8 latents (the last tensor, before the head: `num_symbols` values,
    /// NHWC) of a batch of images, as [`Self::run_batch`] runs them.
    #[cfg(feature = "std")]
    pub(crate) fn latent_batch(
        &self,
        images: &[u8],
        latents: &mut [i8],
        threads: usize,
        packed: Option<&Packed>,
    ) -> Result<(), RunError> {
        self.for_each_image(
            images,
            latents,
            "latents",
            threads,
            packed,
            |arena, work, img, out| {
                out.copy_from_slice(self.forward_with(img, arena, work, packed)?);
                Ok(())
            },
        )
    }

    /// Runs `run(arena, work, image, out)` for each image of `images` and its
    /// `num_symbols` values of `out`, in chunks claimed by up to `threads` threads.
    #[cfg(feature = "std")]
    fn for_each_image<T: Send>(
        &self,
        images: &[u8],
        out: &mut [T],
        what: &'static str,
        threads: usize,
        packed: Option<&Packed>,
        run: impl Fn(&mut [i8], &mut [i16], &[u8], &mut [T]) -> Result<(), RunError> + Sync,
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
        if out.len() != count * sl {
            return Err(RunError::BufferTooSmall {
                what,
                need: count * sl,
                got: out.len(),
            });
        }
        let work_len = self.work_len.max(packed.map_or(0, Packed::work_len));
        // Chunks of a few images: threads claim them as they finish, so a
        // thread slowed by other work on the machine takes fewer.
        const CHUNK: usize = 4;
        crate::par::claim2(
            images,
            CHUNK * il,
            out,
            CHUNK * sl,
            threads,
            || (std::vec![0i8; self.arena_len], std::vec![0i16; work_len]),
            |(arena, work), imgs, outs| {
                for (img, o) in imgs.chunks(il).zip(outs.chunks_mut(sl)) {
                    run(arena, work, img, o)?;
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
        for &t in l.used_inputs() {
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
