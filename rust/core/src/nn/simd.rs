//! The x86-64 conv2d kernels that pack weights once (host only, chosen at
//! run time): what [`super::avx2`] and [`super::vnni`] share.
//!
//! The im2col path ([`super::conv::conv2d`]) builds an im2col row per output
//! pixel, takes dot products of rows and requantizes one value at a time.
//! Here output channels are the SIMD lanes instead: the window values go in
//! groups (2 i16 for AVX2's `vpmaddwd`, 4 u8 for VNNI's `vpdpbusd`), the
//! group of one pixel is broadcast to all lanes and multiplied by the weight
//! groups of `N` output channels, so a block of `P` pixels x `G` channel
//! vectors accumulates in registers with no horizontal sums, and
//! requantization runs on `N` channels at once. The window is read straight
//! from a padded copy of the input (no im2col): the `kw * cin` values of a
//! window row are contiguous in NHWC.
//!
//! Results are identical to the im2col path: i32 sums wrap (the order does
//! not matter), and each kernel's vector requantization is checked against
//! [`super::requant::requantize`] lane by lane.

use std::vec::Vec;

use super::avx2;
use super::conv::{ConvParams, Out, Tensor};
use super::model::{Shape, Window};
use super::plan::Kernel;
use super::vnni;

/// One conv2d layer packed for one of the kernels.
#[derive(Clone)]
enum PackedLayer {
    Avx2(PackedConv<{ avx2::LANES }>),
    Vnni(PackedConv<{ vnni::LANES }>),
}

/// The conv2d layers of one model, packed once for one x86-64 [`Kernel`].
/// Holding one proves the CPU runs that kernel ([`Packed::new`] is the only
/// constructor).
#[derive(Clone)]
pub(crate) struct Packed {
    kernel: Kernel,
    /// Indexed by layer; `None` for every other op (they run on im2col).
    layers: Vec<Option<PackedLayer>>,
    work_len: usize,
}

impl core::fmt::Debug for Packed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let packed = self.layers.iter().filter(|l| l.is_some()).count();
        write!(
            f,
            "Packed {{ {} conv2d layers: {packed} }}",
            self.kernel.name()
        )
    }
}

/// A conv2d layer to pack: its parameters, input shape and zero point, and
/// output shape.
pub(crate) type ConvToPack<'a> = (ConvParams<'a>, Shape, i32, Shape);

impl Packed {
    /// Packs a model's conv2d layers (`None` for a layer to leave unpacked)
    /// for `kernel`, or `None` when this CPU does not run it (or it packs
    /// nothing: [`Kernel::Im2col`]).
    pub fn new<'a>(
        layers: impl Iterator<Item = Option<ConvToPack<'a>>>,
        kernel: Kernel,
    ) -> Option<Self> {
        if kernel == Kernel::Im2col || !kernel.available() {
            return None;
        }
        let mut work_len = 0;
        let layers = layers
            .map(|conv| {
                let (p, s, zero_point, os) = conv?;
                Some(if kernel == Kernel::Avx512Vnni {
                    work_len = work_len.max(vnni::work_len(&p.window, s, os));
                    PackedLayer::Vnni(vnni::pack(&p, s.c, zero_point, os.c))
                } else {
                    work_len = work_len.max(avx2::work_len(&p.window, s, os));
                    PackedLayer::Avx2(avx2::pack(&p, s.c, os.c))
                })
            })
            .collect();
        Some(Self {
            kernel,
            layers,
            work_len,
        })
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// i16 work the packed layers need (their padded inputs).
    pub fn work_len(&self) -> usize {
        self.work_len
    }
}

/// conv2d of layer `i` with its packed weights; `work` holds at least
/// [`Packed::work_len`] values. Returns `false` (and does nothing) when layer
/// `i` is not packed.
pub(crate) fn conv2d(
    packed: &Packed,
    i: usize,
    t: Tensor<'_>,
    out: Out<'_>,
    work: &mut [i16],
) -> bool {
    match packed.layers.get(i) {
        Some(Some(PackedLayer::Avx2(pc))) => avx2::conv2d(pc, t, out, work),
        Some(Some(PackedLayer::Vnni(pc))) => vnni::conv2d(pc, t, out, work),
        _ => return false,
    }
    true
}

