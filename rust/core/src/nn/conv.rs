//! conv2d (im2col of two output pixels + [`mac::dot_2x2`]) and depthwise conv.

use super::mac;
use super::model::{Shape, Window};
use super::requant::{requantize, requantize_short_neg};

/// Per-output-channel parameters of a conv layer, resolved from the pools.
pub(crate) struct ConvParams<'a> {
    pub window: Window,
    pub weight: &'a [i8],
    pub bias: &'a [i32],
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
}

/// An input tensor: int8 NHWC data, its shape and zero point.
#[derive(Clone, Copy)]
pub(crate) struct Tensor<'x> {
    pub data: &'x [i8],
    pub shape: Shape,
    pub zero_point: i32,
}

/// Where a layer writes: int8 NHWC data, its shape, zero point and clamp.
pub(crate) struct Out<'o> {
    pub data: &'o mut [i8],
    pub shape: Shape,
    pub q: OutQuant,
}

impl Out<'_> {
    /// The same output, borrowed again (to offer it to one kernel, then another).
    pub(crate) fn reborrow(&mut self) -> Out<'_> {
        Out {
            data: self.data,
            shape: self.shape,
            q: self.q,
        }
    }
}

/// Output zero point and clamp of a layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutQuant {
    pub zero_point: i32,
    pub min: i32,
    pub max: i32,
}

impl ConvParams<'_> {
    #[inline]
    pub(crate) fn finish(&self, acc: i32, o: usize, q: OutQuant) -> i8 {
        let acc = acc.wrapping_add(self.bias[o]);
        finish_full(acc, self.multiplier[o], self.shift[o], q)
    }

    /// Whether every one of the first `cout` channels takes [`finish_short`]
    /// for sums of `k` products of `[-255, 255] x [-128, 127]`: bias plus sum
    /// stays in `[-2^30, 2^30)` and the shift is `<= -1` (as in every real
    /// conv).
    pub(crate) fn short(&self, k: usize, cout: usize) -> bool {
        let limit = ((1i64 << 30) - 1 - k as i64 * 255 * 128).max(-1);
        self.bias.len() >= cout
            && self
                .bias
                .iter()
                .zip(self.shift)
                .take(cout)
                .all(|(&b, &sh)| sh <= -1 && i64::from(b.unsigned_abs()) <= limit)
    }
}

/// The int8 output of an accumulator `acc` (bias included) of any channel.
#[inline]
pub(crate) fn finish_full(acc: i32, multiplier: i32, shift: i32, q: OutQuant) -> i8 {
    let v = requantize(acc, multiplier, shift);
    v.wrapping_add(q.zero_point).clamp(q.min, q.max) as i8
}

/// The int8 output of an accumulator `acc` (bias included) of a channel
/// that [`ConvParams::short`] admits: [`finish_full`], exactly.
#[inline(always)]
pub(crate) fn finish_short(acc: i32, multiplier: i32, shift: i32, q: OutQuant) -> i8 {
    let v = requantize_short_neg(acc, multiplier, shift) + q.zero_point;
    v.max(q.min).min(q.max) as i8
}

/// i16 scratch that conv2d needs: widened weights plus two im2col rows.
pub(crate) fn conv2d_work_len(window: &Window, cin: usize, cout: usize) -> usize {
    mac::max_padded(window.kernel[0] * window.kernel[1] * cin) * (cout + 2)
}

/// Writes the im2col row of output pixel `p` (row-major over `out`): the
/// `kh*kw*cin` window values minus the zero point, 0 where padded.
fn im2col(x: &[i8], s: Shape, zp: i32, win: &Window, out_w: usize, p: usize, row: &mut [i16]) {
    let (oy, ox) = (p / out_w, p % out_w);
    let [kh, kw] = win.kernel;
    let span = kw * s.c;
    for ky in 0..kh {
        let seg = &mut row[ky * span..(ky + 1) * span];
        let iy = (oy * win.stride[0] + ky).wrapping_sub(win.padding.top);
        let x0 = (ox * win.stride[1]).wrapping_sub(win.padding.left);
        if iy >= s.h {
            seg.fill(0);
        } else if x0 < s.w && x0 + kw <= s.w {
            // The whole kernel row is inside: one contiguous run of the input.
            let start = (iy * s.w + x0) * s.c;
            for (d, &v) in seg.iter_mut().zip(&x[start..start + span]) {
                *d = (i32::from(v) - zp) as i16;
            }
        } else {
            for kx in 0..kw {
                let d = &mut seg[kx * s.c..(kx + 1) * s.c];
                let ix = (ox * win.stride[1] + kx).wrapping_sub(win.padding.left);
                if ix >= s.w {
                    d.fill(0);
                } else {
                    let start = (iy * s.w + ix) * s.c;
                    for (d, &v) in d.iter_mut().zip(&x[start..start + s.c]) {
                        *d = (i32::from(v) - zp) as i16;
                    }
                }
            }
        }
    }
}

