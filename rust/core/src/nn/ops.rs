//! Pooling and the element-wise add.
//!
//! Both have a fast path for their common form (average pooling without
//! padding, an add whose shifts are not positive) next to the general code,
//! proptested equal to it.

use super::conv::{Out, OutQuant, Tensor};
use super::model::{Add, Padding, Shape, Window};
use super::requant::{requantize, Short};

/// Average (`max == false`) or max pooling; padded positions are not counted.
/// The input's zero point is not used (pooling keeps it).
pub(crate) fn pool(t: Tensor<'_>, win: &Window, max: bool, out: Out<'_>) {
    if !max && win.padding == Padding::ZERO {
        avg_unpadded(t.data, t.shape, win, out.data, out.shape, out.q);
    } else {
        pool_general(t, win, max, out);
    }
}

/// [`pool`] for any window: clips every window to the input.
fn pool_general(t: Tensor<'_>, win: &Window, max: bool, out: Out<'_>) {
    let (x, s, os, q) = (t.data, t.shape, out.shape, out.q);
    let out = out.data;
    let [kh, kw] = win.kernel;
    for oy in 0..os.h {
        let y0 = (oy * win.stride[0]) as isize - win.padding.top as isize;
        let ys = y0.max(0) as usize..((y0 + kh as isize).min(s.h as isize)) as usize;
        for ox in 0..os.w {
            let x0 = (ox * win.stride[1]) as isize - win.padding.left as isize;
            let xs = x0.max(0) as usize..((x0 + kw as isize).min(s.w as isize)) as usize;
            let n = (ys.len() * xs.len()) as i32;
            for c in 0..s.c {
                let mut acc = if max { i32::MIN } else { 0 };
                for iy in ys.clone() {
                    for ix in xs.clone() {
                        let v = i32::from(x[(iy * s.w + ix) * s.c + c]);
                        acc = if max { acc.max(v) } else { acc + v };
                    }
                }
                if !max {
                    acc = div_round(acc, n);
                }
                out[(oy * os.w + ox) * os.c + c] = acc.clamp(q.min, q.max) as i8;
            }
        }
    }
}

/// `acc / n` rounded half away from zero (TFLite).
#[inline(always)]
fn div_round(acc: i32, n: i32) -> i32 {
    if acc >= 0 {
        (acc + n / 2) / n
    } else {
        (acc - n / 2) / n
    }
}

/// Average pooling without padding: every window lies inside the input and
/// holds `kh * kw` values, so the channels of a window are summed as
/// contiguous runs and the 2x2 window's division is a shift.
#[inline(never)]
fn avg_unpadded(x: &[i8], s: Shape, win: &Window, out: &mut [i8], os: Shape, q: OutQuant) {
    let [kh, kw] = win.kernel;
    let [sy, sx] = win.stride;
    let c = s.c;
    let row = s.w * c;
    let n = (kh * kw) as i32;
    let clamp = |v: i32| v.max(q.min).min(q.max) as i8;
    for (oy, orow) in out[..os.h * os.w * c]
        .chunks_exact_mut(os.w * c)
        .enumerate()
    {
        let top = &x[oy * sy * row..];
        for (ox, o) in orow.chunks_exact_mut(c).enumerate() {
            let at = ox * sx * c;
            if kh == 2 && kw == 2 {
                let r0 = &top[at..][..2 * c];
                let r1 = &top[row + at..][..2 * c];
                let (a, b) = r0.split_at(c);
                let (d, e) = r1.split_at(c);
                for ((((o, &a), &b), &d), &e) in o.iter_mut().zip(a).zip(b).zip(d).zip(e) {
                    let acc = i32::from(a) + i32::from(b) + i32::from(d) + i32::from(e);
                    // div_round(acc, 4): (acc + 2) >> 2 at or above zero,
                    // (acc + 1) >> 2 below.
                    *o = clamp((acc + 2 - i32::from(acc < 0)) >> 2);
                }
            } else {
                for (j, o) in o.iter_mut().enumerate() {
                    let mut acc = 0i32;
                    for ky in 0..kh {
                        let r = &top[ky * row + at + j..];
                        for kx in 0..kw {
                            acc += i32::from(r[kx * c]);
                        }
                    }
                    *o = clamp(div_round(acc, n));
                }
            }
        }
    }
}

/// TFLite int8 add of two same-shape tensors.
pub(crate) fn add(a: &[i8], zpa: i32, b: &[i8], zpb: i32, p: &Add, out: &mut [i8], q: OutQuant) {
    match ShortAdd::new(p) {
        Some(s) => add_short(a, zpa, b, zpb, s, out, q),
        None => add_general(a, zpa, b, zpb, p, out, q),
    }
}

/// The three requantizations of an add in the short form
/// ([`super::requant::requantize_short`]), where it is exact: `left_shift <= 20`
/// keeps `(v - zp) << left_shift` within `255 * 2^20 < 2^28`, shifts `<= 0`
/// keep each scaled input within that too (the multipliers are below 1), so
/// their sum lies in `[-2^29, 2^29]`, inside the short form's `[-2^30, 2^30)`.
#[derive(Clone, Copy)]
struct ShortAdd {
    left_shift: u32,
    input: [Short; 2],
    output: Short,
}

impl ShortAdd {
    fn new(p: &Add) -> Option<Self> {
        let e = |shift: i32| (shift <= 0).then(|| shift.unsigned_abs());
        if p.left_shift > 20 {
            return None;
        }
        Some(Self {
            left_shift: p.left_shift,
            input: [
                Short::new(p.input_multiplier[0], e(p.input_shift[0])?),
                Short::new(p.input_multiplier[1], e(p.input_shift[1])?),
            ],
            output: Short::new(p.multiplier, e(p.shift)?),
        })
    }
}