/// `N` i32 lanes, aligned for a 512-bit load: a 16-lane vector must not
/// straddle two cache lines (measured: the VNNI kernel's second layer ran
/// ~20% slower with 32-byte alignment). AVX2's 32-byte vectors then take a
/// 64-byte slot each; a model's packed weights are a few tens of KB.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Lanes<const N: usize>(pub [i32; N]);

/// Per-channel requantization constants of one vector of `N` output
/// channels; lanes past `Cout` are zero (their results are dropped).
#[derive(Clone, Copy)]
pub(super) struct RequantV<const N: usize> {
    pub bias: Lanes<N>,
    pub multiplier: Lanes<N>,
    /// The multipliers of the odd lanes, moved to the even ones (`vpmuldq`
    /// multiplies even lanes).
    pub multiplier_odd: Lanes<N>,
    /// `clamp(shift, 0, 30)`: the left shift (wrapping, as TFLite's).
    pub left: Lanes<N>,
    /// `clamp(-shift, 0, 31)`: the rounding right shift `e`...
    pub right: Lanes<N>,
    /// ...its remainder mask `2^e - 1`...
    pub mask: Lanes<N>,
    /// ...and half of that, `mask >> 1`.
    pub half: Lanes<N>,
}

impl<const N: usize> RequantV<N> {
    pub(super) fn new(bias: [i32; N], multiplier: [i32; N], shift: [i32; N]) -> Self {
        let right = shift.map(|s| (-s).clamp(0, 31));
        let mask = right.map(|e| ((1i64 << e) - 1) as i32);
        Self {
            bias: Lanes(bias),
            multiplier: Lanes(multiplier),
            multiplier_odd: Lanes(core::array::from_fn(|k| {
                if k % 2 == 0 {
                    multiplier[k + 1]
                } else {
                    0
                }
            })),
            left: Lanes(shift.map(|s| s.clamp(0, 30))),
            right: Lanes(right),
            mask: Lanes(mask),
            half: Lanes(mask.map(|m| m >> 1)),
        }
    }
}

/// One conv2d layer packed for a kernel of `N` lanes.
#[derive(Clone)]
pub(super) struct PackedConv<const N: usize> {
    pub window: Window,
    /// Values per group.
    pub group: usize,
    /// Groups per window row: `ceil(kw * cin / group)`.
    pub groups: usize,
    /// Channel vectors: `ceil(Cout / N)`.
    pub vectors: usize,
    /// `[step][vector]`, step `ky * groups + j`: lane `l` of vector `v`
    /// holds the weights of group `j` of window row `ky` for channel
    /// `N v + l` (zero past the row or past `Cout`).
    pub weights: Vec<Lanes<N>>,
    pub requant: Vec<RequantV<N>>,
    /// Whether any channel has a left shift (`shift > 0`, rare).
    pub left_shift: bool,
}

/// Packs conv layer `p` (`cin` input and `cout` output channels): `encode`
/// turns the weights of one group (fewer at the end of a row: the rest are
/// zero) into a lane's i32, and `bias(o)` is the bias of channel `o` the
/// kernel adds.
pub(super) fn pack<const N: usize>(
    p: &ConvParams<'_>,
    cin: usize,
    cout: usize,
    group: usize,
    encode: impl Fn(&[i8]) -> i32,
    bias: impl Fn(usize) -> i32,
) -> PackedConv<N> {
    let [kh, kw] = p.window.kernel;
    let row = kw * cin;
    let groups = row.div_ceil(group);
    let vectors = cout.div_ceil(N);
    let mut weights = std::vec![Lanes([0; N]); kh * groups * vectors];
    for o in 0..cout {
        let (v, lane) = (o / N, o % N);
        for ky in 0..kh {
            let w = &p.weight[(o * kh + ky) * row..][..row];
            for (j, g) in w.chunks(group).enumerate() {
                weights[(ky * groups + j) * vectors + v].0[lane] = encode(g);
            }
        }
    }
    let requant = (0..vectors)
        .map(|v| {
            // Lanes past `Cout` stay zero.
            let lanes = |f: &dyn Fn(usize) -> i32| {
                core::array::from_fn(|lane| {
                    let o = v * N + lane;
                    if o < cout {
                        f(o)
                    } else {
                        0
                    }
                })
            };
            RequantV::new(
                lanes(&bias),
                lanes(&|o| p.multiplier[o]),
                lanes(&|o| p.shift[o]),
            )
        })
        .collect();
    PackedConv {
        window: p.window,
        group,
        groups,
        vectors,
        weights,
        requant,
        left_shift: p.shift.iter().any(|&s| s > 0),
    }
}