/// conv2d over NHWC int8; `work` holds at least [`conv2d_work_len`] values.
#[inline(never)]
pub(crate) fn conv2d(t: Tensor<'_>, p: &ConvParams<'_>, out: Out<'_>, work: &mut [i16]) {
    let (os, q, out) = (out.shape, out.q, out.data);
    let (x, s, zp) = (t.data, t.shape, t.zero_point);
    let k = p.window.kernel[0] * p.window.kernel[1] * s.c;
    // Rows of `kp` values, zero-padded past `k` (see `mac::padded`).
    let kp = mac::padded(k);
    let cout = os.c;
    let (wide, rest) = work.split_at_mut(cout * kp);
    for (d, w) in wide.chunks_exact_mut(kp).zip(p.weight.chunks_exact(k)) {
        for (d, &v) in d.iter_mut().zip(w) {
            *d = i16::from(v);
        }
        d[k..].fill(0);
    }
    let (col0, rest) = rest.split_at_mut(kp);
    let col1 = &mut rest[..kp];
    col0[k..].fill(0);
    col1[k..].fill(0);
    let pixels = os.h * os.w;
    let out = &mut out[..pixels * cout];
    let short = p.short(k, cout);
    let mut px = 0;
    while px < pixels {
        // Two output pixels at a time; an odd last pixel is paired with itself
        // (its second row of results is computed and dropped).
        let px1 = (px + 1).min(pixels - 1);
        im2col(x, s, zp, &p.window, os.w, px, col0);
        im2col(x, s, zp, &p.window, os.w, px1, col1);
        let (r0, rest) = out[px * cout..].split_at_mut(cout);
        let n1 = cout.min(rest.len());
        let r1 = &mut rest[..n1];
        let mut o = 0;
        while o < cout {
            let o1 = (o + 1).min(cout - 1);
            let w0 = &wide[o * kp..][..kp];
            let w1 = &wide[o1 * kp..][..kp];
            let [s00, s01, s10, s11] = mac::dot_2x2(col0, col1, w0, w1);
            if short {
                let (b0, b1) = (p.bias[o], p.bias[o1]);
                let (m0, m1) = (p.multiplier[o], p.multiplier[o1]);
                let (e0, e1) = (p.shift[o], p.shift[o1]);
                r0[o] = finish_short(s00.wrapping_add(b0), m0, e0, q);
                r0[o1] = finish_short(s01.wrapping_add(b1), m1, e1, q);
                if n1 != 0 {
                    r1[o] = finish_short(s10.wrapping_add(b0), m0, e0, q);
                    r1[o1] = finish_short(s11.wrapping_add(b1), m1, e1, q);
                }
            } else {
                r0[o] = p.finish(s00, o, q);
                r0[o1] = p.finish(s01, o1, q);
                if n1 != 0 {
                    r1[o] = p.finish(s10, o, q);
                    r1[o1] = p.finish(s11, o1, q);
                }
            }
            o += 2;
        }
        px += 2;
    }
}

/// Depthwise conv: output channel `o` reads input channel `o / depth_multiplier`.
pub(crate) fn depthwise(t: Tensor<'_>, p: &ConvParams<'_>, depth_multiplier: usize, out: Out<'_>) {
    let (os, q, out) = (out.shape, out.q, out.data);
    let (x, s, zp) = (t.data, t.shape, t.zero_point);
    let [kh, kw] = p.window.kernel;
    let cout = os.c;
    for oy in 0..os.h {
        for ox in 0..os.w {
            let o_px = &mut out[(oy * os.w + ox) * cout..][..cout];
            for (o, d) in o_px.iter_mut().enumerate() {
                let c = o / depth_multiplier;
                let mut acc = 0i32;
                for ky in 0..kh {
                    let iy = (oy * p.window.stride[0] + ky).wrapping_sub(p.window.padding.top);
                    if iy >= s.h {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * p.window.stride[1] + kx).wrapping_sub(p.window.padding.left);
                        if ix >= s.w {
                            continue;
                        }
                        let v = i32::from(x[(iy * s.w + ix) * s.c + c]) - zp;
                        acc = acc.wrapping_add(v * i32::from(p.weight[(ky * kw + kx) * cout + o]));
                    }
                }
                *d = p.finish(acc, o, q);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{padding, random, Layer};
    use super::*;
    use proptest::prelude::*;

    /// conv2d written out: every tap, then [`ConvParams::finish`].
    fn direct(t: Tensor<'_>, p: &ConvParams<'_>, out: Out<'_>) {
        let (os, q, out) = (out.shape, out.q, out.data);
        let (s, w) = (t.shape, &p.window);
        for (i, d) in out.iter_mut().enumerate() {
            let (px, o) = (i / os.c, i % os.c);
            let (oy, ox) = (px / os.w, px % os.w);
            let mut acc = 0i32;
            for ky in 0..w.kernel[0] {
                for kx in 0..w.kernel[1] {
                    let iy = (oy * w.stride[0] + ky).wrapping_sub(w.padding.top);
                    let ix = (ox * w.stride[1] + kx).wrapping_sub(w.padding.left);
                    if iy >= s.h || ix >= s.w {
                        continue;
                    }
                    for c in 0..s.c {
                        let v = i32::from(t.data[(iy * s.w + ix) * s.c + c]) - t.zero_point;
                        let k = p.weight[((o * w.kernel[0] + ky) * w.kernel[1] + kx) * s.c + c];
                        acc = acc.wrapping_add(v * i32::from(k));
                    }
                }
            }
            *d = p.finish(acc, o, q);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// conv2d (short requantization where it applies, else the full
        /// form) equals the direct conv, with any padding on each side.
        #[test]
        fn conv2d_matches_direct(
            (h, w, cin, cout) in (1usize..7, 1usize..7, 1usize..6, 1usize..6),
            (k, padding) in (1usize..=3).prop_flat_map(|k| (Just(k), padding([k, k]))),
            stride in 1usize..=2,
            r in random(),
        ) {
            let window = Window { kernel: [k, k], stride: [stride; 2], padding };
            let l = Layer::new(r, Shape { h, w, c: cin }, window, cout, k * k * cin);
            let Some(l) = l else { return Err(TestCaseError::reject("window")) };
            let (t, p) = (l.tensor(), l.params());
            let mut want = l.buffer();
            direct(t, &p, l.out(&mut want));
            let mut work = std::vec![0i16; conv2d_work_len(&window, cin, cout)];
            let mut got = l.buffer();
            conv2d(t, &p, l.out(&mut got), &mut work);
            prop_assert_eq!(got, want);
        }
    }
}
