//! x86-64 AVX2 conv2d (host only, chosen at run time by [`Packed::new`]).
//!
//! The im2col path ([`super::conv::conv2d`]) builds an im2col row per output
//! pixel, takes dot products of rows and requantizes one value at a time.
//! Here output channels are the SIMD lanes instead: for every pair of window
//! values, `vpmaddwd` multiplies the pair of one pixel (broadcast to all
//! lanes) by the weight pairs of 8 output channels, so a block of pixels x
//! channel vectors accumulates with no horizontal sums, and requantization
//! runs on 8 channels at once. The window is read straight from a
//! zero-padded i16 copy of the input (no im2col): the `kw * cin` values of a
//! window row are contiguous in NHWC.
//!
//! Results are identical to the im2col path: i32 sums wrap (the order does
//! not matter), and [`requantize`] is the vector form of
//! [`super::requant::requantize`], checked against it lane by lane.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_add_epi64, _mm256_and_si256, _mm256_blend_epi32,
    _mm256_castsi256_si128, _mm256_cmpgt_epi32, _mm256_extracti128_si256, _mm256_load_si256,
    _mm256_madd_epi16, _mm256_max_epi32, _mm256_min_epi32, _mm256_mul_epi32, _mm256_set1_epi32,
    _mm256_set1_epi64x, _mm256_setzero_si256, _mm256_slli_epi64, _mm256_sllv_epi32,
    _mm256_srav_epi32, _mm256_srli_epi64, _mm256_sub_epi32, _mm_packs_epi16, _mm_packs_epi32,
    _mm_storel_epi64,
};
use std::vec::Vec;

use super::conv::{ConvParams, Out, OutQuant, Tensor};
use super::model::{Shape, Window};

/// Output channels per vector.
const LANES: usize = 8;

/// One 256-bit vector, aligned: 16 i16 weights (8 channel pairs) or 8 i32.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct V([i32; LANES]);

/// Per-channel requantization constants of one vector of 8 output channels;
/// lanes past `Cout` are zero (their results are dropped).
#[derive(Clone, Copy)]
struct RequantV {
    bias: V,
    multiplier: V,
    /// The multipliers of the odd lanes, moved to the even ones (`vpmuldq`
    /// multiplies even lanes).
    multiplier_odd: V,
    /// `clamp(shift, 0, 30)`: the left shift (wrapping, as TFLite's).
    left: V,
    /// `clamp(-shift, 0, 31)`: the rounding right shift `e`...
    right: V,
    /// ...its remainder mask `2^e - 1`...
    mask: V,
    /// ...and half of that, `mask >> 1`.
    half: V,
}

impl RequantV {
    fn new(bias: [i32; LANES], multiplier: [i32; LANES], shift: [i32; LANES]) -> Self {
        let right = shift.map(|s| (-s).clamp(0, 31));
        let mask = right.map(|e| ((1i64 << e) - 1) as i32);
        Self {
            bias: V(bias),
            multiplier: V(multiplier),
            multiplier_odd: V(core::array::from_fn(|k| {
                if k % 2 == 0 {
                    multiplier[k + 1]
                } else {
                    0
                }
            })),
            left: V(shift.map(|s| s.clamp(0, 30))),
            right: V(right),
            mask: V(mask),
            half: V(mask.map(|m| m >> 1)),
        }
    }
}

/// One conv2d layer packed for [`conv2d`].
#[derive(Clone)]
struct PackedConv {
    window: Window,
    /// Pairs of values per window row: `ceil(kw * cin / 2)`.
    pairs: usize,
    /// Channel vectors: `ceil(Cout / 8)`.
    vectors: usize,
    /// `[step][vector]`, step `ky * pairs + j`: lane `l` of vector `v` holds
    /// the weights of values `2j, 2j + 1` of window row `ky` for channel
    /// `8v + l` (zero past the row or past `Cout`).
    weights: Vec<V>,
    requant: Vec<RequantV>,
    /// Whether any channel has a left shift (`shift > 0`, rare).
    left_shift: bool,
}

/// The conv2d layers of one model, packed once for the AVX2 kernels. Holding
/// one proves the CPU has AVX2 ([`Packed::new`] is the only constructor).
#[derive(Clone)]
pub(crate) struct Packed {
    /// Indexed by layer; `None` for every other op (they run on im2col).
    layers: Vec<Option<PackedConv>>,
    work_len: usize,
}

impl core::fmt::Debug for Packed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let packed = self.layers.iter().filter(|l| l.is_some()).count();
        write!(f, "Packed {{ avx2 conv2d layers: {packed} }}")
    }
}