/// Rows and columns of the padded input that the output reads.
pub(super) fn padded_dims(win: &Window, os: Shape) -> (usize, usize) {
    (
        (os.h - 1) * win.stride[0] + win.kernel[0],
        (os.w - 1) * win.stride[1] + win.kernel[1],
    )
}

/// Values of the padded input, plus the `group - 1` the last group of a
/// window row may read past it (their weights are zero).
pub(super) fn padded_len(win: &Window, s: Shape, os: Shape, group: usize) -> usize {
    let (hp, wp) = padded_dims(win, os);
    hp * wp * s.c + group - 1
}

/// Writes the padded input window region into `xp` ([`padded_len`] values):
/// `map(x)` for each input value, `fill` where padded (and past the end).
#[inline]
pub(super) fn pad_input<T: Copy>(
    t: Tensor<'_>,
    win: &Window,
    os: Shape,
    xp: &mut [T],
    fill: T,
    map: impl Fn(i8) -> T,
) {
    let (s, c) = (t.shape, t.shape.c);
    let (hp, wp) = padded_dims(win, os);
    // Columns of the padded row that come from the input (the padding at
    // the bottom and right is whatever the output reads past the input).
    let left = win.padding.left.min(wp);
    let inner = s.w.min(wp - left);
    for (r, row) in xp.chunks_exact_mut(wp * c).take(hp).enumerate() {
        let iy = r.wrapping_sub(win.padding.top);
        if iy >= s.h {
            row.fill(fill);
            continue;
        }
        let (l, rest) = row.split_at_mut(left * c);
        let (m, rr) = rest.split_at_mut(inner * c);
        l.fill(fill);
        rr.fill(fill);
        let src = &t.data[iy * s.w * c..][..inner * c];
        for (d, &v) in m.iter_mut().zip(src) {
            *d = map(v);
        }
    }
    xp[hp * wp * c..].fill(fill);
}

/// Runs a packed conv in blocks of `P` output pixels x `G` channel vectors
/// (channel vectors beyond `G` take further passes): `dot(base, v0)` gives
/// the sums of the block's pixels (window bases `base`, offsets into the
/// padded input) for vectors `v0..v0 + G`, `finish(sum, requant, out)`
/// requantizes one vector and stores its first `min(N, out.len())` lanes.
/// Where one pass covers every channel exactly (`Cout == G N`), a full
/// block's outputs are `P Cout` contiguous bytes: `finish_block(sums, out)`
/// may store them at once (`true`) or leave them to `finish` (`false`).
#[inline]
pub(super) fn blocks<const N: usize, const P: usize, const G: usize, A: Copy>(
    pc: &PackedConv<N>,
    cin: usize,
    out: &mut [i8],
    os: Shape,
    mut dot: impl FnMut([usize; P], usize) -> [[A; G]; P],
    mut finish: impl FnMut(A, &RequantV<N>, &mut [i8]),
    mut finish_block: impl FnMut(&[[A; G]; P], &mut [i8]) -> bool,
) {
    let whole = os.c == G * N;
    let (_, wp) = padded_dims(&pc.window, os);
    let [sh, sw] = pc.window.stride;
    let cout = os.c;
    let pixels = os.h * os.w;
    // The output pixel `px` is at row `oy`, column `ox` (kept without
    // divisions: they cost as much as the rest of a small layer's block).
    let (mut px, mut oy, mut ox) = (0, 0, 0);
    while px < pixels {
        // A short last block repeats its last pixel (computed, then dropped).
        let mut pix = [0; P];
        let mut base = [0; P];
        for k in 0..P {
            if px + k < pixels {
                pix[k] = px + k;
                base[k] = (oy * sh * wp + ox * sw) * cin;
                ox += 1;
                if ox == os.w {
                    (oy, ox) = (oy + 1, 0);
                }
            } else {
                (pix[k], base[k]) = (pix[k - 1], base[k - 1]);
            }
        }
        let mut v0 = 0;
        while v0 < pc.vectors {
            let g = G.min(pc.vectors - v0);
            let acc = dot(base, v0);
            if whole && px + P <= pixels && finish_block(&acc, &mut out[px * cout..][..P * cout]) {
                v0 += G;
                continue;
            }
            for (k, acc) in acc.iter().enumerate().take(pixels - px) {
                let o_px = &mut out[pix[k] * cout..][..cout];
                for (gi, &a) in acc.iter().enumerate().take(g) {
                    let v = v0 + gi;
                    finish(a, &pc.requant[v], &mut o_px[v * N..]);
                }
            }
            v0 += G;
        }
        px += P;
    }
}