#[inline(never)]
fn add_short(a: &[i8], zpa: i32, b: &[i8], zpb: i32, s: ShortAdd, out: &mut [i8], q: OutQuant) {
    let ls = s.left_shift;
    for ((d, &va), &vb) in out.iter_mut().zip(a).zip(b) {
        let xa = s.input[0].apply((i32::from(va) - zpa) << ls);
        let xb = s.input[1].apply((i32::from(vb) - zpb) << ls);
        let v = s.output.apply(xa + xb) + q.zero_point;
        *d = v.max(q.min).min(q.max) as i8;
    }
}

/// [`add`] for any parameters the model validation accepts.
fn add_general(a: &[i8], zpa: i32, b: &[i8], zpb: i32, p: &Add, out: &mut [i8], q: OutQuant) {
    let scaled = |v: i8, zp: i32, k: usize| {
        requantize(
            (i32::from(v) - zp) << p.left_shift,
            p.input_multiplier[k],
            p.input_shift[k],
        )
    };
    for ((d, &va), &vb) in out.iter_mut().zip(a).zip(b) {
        let sum = scaled(va, zpa, 0).wrapping_add(scaled(vb, zpb, 1));
        let v = requantize(sum, p.multiplier, p.shift).wrapping_add(q.zero_point);
        *d = v.clamp(q.min, q.max) as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{out_quant, padding, Lcg};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The unpadded average pool equals the general one.
        #[test]
        fn avg_unpadded_matches_general(
            (h, w, c) in (1usize..9, 1usize..9, 1usize..9),
            k in (1usize..=3, 1usize..=3),
            st in (1usize..=3, 1usize..=3),
            seed in any::<u64>(),
            q in out_quant(),
        ) {
            prop_assume!(k.0 <= h && k.1 <= w);
            let win = Window { kernel: [k.0, k.1], stride: [st.0, st.1], padding: Padding::ZERO };
            let (oh, ow) = win.output_size(h, w).expect("fits");
            let x = Lcg::new(seed).bytes(h * w * c);
            let t = Tensor { data: &x, shape: Shape { h, w, c }, zero_point: 0 };
            let shape = Shape { h: oh, w: ow, c };
            let mut want = vec![0i8; oh * ow * c];
            pool_general(t, &win, false, Out { data: &mut want, shape, q });
            let mut got = vec![0i8; want.len()];
            pool(t, &win, false, Out { data: &mut got, shape, q });
            prop_assert_eq!(got, want);
        }

        /// Max pooling ignores its padding: it equals the unpadded pool of the
        /// input padded with -128 on each side (no value is smaller).
        #[test]
        fn max_pool_padding_is_the_smallest_value(
            (h, w, c) in (1usize..9, 1usize..9, 1usize..5),
            (k, padding) in (1usize..=3, 1usize..=3).prop_flat_map(|k| (Just(k), padding([k.0, k.1]))),
            st in (1usize..=3, 1usize..=3),
            seed in any::<u64>(),
            q in out_quant(),
        ) {
            let win = Window { kernel: [k.0, k.1], stride: [st.0, st.1], padding };
            let Some((oh, ow)) = win.output_size(h, w) else {
                return Err(TestCaseError::reject("window"));
            };
            let x = Lcg::new(seed).bytes(h * w * c);
            let (hp, wp) = (padding.top + h + padding.bottom, padding.left + w + padding.right);
            let mut xp = vec![i8::MIN; hp * wp * c];
            for (iy, row) in x.chunks_exact(w * c).enumerate() {
                let at = ((padding.top + iy) * wp + padding.left) * c;
                xp[at..at + w * c].copy_from_slice(row);
            }
            let shape = Shape { h: oh, w: ow, c };
            let unpadded = Window { padding: Padding::ZERO, ..win };
            let tp = Tensor { data: &xp, shape: Shape { h: hp, w: wp, c }, zero_point: 0 };
            let mut want = vec![0i8; oh * ow * c];
            pool(tp, &unpadded, true, Out { data: &mut want, shape, q });
            let t = Tensor { data: &x, shape: Shape { h, w, c }, zero_point: 0 };
            let mut got = vec![0i8; want.len()];
            pool(t, &win, true, Out { data: &mut got, shape, q });
            prop_assert_eq!(got, want);
        }

        /// The short-form add equals the general one (and the general one
        /// runs where the short form does not apply).
        #[test]
        fn add_short_matches_general(
            n in 0usize..64,
            seed in any::<u64>(),
            zps in (-128i32..=127, -128i32..=127),
            left_shift in 0u32..=20,
            m in (0i32..=i32::MAX, 0i32..=i32::MAX, 0i32..=i32::MAX),
            sh in (-31i32..=2, -31i32..=2, -31i32..=2),
            q in out_quant(),
        ) {
            let (a, b) = (Lcg::new(seed).bytes(n), Lcg::new(!seed).bytes(n));
            let p = Add {
                left_shift,
                input_multiplier: [m.0, m.1],
                input_shift: [sh.0, sh.1],
                multiplier: m.2,
                shift: sh.2,
            };
            let mut want = vec![0i8; n];
            add_general(&a, zps.0, &b, zps.1, &p, &mut want, q);
            let mut got = vec![0i8; n];
            add(&a, zps.0, &b, zps.1, &p, &mut got, q);
            prop_assert_eq!(got, want);
        }
    }
}