impl Packed {
    /// Packs a model's conv2d layers, given per layer as its parameters,
    /// input and output shapes (`None` for a layer to leave unpacked), or
    /// `None` when this CPU lacks AVX2.
    pub fn new<'a>(
        layers: impl Iterator<Item = Option<(ConvParams<'a>, Shape, Shape)>>,
    ) -> Option<Self> {
        if !std::is_x86_feature_detected!("avx2") {
            return None;
        }
        let mut work_len = 0;
        let layers = layers
            .map(|conv| {
                let (p, s, os) = conv?;
                work_len = work_len.max(padded_len(&p.window, s, os));
                Some(pack(&p, s.c, os.c))
            })
            .collect();
        Some(Self { layers, work_len })
    }

    /// i16 work the packed layers need (their padded inputs).
    pub fn work_len(&self) -> usize {
        self.work_len
    }
}

/// Rows and columns of the zero-padded input that the output reads.
fn padded_dims(win: &Window, os: Shape) -> (usize, usize) {
    (
        (os.h - 1) * win.stride[0] + win.kernel[0],
        (os.w - 1) * win.stride[1] + win.kernel[1],
    )
}

/// i16 values of the padded input, plus one: the last pair of an odd-length
/// window row reads one value past it (its weight is zero).
fn padded_len(win: &Window, s: Shape, os: Shape) -> usize {
    let (hp, wp) = padded_dims(win, os);
    hp * wp * s.c + 1
}