/// The sums of `P` pixels (window bases `base`, offsets into the padded
/// input `xp`) for channel vectors `v0..v0 + G`: for every window row `ky`
/// and group `j`, `mac(sum, broadcast(at), load(weights))` with `at` a
/// pointer to the group's `pc.group` values `xp[base + ky * row + j group..]`,
/// all inside `xp` (asserted).
#[inline]
#[allow(clippy::too_many_arguments)] // the kernel's parts, each a closure
pub(super) fn dot_block<const N: usize, const P: usize, const G: usize, T, V: Copy>(
    pc: &PackedConv<N>,
    xp: &[T],
    base: [usize; P],
    row: usize,
    v0: usize,
    zero: V,
    load: impl Fn(&Lanes<N>) -> V,
    broadcast: impl Fn(*const T) -> V,
    mac: impl Fn(V, V, V) -> V,
) -> [[V; G]; P] {
    let mut acc = [[zero; G]; P];
    let (kh, groups, nv, group) = (pc.window.kernel[0], pc.groups, pc.vectors, pc.group);
    // Channel vectors past `nv` (a short last pass) reuse vector `nv - 1`;
    // their sums are not stored.
    let vs: [usize; G] = core::array::from_fn(|g| (v0 + g).min(nv - 1));
    let last = base
        .iter()
        .max()
        .map_or(0, |&b| b + (kh - 1) * row + group * groups);
    assert!(last <= xp.len() && pc.weights.len() == kh * groups * nv);
    for ky in 0..kh {
        for j in 0..groups {
            let step = (ky * groups + j) * nv;
            let wv: [V; G] = vs.map(|v| load(&pc.weights[step + v]));
            for (acc, &b) in acc.iter_mut().zip(&base) {
                // SAFETY: the group at `b + ky * row + j * group` is inside
                // `xp` (it ends at `last` or before, asserted).
                let a = broadcast(unsafe { xp.as_ptr().add(b + ky * row + j * group) });
                for (s, &w) in acc.iter_mut().zip(&wv) {
                    *s = mac(*s, a, w);
                }
            }
        }
    }
    acc
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::nn::conv::{self, OutQuant};
    use crate::nn::model::{Conv, Layer, Op, Padding, Span};
    use crate::nn::requant;
    use crate::nn::testing::padding;
    use proptest::prelude::*;

    /// A one-conv2d model and an input image.
    #[derive(Debug, Clone)]
    struct Case {
        input: Shape,
        input_zero_point: i32,
        layer: Layer,
        weights: Vec<i8>,
        params: Vec<i32>,
        image: Vec<u8>,
    }

    fn case() -> impl Strategy<Value = Case> {
        // Up to 80 output channels: 5 VNNI vectors, more than one pass of 4;
        // often a multiple of 16, where VNNI stores whole blocks at once.
        let cout = prop_oneof![1usize..81, (1usize..5).prop_map(|v| 16 * v)];
        let geometry = (1usize..10, 1usize..10, 1usize..7, cout)
            .prop_flat_map(|(h, w, cin, cout)| {
                let dims = (1usize..=4, 1usize..=4, 1usize..=3, 1usize..=3);
                (Just((h, w, cin, cout)), dims)
            })
            .prop_flat_map(|((h, w, cin, cout), (kh, kw, sh, sw))| {
                let shape = Shape { h, w, c: cin };
                let window = move |padding| Window {
                    kernel: [kh, kw],
                    stride: [sh, sw],
                    padding,
                };
                // Padding below the kernel on each side, with room for one output.
                let fits = move |p: &Padding| window(*p).output_size(h, w).is_some();
                padding([kh, kw])
                    .prop_filter("the window must fit", fits)
                    .prop_map(move |p| (shape, cout, window(p)))
            });
        (geometry, any::<bool>()).prop_flat_map(|((s, cout, window), extreme)| {
            let n = cout * window.kernel[0] * window.kernel[1] * s.c;
            let bias = if extreme { 1 << 30 } else { 5000 };
            let shifts = if extreme { -31..=30 } else { -14..=1 };
            (
                prop::collection::vec(any::<i8>(), n),
                prop::collection::vec(-bias..bias, cout),
                prop::collection::vec(0..=i32::MAX, cout),
                prop::collection::vec(shifts, cout),
                (any::<i8>(), any::<i8>(), any::<i8>(), any::<i8>()),
                prop::collection::vec(any::<u8>(), s.h * s.w * s.c),
            )
                .prop_map(move |(weights, b, m, sh, (zi, zo, lo, hi), image)| {
                    let (oh, ow) = window.output_size(s.h, s.w).expect("fits");
                    let span = |k: usize| Span {
                        start: k * cout,
                        len: cout,
                    };
                    let layer = Layer {
                        op: Op::Conv2d(Conv {
                            window,
                            depth_multiplier: 1,
                            weight: Span { start: 0, len: n },
                            bias: span(0),
                            multiplier: span(1),
                            shift: span(2),
                        }),
                        inputs: [0, 0],
                        output: Shape {
                            h: oh,
                            w: ow,
                            c: cout,
                        },
                        output_zero_point: zo.into(),
                        act_min: lo.min(hi).into(),
                        act_max: lo.max(hi).into(),
                    };
                    let params = [b, m, sh].concat();
                    Case {
                        input: s,
                        input_zero_point: zi.into(),
                        layer,
                        weights: weights.clone(),
                        params,
                        image,
                    }
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// The AVX2 and AVX-512 VNNI conv2d give the im2col path's int8
        /// output exactly.
        #[test]
        fn conv2d_matches_im2col(c in case()) {
            let Op::Conv2d(cv) = c.layer.op else {
                panic!("case() makes conv2d layers");
            };
            let (os, cout) = (c.layer.output, c.layer.output.c);
            let params = || ConvParams {
                window: cv.window,
                weight: &c.weights,
                bias: &c.params[..cout],
                multiplier: &c.params[cout..2 * cout],
                shift: &c.params[2 * cout..],
            };
            let x: Vec<i8> = c.image.iter().map(|&p| (p ^ 0x80) as i8).collect();
            let t = Tensor { data: &x, shape: c.input, zero_point: c.input_zero_point };
            let q = OutQuant {
                zero_point: c.layer.output_zero_point,
                min: c.layer.act_min,
                max: c.layer.act_max,
            };
            let mut want = std::vec![0i8; os.h * os.w * cout];
            let mut work = std::vec![0i16; conv::conv2d_work_len(&cv.window, c.input.c, cout)];
            conv::conv2d(t, &params(), Out { data: &mut want, shape: os, q }, &mut work);
            for kernel in [Kernel::Avx2, Kernel::Avx512Vnni] {
                let layer = (params(), c.input, c.input_zero_point, os);
                let Some(packed) = Packed::new(core::iter::once(Some(layer)), kernel) else {
                    continue; // not on this CPU
                };
                // Leftovers of the im2col run in `work` must not matter.
                work.resize(work.len().max(packed.work_len()), 0);
                let mut got = std::vec![0i8; want.len()];
                let done = conv2d(&packed, 0, t, Out { data: &mut got, shape: os, q }, &mut work);
                prop_assert!(done);
                prop_assert_eq!(&got, &want, "{}", kernel.name());
            }
        }
    }

    /// Checks a kernel's vector requantization, `lanes(x, multiplier, shift)`
    /// on `N` lanes, against the scalar one: on the given lanes, and (with
    /// `edges`) on every combination of edge values and shift.
    pub(in crate::nn) fn check_requantize<const N: usize>(
        lanes: impl Fn(&[i32; N], &[i32; N], &[i32; N]) -> [i32; N],
        x: &[i32; N],
        m: &[i32; N],
        shift: &[i32; N],
    ) {
        let want: [i32; N] = core::array::from_fn(|i| requant::requantize(x[i], m[i], shift[i]));
        assert_eq!(lanes(x, m, shift), want, "x={x:?} m={m:?} shift={shift:?}");
    }

    /// [`check_requantize`] on every combination of edge values and shift.
    pub(in crate::nn) fn check_requantize_edges<const N: usize>(
        lanes: impl Fn(&[i32; N], &[i32; N], &[i32; N]) -> [i32; N],
    ) {
        let xs = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -5,
            -1,
            0,
            1,
            5,
            1 << 30,
            i32::MAX,
        ];
        let ms = [0, 1, 1 << 30, (1 << 30) + 1, i32::MAX];
        for &x in &xs {
            for &m in &ms {
                for s in -31..=30 {
                    check_requantize(&lanes, &[x; N], &[m; N], &[s; N]);
                }
            }
        }
    }
}