fn pack(p: &ConvParams<'_>, cin: usize, cout: usize) -> PackedConv {
    let [kh, kw] = p.window.kernel;
    let row = kw * cin;
    let pairs = row.div_ceil(2);
    let vectors = cout.div_ceil(LANES);
    let mut weights = std::vec![V([0; LANES]); kh * pairs * vectors];
    for o in 0..cout {
        let (v, lane) = (o / LANES, o % LANES);
        for ky in 0..kh {
            let w = &p.weight[(o * kh + ky) * row..][..row];
            for j in 0..pairs {
                let lo = i32::from(w[2 * j]) as u16;
                let hi = w.get(2 * j + 1).map_or(0, |&x| i32::from(x) as u16);
                weights[(ky * pairs + j) * vectors + v].0[lane] =
                    (u32::from(lo) | (u32::from(hi) << 16)) as i32;
            }
        }
    }
    let requant = (0..vectors)
        .map(|v| {
            // Lanes past `Cout` stay zero.
            let lanes = |f: &dyn Fn(usize) -> i32| {
                core::array::from_fn(|lane| {
                    let o = v * LANES + lane;
                    if o < cout {
                        f(o)
                    } else {
                        0
                    }
                })
            };
            RequantV::new(
                lanes(&|o| p.bias[o]),
                lanes(&|o| p.multiplier[o]),
                lanes(&|o| p.shift[o]),
            )
        })
        .collect();
    PackedConv {
        window: p.window,
        pairs,
        vectors,
        weights,
        requant,
        left_shift: p.shift.iter().any(|&s| s > 0),
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
    let (os, q, out) = (out.shape, out.q, out.data);
    let Some(Some(pc)) = packed.layers.get(i) else {
        return false;
    };
    let xp = &mut work[..padded_len(&pc.window, t.shape, os)];
    // SAFETY: `Packed` exists only where AVX2 was detected.
    unsafe {
        pad_input(t, &pc.window, os, xp);
        conv_padded(pc, t.shape.c, xp, out, os, q);
    }
    true
}

/// Writes the zero-padded input window region, `x - zero_point` as i16.
#[target_feature(enable = "avx2")]
fn pad_input(t: Tensor<'_>, win: &Window, os: Shape, xp: &mut [i16]) {
    let (s, c) = (t.shape, t.shape.c);
    let (hp, wp) = padded_dims(win, os);
    // Columns of the padded row that come from the input (the padding at
    // the bottom and right is whatever the output reads past the input).
    let left = win.padding.left.min(wp);
    let inner = s.w.min(wp - left);
    for (r, row) in xp.chunks_exact_mut(wp * c).take(hp).enumerate() {
        let iy = r.wrapping_sub(win.padding.top);
        if iy >= s.h {
            row.fill(0);
            continue;
        }
        let (l, rest) = row.split_at_mut(left * c);
        let (m, rr) = rest.split_at_mut(inner * c);
        l.fill(0);
        rr.fill(0);
        let src = &t.data[iy * s.w * c..][..inner * c];
        for (d, &v) in m.iter_mut().zip(src) {
            *d = (i32::from(v) - t.zero_point) as i16;
        }
    }
    if let Some(last) = xp.last_mut() {
        *last = 0;
    }
}

#[target_feature(enable = "avx2")]
fn conv_padded(pc: &PackedConv, cin: usize, xp: &[i16], out: &mut [i8], os: Shape, q: OutQuant) {
    match pc.vectors {
        1 => conv_blocks::<4, 1>(pc, cin, xp, out, os, q),
        2 => conv_blocks::<4, 2>(pc, cin, xp, out, os, q),
        3 => conv_blocks::<2, 3>(pc, cin, xp, out, os, q),
        _ => conv_blocks::<2, 4>(pc, cin, xp, out, os, q),
    }
}

/// Blocks of `P` output pixels x `G` channel vectors (`P * G` accumulators
/// in registers); channel vectors beyond `G` take further passes.
#[inline]
#[target_feature(enable = "avx2")]
fn conv_blocks<const P: usize, const G: usize>(
    pc: &PackedConv,
    cin: usize,
    xp: &[i16],
    out: &mut [i8],
    os: Shape,
    q: OutQuant,
) {
    let (_, wp) = padded_dims(&pc.window, os);
    let [sh, sw] = pc.window.stride;
    let cout = os.c;
    let pixels = os.h * os.w;
    let (lo, hi) = (_mm256_set1_epi32(q.min), _mm256_set1_epi32(q.max));
    let zp = _mm256_set1_epi32(q.zero_point);
    let mut px = 0;
    while px < pixels {
        // A short last block repeats its last pixel (computed, then dropped).
        let pix: [usize; P] = core::array::from_fn(|k| (px + k).min(pixels - 1));
        let base = pix.map(|p| ((p / os.w) * sh * wp + (p % os.w) * sw) * cin);
        let mut v0 = 0;
        while v0 < pc.vectors {
            let g = G.min(pc.vectors - v0);
            let acc = dot_block::<P, G>(pc, xp, base, wp * cin, v0);
            for (k, acc) in acc.iter().enumerate().take(pixels - px) {
                let o_px = &mut out[pix[k] * cout..][..cout];
                for (gi, &a) in acc.iter().enumerate().take(g) {
                    let v = v0 + gi;
                    let y = requantize(a, &pc.requant[v], pc.left_shift);
                    // The zero point wraps, as in finish_full.
                    let y = _mm256_max_epi32(_mm256_min_epi32(_mm256_add_epi32(y, zp), hi), lo);
                    store(y, &mut o_px[v * LANES..]);
                }
            }
            v0 += G;
        }
        px += P;
    }
}

/// The sums of `P` pixels (window bases `base`, i16 offsets into `xp`) for
/// channel vectors `v0..v0 + G`. Reads `xp[base + ky * row + 2j ..= +1]` for
/// every window row `ky` and pair `j`, all inside the padded input.
#[inline]
#[target_feature(enable = "avx2")]
fn dot_block<const P: usize, const G: usize>(
    pc: &PackedConv,
    xp: &[i16],
    base: [usize; P],
    row: usize,
    v0: usize,
) -> [[__m256i; G]; P] {
    let mut acc = [[_mm256_setzero_si256(); G]; P];
    let (kh, pairs, nv) = (pc.window.kernel[0], pc.pairs, pc.vectors);
    // Channel vectors past `nv` (a short last pass) reuse vector `nv - 1`;
    // their sums are not stored.
    let vs: [usize; G] = core::array::from_fn(|g| (v0 + g).min(nv - 1));
    let last = base
        .iter()
        .max()
        .map_or(0, |&b| b + (kh - 1) * row + 2 * pairs);
    assert!(last <= xp.len() && pc.weights.len() == kh * pairs * nv);
    let w = pc.weights.as_ptr();
    for ky in 0..kh {
        for j in 0..pairs {
            let step = (ky * pairs + j) * nv;
            let mut wv = [_mm256_setzero_si256(); G];
            for (d, &v) in wv.iter_mut().zip(&vs) {
                // SAFETY: `step + v < kh * pairs * nv` (asserted length);
                // `V` is 32-byte aligned.
                *d = unsafe { _mm256_load_si256(w.add(step + v).cast()) };
            }
            for (acc, &b) in acc.iter_mut().zip(&base) {
                // SAFETY: the two i16 at `b + ky * row + 2j` are inside
                // `xp` (`<= last`, asserted); unaligned read.
                let pair = unsafe {
                    xp.as_ptr()
                        .add(b + ky * row + 2 * j)
                        .cast::<i32>()
                        .read_unaligned()
                };
                let a = _mm256_set1_epi32(pair);
                for (s, &wv) in acc.iter_mut().zip(&wv) {
                    *s = _mm256_add_epi32(*s, _mm256_madd_epi16(a, wv));
                }
            }
        }
    }
    acc
}

/// Stores the low `min(8, d.len())` lanes of `y` (values in `[-128, 127]`) as i8.
#[inline]
#[target_feature(enable = "avx2")]
fn store(y: __m256i, d: &mut [i8]) {
    let w16 = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y));
    let b = _mm_packs_epi16(w16, w16);
    if d.len() >= LANES {
        // SAFETY: 8 bytes into `d`, which holds at least 8; unaligned store.
        unsafe { _mm_storel_epi64(d.as_mut_ptr().cast(), b) };
    } else {
        let mut tmp = [0i8; 16];
        // SAFETY: 8 bytes into a 16-byte array.
        unsafe { _mm_storel_epi64(tmp.as_mut_ptr().cast(), b) };
        for (d, &v) in d.iter_mut().zip(&tmp) {
            *d = v;
        }
    }
}

#[inline]
#[target_feature(enable = "avx2")]
fn load(v: &V) -> __m256i {
    // SAFETY: `V` is 32 bytes, 32-byte aligned.
    unsafe { _mm256_load_si256(core::ptr::from_ref(v).cast()) }
}

/// [`super::requant::requantize`]`(acc + bias, multiplier, shift)` on 8 lanes;
/// `left_shift == false` promises that no lane has a left shift. Relies on
/// the plan's ranges: `multiplier >= 0` (so the one saturating case of srdhm,
/// `MIN * MIN`, cannot occur), `left` in `0..=30`, `right` in `0..=31`, and
/// `left == 0 || right == 0`.
#[inline]
#[target_feature(enable = "avx2")]
fn requantize(acc: __m256i, r: &RequantV, left_shift: bool) -> __m256i {
    let mut x = _mm256_add_epi32(acc, load(&r.bias));
    if left_shift {
        x = _mm256_sllv_epi32(x, load(&r.left));
    }
    // srdhm: bits 31..=62 of x * m + 2^30, for even and odd lanes. The low 32
    // bits of a logical and an arithmetic 64-bit shift by 31 are the same.
    let nudge = _mm256_set1_epi64x(1 << 30);
    let even = _mm256_mul_epi32(x, load(&r.multiplier));
    let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(even, nudge));
    let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), load(&r.multiplier_odd));
    let odd = _mm256_slli_epi64::<1>(_mm256_add_epi64(odd, nudge));
    let y = _mm256_blend_epi32::<0b1010_1010>(even, odd);
    // rdbpot: (y >> e) + (remainder > (mask >> 1) + (y < 0)).
    let rem = _mm256_and_si256(y, load(&r.mask));
    let negy = _mm256_cmpgt_epi32(_mm256_setzero_si256(), y);
    let threshold = _mm256_sub_epi32(load(&r.half), negy);
    let up = _mm256_cmpgt_epi32(rem, threshold);
    _mm256_sub_epi32(_mm256_srav_epi32(y, load(&r.right)), up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv;
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
        let geometry = (1usize..10, 1usize..10, 1usize..7, 1usize..41)
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

    fn lanes(x: &[i32; 8], m: &[i32; 8], shift: &[i32; 8]) -> [i32; 8] {
        let r = RequantV::new([0; 8], *m, *shift);
        let mut out = V([0; 8]);
        // The fast form, where it applies, must agree with the full one.
        let left_shift = shift.iter().any(|&s| s > 0);
        // SAFETY: only called after AVX2 was detected.
        unsafe {
            let y = requantize(
                _mm256_load_si256(core::ptr::from_ref(&V(*x)).cast()),
                &r,
                left_shift,
            );
            core::arch::x86_64::_mm256_store_si256(core::ptr::from_mut(&mut out).cast(), y);
        }
        out.0
    }

    proptest! {
        #[test]
        fn vector_requantize_is_scalar(
            x in prop::array::uniform8(any::<i32>()),
            m in prop::array::uniform8(0i32..=i32::MAX),
            shift in prop::array::uniform8(-31i32..=30),
        ) {
            prop_assume!(std::is_x86_feature_detected!("avx2"));
            let want: [i32; 8] = core::array::from_fn(|i| requant::requantize(x[i], m[i], shift[i]));
            prop_assert_eq!(lanes(&x, &m, &shift), want);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// The AVX2 conv2d gives the im2col path's int8 output exactly.
        #[test]
        fn conv2d_matches_im2col(c in case()) {
            prop_assume!(std::is_x86_feature_detected!("avx2"));
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
            let packed = Packed::new(core::iter::once(Some((params(), c.input, os))))
                .expect("avx2");
            // Leftovers of the im2col run in `work` must not matter.
            work.resize(work.len().max(packed.work_len()), 0);
            let mut got = std::vec![0i8; want.len()];
            let done = conv2d(&packed, 0, t, Out { data: &mut got, shape: os, q }, &mut work);
            prop_assert!(done);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn vector_requantize_edges() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
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
                    let got = lanes(&[x; 8], &[m; 8], &[s; 8]);
                    assert_eq!(got, [requant::requantize(x, m, s); 8], "x={x} m={m} s={s}");
                }
            }
        }
    }
}
